"""The Retell custom-LLM WebSocket, driven by a real client playing Retell against uvicorn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from db.models import Call, CallStatus, Provider
from protocols.retell.caller import (
    RetellCaller,
    SyncRetellCaller,
    llm_socket_url,
    new_simulated_call_id,
    simulated_call_details,
)
from tests.voice_server.conftest import TRANSFER_NUMBER, RunningServer, signed
from tests.voice_server.policy_doubles import ScriptedPolicy


@pytest.fixture
def policy() -> ScriptedPolicy:
    return ScriptedPolicy()


@pytest.fixture
def server(serve: Callable[..., RunningServer], make_settings: Any, policy: ScriptedPolicy):
    return serve(make_settings(), policy=policy)


def caller(server: RunningServer, call_id: str, **options: Any) -> RetellCaller:
    options.setdefault("ping_interval", None)
    options.setdefault("reply_timeout", 10)
    return RetellCaller(llm_socket_url(server.url, call_id), **options)


def details(call_id: str, **values: Any) -> dict[str, Any]:
    values.setdefault("driver_name", "Maria Lopez")
    values.setdefault("load_number", "LD-1001")
    return simulated_call_details(call_id, **values)


async def dropped_after(server: RunningServer, call_id: str, line: str) -> RetellCaller:
    """A call whose socket drops (no close frame) after the driver says `line`; returned once
    its row has the greeting, the line and the reply."""
    call = caller(server, call_id, call_details=details(call_id))
    await call.connect()
    await call.say(line)
    await call.abort()
    await wait_for_call(server, call_id, lambda c: len(c.transcript) == 3)
    return call


async def wait_for_call(
    server: RunningServer, call_id: str, condition: Callable[[Call], bool], timeout: float = 5
) -> Call:
    """Poll the database until the call satisfies `condition` (fails after `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    call = None
    while asyncio.get_running_loop().time() < deadline:
        call = await asyncio.to_thread(server.store.get_call, call_id, Provider.RETELL)
        if call is not None and condition(call):
            return call
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {call_id} never reached the expected state; last: {call}")


async def test_config_then_begin_message_greeting_the_driver_by_name(server):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        assert call.config is not None
        assert call.config.auto_reconnect and call.config.call_details
        assert call.begin is not None and call.begin.response_id == 0
        assert call.begin.complete
        assert "Maria" in call.begin.text


async def test_call_details_after_begin_are_used_by_later_replies(server):
    call_id = new_simulated_call_id()
    late = caller(server, call_id, call_details=details(call_id), details_after_begin=True)
    async with late as call:
        assert "Maria" not in call.begin.text
        reply = await call.say("Hi, who is this?")
        assert reply.text.startswith("Thanks Maria.")
    saved = await wait_for_call(server, call_id, lambda c: c.status == CallStatus.ENDED)
    assert saved.load_number == "LD-1001"
    assert saved.driver_name == "Maria Lopez"
    assert saved.call_type == "simulated"


async def test_reply_streams_first_sentence_first_and_completes_once(server):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        reply = await call.say("On I-10 near Tucson.")
    assert [f.content_complete for f in reply.frames] == [False, True]
    assert reply.frames[0].content == "Thanks Maria."
    assert reply.text == "Thanks Maria. You said: On I-10 near Tucson."
    assert call.protocol_errors == []


async def test_ping_is_answered_while_a_reply_is_still_being_generated(server, policy):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        response_id = await call.send_turn("This will be slow.")
        await call.ping()
        await call.ping()
        assert not call.replies[response_id].complete
        policy.gate.set()
        reply = await call.wait_reply(response_id)
    assert reply.text.endswith("You said: This will be slow.")


async def test_reminders_count_up_while_silent_and_reset_when_the_driver_speaks(server, policy):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        assert (await call.remind()).text == "Reminder 1."
        assert (await call.remind()).text == "Reminder 2."
        await call.say("Sorry, I'm here.")
        assert (await call.remind()).text == "Reminder 1."
    assert policy.reminder_counts == [1, 2, 1]


async def test_newer_request_cancels_the_stale_reply(server, policy):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        stale_id = await call.send_turn("Let me think, slow down.")
        await call.wait_first_frame(stale_id)
        call.transcript.append({"role": "user", "content": "Actually, I'm in Phoenix."})
        newer = await call.wait_reply(await call.request_reply())
        policy.gate.set()
        await call.ping()  # a round trip after the gate opened: a stale frame would be here now
        follow_up = await call.say("Still there?")
    assert newer.text.endswith("You said: Actually, I'm in Phoenix.")
    assert follow_up.complete
    stale = call.replies[stale_id]
    assert not stale.complete
    first_newer = call.frame_order.index(newer.response_id)
    assert stale_id not in call.frame_order[first_newer:]
    assert policy.cancelled >= 1
    assert call.protocol_errors == []


async def test_agent_ends_the_call_and_the_call_is_finalized(server):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        await call.say("I'm at the receiver, unloading now.")
        reply = await call.say("Thanks, bye.")
        assert reply.end_call and reply.frames[-1].end_call
        # Retell hangs up after speaking; the row is final even before that.
        saved = await wait_for_call(server, call_id, lambda c: c.status == CallStatus.ENDED)
    assert saved.structured is not None and "call_outcome" in saved.structured
    assert saved.transcript[-1] == {"role": "agent", "content": "Thanks Maria. Goodbye."}
    assert saved.duration_secs is not None and saved.duration_secs >= 0
    assert saved.sentiment is not None and saved.tokens_estimated is not None


async def test_agent_transfers_a_phone_call_emergency_to_the_dispatch_number(server):
    call_id = new_simulated_call_id()
    phone_call = details(call_id, call_type="phone_call", driver_phone="+15557654321")
    async with caller(server, call_id, call_details=phone_call) as call:
        reply = await call.say("This is an emergency.")
    assert reply.transfer_number == TRANSFER_NUMBER
    assert reply.frames[-1].transfer_number == TRANSFER_NUMBER
    assert all(f.transfer_number is None for f in reply.frames[:-1])


@pytest.mark.parametrize("call_type", ["web_call", "simulated"])
async def test_a_call_without_a_phone_line_is_never_given_the_transfer_number(server, call_type):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id, call_type=call_type)) as call:
        reply = await call.say("This is an emergency.")
    assert reply.transfer_number is None


async def test_a_failing_policy_still_completes_the_reply(server):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        reply = await call.say("boom")
        assert reply.complete and reply.text
        assert (await call.say("Hello again?")).text.endswith("You said: Hello again?")


async def test_malformed_frames_are_skipped_and_the_call_goes_on(server):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        for frame in (
            "not json",
            "[1, 2]",
            json.dumps({"interaction_type": "unknown_thing"}),
            json.dumps({"interaction_type": "response_required", "transcript": []}),
            json.dumps({"interaction_type": "reminder_required", "response_id": "7"}),
            json.dumps({"interaction_type": "ping_pong", "timestamp": "soon"}),
            b"\x00\x01binary",
            "{" * 5000,
        ):
            await call.send_raw(frame)
        reply = await call.say("Can you hear me?")
    assert reply.text.endswith("You said: Can you hear me?")
    assert call.protocol_errors == []
    assert set(call.frame_order) == {0, reply.response_id}


async def test_abrupt_disconnect_keeps_the_partial_transcript(server):
    call_id = new_simulated_call_id()
    call = caller(server, call_id, call_details=details(call_id))
    await call.connect()
    await call.say("Driving, about two hours out.")
    await call.update_only()
    await call.abort()
    saved = await wait_for_call(server, call_id, lambda c: c.status == CallStatus.ENDED)
    assert [t["content"] for t in saved.transcript] == [t["content"] for t in call.transcript]
    assert saved.transcript[1] == {"role": "user", "content": "Driving, about two hours out."}


async def test_reconnect_to_the_same_call_continues_one_row(server):
    call_id = new_simulated_call_id()
    first = await dropped_after(server, call_id, "I'm on I-40.")

    # Retell reconnects to the same URL and resends the whole transcript with each request.
    second = caller(server, call_id, call_details=details(call_id))
    await second.connect()
    assert second.begin.text == ""  # no second greeting
    second.transcript = [*first.transcript]
    await second.say("Still on I-40, near Flagstaff.")
    await second.hang_up()

    saved = await wait_for_call(server, call_id, lambda c: len(c.transcript) == 5)
    assert saved.transcript[:3] == first.transcript
    assert saved.transcript[3] == {"role": "user", "content": "Still on I-40, near Flagstaff."}
    page = await asyncio.to_thread(
        server.store.search_calls, _filters(load_number="LD-1001"), page_size=10
    )
    assert page.total == 1


async def test_a_call_id_that_is_not_an_id_is_refused(server):
    with pytest.raises(InvalidStatus):
        async with connect(llm_socket_url(server.url, "a" * 300)):
            pass


async def test_the_real_agent_fills_the_structured_result(serve, make_settings):
    server = serve(make_settings())  # the default rules policy
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        assert "Maria" in call.begin.text
        for line in (
            "Yeah, I'm driving on I-10 near Tucson.",
            "Should be there around 3 PM, no delays.",
        ):
            reply = await call.say(line)
            assert reply.complete and reply.text
            if reply.end_call:
                break
    saved = await wait_for_call(server, call_id, lambda c: c.status == CallStatus.ENDED)
    assert saved.structured is not None
    assert saved.call_outcome == saved.structured["call_outcome"]
    assert saved.keyword_hits is not None


def _filters(**values: Any):
    from db.models import CallFilters

    return CallFilters(provider=Provider.RETELL, **values)


async def test_a_call_is_finalized_on_hang_up_even_with_a_long_write_throttle(
    serve, make_settings, policy
):
    server = serve(make_settings(), policy=policy, transcript_flush_secs=600)
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        await call.say("Driving, all good.")
    saved = await wait_for_call(server, call_id, lambda c: c.status == CallStatus.ENDED)
    assert len(saved.transcript) == 3


def test_the_sync_caller_drives_a_call_without_an_event_loop(server):
    call_id = new_simulated_call_id()
    sync_call = SyncRetellCaller(
        llm_socket_url(server.url, call_id), call_details=details(call_id), ping_interval=None
    )
    try:
        assert "Maria" in sync_call.connect().text
        assert sync_call.say("Driving near Reno.").text.endswith("You said: Driving near Reno.")
        assert [t["role"] for t in sync_call.transcript] == ["agent", "user", "agent"]
    finally:
        sync_call.hang_up()
    assert sync_call.is_closed


async def test_a_flood_of_frames_leaves_only_the_newest_reply(server):
    call_id = new_simulated_call_id()
    async with caller(server, call_id, call_details=details(call_id)) as call:
        for index in range(300):
            await call.send_raw(f"garbage {index}")
        call.transcript.append({"role": "user", "content": "Are you there?"})
        flooded = [await call.request_reply() for _ in range(100)]
        newest = await call.wait_reply(flooded[-1])
        other = await call.say("Okay.")
    assert newest.text.endswith("You said: Are you there?")
    assert other.complete and call.protocol_errors == []
    completed = [rid for rid in flooded if call.replies[rid].complete]
    assert completed[-1] == flooded[-1]
    # No frame of an older request arrives once a newer one has started to answer.
    assert call.frame_order == sorted(call.frame_order)


@pytest.mark.postgres
async def test_on_postgresql_a_reconnected_call_is_one_finalized_row(
    serve, make_settings, policy, postgres_database
):
    server = serve(make_settings(database_url=postgres_database()), policy=policy)
    call_id = new_simulated_call_id()
    first = await dropped_after(server, call_id, "I'm on I-40.")
    async with caller(server, call_id, call_details=details(call_id)) as second:
        second.transcript = [*first.transcript]
        await second.say("Thanks, bye.")
    saved = await wait_for_call(
        server, call_id, lambda c: c.status == CallStatus.ENDED and len(c.transcript) == 5
    )
    assert saved.structured is not None and saved.driver_name == "Maria Lopez"
    page = await asyncio.to_thread(server.store.search_calls, _filters(), page_size=10)
    assert page.total == 1


async def test_the_socket_and_a_webhook_map_the_same_call_object_to_the_same_row(server):
    """One mapping of Retell's call object: what the socket's call_details and a webhook's
    call carry lands in the same columns the same way."""
    socket_id, webhook_id = new_simulated_call_id(), new_simulated_call_id()
    call_object = details(socket_id, origin="Reno, NV", driver_phone="+14155550123")
    call_object["agent_id"] = "agent_1"
    async with caller(server, socket_id, call_details=call_object):
        pass
    by_socket = await wait_for_call(server, socket_id, lambda c: c.status == CallStatus.ENDED)
    body = json.dumps({"event": "call_started", "call": {**call_object, "call_id": webhook_id}})
    response = httpx.post(
        server.url + "/api/v1/retell/webhook", content=body.encode(), headers=signed(body)
    )
    assert response.status_code == 200
    by_webhook = await asyncio.to_thread(server.store.get_call, webhook_id, Provider.RETELL)

    columns = (
        "driver_name",
        "load_number",
        "origin",
        "call_type",
        "from_number",
        "to_number",
        "metadata",
    )  # started_at: the socket may keep its own clock's when call_details comes first
    assert {c: getattr(by_socket, c) for c in columns} == {
        c: getattr(by_webhook, c) for c in columns
    }
    assert by_webhook.metadata["agent_id"] == "agent_1"
    assert by_webhook.started_at is not None
