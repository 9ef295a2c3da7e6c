"""Placing one claimed attempt's call, per engine, the way the Trigger page places calls.

- Retell and Pipecat: `POST /api/v1/calls/start` on the voice server (bearer DISPATCH_API_KEY),
  the route the Trigger page's form calls; the voice server runs the engine and keeps the row.
- Simulated: the Trigger page's simulated call, with a scripted driver instead of a manager at
  the keyboard: Retell's side of the custom-LLM socket (`RetellCaller`) against the voice
  server, so the real agent talks and the voice server saves the call. A script that does not
  pick up is a call that ends with Retell's `dial_no_answer`, written as Retell's webhook would.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import httpx
from pydantic import ValidationError

from db.demo_scripts import KIND_WEIGHTS, DriverScript, make_script
from db.load_models import ClaimedAttempt
from db.models import CallStatus, CallUpdate, Provider
from db.store import Store, StoreError
from protocols.retell.caller import RetellCaller, new_simulated_call_id, simulated_caller
from protocols.start_call import StartCallRequest, StartedCall
from settings import Settings

log = logging.getLogger(__name__)

MAX_DRIVER_ANSWERS = 12
START_TIMEOUT = httpx.Timeout(20.0, connect=3.0)


class PlacementFailed(RuntimeError):
    """The engine did not start the call; the message says why (kept on the attempt)."""


@dataclass(frozen=True)
class Placement:
    provider: str
    provider_call_id: str


class Dialer(Protocol):
    async def place(self, claimed: ClaimedAttempt) -> Placement:
        """Start the call; raise PlacementFailed when it was not started."""

    async def aclose(self) -> None: ...


def appointment_text(claimed: ClaimedAttempt) -> str:
    """The delivery appointment in its own time zone, as the agent reads it to the driver."""
    local = claimed.load.delivery_at.astimezone(ZoneInfo(claimed.load.delivery_tz))
    return local.strftime("%a %b %-d, %-I:%M %p %Z")


def start_request(claimed: ClaimedAttempt, vendor: str) -> StartCallRequest:
    load = claimed.load
    try:
        return StartCallRequest(
            vendor=vendor,  # type: ignore[arg-type]
            mode="phone",
            driver_name=load.driver_name,
            driver_phone=load.driver_phone,
            load_number=load.load_number,
            origin=load.origin,
            destination=load.destination,
            appointment=appointment_text(claimed),
            scenario=f"scheduled_{claimed.kind.value}",
        )
    except ValidationError as exc:
        raise PlacementFailed(f"the load cannot be called: {exc.errors()[0]['msg']}") from None


class VoiceServerDialer:
    """Retell or Pipecat calls through the voice server's call-control API."""

    def __init__(
        self, settings: Settings, vendor: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.vendor = vendor
        key = settings.dispatch_api_key
        self._client = httpx.AsyncClient(
            base_url=settings.voice_server_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key.get_secret_value()}"} if key else {},
            timeout=START_TIMEOUT,
            transport=transport,
        )

    async def place(self, claimed: ClaimedAttempt) -> Placement:
        if not claimed.load.driver_phone:
            raise PlacementFailed(f"load {claimed.load.load_number} has no driver phone")
        request = start_request(claimed, self.vendor)
        try:
            response = await self._client.post(
                "/api/v1/calls/start", json=request.model_dump(mode="json")
            )
        except httpx.HTTPError as exc:
            raise PlacementFailed(f"voice server unreachable: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise PlacementFailed(
                f"voice server answered {response.status_code}: {response.text[:300]}"
            )
        started = StartedCall.model_validate(response.json())
        return Placement(started.provider, started.provider_call_id)

    async def aclose(self) -> None:
        await self._client.aclose()


def random_driver(seed: int | None = None) -> Callable[[ClaimedAttempt], DriverScript]:
    """Scripted drivers in the demo data's proportions (some do not pick up)."""
    rng = random.Random(seed)

    def choose(claimed: ClaimedAttempt) -> DriverScript:
        kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
        return make_script(kind, rng)

    return choose


class SimulatedDialer:
    """The Trigger page's simulated call, played by a scripted driver."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        driver: Callable[[ClaimedAttempt], DriverScript] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.driver = driver or random_driver()
        self._conversations: set[asyncio.Task[None]] = set()

    async def place(self, claimed: ClaimedAttempt) -> Placement:
        request = start_request(claimed, Provider.RETELL.value)
        script = self.driver(claimed)
        if script.first_answer is None:
            call_id = new_simulated_call_id()
            await asyncio.to_thread(self._record_unanswered, request, call_id)
            return Placement(Provider.RETELL.value, call_id)
        call_id, caller = simulated_caller(RetellCaller, self.settings, request)
        try:
            await caller.connect()
        except Exception as exc:
            raise PlacementFailed(
                f"voice server unreachable: {type(exc).__name__}: {exc}"
            ) from None
        task = asyncio.create_task(self._converse(caller, script))
        self._conversations.add(task)
        task.add_done_callback(self._conversations.discard)
        return Placement(Provider.RETELL.value, call_id)

    async def _converse(self, caller: RetellCaller, script: DriverScript) -> None:
        try:
            agent_said = caller.begin.text if caller.begin else ""
            for answers in range(MAX_DRIVER_ANSWERS):
                said = script.answer(agent_said, answers)
                if said is None:
                    break
                reply = await caller.say(said)
                if reply.end_call or reply.transfer_number:
                    break
                agent_said = reply.text
        except Exception:  # the voice server saves whatever was said before the drop
            log.warning("simulated call %s dropped", caller.url, exc_info=True)
        finally:
            await caller.hang_up()

    def _record_unanswered(self, request: StartCallRequest, call_id: str) -> None:
        now = datetime.now(UTC)
        try:
            driver_id = self.store.ensure_driver(request.driver_name, request.driver_phone)
            self.store.upsert_call(
                Provider.RETELL,
                call_id,
                CallUpdate.with_context(
                    request,
                    driver_id=driver_id,
                    call_type="simulated",
                    to_number=request.driver_phone,
                    status=CallStatus.ENDED,
                    started_at=now,
                    ended_at=now,
                    duration_secs=0.0,
                    disconnection_reason="dial_no_answer",
                ),
            )
        except StoreError as exc:
            raise PlacementFailed(f"could not record the unanswered call: {exc}") from None

    async def aclose(self) -> None:
        if self._conversations:
            await asyncio.gather(*self._conversations, return_exceptions=True)
