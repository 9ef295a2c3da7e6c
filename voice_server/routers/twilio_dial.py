"""`POST /api/v1/twilio/dial-status/{provider_call_id}`: Twilio's answer on a Pipecat transfer.

The bot hands a Twilio call to the dispatcher with `<Dial action=...>` (bot.call_control); when
the dial is over Twilio posts its outcome here, signed with X-Twilio-Signature (the account's
auth token). Only this says whether a dispatcher picked up: `DialCallStatus` completed/answered
is a connected transfer, busy/no-answer/failed/canceled a failed one, and the driver, still on
the line, hears that the office will call back instead of silence.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from agent.vocabulary import EscalationStatus
from db import StoreError
from db.models import Provider
from protocols.twilio_dial import DIAL_STATUS_PATH, dial_status_url
from voice_server.deps import SettingsDep, StoreDep

router = APIRouter(tags=["twilio"])

DIAL_OUTCOMES = {
    "completed": EscalationStatus.TRANSFER_CONNECTED,
    "answered": EscalationStatus.TRANSFER_CONNECTED,
    "busy": EscalationStatus.TRANSFER_FAILED,
    "no-answer": EscalationStatus.TRANSFER_FAILED,
    "failed": EscalationStatus.TRANSFER_FAILED,
    "canceled": EscalationStatus.TRANSFER_FAILED,
}
NOBODY_ANSWERED = (
    "Sorry, no dispatcher could be reached. The dispatch office has been alerted and will call "
    "you back right away. If anyone is hurt or in danger, call 911."
)
TWIML = "application/xml"


@router.post(DIAL_STATUS_PATH)
async def dial_status(
    provider_call_id: str,
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    x_twilio_signature: Annotated[str | None, Header()] = None,
) -> Response:
    """Verify Twilio's signature, record the transfer's outcome, answer TwiML for the driver."""
    params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), True))
    outcome = DIAL_OUTCOMES.get(params.get("DialCallStatus", ""))
    if outcome is None:
        raise RequestValidationError(
            [
                {
                    "type": "missing" if "DialCallStatus" not in params else "enum",
                    "loc": ("body", "DialCallStatus"),
                    "msg": "DialCallStatus must be one of Twilio's dial outcomes: "
                    + ", ".join(DIAL_OUTCOMES),
                    "input": params.get("DialCallStatus"),
                }
            ]
        )
    if not settings.twilio_auth_token or not settings.voice_server_public_url:
        # Not a server error: this server simply takes no Twilio callbacks until configured.
        raise HTTPException(
            404,
            "Twilio dial callbacks are off: set TWILIO_AUTH_TOKEN and VOICE_SERVER_PUBLIC_URL "
            "(the signature is checked against them).",
        )
    url = dial_status_url(settings.voice_server_public_url, provider_call_id)
    if request.url.query:
        url += f"?{request.url.query}"
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not x_twilio_signature or not validator.validate(url, params, x_twilio_signature):
        raise HTTPException(403, "Missing or invalid X-Twilio-Signature.")
    try:
        await asyncio.to_thread(
            store.set_escalation_status, Provider.PIPECAT, provider_call_id, outcome
        )
    except StoreError:
        raise HTTPException(503, "The database is unavailable; Twilio retries.") from None
    answer = VoiceResponse()
    if outcome is EscalationStatus.TRANSFER_FAILED:
        answer.say(NOBODY_ANSWERED)
    return Response(str(answer), media_type=TWIML)
