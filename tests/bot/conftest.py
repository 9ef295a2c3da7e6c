"""A real bot pipeline driven by injected frames: the driver's side of the call, offline.

The pipeline is the bot's own, minus the transport and STT (which need a browser or Twilio and
Deepgram): user aggregator -> DispatchAgentProcessor -> espeak-ng TTS -> assistant aggregator,
in a PipelineWorker with the SessionObserver. The test plays the transport: it injects the
driver's transcriptions and the speaking frames an output transport would emit.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMRunFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from agent import make_policy
from bench.processes import stop, wait_until_up
from bot.bot import DispatchSession, dispatch_session
from bot.call_control import CallControl
from bot.event_client import EventClient
from bot.sessions import SessionSpec
from bot.tts_espeak import EspeakTTSService
from db.models import Call
from db.store import Store
from settings import Settings, load_settings
from tests.conftest import ROOT, eventually, free_port
from tests.voice_server.conftest import RunningServer

SAMPLE_RATE = 16000
PIPECAT_KEY = "test-pipecat-key-0123456789"
DISPATCH_KEY = "test-dispatch-key-0123456789"
TRANSFER_NUMBER = "+15550001111"
CONTEXT = {
    "driver_name": "Maria Lopez",
    "load_number": "7731",
    "origin": "Laredo, TX",
    "destination": "Dallas, TX",
    "appointment": "4 PM",
}


class AudioTap(FrameProcessor):
    """Where the output transport would be: keeps the audio and counts finished replies."""

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[TTSAudioRawFrame] = []
        self.replies_out = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio.append(frame)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.replies_out += 1  # queued behind the reply's audio and spoken text
        await self.push_frame(frame, direction)


@dataclass
class BotCall:
    """One session: the worker, the real processors, and the driver's moves."""

    session: DispatchSession
    worker: PipelineWorker
    tap: AudioTap
    spool_path: Path
    started: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        self._task = asyncio.create_task(runner.run())
        await asyncio.wait_for(self.started.wait(), 10)

    async def wait_for_replies(self, count: int, timeout: float = 20) -> None:
        async def reached() -> None:
            while self.session.agent.replies < count:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(reached(), timeout)

    async def answer(self) -> None:
        """The pipeline runs and the client connects: the agent greets the driver."""
        await self.start()
        await self.greet()

    async def greet(self) -> None:
        """The client connected: the agent speaks first."""
        await self.worker.queue_frames([LLMRunFrame()])
        await self.wait_for_replies(1)
        await self.bot_speaks()

    async def bot_speaks(self, *, stop: bool = True) -> None:
        """What the output transport reports while it plays the agent's latest reply."""
        await self.worker.queue_frame(BotStartedSpeakingFrame())
        if stop:
            await self.reply_played()
            await self.worker.queue_frame(BotStoppedSpeakingFrame())

    async def reply_played(self, timeout: float = 20) -> None:
        async def played() -> None:
            while self.tap.replies_out < self.session.agent.replies:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(played(), timeout)

    async def bot_stops(self) -> None:
        await self.reply_played()
        await self.worker.queue_frame(BotStoppedSpeakingFrame())

    async def driver_says(self, text: str, *, then_bot_speaks: bool = True) -> None:
        replies = self.session.agent.replies
        await self.worker.queue_frame(UserStartedSpeakingFrame())
        await self.worker.queue_frame(
            TranscriptionFrame(text=text, user_id="driver", timestamp="", finalized=True)
        )
        # System frames overtake data frames: let the transcription land before the turn ends.
        await asyncio.sleep(0.1)
        await self.worker.queue_frame(UserStoppedSpeakingFrame())
        await self.wait_for_replies(replies + 1)
        if then_bot_speaks:
            await self.bot_speaks()

    async def hang_up(self) -> None:
        await self.worker.queue_frame(EndFrame())

    async def wait_finished(self, timeout: float = 30) -> None:
        assert self._task is not None
        await asyncio.wait_for(self._task, timeout)

    def spooled(self) -> list[dict[str, Any]]:
        if not self.spool_path.exists():
            return []
        return [json.loads(line) for line in self.spool_path.read_text().splitlines() if line]

    def summary_event(self) -> dict[str, Any]:
        [event] = [e for e in self.spooled() if e["event_type"] == "session_summary"]
        return event


def bot_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "pipecat_api_key": PIPECAT_KEY,
        "dispatch_transfer_number": TRANSFER_NUMBER,
    }
    return load_settings(**(values | overrides))


