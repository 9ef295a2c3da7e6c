"""The durable signed-webhook queue: signed, retried with backoff, once per key, across restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.webhook_outbox import WebhookOutbox, WebhookTarget
from protocols.webhook_signature import sign, verify
from tests.voice_server.alert_receiver import ALERT_SECRET, AlertReceiver
from tests.voice_server.conftest import RunningServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receiver() -> AlertReceiver:
    return AlertReceiver()


@pytest.fixture
def target(receiver: AlertReceiver) -> Iterator[WebhookTarget]:
    server = RunningServer(receiver.app()).start()
    yield WebhookTarget(f"{server.url}/hooks/emergency", ALERT_SECRET, timeout_secs=5)
    server.stop()


def outbox(path: Path, target: WebhookTarget, clock: Clock | None = None) -> WebhookOutbox:
    return WebhookOutbox(path, {"alert": target}, clock=clock or Clock())


def test_a_delivery_is_signed_and_sent_once(tmp_path: Path, target, receiver) -> None:
    queue = outbox(tmp_path / "hooks.jsonl", target)
    assert queue.enqueue("emergency:retell:c1", "alert", {"call": "c1", "injured": True})
    assert not queue.enqueue("emergency:retell:c1", "alert", {"call": "c1", "again": True})
    assert queue.deliver_due() == 1
    assert queue.deliver_due() == 0
    assert receiver.received == [{"call": "c1", "injured": True}]
    assert receiver.deliveries == ["emergency:retell:c1"] and receiver.refused == 0


def test_a_receiver_that_is_down_gets_it_later_with_backoff(
    tmp_path: Path, target, receiver
) -> None:
    clock = Clock()
    queue = outbox(tmp_path / "hooks.jsonl", target, clock)
    receiver.fail_next = 2
    queue.enqueue("k1", "alert", {"n": 1})
    assert queue.deliver_due() == 0  # 503
    assert queue.deliver_due() == 0  # not due yet: nothing sent
    assert receiver.fail_next == 1
    clock.now += 1.0
    assert queue.deliver_due() == 0  # 503 again, next try in 2 s
    clock.now += 1.0
    assert queue.deliver_due() == 0 and receiver.fail_next == 0
    clock.now += 1.0
    assert queue.deliver_due() == 1 and queue.depth == 0
    assert receiver.deliveries == ["k1"]


def test_what_waits_survives_a_restart_and_a_delivered_key_is_never_queued_again(
    tmp_path: Path, target, receiver
) -> None:
    path = tmp_path / "hooks.jsonl"
    receiver.fail_next = 1
    first = outbox(path, target)
    first.enqueue("k1", "alert", {"n": 1})
    first.enqueue("k2", "alert", {"n": 2})
    first.deliver_due()  # k1 refused (503), k2 delivered
    assert receiver.deliveries == ["k2"]

    restarted = outbox(path, target)
    assert restarted.depth == 1
    assert not restarted.enqueue("k2", "alert", {"n": 2})  # delivered before the restart
    assert not restarted.enqueue("k1", "alert", {"n": 1})  # still waiting
    assert restarted.deliver_due() == 1
    assert receiver.deliveries == ["k2", "k1"]
    assert outbox(path, target).depth == 0


def test_a_receiver_that_refuses_for_good_is_not_retried(tmp_path: Path, target) -> None:
    wrong = WebhookTarget(target.url, "not-the-receivers-secret")
    path = tmp_path / "hooks.jsonl"
    queue = outbox(path, wrong)
    queue.enqueue("k1", "alert", {"n": 1})
    assert queue.deliver_due() == 0 and queue.depth == 0  # 401: set aside, not retried
    [rejected] = path.with_name("hooks.jsonl.rejected").read_text().splitlines()
    assert json.loads(rejected)["key"] == "k1"


def test_a_torn_last_line_from_a_crash_is_skipped(tmp_path: Path, target) -> None:
    path = tmp_path / "hooks.jsonl"
    outbox(path, target).enqueue("k1", "alert", {"n": 1})
    with path.open("a") as file:
        file.write('{"op": "enqueue", "key": "k2", "chan')
    assert outbox(path, target).depth == 1


def test_signatures_are_checked_for_tampering_and_age() -> None:
    now_ms = int(time.time() * 1000)
    header = sign('{"a":1}', "s3cret", now_ms)
    assert verify('{"a":1}', "s3cret", header)
    assert not verify('{"a":2}', "s3cret", header)
    assert not verify('{"a":1}', "other", header)
    assert not verify('{"a":1}', "s3cret", sign('{"a":1}', "s3cret", now_ms - 3_600_000))
    assert not verify('{"a":1}', "s3cret", "garbage")
