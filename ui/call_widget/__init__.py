"""The call widget: a live voice call held in the page (a Streamlit v1 custom component).

Its JavaScript (`frontend/`, pinned npm packages) is built into `build/`, committed, and served
by Streamlit itself: a fresh `make run` needs no Node and nothing loads from a CDN. `make widget`
rebuilds it; a test checks the committed build is what the sources build to.

v1 rather than v2: a v1 component is an iframe whose `allow` list grants the microphone and
whose files Streamlit serves from a directory, which is what a bundled WebRTC client needs.

- Pipecat: the browser joins the bot's session over SmallWebRTC (the runner's `POST /start` with
  the session the voice server registered, then the SDP offer).
- Retell web call: the access token goes to retell-client-js-sdk the moment the page has it.

The widget reports only when the call is over (ended or failed): the page reruns then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import streamlit.components.v1 as components

from protocols.start_call import StartedCall

BUILD_DIR = Path(__file__).parent / "build"
_component = components.declare_component("call_widget", path=str(BUILD_DIR))


@dataclass(frozen=True)
class WidgetCall:
    """What the browser needs to hold one call; built from the voice server's answer."""

    engine: Literal["pipecat", "retell"]
    call_id: str
    start_url: str | None = None  # Pipecat: the bot runner's POST /start
    session: str | None = None  # Pipecat: the session the voice server registered
    access_token: str | None = None  # Retell: for the web client SDK, valid 30 s

    @classmethod
    def of(cls, started: StartedCall) -> WidgetCall | None:
        """None for a call no browser holds (a phone call)."""
        if started.provider == "retell":
            if not started.access_token:
                return None
            return cls("retell", started.provider_call_id, access_token=started.access_token)
        if started.details.get("transport") != "webrtc" or not started.join_url:
            return None
        join = urlsplit(started.join_url)
        return cls(
            "pipecat",
            started.provider_call_id,
            start_url=f"{join.scheme}://{join.netloc}/start",
            session=str(started.details.get("session") or ""),
        )


@dataclass(frozen=True)
class WidgetOutcome:
    """How the call ended, as the browser saw it."""

    call_id: str
    state: Literal["ended", "failed"]
    reason: str
    duration_secs: float
    transcript: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, value: Any, call_id: str) -> WidgetOutcome | None:
        if not isinstance(value, dict) or value.get("call_id") != call_id:
            return None  # nothing yet, or the value of an earlier call
        if value.get("state") not in ("ended", "failed"):
            return None
        transcript = [
            {"role": str(t.get("role")), "content": str(t.get("content"))}
            for t in value.get("transcript") or []
            if isinstance(t, dict)
        ]
        return cls(
            call_id=call_id,
            state=value["state"],
            reason=str(value.get("reason") or ""),
            duration_secs=float(value.get("duration_secs") or 0.0),
            transcript=transcript,
        )


def call_widget(call: WidgetCall, *, autostart: bool = True) -> WidgetOutcome | None:
    """Render the widget for `call`; its outcome once the browser reports the call over."""
    value = _component(
        engine=call.engine,
        call_id=call.call_id,
        start_url=call.start_url,
        session=call.session,
        access_token=call.access_token,
        autostart=autostart,
        key=f"call_widget_{call.call_id}",
        default=None,
    )
    return WidgetOutcome.parse(value, call.call_id)
