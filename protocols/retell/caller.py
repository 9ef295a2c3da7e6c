"""Retell's side of the custom-LLM WebSocket protocol, usable on its own.

`RetellCaller` does what Retell does on a call: connects to `{server}/api/v1/retell/llm-webhook/
{call_id}`, reads `config` and the begin message, sends `call_details`, sends the driver's turns as
`response_required` with the whole transcript so far, reads the streamed reply until
`content_complete`, emits `ping_pong` and records the answers, asks for reminders, hangs up.
The tests, the benchmark, the demo-data generator and the Streamlit simulated call all use it;
`SyncRetellCaller` wraps it for code without an event loop (Streamlit).

    async with RetellCaller(url, "sim_123", call_details=simulated_call_details(...)) as call:
        print(call.begin.text)
        reply = await call.say("I'm on I-10 near Tucson, about two hours out.")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocols.call_clock import call_local_time
from protocols.retell.messages import (
    AgentConfig,
    ConfigResponse,
    PingPongResponse,
    ProtocolError,
    ResponseResponse,
    parse_server_message,
)

if TYPE_CHECKING:
    from protocols.start_call import StartCallRequest
    from settings import Settings

LLM_SOCKET_PATH = "/api/v1/retell/llm-webhook"
T = TypeVar("T")
C = TypeVar("C")


def llm_socket_url(server_url: str, call_id: str) -> str:
    """`http://host:8000` (or ws://) -> `ws://host:8000/api/v1/retell/llm-webhook/<call_id>`."""
    base = server_url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base.removeprefix("http")
    return f"{base}{LLM_SOCKET_PATH}/{call_id}"


def new_simulated_call_id() -> str:
    return f"sim_{uuid.uuid4().hex}"


def simulated_call_details(
    call_id: str,
    *,
    driver_name: str | None = None,
    load_number: str | None = None,
    origin: str | None = None,
    destination: str | None = None,
    appointment: str | None = None,
    scenario: str | None = None,
    driver_phone: str | None = None,
    call_type: str = "simulated",
    local_time: str | None = None,
    start_timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """The `call` object of a `call_details` message, as Retell would fill it for this call.
    `local_time` is the call's start as the agent reads it (`protocols.call_clock`); a caller
    that reconnects passes the first connection's `start_timestamp_ms` (default now)."""
    variables = {
        "driver_name": driver_name,
        "load_number": load_number,
        "origin": origin,
        "destination": destination,
        "appointment": appointment,
        "scenario": scenario,
        "local_time": local_time,
    }
    return {
        "call_id": call_id,
        "call_type": call_type,
        "call_status": "ongoing",
        "direction": "outbound",
        "to_number": driver_phone,
        "start_timestamp": start_timestamp_ms
        if start_timestamp_ms is not None
        else int(time.time() * 1000),
        "retell_llm_dynamic_variables": {k: v for k, v in variables.items() if v},
        "metadata": {"source": "simulated"},
    }


@dataclass
class AgentReply:
    """One reply of the agent, as received frame by frame."""

    response_id: int
    frames: list[ResponseResponse] = field(default_factory=list)
    requested_at: float = 0.0  # time.perf_counter() when the request went out
    first_frame_at: float | None = None
    completed_at: float | None = None

    @property
    def text(self) -> str:
        return "".join(frame.content for frame in self.frames).strip()

    @property
    def complete(self) -> bool:
        return bool(self.frames) and self.frames[-1].content_complete

    @property
    def end_call(self) -> bool:
        return any(frame.end_call for frame in self.frames)

    @property
    def transfer_number(self) -> str | None:
        return next((f.transfer_number for f in self.frames if f.transfer_number), None)

    @property
    def first_frame_secs(self) -> float | None:
        return None if self.first_frame_at is None else self.first_frame_at - self.requested_at

    @property
    def complete_secs(self) -> float | None:
        return None if self.completed_at is None else self.completed_at - self.requested_at


class CallerError(RuntimeError):
    """The server broke the protocol, went away, or did not answer in time."""


class RetellCaller:
    def __init__(
        self,
        url: str,
        *,
        call_details: dict[str, Any] | None = None,
        details_after_begin: bool = False,
        ping_interval: float | None = 2.0,
        open_timeout: float = 10.0,
        reply_timeout: float = 30.0,
        api_key: str | None = None,
    ) -> None:
        self.url = url
        # Our own calls (not Retell's) show DISPATCH_API_KEY instead of a call id Retell knows.
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self.call_details = call_details
        self.details_after_begin = details_after_begin
        self.ping_interval = ping_interval
        self.open_timeout = open_timeout
        self.reply_timeout = reply_timeout
        self.config: AgentConfig | None = None
        self.begin: AgentReply | None = None
        self.transcript: list[dict[str, str]] = []
        self.replies: dict[int, AgentReply] = {}
        self.pongs: list[int] = []
        self.other_messages: list[Any] = []
        self.protocol_errors: list[str] = []
        self.frame_order: list[int] = []  # response_id of every response frame, in order
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._next_response_id = 1
        self._config_seen = asyncio.Event()
        self._completed: dict[int, asyncio.Event] = {}
        self._first_frame: dict[int, asyncio.Event] = {}
        self._pong_seen = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None

    # --- connecting and hanging up ------------------------------------------------------------

    async def connect(self) -> RetellCaller:
        """Connect, read config and the begin message; a failure leaves nothing open."""
        self._ws = await connect(
            self.url,
            open_timeout=self.open_timeout,
            max_size=2**22,
            additional_headers=self.headers,
        )
        self.replies[0] = AgentReply(0, requested_at=time.perf_counter())
        self._completed[0] = asyncio.Event()
        self._first_frame[0] = asyncio.Event()
        self._reader = asyncio.create_task(self._read_loop())
        try:
            await self._begin()
        except BaseException:
            await self.abort()
            raise
        return self

    async def _begin(self) -> None:
        await self._wait(self._config_seen, "the config message", lambda: self.config is not None)
        if self.call_details is not None and not self.details_after_begin:
            await self.send_call_details(self.call_details)
        self.begin = await self.wait_reply(0)
        if self.begin.text:
            self.transcript.append({"role": "agent", "content": self.begin.text})
        if self.call_details is not None and self.details_after_begin:
            await self.send_call_details(self.call_details)
        if self.ping_interval:
            self._pinger = asyncio.create_task(self._ping_loop(self.ping_interval))

    async def hang_up(self, code: int = 1000) -> None:
        await self._stop_tasks()
        if self._ws is not None:
            await self._ws.close(code)
            await self._wait_reader()

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        await self._stop_tasks()
        if self._ws is not None:
            self._ws.transport.abort()
            await self._wait_reader()

    async def __aenter__(self) -> RetellCaller:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        if not self.closed.is_set():
            await self.hang_up()
        else:
            await self._stop_tasks()

    # --- what Retell sends ----------------------------------------------------------------------

    async def send_call_details(self, call: dict[str, Any]) -> None:
        await self.send_json({"interaction_type": "call_details", "call": call})

    async def say(self, text: str) -> AgentReply:
        """The driver's turn: append it, ask for a reply, wait for it, append the reply."""
        return await self.wait_reply(await self.send_turn(text))

    async def send_turn(self, text: str) -> int:
        """The driver's turn without waiting for the reply; returns its response_id."""
        self.transcript.append({"role": "user", "content": text})
        return await self.request_reply()

    async def remind(self) -> AgentReply:
        """The driver stayed silent: `reminder_required` with the transcript unchanged."""
        return await self.wait_reply(await self.request_reply(reminder=True))

    async def request_reply(self, *, reminder: bool = False) -> int:
        """Send `response_required` (or `reminder_required`) now; returns its response_id."""
        response_id = self._next_response_id
        self._next_response_id += 1
        self.replies[response_id] = AgentReply(response_id)
        self._completed[response_id] = asyncio.Event()
        self._first_frame[response_id] = asyncio.Event()
        message = {
            "interaction_type": "reminder_required" if reminder else "response_required",
            "response_id": response_id,
            "transcript": [dict(turn) for turn in self.transcript],
        }
        self.replies[response_id].requested_at = time.perf_counter()
        await self.send_json(message)
        return response_id

    async def wait_reply(self, response_id: int, *, keep: bool = True) -> AgentReply:
        """Wait for `content_complete` of this response; by default add it to the transcript."""
        reply = self.replies[response_id]
        what = f"the reply to response {response_id}"
        await self._wait(self._completed[response_id], what, lambda: reply.complete)
        if keep and response_id and reply.text:
            self.transcript.append({"role": "agent", "content": reply.text})
        return reply

    async def wait_first_frame(self, response_id: int) -> None:
        reply = self.replies[response_id]
        what = f"a first frame of response {response_id}"
        await self._wait(self._first_frame[response_id], what, lambda: bool(reply.frames))

    async def update_only(self, turntaking: str | None = None) -> None:
        message: dict[str, Any] = {"interaction_type": "update_only", "transcript": self.transcript}
        if turntaking:
            message["turntaking"] = turntaking
        await self.send_json(message)

    async def ping(self) -> float:
        """Send a ping_pong; return the seconds until the server answered it."""
        timestamp = int(time.time() * 1000)
        while timestamp in self.pongs:
            timestamp += 1
        started = time.perf_counter()
        self._pong_seen.clear()
        await self.send_json({"interaction_type": "ping_pong", "timestamp": timestamp})
        while timestamp not in self.pongs:
            await self._wait(self._pong_seen, "the ping_pong answer", self._is_open)
            self._pong_seen.clear()
        return time.perf_counter() - started

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(message))

    async def send_raw(self, frame: str | bytes) -> None:
        if self._ws is None:
            raise CallerError("not connected: call connect() first")
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            raise CallerError(f"the server closed the socket: {exc}") from None

    # --- reading --------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                self._receive(frame)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()
            waiters = (*self._completed.values(), *self._first_frame.values())
            for event in (self._config_seen, self._pong_seen, *waiters):
                event.set()  # wake every waiter; they see `closed`

    def _receive(self, frame: str | bytes) -> None:
        try:
            message = parse_server_message(frame)
        except ProtocolError as exc:
            self.protocol_errors.append(str(exc))
            return
        if isinstance(message, ConfigResponse):
            self.config = message.config
            self._config_seen.set()
        elif isinstance(message, PingPongResponse):
            self.pongs.append(message.timestamp)
            self._pong_seen.set()
        elif isinstance(message, ResponseResponse):
            self._receive_response(message)
        else:
            self.other_messages.append(message)

    def _receive_response(self, frame: ResponseResponse) -> None:
        self.frame_order.append(frame.response_id)
        reply = self.replies.get(frame.response_id)
        if reply is None:
            self.protocol_errors.append(f"a frame for response {frame.response_id}, never asked")
            return
        if reply.complete:
            self.protocol_errors.append(f"a frame for response {frame.response_id} after complete")
            return
        now = time.perf_counter()
        if reply.first_frame_at is None:
            reply.first_frame_at = now
            self._first_frame[frame.response_id].set()
        reply.frames.append(frame)
        if frame.content_complete:
            reply.completed_at = now
            self._completed[frame.response_id].set()

    async def _ping_loop(self, interval: float) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(interval)
            with contextlib.suppress(CallerError):
                await self.send_json(
                    {"interaction_type": "ping_pong", "timestamp": int(time.time() * 1000)}
                )

    async def _wait(self, event: asyncio.Event, what: str, done: Callable[[], bool]) -> None:
        """Wait for `event`; CallerError on timeout or when the socket closed before `done()`."""
        try:
            await asyncio.wait_for(event.wait(), self.reply_timeout)
        except TimeoutError:
            raise CallerError(f"no {what} within {self.reply_timeout} s") from None
        if not done():
            raise CallerError(f"the socket closed (code {self.close_code}) before {what}")

    def _is_open(self) -> bool:
        return not self.closed.is_set()

    async def _stop_tasks(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
            self._pinger = None

    async def _wait_reader(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class SyncRetellCaller:
    """A `RetellCaller` on its own event-loop thread, for code that has no loop (Streamlit).

    The object can live across Streamlit reruns (keep it in `st.session_state`).
    """

    def __init__(self, url: str, **caller_options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.caller = RetellCaller(url, **caller_options)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        timeout = self.caller.reply_timeout + self.caller.open_timeout
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def connect(self) -> AgentReply:
        self._run(self.caller.connect())
        assert self.caller.begin is not None
        return self.caller.begin

    def say(self, text: str) -> AgentReply:
        return self._run(self.caller.say(text))

    def remind(self) -> AgentReply:
        return self._run(self.caller.remind())

    @property
    def transcript(self) -> list[dict[str, str]]:
        return list(self.caller.transcript)

    @property
    def is_closed(self) -> bool:
        return self.caller.closed.is_set()

    def hang_up(self) -> None:
        """Hang up (if still connected) and stop the loop thread."""
        try:
            if self.caller._ws is not None and not self.caller.closed.is_set():
                self._run(self.caller.hang_up())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


def simulated_caller(
    make: Callable[..., C], settings: Settings, request: StartCallRequest
) -> tuple[str, C]:
    """A new simulated call of `request`: its id and Retell's side of its socket on the voice
    server (`make` is `RetellCaller` or `SyncRetellCaller`), not connected yet. The call details
    carry the local time fixed at the start, as the voice server's call start fixes a real
    call's; DISPATCH_API_KEY lets our own simulated calls in."""
    call_id = new_simulated_call_id()
    started_at = datetime.now(UTC)
    details = simulated_call_details(
        call_id,
        **request.model_dump(exclude={"vendor", "mode"}),  # the call context, as named here
        local_time=call_local_time(request.appointment, settings.dispatch_timezone, started_at),
        start_timestamp_ms=int(started_at.timestamp() * 1000),
    )
    url = llm_socket_url(settings.voice_server_url, call_id)
    key = settings.dispatch_api_key
    api_key = key.get_secret_value() if key else None
    return call_id, make(url, call_details=details, open_timeout=5.0, api_key=api_key)
