"""Scheduler configuration errors name the variable; on SQLite one scheduler holds the lock."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from scheduler.__main__ import hold_sqlite_lock
from settings import ConfigError, load_settings


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"tms_webhook_url": "https://tms.example/hooks"}, "TMS_WEBHOOK_SECRET"),
        ({"tms_webhook_url": "ftp://tms", "tms_webhook_secret": "s"}, "TMS_WEBHOOK_URL"),
        ({"call_plan_quiet_hours": "10pm"}, "CALL_PLAN_QUIET_HOURS"),
        ({"call_plan_quiet_hours": "22:00-25:00"}, "25:00"),
        ({"scheduler_concurrency": "retell=0"}, "SCHEDULER_CONCURRENCY"),
        ({"scheduler_concurrency": "vonage=3"}, "SCHEDULER_CONCURRENCY"),
    ],
)
def test_a_wrong_scheduler_setting_names_the_variable(
    overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(**overrides)


def test_defaults_give_a_plan_and_caps() -> None:
    settings = load_settings(scheduler_concurrency="retell=5")
    assert settings.engine_concurrency() == {"retell": 5, "pipecat": 1, "simulated": 1}
    plan = settings.default_call_plan()
    assert (plan.quiet_start, plan.quiet_end, plan.engine) == ("22:00", "06:00", "simulated")


def test_one_scheduler_per_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "dispatch.db"
    held = hold_sqlite_lock(database)
    lock_path = database.with_name("dispatch.db.scheduler.lock")
    with lock_path.open("wb") as second:
        with pytest.raises(BlockingIOError):
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.close()  # the first scheduler stops (or dies): the lock is free
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
