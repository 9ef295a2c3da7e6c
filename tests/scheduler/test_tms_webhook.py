"""Finished calls about loads reach the TMS signed, once per call, through the durable outbox;
transient failures are retried with backoff, a refusing (4xx) receiver is not retried forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from db.load_models import BoardFilters
from db.models import CallStatus, CallUpdate, Provider
from db.store import Store
from protocols.webhook_signature import sign, verify
from scheduler.tms_webhook import MAX_REFUSED_ATTEMPTS, TmsWebhookSender
from tests.scheduler.conftest import SteppedClock, a_load
from tests.scheduler.tms_receiver import TmsReceiver

SECRET = "tms-shared-secret"


@pytest.fixture
def receiver(clock: SteppedClock) -> Iterator[TmsReceiver]:
    server = TmsReceiver(SECRET, clock).start()
    yield server
    server.stop()


def finish_call(store: Store, call_id: str, load_number: str | None = "L-100") -> None:
    store.upsert_call(
        Provider.RETELL,
        call_id,
        CallUpdate(
            load_number=load_number,
            status=CallStatus.ENDED,
            structured={"call_outcome": "In-Transit Update", "driver_status": "Driving"},
            transcript=[{"role": "user", "content": "Driving, on time."}],
        ),
    )


def deliver(store: Store, url: str, clock: SteppedClock) -> int:
    """One pass of the sender, as one scheduler tick makes it."""

    async def once() -> int:
        sender = TmsWebhookSender(store, url, SECRET)
        try:
            return await sender.run_once(clock())
        finally:
            await sender.aclose()

    return asyncio.run(once())


def test_signature_is_retells_scheme_and_expires() -> None:
    signature = sign('{"a":1}', SECRET, 1_700_000_000_000)
    assert signature.startswith("v=1700000000000,d=")
    assert verify('{"a":1}', SECRET, signature, 1_700_000_000_000 + 60_000)
    assert not verify('{"a":2}', SECRET, signature, 1_700_000_000_000)
    assert not verify('{"a":1}', "other", signature, 1_700_000_000_000)
    assert not verify('{"a":1}', SECRET, signature, 1_700_000_000_000 + 6 * 60_000)


def test_each_finished_call_about_a_load_is_delivered_once_signed(
    store: Store, clock: SteppedClock, receiver: TmsReceiver
) -> None:
    store.upsert_loads([a_load()])
    finish_call(store, "call_a")
    finish_call(store, "call_b")
    finish_call(store, "call_c", load_number="NOT-A-LOAD")  # no load we know: not sent
    store.upsert_call(Provider.RETELL, "call_live", CallUpdate(load_number="L-100"))  # not ended
    assert deliver(store, receiver.url, clock) == 2
    assert deliver(store, receiver.url, clock) == 0  # nothing twice
    assert sorted(c.call_id for c in receiver.accepted) == ["call_a", "call_b"]
    body = receiver.accepted[0]
    assert body.load_number == "L-100" and body.structured == {
        "call_outcome": "In-Transit Update",
        "driver_status": "Driving",
    }
    assert receiver.delivery_headers == [c.delivery_id for c in receiver.accepted]
    assert len(set(receiver.delivery_headers)) == 2 and receiver.refused_signatures == 0


def test_a_failing_receiver_gets_the_same_delivery_id_again_after_backoff(
    store: Store, clock: SteppedClock, receiver: TmsReceiver
) -> None:
    store.upsert_loads([a_load()])
    finish_call(store, "call_a")
    receiver.statuses = [503, 503]
    assert deliver(store, receiver.url, clock) == 0
    clock.advance(seconds=5)
    assert deliver(store, receiver.url, clock) == 0 and receiver.requests == 1  # backing off (10 s)
    clock.advance(seconds=5)
    assert deliver(store, receiver.url, clock) == 0 and receiver.requests == 2
    clock.advance(seconds=19)
    assert deliver(store, receiver.url, clock) == 0 and receiver.requests == 2  # then 20 s
    clock.advance(seconds=1)
    assert deliver(store, receiver.url, clock) == 1
    assert [c.call_id for c in receiver.accepted] == ["call_a"]


def test_a_receiver_refusing_with_4xx_is_not_retried_forever_and_the_board_says_so(
    store: Store, clock: SteppedClock, receiver: TmsReceiver
) -> None:
    store.upsert_loads([a_load()])
    finish_call(store, "call_a")
    receiver.statuses = [422] * 10
    for _ in range(10):
        deliver(store, receiver.url, clock)
        clock.advance(hours=1)
    assert receiver.requests == MAX_REFUSED_ATTEMPTS
    board = store.dispatch_board(BoardFilters(only_problems=True))
    assert [row.load.load_number for row in board] == ["L-100"]
    assert "422" in (board[0].webhook_failure or "")


def test_an_unreachable_receiver_is_retried(store: Store, clock: SteppedClock) -> None:
    store.upsert_loads([a_load()])
    finish_call(store, "call_a")
    for _ in range(3):
        assert deliver(store, "http://127.0.0.1:9/hooks", clock) == 0
        clock.advance(minutes=1)
    assert store.dispatch_board(BoardFilters(only_problems=True)) == []  # pending, not failed
