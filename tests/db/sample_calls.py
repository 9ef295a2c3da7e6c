"""A small hand-made set of calls whose metrics are worked out by hand in the tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from db.models import CallStatus, CallUpdate, Provider
from db.store import Store

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def turns(*lines: str) -> list[dict[str, str]]:
    """Alternating agent/user turns, the agent first."""
    return [
        {"role": "agent" if i % 2 == 0 else "user", "content": line} for i, line in enumerate(lines)
    ]


def result(outcome: str, driver_status: str | None = None, **more: object) -> dict[str, object]:
    return {"call_outcome": outcome, "driver_status": driver_status, **more}


@dataclass(frozen=True)
class SampleIds:
    alice: int
    bob: int
    carl: int
    calls: dict[str, int]  # provider_call_id -> calllog id


def add_sample_calls(store: Store) -> SampleIds:
    """Five Retell calls (r1..r5) and two Pipecat calls (p1, p2) over 2026-03-08..10 (UTC).

    Newest first: r5, p2, r4, p1, r3, r2, r1.
    """
    alice = store.ensure_driver("Alice Moreno", "+13125550001")
    bob = store.ensure_driver("Bob Edouard", "+13125550002")
    carl = store.ensure_driver("Carl Smith")
    retell_agent = store.ensure_agent(Provider.RETELL, "Check-in", "agent_retell_1")
    pipecat_agent = store.ensure_agent(Provider.PIPECAT, "Check-in bot")
    calls = {
        "r1": (
            Provider.RETELL,
            CallUpdate(
                driver_id=alice,
                agent_id=retell_agent,
                load_number="L-100",
                status=CallStatus.ENDED,
                created_at=T0 - timedelta(days=2),
                duration_secs=100.0,
                interruptions_est=1,
                tokens_estimated=200,
                sentiment=0.5,
                keyword_hits={"traffic": 2},
                latency={"e2e_p50_ms": 800},
                structured=result("In-Transit Update", "Driving"),
                transcript=turns(
                    "Hi Alice, checking on load L-100.", "Rolling near Reno, traffic."
                ),
            ),
        ),
        "r2": (
            Provider.RETELL,
            CallUpdate(
                driver_id=bob,
                agent_id=retell_agent,
                load_number="L-200",
                status=CallStatus.ENDED,
                created_at=T0 - timedelta(days=2) + timedelta(hours=1),
                duration_secs=250.0,
                interruptions_est=3,
                tokens_estimated=400,
                sentiment=-0.2,
                keyword_hits={"weather": 1, "delay": 2},
                latency={"e2e_p50_ms": 1200},
                structured=result("In-Transit Update", "Delayed", delay_reason="Weather"),
                transcript=turns("Hi Bob.", "Snow storm, running two hours behind."),
            ),
        ),
        "r3": (
            Provider.RETELL,
            CallUpdate(
                driver_id=carl,
                load_number="L-300",
                status=CallStatus.ENDED,
                created_at=T0 - timedelta(days=1),
                duration_secs=40.0,
                interruptions_est=0,
                tokens_estimated=80,
                sentiment=-0.8,
                keyword_hits={"accident": 1},
                structured=result("Emergency Escalation", None, emergency_type="Accident"),
                transcript=turns("Hi Carl.", "There has been an accident on the interstate."),
            ),
        ),
        "r4": (
            Provider.RETELL,
            CallUpdate(
                driver_id=alice,
                load_number="L-400",
                status=CallStatus.ONGOING,
                created_at=T0,
                structured=result("Incomplete"),
                transcript=turns("Hi Alice."),
            ),
        ),
        "r5": (
            Provider.RETELL,
            CallUpdate(
                driver_id=bob,
                load_number="L-200",
                status=CallStatus.ERROR,
                created_at=T0 + timedelta(hours=1),
                duration_secs=5.0,
                error="dial failed",
            ),
        ),
        "p1": (
            Provider.PIPECAT,
            CallUpdate(
                driver_id=alice,
                agent_id=pipecat_agent,
                load_number="L-500",
                status=CallStatus.ENDED,
                created_at=T0 - timedelta(days=1) + timedelta(hours=2),
                duration_secs=70.0,
                interruptions_est=2,
                tokens_estimated=150,
                sentiment=0.1,
                keyword_hits={"lumper": 1, "traffic": 1},
                structured=result("Arrival Confirmation", "Arrived"),
                transcript=turns(
                    "Hi Alice.", "Just pulled into the receiver, waiting on a lumper."
                ),
            ),
        ),
        "p2": (
            Provider.PIPECAT,
            CallUpdate(
                driver_id=carl,
                agent_id=pipecat_agent,
                load_number="L-600",
                status=CallStatus.ENDED,
                created_at=T0 + timedelta(minutes=30),
                duration_secs=130.0,
                interruptions_est=1,
                tokens_estimated=260,
                sentiment=0.3,
                keyword_hits={"traffic": 3},
                structured=result("In-Transit Update", "Delayed", delay_reason="Traffic"),
                transcript=turns("Hi Carl.", "Stuck in traffic outside Denver."),
            ),
        ),
    }
    ids = {}
    for provider_call_id, (provider, update) in calls.items():
        ids[provider_call_id] = store.upsert_call(provider, provider_call_id, update).id
    return SampleIds(alice=alice, bob=bob, carl=carl, calls=ids)
