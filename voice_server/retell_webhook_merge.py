"""Retell's webhooks -> the fields of our call row (Retell is authoritative here); the call
object itself is mapped by `voice_server.retell_call_row`, as for the socket."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from db.models import CallStatus, CallUpdate
from protocols.retell.messages import RetellCall
from voice_server.retell_call_row import call_context, call_row
from voice_server.retell_call_row import driver_of as call_driver

# Events whose call object we merge; any other event is only kept as an event.
MERGED_EVENTS = frozenset({"call_started", "call_ended", "call_analyzed"})

_STATUS = {
    "registered": CallStatus.REGISTERED,
    "ongoing": CallStatus.ONGOING,
    "ended": CallStatus.ENDED,
    "error": CallStatus.ERROR,
    "not_connected": CallStatus.ERROR,
}
_EVENT_STATUS = {
    "call_started": CallStatus.ONGOING,
    "call_ended": CallStatus.ENDED,
    "call_analyzed": CallStatus.ENDED,
}


class WebhookCall(RetellCall):
    call_id: str = Field(min_length=1, max_length=128)


class RetellWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: str = Field(min_length=1, max_length=64)
    call: WebhookCall


def transcript_rows(call: WebhookCall) -> list[dict[str, str]] | None:
    """The `{role, content}` turns of Retell's transcript_object (or its plain transcript)."""
    if call.transcript_object:
        rows = [
            {"role": "agent" if t.get("role") == "agent" else "user", "content": str(t["content"])}
            for t in call.transcript_object
            if t.get("role") in ("agent", "user") and t.get("content")
        ]
        return rows or None
    if call.transcript:
        rows = []
        for line in call.transcript.splitlines():
            speaker, sep, content = line.partition(":")
            if sep and speaker.strip().lower() in ("agent", "user") and content.strip():
                rows.append({"role": speaker.strip().lower(), "content": content.strip()})
        return rows or None
    return None


def call_update(webhook: RetellWebhook, *, has_transcript: bool) -> CallUpdate:
    """What this webhook tells us about the call; unknown fields stay None (never erase)."""
    call = webhook.call
    return call_row(call, call_context(call)).model_copy(
        update={
            "status": _STATUS.get(call.call_status or "") or _EVENT_STATUS.get(webhook.event),
            "transcript": None if has_transcript else transcript_rows(call),
        }
    )


def driver_of(webhook: RetellWebhook) -> tuple[str, str | None] | None:
    """(name, phone) of the driver this call is with, when the call says."""
    return call_driver(webhook.call, call_context(webhook.call))
