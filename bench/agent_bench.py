"""Agent benchmark: next reply + structured result per turn, against a trivial echo policy.

    python -m bench.agent_bench [--rounds 200]

For transcripts of 5, 20 and 50 turns (agent and driver alternating, STT-style driver lines), a
turn is answered the way the voice server does it: `next_reply` and `extract_result` on the whole
transcript so far (Retell resends it every turn). The median time per turn is printed next to a
trivial echo policy (repeat the driver's last words, empty result) measured in the same run, as a
ratio. Target: median under 1 ms per turn on a 20-turn transcript.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from agent import (
    CallContext,
    CallResult,
    Reply,
    Turn,
    analyze,
    extract_result,
    next_reply,
    reply_and_result,
)
from agent.signals import read_user_turn
from agent.topics import asked_topic

CONTEXT = CallContext(
    driver_name="Mike Johnson",
    load_number="7891-B",
    origin="Dallas, TX",
    destination="Phoenix, AZ",
    appointment="8 am tomorrow",
    transfer_number="+15550100200",
)
DRIVER_LINES = (
    "yeah hey um this is mike, i'm rolling on i forty just past amarillo",
    "uh running a little behind, traffic's backed up for miles outside of albuquerque",
    "hey remind me where i'm delivering again and what time's my appointment",
    "probably around four thirty p m if this construction clears up",
    "[inaudible] ... sorry, bad signal out here by the loves at exit 140",
    "i dunno man, maybe in like two hours, hour and a half",
    "we stopped for fuel at the pilot in gallup, mile marker twenty",
    "nah everything's good, should make my appointment tomorrow morning",
)
AGENT_LINES = (
    "Got it. Where are you right now?",
    "Sorry about the delay. What's holding you up?",
    "What's your ETA to Phoenix, AZ?",
    "Okay, thanks. Can you give me the highway you're on, or the nearest city?",
)


def transcript_of(turns: int) -> list[Turn]:
    transcript = []
    for index in range(turns):
        if index % 2 == 0:
            transcript.append(Turn("agent", AGENT_LINES[(index // 2) % len(AGENT_LINES)]))
        else:
            transcript.append(Turn("user", DRIVER_LINES[(index // 2) % len(DRIVER_LINES)]))
    return transcript


def separate_calls(transcript: Sequence[Turn]) -> tuple[Reply, CallResult]:
    return next_reply(CONTEXT, transcript), extract_result(CONTEXT, transcript)


def one_reading(transcript: Sequence[Turn]) -> tuple[Reply, CallResult]:
    return reply_and_result(CONTEXT, transcript)


def reply_only(transcript: Sequence[Turn]) -> Reply:
    return next_reply(CONTEXT, transcript)


def echo_turn(transcript: Sequence[Turn]) -> tuple[Reply, CallResult]:
    last = next((t.content for t in reversed(transcript) if t.role == "user"), "")
    return Reply(sentences=(last,)), CallResult()


def forget_readings(transcript: Sequence[Turn] = ()) -> None:
    """Empty the agent's memo of utterances already read, then (untimed) let it read every turn
    but the newest: the timed turn then costs what a live turn costs, its one new utterance."""
    read_user_turn.cache_clear()
    asked_topic.cache_clear()
    if len(transcript) > 1:
        reply_and_result(CONTEXT, transcript[:-1])


def turn_times(
    turn: Callable[[Sequence[Turn]], object],
    transcripts: list[list[Turn]],
    rounds: int,
    prepare: Callable[[Sequence[Turn]], None] | None = None,
) -> list[float]:
    """CPU seconds of this thread per answered turn, so a busy shared machine does not inflate
    the figures (the agent and the echo are measured the same way)."""
    times: list[float] = []
    for _ in range(rounds):
        for transcript in transcripts:
            if prepare:
                prepare(transcript)
            started = time.thread_time()
            turn(transcript)
            times.append(time.thread_time() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    started = time.perf_counter()
    separate_calls(transcript_of(4))  # first call: nothing to warm but the interpreter
    print(f"first call: {(time.perf_counter() - started) * 1000:.1f} ms\n")
    header = f"{'':>22}{'turns':>6}{'median':>11}{'p95':>11}{'echo':>10}{'ratio':>8}"
    print(header)
    for size in (5, 20, 50):
        transcript = transcript_of(size)
        whole = [transcript]  # the turn answered on the full transcript
        call = [transcript[: i + 1] for i, t in enumerate(transcript) if t.role == "user"]
        echo = statistics.median(turn_times(echo_turn, whole, args.rounds))
        cold = lambda _transcript: forget_readings()  # noqa: E731
        for label, turn, transcripts, prepare in (
            ("reply + result", separate_calls, whole, forget_readings),
            ("reply_and_result", one_reading, whole, forget_readings),
            ("next_reply alone", reply_only, whole, forget_readings),
            ("every turn of the call", separate_calls, call, forget_readings),
            ("cold (nothing read)", separate_calls, whole, cold),
        ):
            rounds = args.rounds // len(transcripts) + 1
            times = turn_times(turn, transcripts, rounds, prepare)
            median = statistics.median(times)
            p95 = statistics.quantiles(times, n=20)[-1]
            target = "  (target < 1 ms)" if size == 20 and label == "reply + result" else ""
            print(
                f"{label:>22}{size:>6}{median * 1000:>8.3f} ms{p95 * 1000:>8.3f} ms"
                f"{echo * 1e6:>7.2f} us{median / echo:>7.0f}x{target}"
            )
    transcript = transcript_of(20)
    median_ms = (
        statistics.median(
            turn_times(lambda t: analyze(t, ("traffic", "delay", "fuel")), [transcript], 50)
        )
        * 1000
    )
    print(f"\nanalyze() on 20 turns (once per call, at the end): {median_ms:.3f} ms")
    print(
        "\n'reply + result': next_reply and extract_result on the whole N-turn transcript;"
        "\n'reply_and_result': the same, the transcript read once;"
        "\n'next_reply alone': what a turn costs the engines (they extract the result at the end);"
        "\n'every turn of the call': reply + result, median over each driver turn of the call;"
        "\n'cold (nothing read)': reply + result with every utterance unread (after a restart)."
        "\nExcept 'cold', earlier utterances are already read (memoized), as in a live call."
    )


if __name__ == "__main__":
    main()
