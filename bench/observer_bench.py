"""How much the bot's analytics cost: `python -m bench.observer_bench`.

1. Frames per second through the same pipeline with and without the SessionObserver, printed
   as a ratio (target >= 0.9). The frames are a conversation's mix: audio, transcriptions,
   spoken text, speaking events and metrics.
2. The DispatchAgentProcessor's added latency per turn: from the user's context frame to the
   first reply text leaving the processor, against a pass-through processor that forwards the
   same frame (the baseline), over a check-in transcript that grows turn by turn.

Both baselines are measured in the same run; the figures are ratios and differences.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    LLMContextFrame,
    LLMTextFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import LLMTokenUsage, LLMUsageMetricsData, TTFBMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from agent import make_policy, next_reply, opening
from agent.types import CallContext
from bench.processes import free_port
from bot.agent_processor import DispatchAgentProcessor, transcript_from_messages
from bot.event_client import EventClient
from bot.observer import SessionObserver

CONTEXT = CallContext(driver_name="Maria Lopez", load_number="7731", destination="Dallas, TX")
DRIVER_LINES = [
    "I'm driving on I-35 near San Antonio.",
    "There's a lot of traffic, I'm about two hours late.",
    "I should get there around 6 PM.",
    "It's the construction by New Braunfels.",
    "Yes, I'll send the POD when I'm unloaded.",
    "Yep, that's everything.",
]


class PassThrough(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class Probe(FrameProcessor):
    """The pipeline's last processor: counts frames, timestamps the first reply text."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.done = asyncio.Event()
        self.expected = 0
        self.arrivals: list[float] = []
        self.latencies: list[float] = []
        self._waiting_reply = False

    def expect_reply(self) -> None:
        self._waiting_reply = True

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        self.count += 1
        if self._waiting_reply and isinstance(frame, (LLMTextFrame, LLMContextFrame)):
            self._waiting_reply = False
            self.arrivals.append(time.perf_counter())
        if self.expected and self.count >= self.expected:
            self.done.set()
        await self.push_frame(frame, direction)


def conversation_frames(turns: int) -> list[Frame]:
    frames: list[Frame] = []
    audio = b"\x01\x00" * 320  # 20 ms at 16 kHz
    for i in range(turns):
        frames += [UserStartedSpeakingFrame()]
        frames += [TTSAudioRawFrame(audio, 16000, 1) for _ in range(10)]
        frames += [TranscriptionFrame(DRIVER_LINES[i % 6], "driver", "", finalized=True)]
        frames += [UserStoppedSpeakingFrame(), BotStartedSpeakingFrame()]
        frames += [TTSTextFrame("Got it, thanks.", text_type="sentence")]
        frames += [
            MetricsFrame(data=[TTFBMetricsData(processor="llm", value=0.2)]),
            MetricsFrame(
                data=[
                    LLMUsageMetricsData(
                        processor="llm",
                        value=LLMTokenUsage(prompt_tokens=50, completion_tokens=9, total_tokens=59),
                    )
                ]
            ),
        ]
        frames += [TTSAudioRawFrame(audio, 16000, 1) for _ in range(10)]
        frames += [BotStoppedSpeakingFrame()]
    return frames


async def run_pipeline(
    processors: list[FrameProcessor], observers: list, drive
) -> tuple[Probe, float]:
    probe = Probe()
    worker = PipelineWorker(
        Pipeline([*processors, probe]),
        params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        observers=observers,
        cancel_on_idle_timeout=False,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker, _frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run())
    await started.wait()
    elapsed = await drive(worker, probe)
    await worker.queue_frame(EndFrame())
    await task
    return probe, elapsed


def spool_client(directory: Path, name: str) -> EventClient:
    # Nobody listens: the summary is spooled, as when the voice server is down.
    return EventClient(
        f"http://127.0.0.1:{free_port()}", "bench", directory / f"{name}.jsonl", attempts=1
    )


