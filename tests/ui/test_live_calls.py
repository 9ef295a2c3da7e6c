"""The Live calls panel through AppTest on a real SQLite database: which calls it lists, what it
shows of each, and that an emergency in progress stands out before it is over."""

from __future__ import annotations

import re
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from db import Store
from db.models import CallStatus, Provider
from tests.ui.conftest import NOW, AddCall, greeted, save_call
from tests.ui.test_pages import run_page


def ongoing(
    store: Store,
    provider: Provider,
    call_id: str,
    driver: str,
    load: str,
    answer: str | None = None,
    *,
    age: timedelta = timedelta(seconds=75),
) -> None:
    """A call in progress for `age`: the agent's question and the driver's `answer`, if any."""
    save_call(
        store,
        provider,
        call_id,
        driver,
        load,
        status=CallStatus.ONGOING,
        call_type="web_call" if provider is Provider.RETELL else "webrtc",
        created_at=NOW - age,
        started_at=NOW - age,
        transcript=greeted(driver, load, answer) if answer else [],
    )


def panel_text(app: AppTest) -> str:
    return " ".join(m.value for m in app.markdown) + " ".join(c.value for c in app.caption)


def test_the_dashboard_lists_calls_in_progress_on_every_engine_and_no_finished_call(
    store: Store, add_call: AddCall, app: AppTest
) -> None:
    add_call(driver="Ended Driver", load="DONE-1")
    ongoing(
        store, Provider.RETELL, "live-retell", "Rita Road", "R-100", "Rolling on I-40 near Amarillo"
    )
    ongoing(store, Provider.PIPECAT, "live-pipecat", "Paco Pipe", "P-200")
    ongoing(store, Provider.RETELL, "forgotten", "Stale Sam", "S-1", age=timedelta(hours=5))

    shown = panel_text(run_page(app, "dashboard"))

    assert "Rita Road" in shown and "R-100" in shown and "Retell" in shown
    assert "Rolling on I-40 near Amarillo" in shown
    assert "Paco Pipe" in shown and "P-200" in shown and "Pipecat" in shown
    timers = [int(m) * 60 + int(s) for m, s in re.findall(r":material/timer: (\d+):(\d\d)", shown)]
    assert len(timers) == 2 and min(timers) >= 75  # each call's duration so far
    assert "Ended Driver" not in shown
    assert "Stale Sam" not in shown  # "ongoing" for hours: its end was never reported
    assert not app.error


def test_an_emergency_stands_out_while_the_call_is_still_going(
    store: Store, add_call: AddCall, app: AppTest
) -> None:
    add_call()
    ongoing(store, Provider.RETELL, "calm", "Calm Carl", "C-1")
    ongoing(
        store,
        Provider.PIPECAT,
        "crash",
        "Erin Emergency",
        "E-911",
        "I just had an accident, I hit the guardrail",
        age=timedelta(seconds=20),
    )

    run_page(app, "dashboard")

    (alert,) = app.error
    assert "Emergency in progress" in alert.value and "Accident" in alert.value
    shown = panel_text(app)
    assert shown.index("Erin Emergency") < shown.index("Calm Carl")  # emergencies first


def test_with_no_call_in_progress_the_panel_says_so(add_call: AddCall, app: AppTest) -> None:
    add_call()
    run_page(app, "dashboard")
    assert "No call in progress." in [c.value for c in app.caption]
