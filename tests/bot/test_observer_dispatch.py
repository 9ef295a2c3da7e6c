"""How the SessionObserver hands frames to Pipecat's observers, frame by frame."""

from __future__ import annotations

from pathlib import Path

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent.types import CallContext
from bot.event_client import EventClient
from bot.observer import SessionObserver
from tests.conftest import free_port


class DriverTranscription(TranscriptionFrame):
    """A transport's own transcription type: the observer must treat it as its parent."""


def make_observer(tmp_path: Path) -> SessionObserver:
    events = EventClient(f"http://127.0.0.1:{free_port()}", "key", tmp_path / "spool.jsonl")
    return SessionObserver(
        provider_call_id="pc_dispatch",
        call_context=CallContext(driver_name="Maria Lopez", load_number="7731"),
        event_client=events,
        keywords=("traffic",),
    )


async def push(observer: SessionObserver, frame: Frame, timestamp: int) -> None:
    source, destination = FrameProcessor(), FrameProcessor()
    await observer.on_push_frame(
        FramePushed(source, destination, frame, FrameDirection.DOWNSTREAM, timestamp)
    )


async def test_a_barge_in_is_counted_as_soon_as_the_frame_is_observed(tmp_path: Path) -> None:
    observer = make_observer(tmp_path)
    await push(observer, BotStartedSpeakingFrame(), 1)
    await push(observer, TTSAudioRawFrame(b"\x00\x00" * 160, 16000, 1), 2)
    await push(observer, UserStartedSpeakingFrame(), 3)
    assert observer.interruptions == 1  # no event-handler task left to run first


async def test_frame_subclasses_are_routed_like_their_parents_every_time(
    tmp_path: Path,
) -> None:
    observer = make_observer(tmp_path)
    await push(observer, TranscriptionFrame("I'm near Waco.", "driver", "", finalized=True), 1)
    for text in ("There's traffic.", "About an hour late."):  # the second one hits the cache
        await push(observer, DriverTranscription(text, "driver", "", finalized=True), 2)
        await push(observer, InterimTranscriptionFrame("About an", "driver", ""), 3)
    assert observer.transcript == [
        {
            "role": "user",
            "content": "I'm near Waco. There's traffic. About an hour late.",
        }
    ]
