"""One Retell custom-LLM WebSocket: a per-call session between Retell and the dispatch agent.

The receive loop never waits on a reply or on the database: it answers `ping_pong` at once,
records what it learns, and hands each `response_required` / `reminder_required` to a reply task.
A newer request cancels the older reply task and, before any await, becomes the only id allowed
to send, so no frame for a stale id goes out after the newer request arrived.

The greeting waits at most `begin_wait_secs` for anything (the row, `call_details`), never on the
database; a call id greeted before (in this process, in a row, or in a write still queued in the
outbox) is a reconnect and gets an empty begin message. The call exists for the recorder from
Retell's first valid frame on, and a socket silent for `idle_secs` is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from agent import opening
from agent.types import CallContext, transcript_from
from agent.vocabulary import EscalationStatus
from db import StoreError
from db.models import Provider
from protocols.retell.messages import (
    CallDetailsRequest,
    ConfigResponse,
    PingPongRequest,
    PingPongResponse,
    ProtocolError,
    ReminderRequiredRequest,
    ReplyRequest,
    ResponseRequiredRequest,
    ResponseResponse,
    RetellRequest,
    UpdateOnlyRequest,
    encode,
)
from voice_server.blocking import run_blocking
from voice_server.retell_call_row import call_context
from voice_server.retell_frames import parse_frame
from voice_server.retell_recorder import RetellCallRecorder, context_from_call

if TYPE_CHECKING:
    from pydantic import BaseModel

    from agent import Policy

log = logging.getLogger(__name__)

FALLBACK_REPLY = "Sorry, could you say that again?"
MALFORMED_LOG_LIMIT = 20  # per call; a flood of bad frames must not flood the log
AGENT_TURNS = 200
IDLE_CLOSE_CODE = 1001  # going away: the peer has been silent too long
DEFAULT_IDLE_SECS = 60.0


class GreetedCalls:
    """Call ids this process has greeted (the most recent `capacity`): a reconnect whose first
    write has not landed anywhere yet is still known here."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._ids

    def add(self, call_id: str) -> None:
        self._ids[call_id] = None
        self._ids.move_to_end(call_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


def merge_context(base: CallContext, override: CallContext) -> CallContext:
    """`base` with every field `override` knows."""
    known = {f.name: v for f in dataclasses.fields(override) if (v := getattr(override, f.name))}
    return dataclasses.replace(base, **known)


def transfer_line(call_type: str | None, transfer_number: str | None) -> str | None:
    """The number Retell can transfer this call to: only a phone call has a line to hand over
    (a web call or our simulated call has nobody to bridge), and only with a number set."""
    return transfer_number if transfer_number and call_type == "phone_call" else None


class RetellCallSession:
    # How long the begin message waits for `call_details` so the opening can greet by name.
    begin_wait_secs = 0.5

    def __init__(
        self,
        websocket: WebSocket,
        call_id: str,
        *,
        policy: Policy,
        recorder: RetellCallRecorder,
        transfer_number: str | None,
        idle_secs: float = DEFAULT_IDLE_SECS,
        greeted: GreetedCalls | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.websocket = websocket
        self.timezone = timezone  # DISPATCH_TIMEZONE: the zone of a call's start without one
        self.idle_secs = idle_secs
        self.greeted = greeted if greeted is not None else GreetedCalls()
        self.call_id = call_id
        self.policy = policy
        self.recorder = recorder
        self.transfer_number = transfer_number
        # No transfer line until the call is known to be a phone call (see `transfer_line`).
        self.context = CallContext()
        self._details_context = CallContext()
        self._details_arrived = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._current_response_id = 0  # the begin message is response 0
        self._reply_task: asyncio.Task[None] | None = None
        self._reminders_in_a_row = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._malformed = 0
        self._closed = False
        self._transfer_requested = False  # then a transfer webhook may report it failed

    async def run(self) -> None:
        await self.websocket.accept()
        await self._send(ConfigResponse())
        start = self._spawn(self._start(), "start")
        try:
            await self._receive_loop()
        except WebSocketDisconnect:
            pass
        finally:
            self._closed = True
            for task in (start, self._reply_task):
                if task is not None:
                    task.cancel()
            # Shielded: a server shutting down must still write the ended call.
            await asyncio.shield(self.recorder.finalize(self.context))

    # --- the receive loop: never awaits generation or the database -----------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await asyncio.wait_for(self.websocket.receive(), self.idle_secs)
            except TimeoutError:
                log.info("call %s: silent for %gs, closing", self.call_id, self.idle_secs)
                with contextlib.suppress(RuntimeError, OSError):
                    await self.websocket.close(code=IDLE_CLOSE_CODE)
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self._skip("binary frame", message.get("bytes"))
                continue
            try:
                request = await parse_frame(text)
            except ProtocolError as exc:
                self._skip(str(exc), text)
                continue
            del message, text  # a large frame's text is not kept while the call goes on
            self.recorder.activate()
            await self._handle(request)

    async def _handle(self, request: RetellRequest) -> None:
        if isinstance(request, PingPongRequest):
            await self._send(PingPongResponse(timestamp=request.timestamp))
        elif isinstance(request, CallDetailsRequest):
            call = request.call
            inbound = call.direction == "inbound"
            variables = {**(call.metadata or {}), **(call.retell_llm_dynamic_variables or {})}
            self._details_context = dataclasses.replace(
                call_context(call, timezone=self.timezone),
                callback_number=variables.get("driver_phone")
                or (call.from_number if inbound else call.to_number),
                transfer_number=transfer_line(call.call_type, self.transfer_number),
            )
            self.context = dataclasses.replace(
                merge_context(self.context, self._details_context),
                transfer_number=self._details_context.transfer_number,
            )
            self.recorder.learn_call_details(self.context, call)
            self._details_arrived.set()
        elif isinstance(request, UpdateOnlyRequest):
            self.recorder.observe_transcript([u.as_turn() for u in request.transcript])
        elif isinstance(request, ResponseRequiredRequest | ReminderRequiredRequest):
            self._start_reply(request)

    def _start_reply(self, request: ReplyRequest) -> None:
        # Becoming current before any await is what makes every older reply stale at once.
        self._current_response_id = request.response_id
        if self._reply_task is not None and not self._reply_task.done():
            self._reply_task.cancel()
        if isinstance(request, ReminderRequiredRequest):
            self._reminders_in_a_row += 1
        else:
            self._reminders_in_a_row = 0
        rows = [u.as_turn() for u in request.transcript]
        self.recorder.observe_transcript(rows)
        self._reply_task = asyncio.create_task(
            self._reply(request.response_id, rows, self._reminders_in_a_row),
            name=f"reply:{self.call_id}:{request.response_id}",
        )

    def _skip(self, reason: str, frame: str | bytes | None) -> None:
        self._malformed += 1
        if self._malformed <= MALFORMED_LOG_LIMIT:
            preview = (frame or "")[:120]
            log.warning("call %s: skipped a frame (%s): %r", self.call_id, reason, preview)
        elif self._malformed % 1000 == 0:
            log.warning("call %s: %d malformed frames so far", self.call_id, self._malformed)

    # --- begin message and replies -----------------------------------------------------------

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.begin_wait_secs
        opening_read = asyncio.create_task(self.recorder.open())
        existing = None
        with contextlib.suppress(TimeoutError):
            # The row may know the driver; the greeting does not wait on a slow database.
            existing = await asyncio.wait_for(asyncio.shield(opening_read), self.begin_wait_secs)
        self._learn_from_row(existing)
        resumed = self._greeted_before(existing)
        if not self.context.driver_name and not resumed:
            with contextlib.suppress(TimeoutError):
                remaining = max(0.0, deadline - loop.time())
                await asyncio.wait_for(self._details_arrived.wait(), remaining)
        # A reconnect must not greet again: an empty begin message waits for the caller.
        content = "" if resumed else opening(self.context).text
        self.greeted.add(self.call_id)
        if await self._send_reply_frame(0, content, last=True) and content:
            self.recorder.agent_replied([], content)
        if not opening_read.done():
            self._learn_from_row(await opening_read)

    def _learn_from_row(self, existing: Any) -> None:
        known = context_from_call(
            existing,
            transfer_number=transfer_line(existing.call_type, self.transfer_number)
            if existing is not None
            else None,
        )
        self.context = merge_context(merge_context(known, self.context), self._details_context)
        if self._details_arrived.is_set():
            self.context = dataclasses.replace(
                self.context, transfer_number=self._details_context.transfer_number
            )

    def _greeted_before(self, existing: Any) -> bool:
        """Greeted by this process, or by any whose writes reached the row or wait queued."""
        if self.call_id in self.greeted:
            return True
        if existing is not None and any(t["role"] == "agent" for t in existing.transcript):
            return True
        queued = getattr(self.recorder.store, "queued_transcript", None)
        return queued is not None and any(
            turn.get("role") == "agent" for turn in queued(Provider.RETELL, self.call_id)
        )

    async def _reply(self, response_id: int, rows: list[dict[str, str]], reminders: int) -> None:
        spoken: list[str] = []
        end_call = alert_office = False
        transfer_number: str | None = None
        # The agent reads the latest turns only: its work per reply (on the event loop) stays
        # a few milliseconds however long the call gets; a real call never has this many.
        turns = transcript_from(rows[-AGENT_TURNS:])
        if self._transfer_requested and self.context.transfer_number:
            await self._learn_transfer_outcome()
        stream = self.policy.stream(self.context, turns, reminders_in_a_row=reminders)
        try:
            finished = False
            async for part in stream:
                text = part.text
                if spoken and text and not text[0].isspace():
                    text = " " + text  # Retell concatenates frames as they are
                end_call = end_call or bool(part.end_call)
                transfer_number = transfer_number or part.transfer_number
                alert_office = alert_office or part.alert_office
                if not await self._send_reply_frame(
                    response_id,
                    text,
                    last=part.last,
                    end_call=end_call if part.last else False,
                    transfer_number=transfer_number if part.last else None,
                ):
                    return
                spoken.append(text)
                if part.last:
                    finished = True
                    break
            if not finished and not await self._send_reply_frame(response_id, "", last=True):
                return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: the agent failed on response %d", self.call_id, response_id)
            if await self._send_reply_frame(response_id, FALLBACK_REPLY, last=True):
                spoken = [FALLBACK_REPLY]
        finally:
            # Stops the upstream generation (e.g. an LLM stream) of a cancelled reply at once.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        self.recorder.agent_replied(rows, "".join(spoken))
        if transfer_number:
            self._transfer_requested = True
        if end_call or transfer_number:
            # Ended (and the alert raised) at once: Retell hangs up after speaking the reply.
            self._spawn(self.recorder.finalize(self.context, socket_open=True), "finalize")
        elif alert_office:
            self._spawn(self.recorder.alert_office(self.context), "alert")

    async def _learn_transfer_outcome(self) -> None:
        """Retell came back to the agent after a transfer: if its webhook said the transfer
        failed, this call has no transfer line any more (the agent offers a callback)."""
        try:
            call = await run_blocking(
                self.recorder.executor, self.recorder.store.get_call, self.call_id, Provider.RETELL
            )
        except StoreError as exc:
            log.warning("call %s: transfer outcome unknown: %s", self.call_id, exc)
            return
        status = (call.structured or {}).get("escalation_status") if call else None
        if status == EscalationStatus.TRANSFER_FAILED:
            self.context = dataclasses.replace(self.context, transfer_number=None)

    async def _send_reply_frame(
        self,
        response_id: int,
        content: str,
        *,
        last: bool,
        end_call: bool = False,
        transfer_number: str | None = None,
    ) -> bool:
        """Send one frame of a reply unless a newer request made it stale; False if not sent."""
        frame = ResponseResponse(
            response_id=response_id,
            content=content,
            content_complete=last,
            end_call=True if end_call else None,
            transfer_number=transfer_number,
        )
        async with self._send_lock:
            if response_id != self._current_response_id or self._closed:
                return False
            return await self._send_text(encode(frame))

    async def _send(self, message: BaseModel) -> None:
        async with self._send_lock:
            if not self._closed:
                await self._send_text(encode(message))

    async def _send_text(self, text: str) -> bool:
        """Send under the lock; a peer that went away closes the session instead of raising."""
        try:
            await self.websocket.send_text(text)
            return True
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.info("call %s: peer gone while sending: %r", self.call_id, exc)
            self._closed = True
            return False

    def _spawn(self, coro: Any, label: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{label}:{self.call_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task