async def frames_per_second(frames_count: int, with_observer: bool, directory: Path) -> float:
    frames = conversation_frames(frames_count // 26 + 1)

    async def drive(worker: PipelineWorker, probe: Probe) -> float:
        probe.expected = len(frames) + probe.count
        begin = time.perf_counter()
        await worker.queue_frames(frames)
        await probe.done.wait()
        return time.perf_counter() - begin

    observers = (
        [
            SessionObserver(
                provider_call_id=f"bench_{with_observer}_{time.monotonic_ns()}",
                call_context=CONTEXT,
                event_client=spool_client(directory, "fps"),
                keywords=("traffic", "construction"),
            )
        ]
        if with_observer
        else []
    )
    processors: list[FrameProcessor] = [PassThrough() for _ in range(4)]
    _, elapsed = await run_pipeline(processors, observers, drive)
    return len(frames) / elapsed


def mid_call_transcripts() -> list[list[dict[str, str]]]:
    """Contexts after each driver answer, up to the one the agent would end the call on."""
    messages = [{"role": "assistant", "content": opening(CONTEXT).text}]
    contexts = []
    for line in DRIVER_LINES:
        messages.append({"role": "user", "content": line})
        reply = next_reply(CONTEXT, transcript_from_messages(messages))
        if reply.end_call or reply.transfer_number:
            break
        contexts.append(list(messages))
        messages.append({"role": "assistant", "content": reply.text})
    assert contexts, "the scripted check-in ends at once"
    return contexts


async def reply_latencies(processor: FrameProcessor, turns: int) -> list[float]:
    """Seconds from queueing the user's context to the first reply frame at the probe.

    Each turn is a real mid-call context (the agent's own earlier replies included) at which
    the agent keeps asking rather than wrapping the call up.
    """

    transcripts = mid_call_transcripts()

    def context_for(turn: int) -> LLMContext:
        return LLMContext(messages=[dict(m) for m in transcripts[turn % len(transcripts)]])

    async def drive(worker: PipelineWorker, probe: Probe) -> float:
        sent: list[float] = []
        for turn in range(turns):
            frame = LLMContextFrame(context=context_for(turn))
            probe.expect_reply()
            before = len(probe.arrivals)
            sent.append(time.perf_counter())
            await worker.queue_frame(frame)
            while len(probe.arrivals) == before:
                await asyncio.sleep(0)
        probe.latencies = [a - s for a, s in zip(probe.arrivals, sent, strict=True)]
        return 0.0

    probe, _ = await run_pipeline([processor], [], drive)
    return probe.latencies


def ms(values: list[float]) -> str:
    quantiles = statistics.quantiles(values, n=20)
    return (
        f"mean {statistics.fmean(values) * 1000:.3f} ms, p50 {statistics.median(values) * 1000:.3f}"
        f" ms, p95 {quantiles[18] * 1000:.3f} ms"
    )


async def main(frames_count: int, turns: int, rounds: int) -> None:
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        await frames_per_second(500, True, directory)  # warm-up: imports, VADER lexicon
        without, with_, ratios = [], [], []
        for round_ in range(rounds):
            # Back to back, alternating which goes first: the machine's load drifts.
            order = (False, True) if round_ % 2 == 0 else (True, False)
            measured = {
                flag: await frames_per_second(frames_count, flag, directory) for flag in order
            }
            without.append(measured[False])
            with_.append(measured[True])
            ratios.append(measured[True] / measured[False])
        print(
            f"Pipeline throughput ({frames_count} frames, 4 pass-through processors, "
            f"{rounds} paired rounds, medians):"
        )
        print(f"  without observer: {statistics.median(without):,.0f} frames/s")
        print(f"  with SessionObserver: {statistics.median(with_):,.0f} frames/s")
        print(
            f"  ratio with/without: {statistics.median(ratios):.3f} "
            f"(per round {min(ratios):.3f}..{max(ratios):.3f}; target >= 0.9)"
        )

        baseline = await reply_latencies(PassThrough(), turns)
        agent = await reply_latencies(
            DispatchAgentProcessor(
                policy=make_policy("rules"), call_context=CONTEXT, silence_timeout_secs=None
            ),
            turns,
        )
        added = statistics.median(agent) - statistics.median(baseline)
        print(f"Agent processor, user context -> first reply text ({turns} turns):")
        print(f"  pass-through baseline: {ms(baseline)}")
        print(f"  DispatchAgentProcessor (rules policy): {ms(agent)}")
        print(f"  added per turn (p50 difference): {added * 1000:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.frames, args.turns, args.rounds))
