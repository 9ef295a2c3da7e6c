"""The app's client for the voice server's call-control API (bearer DISPATCH_API_KEY).

Every failure becomes a `VoiceServerError` whose message says what to do: the variable to set
(from the server's 503 answer), the field that is wrong (422), or that the server is down.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from protocols.start_call import StartCallRequest, StartedCall
from settings import Settings

TIMEOUT = httpx.Timeout(15.0, connect=3.0)


class VoiceServerError(RuntimeError):
    """The voice server refused or could not be reached; the message is for the user."""


def _headers(settings: Settings) -> dict[str, str]:
    if settings.dispatch_api_key is None:
        raise VoiceServerError(
            "DISPATCH_API_KEY is not set: add it to .env (the same value the voice server uses; "
            "`make run` writes one) and restart the app."
        )
    return {"Authorization": f"Bearer {settings.dispatch_api_key.get_secret_value()}"}


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI's field-level validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:]) or 'request'}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail)


def _request(settings: Settings, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    url = settings.voice_server_url.rstrip("/") + path
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.request(method, url, headers=_headers(settings), **kwargs)
    except httpx.TransportError as exc:
        raise VoiceServerError(
            f"The voice server at {settings.voice_server_url} is not reachable ({exc}). Start it "
            "with `make run` (or set VOICE_SERVER_URL to where it runs)."
        ) from None
    if response.status_code == 401:
        raise VoiceServerError(
            "The voice server rejected DISPATCH_API_KEY: the app and the voice server must use the "
            "same value."
        )
    if response.status_code == 503:
        raise VoiceServerError(f"Not configured on the voice server: {_detail(response)}")
    if response.status_code == 422:
        raise VoiceServerError(f"The voice server refused the request: {_detail(response)}")
    if response.status_code >= 400:
        raise VoiceServerError(
            f"The voice server answered {response.status_code}: {_detail(response)}"
        )
    try:
        return response.json()
    except ValueError:
        raise VoiceServerError(
            "The voice server answered with something that is not JSON."
        ) from None


def start_call(settings: Settings, request: StartCallRequest) -> StartedCall:
    """Start a Retell web/phone call or a Pipecat session; the answer has the provider's ids."""
    body = _request(settings, "POST", "/api/v1/calls/start", json=request.model_dump(mode="json"))
    try:
        return StartedCall.model_validate(body)
    except ValidationError as exc:
        raise VoiceServerError(f"Unexpected answer from the voice server: {exc}") from None


def call_status(settings: Settings, provider_call_id: str) -> dict[str, Any]:
    """The voice server's view of one call (status, identifiers, structured result)."""
    return _request(settings, "GET", f"/api/v1/calls/{provider_call_id}")


def health(settings: Settings) -> dict[str, Any]:
    url = settings.voice_server_url.rstrip("/") + "/healthz"
    try:
        response = httpx.get(url, timeout=TIMEOUT)
    except httpx.TransportError as exc:
        raise VoiceServerError(
            f"The voice server at {settings.voice_server_url} is not reachable ({exc})."
        ) from None
    return (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {"status": response.status_code}
    )
