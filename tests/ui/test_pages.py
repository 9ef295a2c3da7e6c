"""Every page through Streamlit's AppTest, on a real SQLite database (DATABASE_URL from the
autouse fixture): what the manager sees, and that filters and charts follow the data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from streamlit.testing.v1 import AppTest

from bot.recorder import wav_bytes
from db.models import CallUpdate, Provider
from db.recordings import LocalRecordings
from tests.ui.conftest import APP, AddCall


def run_page(app: AppTest, page: str, **query_params: str) -> AppTest:
    for name, value in query_params.items():
        app.query_params[name] = value
    app.switch_page(f"pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def figures(app: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def metric_values(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


# --- empty database and failing database ------------------------------------------------------


def test_every_page_on_an_empty_database_says_how_to_seed_demo_data(store, app: AppTest) -> None:
    pages = [("dashboard", {}), ("conversations", {})] + [
        ("analytics", {"tab": tab}) for tab in ("Retell", "Pipecat", "Compare")
    ]
    for page, params in pages:
        shown = run_page(AppTest.from_file(APP, default_timeout=60), page, **params)
        assert not shown.error
        assert any("python -m db seed --calls 2000" in info.value for info in shown.info), page


def test_a_database_that_was_never_migrated_shows_an_error_not_a_traceback(app: AppTest) -> None:
    for page in ("dashboard", "conversations", "analytics"):
        shown = run_page(AppTest.from_file(APP, default_timeout=60), page)
        assert len(shown.error) == 1, page
        assert "python -m db migrate" in shown.error[0].value


def test_an_unreachable_postgres_database_shows_an_error(monkeypatch, app: AppTest) -> None:
    from tests.conftest import free_port

    unreachable = f"postgresql://dispatch:dispatch@127.0.0.1:{free_port()}/nowhere"
    monkeypatch.setenv("DATABASE_URL", unreachable)
    from settings import get_settings

    get_settings.cache_clear()
    shown = run_page(app, "conversations")
    assert len(shown.error) == 1
    assert "cannot be reached" in shown.error[0].value


def test_an_invalid_configuration_names_the_variable(monkeypatch, app: AppTest) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    from settings import get_settings

    get_settings.cache_clear()
    shown = run_page(app, "analytics")
    assert "DATABASE_URL" in shown.error[0].value


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_compares_the_period_with_the_one_before(add_call: AddCall, app: AppTest) -> None:
    add_call(
        Provider.RETELL,
        emergency="Accident",
        driver="Ana Silva",
    )
    add_call(Provider.RETELL, outcome="In-Transit Update", driver_status="Delayed")
    add_call(Provider.PIPECAT, outcome="Incomplete", driver_status=None, driver="Bo Chen")
    add_call(Provider.RETELL, outcome="Arrival Confirmation", driver_status="Arrived")
    # The previous 7 days: one call only.
    add_call(Provider.RETELL, outcome="In-Transit Update", age=timedelta(days=10))

    shown = run_page(app, "dashboard", period="Last 7 days")
    cards = {m.label: m for m in shown.metric}
    assert cards["Calls"].value == "4"
    assert cards["Calls"].delta == "3"
    assert cards["Completion rate"].value == "75%"  # 3 of 4 reached a real outcome
    assert cards["Emergencies"].value == "1"
    assert cards["Delays"].value == "1"
    assert cards["Retell vs Pipecat"].value == "75% Retell"
    assert cards["Average duration"].value == "1.5 min"


def test_dashboard_period_filter_changes_the_figures(add_call: AddCall, app: AppTest) -> None:
    add_call(age=timedelta(hours=2))
    add_call(age=timedelta(days=3))
    add_call(age=timedelta(days=20))
    assert metric_values(run_page(app, "dashboard"))["Calls"] == "1"  # the last 24 hours
    app.segmented_control(key="period").set_value("Last 7 days").run()
    assert metric_values(app)["Calls"] == "2"
    app.segmented_control(key="period").set_value("Last 30 days").run()
    assert metric_values(app)["Calls"] == "3"


def test_simulated_calls_stay_out_of_the_figures_until_the_switch_is_on(
    add_call: AddCall, store, app: AppTest
) -> None:
    add_call(Provider.RETELL)
    simulated = add_call(Provider.RETELL, outcome="Emergency Escalation", emergency_type="Fire")
    store.upsert_call(Provider.RETELL, simulated, CallUpdate(call_type="simulated"))

    dashboard = run_page(app, "dashboard")
    switch = dashboard.toggle(key="include_simulated")
    assert switch.label == "Include simulated calls" and switch.value is False
    assert metric_values(dashboard)["Calls"] == "1"
    assert metric_values(dashboard)["Emergencies"] == "0"
    switch.set_value(True).run()
    assert metric_values(dashboard)["Calls"] == "2"
    assert metric_values(dashboard)["Emergencies"] == "1"

    analytics = run_page(AppTest.from_file(APP, default_timeout=60), "analytics")
    assert analytics.toggle(key="include_simulated").value is False
    assert metric_values(analytics)["Calls"] == "1"
    analytics.toggle(key="include_simulated").set_value(True).run()
    assert metric_values(analytics)["Calls"] == "2"

    # Conversations lists the simulated call whatever the figures' switch says.
    conversations = run_page(AppTest.from_file(APP, default_timeout=60), "conversations")
    assert sorted(table(conversations)["Engine"]) == ["Retell", "Retell (simulated)"]


def test_dashboard_links_latest_emergencies_and_incomplete_calls_to_the_call(
    add_call: AddCall, app: AppTest
) -> None:
    emergency = add_call(
        emergency="Breakdown",
        driver="Ana Silva",
    )
    incomplete = add_call(Provider.PIPECAT, outcome="Incomplete", driver_status=None)
    add_call(outcome="In-Transit Update")
    shown = run_page(app, "dashboard")
    links = {link.proto.label: link.proto for link in shown.get("page_link")}
    emergency_links = [p for label, p in links.items() if "Ana Silva" in label]
    assert len(emergency_links) == 1 and "Breakdown" in next(iter(links))
    targets = " ".join(p.page for p in links.values())
    assert "conversations" in targets
    query_strings = [p.query_string for p in links.values()]
    assert any(f"call={emergency}" in q for q in query_strings)
    assert any(f"call={incomplete}" in q for q in query_strings)
    assert len(links) == 2


# --- conversations -------------------------------------------------------------------------


def table(app: AppTest):  # noqa: ANN201 - a pandas DataFrame
    return app.dataframe[0].value


def test_conversations_filters_change_the_rows(add_call: AddCall, app: AppTest) -> None:
    add_call(
        Provider.RETELL,
        driver="Ana Silva",
        load="L-1",
        emergency="Medical",
    )
    add_call(
        Provider.PIPECAT,
        driver="Bo Chen",
        load="L-2",
        outcome="In-Transit Update",
        driver_status="Delayed",
    )
    add_call(
        Provider.RETELL,
        driver="Bo Chen",
        load="L-3",
        outcome="Arrival Confirmation",
        driver_status="Unloading",
        age=timedelta(days=40),
    )

    shown = run_page(app, "conversations")
    assert len(table(shown)) == 3
    app.selectbox(key="engine").set_value("pipecat").run()
    assert list(table(app)["Load"]) == ["L-2"]
    app.selectbox(key="engine").set_value(None).run()
    app.selectbox(key="outcome").set_value("Emergency Escalation").run()
    assert list(table(app)["Driver"]) == ["Ana Silva"]
    app.selectbox(key="outcome").set_value(None).run()
    app.text_input(key="driver").input("bo chen").run()
    assert sorted(table(app)["Load"]) == ["L-2", "L-3"]
    app.selectbox(key="driver_status").set_value("Unloading").run()
    assert list(table(app)["Load"]) == ["L-3"]


def test_conversations_full_text_search_finds_words_in_transcripts(
    add_call: AddCall, app: AppTest
) -> None:
    add_call(
        load="TIRE", transcript=[{"role": "user", "content": "I had a flat tire near exit 12"}]
    )
    add_call(load="FINE", transcript=[{"role": "user", "content": "All good, rolling along"}])
    run_page(app, "conversations", q="flat tire")
    assert list(table(app)["Load"]) == ["TIRE"]
    assert "**1 matching call**" in [m.value for m in app.markdown]


def test_conversation_filters_come_from_the_url(add_call: AddCall, app: AppTest) -> None:
    add_call(load="A-1", emergency="Accident")
    add_call(load="B-2", outcome="Incomplete", driver_status=None)
    run_page(app, "conversations", emergency="Accident")
    assert list(table(app)["Load"]) == ["A-1"]


def test_selecting_a_row_opens_the_transcript_result_and_metrics(
    add_call: AddCall, app: AppTest
) -> None:
    add_call(load="OLD", age=timedelta(hours=5))
    add_call(
        load="NEW",
        driver="Ana Silva",
        duration=125,
        interruptions=3,
        transcript=[
            {"role": "agent", "content": "Hi Ana, where are you?"},
            {"role": "user", "content": "Stuck at the Blythe weigh station."},
        ],
    )
    run_page(app, "conversations")
    assert not app.chat_message
    app.session_state["calls_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()
    said = [block.markdown[0].value for block in app.chat_message]
    assert said == ["Hi Ana, where are you?", "Stuck at the Blythe weigh station."]
    assert metric_values(app)["Duration"] == "125 s"
    assert metric_values(app)["Interruptions"] == "3"
    result = app.table[0].value
    assert dict(zip(result["Field"], result["Value"], strict=True))["Current location"] == (
        "I-10 near Indio"
    )


def test_a_call_link_opens_that_call(add_call: AddCall, app: AppTest) -> None:
    call_id = add_call(load="LINKED", driver="Ana Silva")
    add_call(load="OTHER")
    run_page(app, "conversations", call=call_id, provider="retell")
    assert any("Ana Silva" in h.value for h in app.subheader)


def test_conversations_paginate_in_sql(add_call: AddCall, app: AppTest) -> None:
    for i in range(120):
        add_call(load=f"P-{i:03d}", age=timedelta(minutes=i + 1))
    run_page(app, "conversations")
    assert len(table(app)) == 100
    assert table(app)["Load"].iloc[0] == "P-000"
    pagination = app.get("pagination")[0]
    pagination.set_value(2).run()
    assert list(table(app)["Load"]) == [f"P-{i:03d}" for i in range(100, 120)]


# --- analytics ------------------------------------------------------------------------------


def test_analytics_charts_carry_the_aggregates(add_call: AddCall, app: AppTest) -> None:
    add_call(
        Provider.RETELL,
        emergency="Accident",
        keyword_hits={"accident": 2},
        duration=45,
    )
    add_call(Provider.RETELL, outcome="In-Transit Update", keyword_hits={"traffic": 1}, duration=95)
    add_call(
        Provider.RETELL, outcome="In-Transit Update", keyword_hits={"traffic": 3}, duration=100
    )
    add_call(Provider.PIPECAT, outcome="Incomplete", driver_status=None)

    shown = run_page(app, "analytics")
    assert metric_values(shown)["Calls"] == "3"
    assert metric_values(shown)["Emergencies"] == "1"
    per_day, outcomes, keywords, durations = figures(shown)
    bars = {trace["name"]: sum(trace["y"]) for trace in per_day["data"]}
    assert bars == {"In-Transit Update": 2, "Emergency Escalation": 1}
    pie = outcomes["data"][0]
    assert dict(zip(pie["labels"], pie["values"], strict=True)) == {
        "In-Transit Update": 2,
        "Emergency Escalation": 1,
    }
    donut = keywords["data"][0]
    assert dict(zip(donut["labels"], donut["values"], strict=True)) == {"traffic": 4, "accident": 2}
    histogram = durations["data"][0]
    buckets = {
        tuple(int(edge) for edge in label.split("–")): calls
        for label, calls in zip(histogram["x"], histogram["y"], strict=True)
    }
    durations_seen = [45, 95, 100]
    for (low, high), calls in buckets.items():
        assert calls == sum(low <= d < high for d in durations_seen), (low, high)
    assert sum(buckets.values()) == 3


def test_analytics_pipecat_tab_plots_duration_by_interruptions(
    add_call: AddCall, app: AppTest
) -> None:
    add_call(Provider.PIPECAT, duration=60, interruptions=2)
    add_call(Provider.PIPECAT, duration=80, interruptions=2)
    add_call(Provider.PIPECAT, duration=200, interruptions=5)
    add_call(Provider.RETELL, duration=999, interruptions=9)
    shown = run_page(app, "analytics", tab="Pipecat")
    assert metric_values(shown)["Calls"] == "3"
    boxes = figures(shown)[-1]["data"]  # one box of durations per interruption count
    assert [(box["name"], sorted(box["y"])) for box in boxes] == [
        ("2 (2 calls)", [60, 80]),
        ("5 (1 call)", [200]),
    ]


def test_analytics_compare_tab_puts_the_engines_side_by_side(
    add_call: AddCall, app: AppTest
) -> None:
    add_call(Provider.RETELL, latency_ms=800)
    add_call(Provider.RETELL, latency_ms=600)
    add_call(
        Provider.PIPECAT,
        emergency="Medical",
    )
    shown = run_page(app, "analytics", tab="Compare")
    rates, per_day, latency, trend = figures(shown)
    by_engine = {t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in rates["data"]}
    assert by_engine["Retell (2 calls)"]["Emergencies"] == 0
    assert by_engine["Pipecat (1 call)"]["Emergencies"] == 100  # per 100 calls
    assert latency["data"][0]["x"] == ["Retell"] and latency["data"][0]["y"] == [700]
    # Over time: the day's mean of each call's p50 (no call reported a p90, so no p90 line).
    assert [(t["name"], t["y"]) for t in trend["data"]] == [("Retell p50", [700])]
    side_by_side = shown.table[0].value.set_index("Figure")
    assert side_by_side.loc["Calls (connected)"].to_dict() == {"Retell": "2", "Pipecat": "1"}
    assert side_by_side.loc["Emergencies"].to_dict() == {"Retell": "0 (0%)", "Pipecat": "1 (100%)"}
    assert side_by_side.loc["Average latency (p50)"].to_dict() == {
        "Retell": "700 ms",
        "Pipecat": "—",
    }


def test_analytics_date_range_filters_every_figure(add_call: AddCall, app: AppTest) -> None:
    add_call(age=timedelta(days=1))
    add_call(age=timedelta(days=60))
    run_page(app, "analytics")
    assert metric_values(app)["Calls"] == "1"
    today = app.date_input(key="range").value[1]
    app.date_input(key="range").set_value((today - timedelta(days=90), today)).run()
    assert metric_values(app)["Calls"] == "2"
    per_day = figures(app)[0]
    assert sum(sum(t["y"]) for t in per_day["data"]) == 2


def test_a_large_export_is_prepared_on_request_then_offered(store, app: AppTest) -> None:
    from datetime import UTC, datetime

    from db.models import CallStatus, CallUpdate

    created = datetime.now(UTC) - timedelta(hours=1)
    rows = (
        (Provider.RETELL, f"bulk-{i}", CallUpdate(status=CallStatus.ENDED, created_at=created))
        for i in range(20_001)
    )
    assert store.bulk_insert_calls(rows) == 20_001
    run_page(app, "conversations")
    assert not app.get("download_button")
    app.button(key="prepare_csv").click().run()
    assert not app.error
    (download,) = app.get("download_button")
    assert download.proto.label == "Download CSV"


def test_the_analytics_date_range_can_come_from_the_url(add_call: AddCall, app: AppTest) -> None:
    add_call(age=timedelta(days=1))
    add_call(age=timedelta(days=20))
    add_call(age=timedelta(days=60))
    today = datetime.now(UTC).date()
    app.query_params["range"] = [(today - timedelta(days=29)).isoformat(), today.isoformat()]
    run_page(app, "analytics")
    assert metric_values(app)["Calls"] == "2"


def test_a_pipecat_call_plays_its_recording_and_shows_its_voice_latency(
    add_call: AddCall, store, app: AppTest, tmp_path
) -> None:
    call_id = add_call(Provider.PIPECAT, load="REC-1", driver="Ana Silva")
    wav = wav_bytes(b"\x00\x01" * 1600, 8000, 2)
    url = LocalRecordings(tmp_path / "recordings").save("rec-1.wav", wav)
    latency = {"e2e_p50_ms": 640.0, "e2e_p90_ms": 910.0, "asr_p50_ms": 420.0}
    latency |= {"turns": [{"e2e": 640.0, "asr": 420.0, "llm": 2.0, "tts": 150.0}]}
    store.upsert_call(Provider.PIPECAT, call_id, CallUpdate(recording_url=url, latency=latency))

    run_page(app, "conversations", call=call_id, provider="pipecat")

    [audio] = app.get("audio")
    assert audio.proto.url  # served by Streamlit from the bytes read back
    [shown] = [d.value for d in app.dataframe if "p90 (ms)" in d.value.columns]
    assert shown.loc["End of speech → first audio", "p90 (ms)"] == 910.0
    assert shown.loc["Hearing the turn end (ASR)", "p50 (ms)"] == 420.0


def test_an_expired_recording_says_so_and_retell_recordings_play_from_their_url(
    add_call: AddCall, store, app: AppTest, tmp_path
) -> None:
    gone = add_call(Provider.PIPECAT, load="GONE")
    store.upsert_call(
        Provider.PIPECAT,
        gone,
        CallUpdate(recording_url=(tmp_path / "missing.wav").resolve().as_uri()),
    )
    run_page(app, "conversations", call=gone, provider="pipecat")
    assert any("no longer kept" in c.value for c in app.caption)

    retell = add_call(load="RETELL-REC")
    store.upsert_call(
        Provider.RETELL,
        retell,
        CallUpdate(recording_url="https://dxc03zgurdly9.cloudfront.net/rec.wav"),
    )
    run_page(app, "conversations", call=retell, provider="retell")
    [audio] = app.get("audio")
    assert audio.proto.url == "https://dxc03zgurdly9.cloudfront.net/rec.wav"


def test_analytics_compare_tab_charts_each_engines_p50_and_p90_per_day(
    add_call: AddCall, store, app: AppTest
) -> None:
    for provider, call_id, p50, p90, age in (
        (Provider.RETELL, "r-old", 800, 1300, timedelta(days=2)),
        (Provider.RETELL, "r-new", 900, 1500, timedelta(hours=1)),
        (Provider.PIPECAT, "p-new", 600, 1000, timedelta(hours=1)),
    ):
        add_call(provider, call_id=call_id, age=age)
        store.upsert_call(
            provider, call_id, CallUpdate(latency={"e2e_p50_ms": p50, "e2e_p90_ms": p90})
        )

    shown = run_page(app, "analytics", tab="Compare")

    trend = figures(shown)[-1]
    lines = {t["name"]: t["y"] for t in trend["data"]}
    assert lines == {
        "Retell p50": [800, 900],
        "Retell p90": [1300, 1500],
        "Pipecat p50": [600],
        "Pipecat p90": [1000],
    }
