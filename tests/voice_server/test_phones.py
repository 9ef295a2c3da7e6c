"""Drivers' phone numbers: national formats in the configured region, E.164 stored, plain words."""

from __future__ import annotations

import pytest

from protocols.phones import PhoneNumberProblem, to_e164
from settings import ConfigError, load_settings

ACCEPTED = {
    "+15551234567": "+15551234567",  # the form's own placeholder
    "(415) 555-2671": "+14155552671",
    "415-555-2671": "+14155552671",
    "415.555.2671": "+14155552671",
    "1 415 555 2671": "+14155552671",
    " +1 (415) 555-2671 ": "+14155552671",
    "+44 20 7946 0958": "+442079460958",  # an international number ignores the region
}


@pytest.mark.parametrize(("typed", "stored"), ACCEPTED.items())
def test_numbers_as_dispatchers_type_them_are_stored_as_e164(typed: str, stored: str) -> None:
    assert to_e164(typed, "US") == stored


def test_national_numbers_are_read_in_the_configured_region() -> None:
    assert to_e164("020 7946 0958", "GB") == "+442079460958"
    assert to_e164("(416) 555-0199", "CA") == "+14165550199"


REFUSED = {
    "555-1234": "too few digits",
    "abc": "is not a phone number",
    "+999 1234567": "country code",
    "4155552671999": "too many digits",
    "+1 123 456 7890": "not a number in use",
}


@pytest.mark.parametrize(("typed", "reason"), REFUSED.items())
def test_wrong_numbers_are_explained_in_plain_words(typed: str, reason: str) -> None:
    with pytest.raises(PhoneNumberProblem) as refused:
        to_e164(typed, "US")
    message = str(refused.value)
    assert reason in message and typed in message
    assert "(415) 555-2671" in message or "+15551234567" in message  # how to write it instead
    assert "default region" not in message and "(0)" not in message


def test_the_region_setting_is_a_known_region_code() -> None:
    assert load_settings(default_phone_region=" ca ").default_phone_region == "CA"
    with pytest.raises(ConfigError, match="DEFAULT_PHONE_REGION"):
        load_settings(default_phone_region="USA")
