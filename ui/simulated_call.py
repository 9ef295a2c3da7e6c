"""A simulated call: the app plays Retell on the voice server's custom-LLM WebSocket (through
`voice_server.retell_caller`), the manager types the driver's turns, the real agent answers.

The caller keeps its socket on its own event-loop thread, so the object lives across Streamlit
reruns in `st.session_state`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from websockets.exceptions import InvalidHandshake, InvalidURI

from db.models import Call, CallStatus, Provider
from db.store import Store
from settings import Settings
from voice_server.engines.base import StartCallRequest
from voice_server.retell_caller import (
    CallerError,
    SyncRetellCaller,
    llm_socket_url,
    new_simulated_call_id,
    simulated_call_details,
)

SAVE_WAIT_SECS = 5.0  # the voice server finalizes a call within a second of the hang-up


class SimulatedCallError(RuntimeError):
    """The simulated call could not start or go on; the message is for the user."""


@dataclass
class SimulatedCall:
    call_id: str
    caller: SyncRetellCaller
    server_url: str
    ended: bool = False
    end_reason: str = ""
    _saved: Call | None = field(default=None, repr=False)

    @classmethod
    def start(cls, settings: Settings, request: StartCallRequest) -> SimulatedCall:
        """Connect as Retell would, send the call details, and receive the agent's opening."""
        call_id = new_simulated_call_id()
        details = simulated_call_details(
            call_id,
            driver_name=request.driver_name,
            load_number=request.load_number,
            origin=request.origin,
            destination=request.destination,
            appointment=request.appointment,
            scenario=request.scenario,
            driver_phone=request.driver_phone,
        )
        url = llm_socket_url(settings.voice_server_url, call_id)
        caller = SyncRetellCaller(url, call_details=details, open_timeout=5.0)
        call = cls(call_id=call_id, caller=caller, server_url=settings.voice_server_url)
        try:
            caller.connect()
        except Exception as exc:
            caller.hang_up()
            raise SimulatedCallError(call._failure(exc)) from None
        return call

    @property
    def transcript(self) -> list[dict[str, str]]:
        return self.caller.transcript

    def say(self, text: str) -> None:
        """The driver's turn; the agent's reply is added to the transcript. The call ends when
        the agent ends or transfers it."""
        if self.ended:
            raise SimulatedCallError("The call has ended: start a new one.")
        try:
            reply = self.caller.say(text)
        except Exception as exc:
            self._finish("The voice server dropped the call.")
            raise SimulatedCallError(self._failure(exc)) from None
        if reply.transfer_number:
            self._finish(
                f"The agent transferred the call to the human dispatcher ({reply.transfer_number})."
            )
        elif reply.end_call:
            self._finish("The agent ended the call.")

    def hang_up(self) -> None:
        self._finish("You hung up.")

    def saved_call(self, store: Store) -> Call | None:
        """The call as the voice server saved it, once finalized (waits a few seconds)."""
        if self._saved is not None:
            return self._saved
        deadline = time.monotonic() + SAVE_WAIT_SECS
        while True:
            call = store.get_call(self.call_id, Provider.RETELL)
            if call is not None and call.status in (CallStatus.ENDED, CallStatus.ERROR):
                self._saved = call
                return call
            if time.monotonic() >= deadline:
                return call
            time.sleep(0.1)

    def _finish(self, reason: str) -> None:
        if not self.ended:
            self.ended = True
            self.end_reason = reason
            self.caller.hang_up()

    def _failure(self, exc: BaseException) -> str:
        if isinstance(exc, OSError | TimeoutError):
            return (
                f"The voice server at {self.server_url} is not reachable ({exc}). Start it with "
                "`make run` (or set VOICE_SERVER_URL to where it runs)."
            )
        if isinstance(exc, InvalidHandshake | InvalidURI):
            return f"The voice server refused the call's WebSocket ({exc})."
        if isinstance(exc, CallerError):
            return f"The call failed: {exc}"
        return f"The simulated call failed: {exc}"
