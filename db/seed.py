"""Demo data: drivers, loads and Retell/Pipecat calls over the last N days.

Transcripts come from running the real dispatch agent (`agent.opening`, `agent.next_reply`,
`agent.extract_result`, `agent.analyze`) against scripted drivers (db/demo_scripts.py). The agent
runs once per script variant (a few hundred); calls reuse those conversations with their own
driver, load, time and duration, so a million calls take minutes, not hours.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import agent
from agent.types import CallContext, Turn
from db.demo_scripts import KIND_WEIGHTS, ROUTES, DriverScript, script_variants
from db.models import CallFilters, CallStatus, CallUpdate, Provider
from db.store import Store

MAX_VARIANTS = 300
MAX_AGENT_TURNS = 12
DRIVER_COUNT = 200
# Placeholders the agent is run with; each call substitutes its own driver, load and destination.
TEMPLATE_DRIVER = "Quinn Placeholder"
TEMPLATE_LOAD = "LD-TEMPLATE"
TEMPLATE_ORIGIN = "Origintown, ZZ"
TEMPLATE_DESTINATION = "Destinationville, ZZ"
DISPATCH_NUMBER = "+13125550100"

_FIRST_NAMES_TEXT = (
    "James Maria Robert Linda Michael Patricia David Jennifer Carlos Elizabeth Jose Susan Daniel "
    "Jessica Thomas Sarah Marcus Karen Luis Nancy Anthony Lisa Kevin Angela Brian Tanya Jamal "
    "Rosa Darnell Emily Tyrone Olga Ahmed Priya Dmitri Keisha Hector Mei Andre Fatima"
)
FIRST_NAMES = _FIRST_NAMES_TEXT.split()
_LAST_NAMES_TEXT = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Clark "
    "Lewis Robinson Walker Young Allen Nguyen Kowalski Okafor Petrov Singh"
)
LAST_NAMES = _LAST_NAMES_TEXT.split()
AREA_CODES = ("312", "773", "214", "469", "404", "602", "303", "615", "816", "901", "317", "414")
LANES = tuple((route.origin, route.destination) for route in ROUTES)


@dataclass(frozen=True)
class Conversation:
    """One scripted driver talked to by the agent: reused by many demo calls."""

    kind: str
    transcript_json: str  # with the TEMPLATE_* placeholders
    structured: dict[str, Any]
    keyword_hits: dict[str, int]
    sentiment: float
    interruptions_est: int
    tokens_estimated: int
    words: int
    agent_ended: bool
    transferred: bool


@dataclass(frozen=True)
class Load:
    number: str
    origin: str
    destination: str
    appointment: str
    route: int  # index in ROUTES: the way the load goes, whichever direction


def run_conversation(script: DriverScript, keywords: Sequence[str]) -> Conversation:
    """Let the real agent talk with a scripted driver until one side ends the call."""
    context = CallContext(
        driver_name=TEMPLATE_DRIVER,
        load_number=TEMPLATE_LOAD,
        origin=TEMPLATE_ORIGIN,
        destination=TEMPLATE_DESTINATION,
        appointment="tomorrow 2 PM",
        scenario="driver_check_in",
        transfer_number="+13125550199",
    )
    reply = agent.opening(context)
    turns: list[Turn] = [Turn("agent", reply.text)]
    agent_ended = transferred = False
    answers = 0
    while len(turns) < MAX_AGENT_TURNS * 2:
        said = script.answer(turns[-1].content, answers)
        if said is None:
            break
        turns.append(Turn("user", said))
        answers += 1
        reply = agent.next_reply(context, tuple(turns))
        if reply.text:
            turns.append(Turn("agent", reply.text))
        if reply.end_call or reply.transfer_number:
            agent_ended, transferred = True, bool(reply.transfer_number)
            break
    if script.first_answer is None:
        turns = []  # nobody picked up: nothing was said
    transcript = tuple(turns)
    result = agent.extract_result(context, transcript)
    analysis = agent.analyze(transcript, keywords=tuple(keywords))
    return Conversation(
        kind=script.kind,
        transcript_json=json.dumps([{"role": t.role, "content": t.content} for t in turns]),
        structured=result.to_dict(),
        keyword_hits=dict(analysis.keyword_hits),
        sentiment=float(analysis.sentiment),
        interruptions_est=int(analysis.interruptions_est),
        tokens_estimated=int(analysis.tokens_estimated),
        words=sum(len(t.content.split()) for t in turns),
        agent_ended=agent_ended,
        transferred=transferred,
    )


def _drivers(store: Store, rng: random.Random) -> list[tuple[int, str, str]]:
    """(id, name, phone) of ~200 drivers, created if missing."""
    drivers = []
    for n in range(DRIVER_COUNT):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        phone = f"+1{AREA_CODES[n % len(AREA_CODES)]}555{n:04d}"
        drivers.append((store.ensure_driver(name, phone), name, phone))
    return drivers


def _loads(count: int, rng: random.Random, now: datetime) -> list[Load]:
    loads = []
    for n in range(count):
        route = rng.randrange(len(ROUTES))
        origin, destination = LANES[route]
        if rng.random() < 0.5:
            origin, destination = destination, origin
        appointment = now + timedelta(hours=rng.randrange(-24 * 30, 48))
        loads.append(
            Load(
                number=f"LD-{240000 + n:06d}",
                origin=origin,
                destination=destination,
                appointment=appointment.strftime("%Y-%m-%d %H:00"),
                route=route,
            )
        )
    return loads


def _call_time(rng: random.Random, now: datetime, days: int) -> datetime:
    """Mostly during US driving hours (12:00-04:00 UTC), anywhere in the last `days` days."""
    day = rng.randrange(days)
    hour = (12 + int(rng.triangular(0, 16, 6))) % 24 if rng.random() < 0.9 else rng.randrange(24)
    moment = (now - timedelta(days=day)).replace(hour=hour) + timedelta(
        minutes=rng.randrange(60), seconds=rng.randrange(60), microseconds=rng.randrange(10**6)
    )
    return moment - timedelta(days=1) if moment > now else moment


def _call_id(provider: Provider, seed: int, n: int) -> str:
    digest = hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=16).hexdigest()
    return f"call_{digest}" if provider is Provider.RETELL else f"pc_{digest}"


def _personalise(template: str, name: str, load: Load) -> list[dict[str, str]]:
    first = name.split()[0]
    text = (
        template.replace(TEMPLATE_DRIVER, name)
        .replace(TEMPLATE_DRIVER.split()[0], first)
        .replace(TEMPLATE_LOAD, load.number)
        .replace(TEMPLATE_ORIGIN, load.origin)
        .replace(TEMPLATE_DESTINATION, load.destination)
        .replace(TEMPLATE_ORIGIN.split(",")[0], load.origin.split(",")[0])
        .replace(TEMPLATE_DESTINATION.split(",")[0], load.destination.split(",")[0])
    )
    return json.loads(text)


def _call_rows(
    count: int,
    conversations: dict[int, dict[str, list[Conversation]]],
    drivers: list[tuple[int, str, str]],
    loads: list[Load],
    agents: dict[Provider, int],
    rng: random.Random,
    seed: int,
    days: int,
    now: datetime,
) -> Iterator[tuple[Provider, str, CallUpdate]]:
    for n in range(count):
        provider = Provider.RETELL if rng.random() < 0.6 else Provider.PIPECAT
        driver_id, name, phone = drivers[rng.randrange(len(drivers))]
        load = loads[rng.randrange(len(loads))]
        # A conversation held on this load's route: the places it names lie on the way.
        on_route = conversations[load.route]
        kinds = [kind for kind in KIND_WEIGHTS if kind in on_route]
        kind = rng.choices(kinds, [KIND_WEIGHTS[kind] for kind in kinds])[0]
        conversation = rng.choice(on_route[kind])
        created_at = _call_time(rng, now, days)
        transcript = _personalise(conversation.transcript_json, name, load)
        picked_up = bool(transcript)
        status = CallStatus.ENDED
        error = None
        if not picked_up and rng.random() < 0.2:
            status, error = CallStatus.ERROR, "dial failed: carrier returned busy"
        duration = None
        if picked_up:
            speaking = conversation.words / 2.6 + 2.0 * len(transcript)
            duration = round(speaking * rng.uniform(0.85, 1.3), 1)
        elif status is CallStatus.ENDED:
            duration = round(rng.uniform(20, 35), 1)  # rang out
        started_at = created_at + timedelta(seconds=rng.uniform(1, 12))
        ended_at = started_at + timedelta(seconds=duration or 0)
        if ended_at > now:  # still talking: an ongoing call with what was said so far
            status, duration, ended_at = CallStatus.ONGOING, None, None
            transcript = transcript[: max(1, len(transcript) // 2)]
        if conversation.transferred:
            reason = "call_transfer"
        elif not picked_up:
            reason = "dial_no_answer" if status is CallStatus.ENDED else "dial_failed"
        else:
            reason = "agent_hangup" if conversation.agent_ended else "user_hangup"
        latency = None
        if picked_up and (provider is Provider.RETELL or rng.random() < 0.5):
            p50 = rng.gauss(850 if provider is Provider.RETELL else 1100, 150)
            latency = {
                "e2e_p50_ms": round(max(p50, 300)),
                "e2e_p90_ms": round(max(p50, 300) * rng.uniform(1.3, 1.8)),
                "llm_p50_ms": round(max(p50, 300) * rng.uniform(0.3, 0.5)),
            }
        yield (
            provider,
            _call_id(provider, seed, n),
            CallUpdate(
                driver_id=driver_id,
                agent_id=agents[provider],
                load_number=load.number,
                origin=load.origin,
                destination=load.destination,
                appointment=load.appointment,
                status=status,
                scenario="driver_check_in",
                call_type=(
                    rng.choice(("phone_call", "phone_call", "web_call"))
                    if provider is Provider.RETELL
                    else rng.choice(("webrtc", "twilio"))
                ),
                from_number=DISPATCH_NUMBER,
                to_number=phone,
                created_at=created_at,
                started_at=started_at if picked_up else None,
                ended_at=ended_at,
                duration_secs=duration,
                interruptions_est=conversation.interruptions_est + (rng.random() < 0.2),
                tokens_estimated=conversation.tokens_estimated,
                keyword_hits=conversation.keyword_hits,
                sentiment=round(max(-1.0, min(1.0, conversation.sentiment)), 3),
                transcript=transcript,
                structured=conversation.structured if status is not CallStatus.ONGOING else None,
                recording_url=(
                    f"https://recordings.example.com/retell/{_call_id(provider, seed, n)}.wav"
                    if provider is Provider.RETELL and picked_up and status is CallStatus.ENDED
                    else None
                ),
                disconnection_reason=reason if status is not CallStatus.ONGOING else None,
                latency=latency,
                cost=(
                    round(math.ceil((duration or 0) / 60) * 7.0, 2)
                    if provider is Provider.RETELL
                    else None
                ),
                metadata={"demo": True, "script": conversation.kind},
                error=error,
            ),
        )


def seed_demo_data(
    store: Store,
    *,
    calls: int,
    days: int = 30,
    seed: int = 42,
    if_empty: bool = False,
    keywords: Sequence[str] = (),
    progress: bool = True,
    now: datetime | None = None,
) -> int | None:
    """Write demo drivers, loads and `calls` calls; None when `if_empty` and calls exist."""
    if if_empty and store.search_calls(CallFilters(), page_size=1).total > 0:
        return None
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    drivers = _drivers(store, rng)
    agents = {
        Provider.RETELL: store.ensure_agent(Provider.RETELL, "Dispatch check-in", "agent_demo"),
        Provider.PIPECAT: store.ensure_agent(Provider.PIPECAT, "Dispatch check-in bot"),
    }
    loads = _loads(max(1, calls // 3), rng, now)
    # The agent talks with each variant once; calls reuse the variants of their load's route.
    per_route = max(len(KIND_WEIGHTS), min(MAX_VARIANTS, calls) // len(ROUTES))
    conversations: dict[int, dict[str, list[Conversation]]] = {}
    for route in sorted({load.route for load in loads}):
        by_kind = conversations.setdefault(route, {})
        for script in script_variants(per_route, rng, ROUTES[route]):
            by_kind.setdefault(script.kind, []).append(run_conversation(script, keywords))
    rows = _call_rows(calls, conversations, drivers, loads, agents, rng, seed, days, now)
    if progress:
        from tqdm import tqdm

        rows = tqdm(rows, total=calls, unit="call", desc="Seeding calls", mininterval=0.5)
    return store.bulk_insert_calls(rows)
