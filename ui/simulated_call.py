"""A simulated call: the app plays Retell on the voice server's custom-LLM WebSocket (through
`protocols.retell.caller`), the manager types the driver's turns, the real agent answers.

The caller keeps its socket on its own event-loop thread, so the object lives across Streamlit
reruns in `st.session_state`. A manager may close the tab mid-call, leaving that socket open with
nobody to hang up: a call without driver input for `Settings.simulated_call_idle_secs` is hung up
(so the voice server saves it, transcript and all) by a process-wide reaper thread, or by whatever
touches it first.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import streamlit as st
from websockets.exceptions import InvalidHandshake, InvalidURI

from db.models import Call, CallStatus, Provider
from db.store import Store
from protocols.retell.caller import CallerError, SyncRetellCaller, simulated_caller
from protocols.start_call import StartCallRequest
from settings import Settings

logger = logging.getLogger(__name__)

SAVE_WAIT_SECS = 5.0  # the voice server finalizes a call within a second of the hang-up
REAPER_MIN_WAIT_SECS = 0.05  # a call busy answering past its deadline is retried this often


class SimulatedCallError(RuntimeError):
    """The simulated call could not start or go on; the message is for the user."""


@dataclass
class SimulatedCall:
    call_id: str
    caller: SyncRetellCaller
    server_url: str
    idle_timeout_secs: float
    end_reason: str = ""
    last_input_at: float = field(default_factory=time.monotonic)
    _ended: bool = field(default=False, repr=False)
    _saved: Call | None = field(default=None, repr=False)
    # Held while the call is used, so the reaper never hangs up mid-reply.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def start(cls, settings: Settings, request: StartCallRequest) -> SimulatedCall:
        """Connect as Retell would, send the call details, and receive the agent's opening."""
        call_id, caller = simulated_caller(SyncRetellCaller, settings, request)
        call = cls(
            call_id=call_id,
            caller=caller,
            server_url=settings.voice_server_url,
            idle_timeout_secs=settings.simulated_call_idle_secs,
        )
        try:
            caller.connect()
        except Exception as exc:
            caller.hang_up()
            raise SimulatedCallError(call._failure(exc)) from None
        call.last_input_at = time.monotonic()
        idle_call_reaper().watch(call)
        return call

    @property
    def ended(self) -> bool:
        """Whether the call is over; looking is enough to hang up a call left idle too long."""
        self.end_if_idle()
        return self._ended

    @property
    def idle_deadline(self) -> float:
        """When (`time.monotonic()`) the call is hung up unless the driver says something."""
        return self.last_input_at + self.idle_timeout_secs

    def end_if_idle(self, *, wait: bool = True) -> bool:
        """Hang up if the driver has been silent for the idle timeout; True if this ended it.
        With `wait=False` a call in use (the agent answering) is left alone."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            if self._ended or time.monotonic() < self.idle_deadline:
                return False
            self._finish(idle_end_reason(self.idle_timeout_secs))
            return True
        finally:
            self._lock.release()

    @property
    def transcript(self) -> list[dict[str, str]]:
        return self.caller.transcript

    def say(self, text: str) -> None:
        """The driver's turn; the agent's reply is added to the transcript. The call ends when
        the agent ends or transfers it."""
        with self._lock:
            if self.ended:
                raise SimulatedCallError(f"{self.end_reason} Start a new call.")
            self.last_input_at = time.monotonic()
            try:
                reply = self.caller.say(text)
            except Exception as exc:
                self._finish("The voice server dropped the call.")
                raise SimulatedCallError(self._failure(exc)) from None
            self.last_input_at = time.monotonic()  # the driver's silence counts from the reply
        if reply.transfer_number:
            self._finish(
                f"The agent transferred the call to the human dispatcher ({reply.transfer_number})."
            )
        elif reply.end_call:
            self._finish("The agent ended the call.")

    def hang_up(self) -> None:
        with self._lock:
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
        with self._lock:
            if not self._ended:
                self._ended = True
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


def idle_end_reason(idle_timeout_secs: float) -> str:
    if idle_timeout_secs >= 60:
        minutes = idle_timeout_secs / 60
        span = f"{minutes:g} minute{'' if minutes == 1 else 's'}"
    else:
        span = f"{idle_timeout_secs:g} second{'' if idle_timeout_secs == 1 else 's'}"
    return f"This simulated call ended after {span} without input."


class IdleCallReaper:
    """Hangs up live simulated calls once idle, from a daemon thread: a session whose tab was
    closed never reruns, so only something outside the page can end its call."""

    def __init__(self) -> None:
        self._calls: dict[str, SimulatedCall] = {}
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="simulated-call-reaper", daemon=True)
        self._thread.start()

    def watch(self, call: SimulatedCall) -> None:
        with self._changed:
            self._calls[call.call_id] = call
            self._changed.notify()

    @property
    def watched(self) -> int:
        with self._changed:
            return len(self._calls)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._calls = {cid: c for cid, c in self._calls.items() if not c._ended}
                next_deadline = min((c.idle_deadline for c in self._calls.values()), default=None)
                if next_deadline is not None:
                    wait = max(next_deadline - time.monotonic(), REAPER_MIN_WAIT_SECS)
                    self._changed.wait(timeout=wait)
                else:
                    self._changed.wait()
                due = [c for c in self._calls.values() if c.idle_deadline <= time.monotonic()]
            for call in due:  # outside the condition: a hang-up waits for the voice server
                try:
                    call.end_if_idle(wait=False)
                except Exception:  # one broken call must not stop the reaper (it is marked ended)
                    logger.exception("hanging up idle simulated call %s failed", call.call_id)


@st.cache_resource(show_spinner=False)
def idle_call_reaper() -> IdleCallReaper:
    """The one reaper of this Streamlit server process."""
    return IdleCallReaper()
