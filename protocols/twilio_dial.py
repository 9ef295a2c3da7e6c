"""Where Twilio reports the outcome of a transfer the bot placed with `<Dial action=...>`.

Shared by the bot (which writes the URL into the TwiML) and the voice server (which serves it).
"""

from __future__ import annotations

DIAL_STATUS_PATH = "/api/v1/twilio/dial-status/{provider_call_id}"


def dial_status_url(public_url: str, provider_call_id: str) -> str:
    return public_url.rstrip("/") + DIAL_STATUS_PATH.format(provider_call_id=provider_call_id)
