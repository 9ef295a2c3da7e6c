"""Each bot process holds its own spool file, and what a dead one left is delivered by the next.

Real processes hold the files (flock); a process killed with SIGKILL leaves its spool and the
checkpoint of the session it was in; a starting process turns that checkpoint into the call's
summary and adopts the events, never touching the file of a process still running.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot import spool as bot_spool
from bot.event_client import EventClient
from bot.observer import PROCESS_LOST
from bot.spool import claim_spool
from tests.bot.conftest import BotCall
from tests.conftest import ROOT, free_port

# A bot process's spool as `python -m bot` leaves it: events the voice server has not taken
# yet (it is down), and, while a call runs, that call's checkpointed summary.
HOLDER = textwrap.dedent(
    """
    import asyncio, sys, time
    from bot.event_client import EventClient
    from bot.spool import claim_spool

    claimed = claim_spool(sys.argv[1])
    events = EventClient(sys.argv[2], "key", claimed.path, attempts=1, timeout_secs=0.5)

    def event(call, kind):
        return {"provider_call_id": call, "event_type": kind, "event_id": call + kind}

    async def run():
        await events.send(event(sys.argv[3], "session_summary"))
        await events.checkpoint(event(sys.argv[4], "session_summary") | {"reason": "lost"})

    asyncio.run(run())
    print(claimed.path, flush=True)
    time.sleep(600)
    """
)


Holders = Callable[[str, str], tuple[subprocess.Popen, Path]]


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "bot_spool.jsonl"


@pytest.fixture
def holders(spool: Path) -> Iterator[Holders]:
    """`holders(finished_call, running_call)` -> (process, its spool file): a process that claims
    a file of `spool`, spools one call's summary and checkpoints the other's, and keeps running."""
    started: list[subprocess.Popen] = []

    def start(finished_call: str, running_call: str) -> tuple[subprocess.Popen, Path]:
        dead_server = f"http://127.0.0.1:{free_port()}"
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(spool), dead_server, finished_call, running_call],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        return process, Path(process.stdout.readline().strip())

    yield start
    for process in started:
        process.kill()
        process.wait()


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test process has claimed no spool yet."""
    monkeypatch.setattr(bot_spool, "_held", {})


def calls_in(path: Path) -> list[tuple[str, str]]:
    return [(e["provider_call_id"], e["event_type"]) for e in EventClient("x", "", path).pending()]


def test_each_running_process_holds_its_own_spool_file(spool: Path, holders: Holders) -> None:
    _, first = holders("pc_a", "pc_a_live")
    _, second = holders("pc_b", "pc_b_live")
    assert (first, second) == (spool, spool.with_name("bot_spool.jsonl.1"))

    mine = claim_spool(spool)
    assert mine.path == spool.with_name("bot_spool.jsonl.2")
    assert (mine.recovered, mine.adopted) == (0, 0)  # both others are alive: nothing taken
    assert calls_in(first) == [("pc_a", "session_summary")]
    assert calls_in(second) == [("pc_b", "session_summary")]


def test_a_starting_process_adopts_the_spool_and_the_cut_off_call_of_a_killed_one(
    spool: Path, holders: Holders
) -> None:
    _, alive_path = holders("pc_alive_done", "pc_alive_live")
    killed, killed_path = holders("pc_done", "pc_cut_off")
    assert killed_path == spool.with_name("bot_spool.jsonl.1")
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    # A third process starts: the killed one's `.1` is the first free file.
    mine = claim_spool(spool)
    assert mine.path == killed_path
    assert mine.recovered == 1
    assert calls_in(mine.path) == [
        ("pc_done", "session_summary"),
        ("pc_cut_off", "session_summary"),
    ]
    assert not any(killed_path.with_name("bot_spool.jsonl.1.live").iterdir())
    # The running process keeps its spool and its call in progress.
    assert calls_in(alive_path) == [("pc_alive_done", "session_summary")]
    assert any(alive_path.with_name("bot_spool.jsonl.live").iterdir())


def test_a_process_adopts_spool_files_no_running_process_holds(
    spool: Path, holders: Holders
) -> None:
    first, _ = holders("pc_1", "pc_1_live")
    second, second_path = holders("pc_2", "pc_2_live")
    for process in (first, second):  # both stopped, say the host was scaled down
        process.send_signal(signal.SIGKILL)
        process.wait()

    mine = claim_spool(spool)
    assert mine.path == spool
    assert (mine.recovered, mine.adopted) == (2, 2)
    assert sorted(calls_in(spool)) == [
        ("pc_1", "session_summary"),
        ("pc_1_live", "session_summary"),
        ("pc_2", "session_summary"),
        ("pc_2_live", "session_summary"),
    ]
    assert not second_path.exists()


async def test_a_call_in_progress_keeps_a_checkpoint_of_its_summary_until_it_ends(
    make_call: Callable[..., BotCall],
) -> None:
    call = make_call("pc_checkpointed")
    checkpoints = call.session.observer._events.live_dir
    await call.answer()
    await call.driver_says("I'm on I-35 near San Antonio.")  # the agent asks for the ETA
    [checkpoint] = await wait_for_files(checkpoints)
    lost = json.loads(checkpoint.read_text())
    assert lost["provider_call_id"] == "pc_checkpointed"
    assert lost["data"]["end_reason"] == PROCESS_LOST
    assert "San Antonio" in json.dumps(lost["data"]["transcript"])
    assert lost["data"]["structured"]["current_location"]

    await call.hang_up()
    await call.wait_finished()
    assert call.summary_event()["data"]["end_reason"] != PROCESS_LOST
    assert call.summary_event()["event_id"] == lost["event_id"]  # the server keeps one of them
    assert list(checkpoints.iterdir()) == []


async def wait_for_files(folder: Path, timeout: float = 5.0) -> list[Path]:
    import asyncio

    for _ in range(int(timeout / 0.05)):
        files = list(folder.glob("*.json")) if folder.is_dir() else []
        if files:
            return files
        await asyncio.sleep(0.05)
    raise AssertionError(f"no checkpoint in {folder}")
