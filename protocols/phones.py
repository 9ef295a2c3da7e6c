"""Drivers' phone numbers: what a dispatcher types, stored as E.164.

A number may be written internationally (`+1 415 555 2671`) or nationally in the office's
region (`(415) 555-2671`, `415-555-2671`, region from DEFAULT_PHONE_REGION). What is wrong with
one is said in plain words, never as libphonenumber's "(0) Missing or invalid default region".
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

DEFAULT_REGION = "US"


class PhoneNumberProblem(ValueError):
    """The text is not a phone number we can dial; the message says why, for a person."""


def _example(region: str) -> str:
    example = phonenumbers.example_number(region)
    if example is None:
        return "+15551234567"
    return phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)


def _is_fictional_nanp(number: phonenumbers.PhoneNumber) -> bool:
    """North American numbers in the 555 range are reserved for examples and fiction
    (NANPA): the form's own placeholder, +15551234567, is one and must be accepted."""
    national = str(number.national_number)
    return (
        number.country_code == 1 and len(national) == 10 and "555" in (national[:3], national[3:6])
    )


def to_e164(text: str, region: str = DEFAULT_REGION) -> str:
    """`text` as E.164 (`+14155552671`), national formats read in `region`."""
    shown = text.strip()
    example = _example(region)
    hint = (
        f"write it as +<country code><number> (+15551234567) or as a {region} number, "
        f"e.g. {example}"
    )
    try:
        number = phonenumbers.parse(shown, region)
    except NumberParseException as exc:
        reasons = {
            NumberParseException.INVALID_COUNTRY_CODE: "does not start with a known country code",
            NumberParseException.NOT_A_NUMBER: "is not a phone number",
            NumberParseException.TOO_SHORT_AFTER_IDD: "has too few digits",
            NumberParseException.TOO_SHORT_NSN: "has too few digits",
            NumberParseException.TOO_LONG: "has too many digits",
        }
        reason = reasons.get(exc.error_type, "is not a phone number")
        raise PhoneNumberProblem(f"{shown!r} {reason}: {hint}.") from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise PhoneNumberProblem(
            f"{shown!r} has too few digits (is the area code missing?): {hint}."
        )
    if possible == ValidationResult.TOO_LONG:
        raise PhoneNumberProblem(f"{shown!r} has too many digits: {hint}.")
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        raise PhoneNumberProblem(f"{shown!r} does not start with a known country code: {hint}.")
    if not (phonenumbers.is_valid_number(number) or _is_fictional_nanp(number)):
        raise PhoneNumberProblem(
            f"{shown!r} is not a number in use: check the area code and the digits ({hint})."
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_supported_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