@pytest.fixture
def make_call(tmp_path: Path) -> Callable[..., BotCall]:
    """`make_call(provider_call_id, voice_server_url=None, silence_timeout_secs=None, ...)`;
    `call_control` is the transport's transfer (none: a WebRTC session with no phone line).

    Without a voice server the events go to a port nobody listens on, so they stay spooled:
    the spool then holds exactly what the server would have received.
    """

    def make(
        provider_call_id: str = "pc_test",
        *,
        voice_server_url: str | None = None,
        silence_timeout_secs: float | None = None,
        settings: Settings | None = None,
        spool: str | None = None,
        call_control: CallControl | None = None,
        context: dict[str, Any] | None = None,
    ) -> BotCall:
        settings = settings or bot_settings()
        spool_path = tmp_path / f"{spool or provider_call_id}.jsonl"
        events = EventClient(
            voice_server_url or f"http://127.0.0.1:{free_port()}",
            settings.pipecat_api_key.get_secret_value(),
            spool_path,
            attempts=2,
            backoff_secs=0.01,
            timeout_secs=2,
        )
        session = dispatch_session(
            SessionSpec(provider_call_id=provider_call_id, context=dict(context or CONTEXT)),
            settings,
            policy=make_policy("rules"),
            event_client=events,
            call_control=call_control,
            user_params=LLMUserAggregatorParams(user_turn_strategies=ExternalUserTurnStrategies()),
            silence_timeout_secs=silence_timeout_secs,
        )
        tap = AudioTap()
        pipeline = Pipeline(
            [
                session.aggregators.user(),
                session.agent,
                EspeakTTSService(),
                tap,
                session.aggregators.assistant(),
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                enable_metrics=True,
                enable_usage_metrics=True,
                audio_out_sample_rate=SAMPLE_RATE,
            ),
            observers=[session.observer],
            cancel_on_idle_timeout=False,
        )
        call = BotCall(session=session, worker=worker, tap=tap, spool_path=spool_path)

        @worker.event_handler("on_pipeline_started")
        async def _started(_worker: Any, _frame: Any) -> None:
            call.started.set()

        return call

    return make


def server_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'voice.db'}",
        "dispatch_api_key": DISPATCH_KEY,
        "pipecat_api_key": PIPECAT_KEY,
    }
    return load_settings(**(values | overrides))


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    from voice_server.main import create_app

    started: list[RunningServer] = []

    def start(port: int | None = None, **overrides: Any) -> RunningServer:
        server = RunningServer(create_app(server_settings(tmp_path, **overrides)))
        if port is not None:
            server.port = server.server.config.port = port
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def start_pipecat_session(voice_url: str, **call: str) -> dict[str, str]:
    """What the Streamlit app does to start a Pipecat session for a driver and load."""
    response = httpx.post(
        f"{voice_url}/api/v1/voice/start",
        params={"vendor": "pipecat"},
        json=call,
        headers={"Authorization": f"Bearer {DISPATCH_KEY}"},
    )
    response.raise_for_status()
    return response.json()


async def ended_call(store: Store, call_id: str, timeout: float = 60) -> Call:
    """The call's row once the voice server has it ended."""

    def ended() -> Call | None:
        call = store.get_call(call_id)
        return call if call is not None and call.status == "ended" else None

    try:
        return await eventually(ended, timeout=timeout)
    except AssertionError:
        last = store.get_call(call_id)
        raise AssertionError(f"{call_id} not ended within {timeout} s: {last!r}") from None


@dataclass
class BotProcess:
    url: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def joined_by(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"


@pytest.fixture
def bot_processes(tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    """`bot_processes(voice_server_url=..., port=None, **env)`: one more `python -m bot`, ready
    to serve, on this test's PIPECAT_SPOOL_PATH (as N processes on one host run).

    Only the variables given reach the process (no .env): with none, no key but the bot's own.
    """
    started: list[BotProcess] = []

    def start(*, voice_server_url: str, port: int | None = None, **env: str) -> BotProcess:
        port = port or free_port()
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "DISPATCH_ENV_FILE": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
            "PIPECAT_API_KEY": PIPECAT_KEY,
            "VOICE_SERVER_URL": voice_server_url,
            "PIPECAT_SPOOL_PATH": str(tmp_path / "bot_spool.jsonl"),
            "RECORDINGS_DIR": str(tmp_path / "recordings"),
        } | env
        log = tmp_path / f"bot-{port}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        bot = BotProcess(f"http://127.0.0.1:{port}", port, process, log)
        started.append(bot)
        try:
            wait_until_up(f"{bot.url}/dispatch/health", process, "the bot", timeout=120)
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {log.read_text()[-3000:]}") from error
        return bot

    yield start
    stop(*(bot.process for bot in started), timeout=10)


@pytest.fixture
def bot_process(bot_processes: Callable[..., BotProcess]) -> Callable[..., str]:
    """`bot_process(voice_server_url=..., port=..., **env)` -> its URL: a bot process with a
    transfer line (DISPATCH_TRANSFER_NUMBER) unless `env` says otherwise."""

    def start(**options: str) -> str:
        return bot_processes(**({"DISPATCH_TRANSFER_NUMBER": TRANSFER_NUMBER} | options)).url

    return start
