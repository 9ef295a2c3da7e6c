"""The on-time status (the agent's ETA against the appointment) is stored with each call,
filterable and counted, the same on every backend."""

from __future__ import annotations

from datetime import timedelta

from agent import CallContext, Turn, extract_result
from agent.vocabulary import OnTimeStatus
from db.models import CallFilters, CallStatus, CallUpdate, Provider
from db.store import Store
from tests.db.sample_calls import T0, add_sample_calls, result

LATE_CALL = [
    Turn("agent", "Hi Lena, this is Dispatch. Can you give me a quick status update?"),
    Turn("user", "on 65 near lafayette, be there around 3 pm"),
]


def _add(store: Store, call_id: str, on_time: str | None, days_ago: int = 0) -> None:
    extra = {"on_time_status": on_time} if on_time else {}
    store.upsert_call(
        Provider.RETELL,
        call_id,
        CallUpdate(
            status=CallStatus.ENDED,
            created_at=T0 - timedelta(days=days_ago),
            structured=result("In-Transit Update", "Driving", **extra),
        ),
    )


def _ids(store: Store, **filters: object) -> set[str]:
    page = store.search_calls(CallFilters(**filters), page_size=100)
    return {call.provider_call_id for call in page.items}


def test_the_agents_result_is_stored_and_found_by_its_on_time_status(store: Store) -> None:
    structured = extract_result(CallContext(appointment="1 pm"), LATE_CALL).to_dict()
    assert structured["on_time_status"] == OnTimeStatus.LATE.value
    assert structured["minutes_late"] == 120
    store.upsert_call(Provider.RETELL, "late_1", CallUpdate(structured=structured))
    _add(store, "on_time_1", OnTimeStatus.ON_TIME.value)
    _add(store, "no_appointment", None)
    assert _ids(store, on_time_status="Late") == {"late_1"}
    assert _ids(store, on_time_status="On Time") == {"on_time_1"}
    assert store.search_calls(CallFilters(on_time_status="At Risk")).total == 0
    assert store.get_call("late_1").structured["minutes_late"] == 120


def test_a_later_result_moves_the_call_to_its_new_status(store: Store) -> None:
    _add(store, "c1", OnTimeStatus.AT_RISK.value)
    _add(store, "c1", OnTimeStatus.LATE.value)
    assert _ids(store, on_time_status="Late") == {"c1"}
    assert store.on_time_counts(CallFilters()) == {"Late": 1}


def test_counts_per_status_follow_every_other_filter(store: Store) -> None:
    add_sample_calls(store)  # none of them has an on-time status
    _add(store, "late_today", "Late")
    _add(store, "late_last_week", "Late", days_ago=7)
    _add(store, "risk_today", "At Risk")
    _add(store, "fine_today", "On Time")
    assert store.on_time_counts(CallFilters()) == {"Late": 2, "At Risk": 1, "On Time": 1}
    recent = CallFilters(created_from=T0 - timedelta(days=1))
    assert store.on_time_counts(recent) == {"Late": 1, "At Risk": 1, "On Time": 1}
    assert store.on_time_counts(CallFilters(provider=Provider.PIPECAT)) == {}
    # Metrics filtered by on-time status count only those calls (the rollups cannot answer it).
    late = CallFilters(on_time_status="Late", created_from=T0 - timedelta(days=10))
    assert store.retell_metrics(late).total_calls == 2
    assert store.retell_metrics(CallFilters(on_time_status="Late")).total_calls == 2
    assert store.search_calls(CallFilters(on_time_status="Late")).total == 2
