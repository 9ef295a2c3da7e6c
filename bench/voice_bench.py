"""Voice benchmark of the offline Pipecat bot (not a test): real audio over Twilio media streams.

    python -m bench.voice_bench [--turns 20] [--levels 1,2,4,6,8] [--style 12] [--sentences 50]
        [--scale-levels 1,2,3,4] [--parts latency,capacity,scale,style,tts]
        [--against BOT_WHISPER_WINDOW_SECS=30,BOT_TTS_FIRST_CHUNK_WORDS=6 ...]

Starts the voice server and the bot (`python -m bot`, no keys: Whisper hears, Piper speaks) on a
temporary SQLite database, then plays drivers (espeak-ng, 8 kHz mu-law, paced in real time):

1. Voice-to-voice latency: end of the driver's speech to the bot's first audio, measured at the
   phone line, p50/p90 over at least `--turns` turns on one call at a time and with 4 at once;
   with the bot's own breakdown (asr / llm / tts, from Pipecat's latency observer, as stored).
   The baseline measured in the same run is the turn-taking floor: the silence the bot must
   hear before it may answer (BOT_VAD_STOP_SECS + BOT_USER_SPEECH_TIMEOUT_SECS).
   With `--against ENV=VALUE[,ENV=VALUE]` (repeatable), a bot with those settings runs beside
   the one under test and the one-call latency is measured on each, a call on each in turn, so
   both share the same machine load: printed as p50/p90 and their ratios; the style check
   (3.) then plays each conversation on each bot in turn.
2. Capacity: the most concurrent calls whose p90 (over `--turns` turns) stays under 2 s, over
   `--levels`.
2b. Scale-out (`scale`): the capacity run against one bot process and against two (BOT_URLS:
   the voice server places each call on the least-loaded bot), level by level in turn in the
   same run: p90 at each level and the most calls held with p90 under 2 s, one against two.
3. Held-out style check: `--style` conversations of tests/agent/conversations played as audio,
   the saved structured result scored field by field against the script's expectations.
4. TTS intelligibility: word error rate of the bot's own Whisper on each voice (Piper, espeak-ng)
   speaking `--sentences` agent sentences, over the phone line (8 kHz mu-law).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soxr

from agent import CallContext, next_reply, opening
from agent.types import Turn
from bench.phone_caller import PhoneCall, mulaw_encode
from bench.processes import free_port, stop
from bot.observer import percentile as pct
from db import open_store
from settings import ROOT, load_settings

DISPATCH_KEY = "bench-dispatch-key-0123456789"
PIPECAT_KEY = "bench-pipecat-key-0123456789"
CONVERSATIONS = ROOT / "tests" / "agent" / "conversations"
P90_TARGET_SECS = 2.0
MAX_FAILED_STARTS = 3  # per run of calls: a start refused under load is reported, not fatal

# Calls for the latency runs: each driver answers what dispatch asks, a few turns per call.
LATENCY_CALLS = (
    (
        {"driver_name": "Maria Lopez", "load_number": "7731", "origin": "Oklahoma City, OK"}
        | {"destination": "Albuquerque, NM"},
        ("Hello, yes, this is Maria.", "I'm on I 40 near Amarillo.", "Around 4 PM.", "No."),
    ),
    (
        {"driver_name": "Tom Becker", "load_number": "A-2231", "origin": "Memphis, TN"}
        | {"destination": "Amarillo, TX"},
        ("Hi.", "I'm near Oklahoma City on I 40.", "Tomorrow morning.", "Nope, that's all."),
    ),
)


@dataclass
class Stack:
    voice_url: str
    bot_urls: list[str]
    database_url: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def stop(self) -> None:
        stop(*self.processes)


def wait_up(url: str, process: subprocess.Popen, log: Path, secs: float = 120) -> None:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited:\n{log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not start")


def start_stack(workdir: Path, bot_env: dict[str, str], bots: int = 1) -> Stack:
    """The voice server and `bots` bot processes (one host: one spool path, their own ports)."""
    voice_port, bot_ports = free_port(), [free_port() for _ in range(bots)]
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    bot_urls = [f"http://127.0.0.1:{port}" for port in bot_ports]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(workdir)),
        "DISPATCH_ENV_FILE": "",
        "DATABASE_URL": database_url,
        "DISPATCH_API_KEY": DISPATCH_KEY,
        "PIPECAT_API_KEY": PIPECAT_KEY,
        "VOICE_SERVER_URL": f"http://127.0.0.1:{voice_port}",
        "BOT_URL": bot_urls[0],
        "BOT_URLS": ",".join(bot_urls),
        "PIPECAT_SPOOL_PATH": str(workdir / "spool.jsonl"),
        "OUTBOX_PATH": str(workdir / "outbox.jsonl"),
        "RECORDINGS_DIR": str(workdir / "recordings"),
    }
    stack = Stack(f"http://127.0.0.1:{voice_port}", bot_urls, database_url)
    commands = {
        "voice": [sys.executable, "-m", "uvicorn", "voice_server.main:app", "--host", "127.0.0.1"]
        + ["--port", str(voice_port), "--log-level", "warning"],
    } | {
        f"bot{index}": [sys.executable, "-m", "bot", "--host", "127.0.0.1", "--port", str(port)]
        for index, port in enumerate(bot_ports)
    }
    for name, command in commands.items():
        log = workdir / f"{name}.log"
        is_bot = name.startswith("bot")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env | (bot_env if is_bot else {}),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        stack.processes.append(process)
        url = bot_urls[int(name[3:])] if is_bot else stack.voice_url + "/healthz"
        wait_up(url, process, log)
    return stack


@dataclass
class PlayedCall:
    provider_call_id: str
    latencies: list[float]
    saved: Any = None


class StartFailed(RuntimeError):
    """The voice server did not start the call (it says why)."""


async def play_call(stack: Stack, context: dict[str, str], lines: tuple[str, ...]) -> PlayedCall:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{stack.voice_url}/api/v1/voice/start",
            params={"vendor": "pipecat"},
            json={"mode": "phone", "driver_phone": "+14155550100", **context},
            headers={"Authorization": f"Bearer {DISPATCH_KEY}"},
        )
    if response.status_code != 201:
        raise StartFailed(f"{response.status_code}: {response.text[:300]}")
    started = response.json()
    call = PhoneCall(started["join_url"], started["details"]["stream_parameters"])
    async with call:
        await call.listen(timeout_secs=40)
        for line in lines:
            if not call.is_open:
                break
            if line == "(silence)":
                await call.listen(timeout_secs=15)
                continue
            await call.say(line)
            await call.listen(timeout_secs=40)
        await call.wait_for_hang_up(5)
    latencies = [t.latency_secs for t in call.turns if t.latency_secs is not None]
    return PlayedCall(started["provider_call_id"], latencies)


def saved_call(stack: Stack, provider_call_id: str, wait_secs: float = 30) -> Any:
    store = open_store(load_settings(database_url=stack.database_url))
    deadline = time.monotonic() + wait_secs
    while time.monotonic() < deadline:
        call = store.get_call(provider_call_id)
        if call is not None and call.status == "ended" and call.structured is not None:
            return call
        time.sleep(0.3)
    return store.get_call(provider_call_id)


async def latency_run(stack: Stack, concurrent: int, min_turns: int) -> tuple[list[float], list]:
    """`concurrent` callers, each placing calls one after another until `min_turns` in all."""
    latencies: list[float] = []
    call_ids: list[str] = []

    failed: list[str] = []

    async def caller(index: int) -> None:
        n = index
        while len(latencies) < min_turns and len(failed) < MAX_FAILED_STARTS:
            context, lines = LATENCY_CALLS[n % len(LATENCY_CALLS)]
            try:
                played = await play_call(stack, context, lines)
            except StartFailed as exc:
                failed.append(str(exc))
                print(f"    a call did not start: {exc}", flush=True)
                continue
            latencies.extend(played.latencies)
            call_ids.append(played.provider_call_id)
            n += concurrent

    await asyncio.gather(*(caller(i) for i in range(concurrent)))
    breakdown = []
    for call_id in call_ids:
        call = saved_call(stack, call_id)
        breakdown.extend(((call.latency if call else None) or {}).get("turns", []))
    return latencies, breakdown


def parse_env(assignments: str) -> dict[str, str]:
    env = {}
    for item in assignments.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected ENV=VALUE[,ENV=VALUE], got {item!r}")
        env[name.strip()] = value.strip()
    return env


async def compared_latency_run(
    stacks: list[Stack], min_turns: int
) -> list[tuple[list[float], list]]:
    """One call at a time, on each stack in turn, until each has `min_turns` turns."""
    latencies: list[list[float]] = [[] for _ in stacks]
    call_ids: list[list[str]] = [[] for _ in stacks]
    n = 0
    while any(len(measured) < min_turns for measured in latencies):
        context, lines = LATENCY_CALLS[n % len(LATENCY_CALLS)]
        for index, stack in enumerate(stacks):
            played = await play_call(stack, context, lines)
            latencies[index].extend(played.latencies)
            call_ids[index].append(played.provider_call_id)
        n += 1
    results = []
    for stack, measured, ids in zip(stacks, latencies, call_ids, strict=True):
        breakdown = []
        for call_id in ids:
            call = saved_call(stack, call_id)
            breakdown.extend(((call.latency if call else None) or {}).get("turns", []))
        results.append((measured, breakdown))
    return results


def report_latency(label: str, latencies: list[float], breakdown: list[dict]) -> None:
    if not latencies:
        print(f"{label}: no turn answered")
        return
    line = (
        f"{label}: {len(latencies)} turns, voice-to-voice p50 {pct(latencies, 0.5):.2f} s, "
        f"p90 {pct(latencies, 0.9):.2f} s"
    )
    if breakdown:
        parts = []
        for part in ("asr", "llm", "tts", "e2e"):
            ms = [t[part] for t in breakdown if t.get(part) is not None]
            parts.append(f"{part} p50 {pct(ms, 0.5):.0f} / p90 {pct(ms, 0.9):.0f} ms")
        line += "\n    bot breakdown (" + str(len(breakdown)) + " turns): " + ", ".join(parts)
    print(line, flush=True)


# Held-out style check -------------------------------------------------------------------------


def style_scripts(count: int) -> list[tuple[str, dict[str, str], list[str], dict]]:
    """`count` scripted conversations, round-robin over the files (no all-silence ones)."""
    per_file = []
    for path in sorted(CONVERSATIONS.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        defaults = {k: v for k, v in data.get("context", {}).items() if k != "transfer_number"}
        items = []
        for item in data["conversation"]:
            user = [u for u in item["user"]]
            if not any(u != "(silence)" for u in user) or "result" not in item["expect"]:
                continue
            context = defaults | {
                k: v for k, v in item.get("context", {}).items() if k != "transfer_number"
            }
            items.append((f"{path.stem}: {item['name']}", context, user, item["expect"]))
        per_file.append(items)
    chosen = []
    while len(chosen) < count and any(per_file):
        for items in per_file:
            if items and len(chosen) < count:
                chosen.append(items.pop(0))
    return chosen


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.strip().lower() == actual.strip().lower()
    return expected == actual


async def style_check(
    stacks: list[Stack], count: int, labels: list[str] | None = None, concurrent: int = 2
) -> None:
    """Each conversation played on each stack in turn (the same machine load for every one)."""
    scripts = style_scripts(count)
    scored: list[list[tuple[str, int, int]]] = [[] for _ in stacks]
    unplayed = [0 for _ in stacks]
    queue = list(scripts)

    async def worker() -> None:
        while queue:
            name, context, user, expect = queue.pop(0)
            fields = expect["result"]
            for index, stack in enumerate(stacks):
                tag = f"[{labels[index]}] " if labels else ""
                try:
                    played = await play_call(stack, context, tuple(user))
                except (httpx.HTTPError, OSError) as exc:  # a start refused on a loaded machine
                    unplayed[index] += 1
                    print(f"    {tag}{name}: not played ({exc!r})", flush=True)
                    continue
                call = saved_call(stack, played.provider_call_id)
                result = (call.structured if call else None) or {}
                right = sum(_same(v, result.get(k)) for k, v in fields.items())
                scored[index].append((name, right, len(fields)))
                misses = {
                    k: result.get(k) for k, v in fields.items() if not _same(v, result.get(k))
                }
                print(
                    f"    {tag}{name}: {right}/{len(fields)} fields"
                    + (f"  {misses}" if misses else ""),
                    flush=True,
                )

    await asyncio.gather(*(worker() for _ in range(concurrent)))
    for index, results in enumerate(scored):
        right = sum(r for _, r, _ in results)
        total = sum(t for _, _, t in results)
        whole = sum(r == t for _, r, t in results)
        print(
            f"Style check{f' ({labels[index]})' if labels else ''}: {len(results)} "
            f"conversations as audio, {right}/{total} fields right "
            f"({100 * right / max(total, 1):.0f}%), {whole} conversations entirely right"
            + (f"; {unplayed[index]} not played" if unplayed[index] else ""),
            flush=True,
        )


# TTS intelligibility -------------------------------------------------------------------------


def agent_sentences(count: int) -> list[str]:
    """Sentences the agent says, from replaying the scripted conversations' first turns."""
    sentences: list[str] = []
    for name, context, user, _expect in style_scripts(200):
        del name
        ctx = CallContext(**context)
        transcript = [Turn("agent", opening(ctx).text)]
        for line in user[:3]:
            transcript.append(Turn("user", line if line != "(silence)" else ""))
            transcript.append(Turn("agent", next_reply(ctx, tuple(transcript)).text))
        for turn in transcript:
            if turn.role == "agent":
                for sentence in re.split(r"(?<=[.?!])\s+", turn.content):
                    if len(sentence.split()) >= 3 and sentence not in sentences:
                        sentences.append(sentence)
    return sentences[:count]


def _phone_line(pcm: np.ndarray, rate: int) -> np.ndarray:
    """What Whisper hears over the phone: 8 kHz mu-law, back to 16 kHz float."""
    narrow = np.clip(soxr.resample(pcm.astype(np.float32), rate, 8000), -32768, 32767)
    ulaw = np.frombuffer(mulaw_encode(narrow.astype(np.int16)), dtype=np.uint8)
    u = ~ulaw.astype(np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84 << ((u >> 4) & 7)) - 0x84
    decoded = np.where(u & 0x80, -magnitude, magnitude).astype(np.float32) / 32768
    return soxr.resample(decoded, 8000, 16000)


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def intelligibility(count: int) -> None:
    import io
    import wave

    import jiwer

    from bot.stt_whisper import CallWhisper, default_model_dir, shared_model
    from bot.tts_piper import default_voice_paths, load_voice

    sentences = agent_sentences(count)
    settings = load_settings()
    whisper = CallWhisper(
        shared_model(default_model_dir(), window_secs=settings.bot_whisper_window_secs),
        settings.bot_whisper_beam_size,
    )
    piper = load_voice(*default_voice_paths())

    def piper_pcm(text: str) -> tuple[np.ndarray, int]:
        phonemes = subprocess.run(
            ["espeak-ng", "-q", "--ipa", "-v", piper.espeak_voice, text],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        phonemes = re.sub(r"\([^)]+\)", "", " ".join(phonemes.split())) + "."
        return np.frombuffer(piper.synthesize(phonemes), dtype=np.int16), piper.sample_rate

    def espeak_pcm(text: str) -> tuple[np.ndarray, int]:
        wav = subprocess.run(
            ["espeak-ng", "--stdout", "-v", "en-us", "-s", "165", text],
            capture_output=True,
            check=True,
        ).stdout
        with wave.open(io.BytesIO(wav)) as reader:
            frames = reader.readframes(reader.getnframes())
            return np.frombuffer(frames, dtype=np.int16), reader.getframerate()

    print(f"TTS intelligibility: Whisper tiny.en on {len(sentences)} agent sentences, phone line")
    for name, speak in (("piper (en_US-joe-medium)", piper_pcm), ("espeak-ng", espeak_pcm)):
        references, hypotheses, synth_secs, audio_secs = [], [], 0.0, 0.0
        for sentence in sentences:
            started = time.perf_counter()
            pcm, rate = speak(sentence)
            synth_secs += time.perf_counter() - started
            audio_secs += len(pcm) / rate
            segments, _ = whisper.transcribe(_phone_line(pcm, rate), language="en")
            hypotheses.append(_normalize(" ".join(s.text for s in segments)))
            references.append(_normalize(sentence))
        wer = jiwer.wer(references, hypotheses)
        print(
            f"    {name}: WER {100 * wer:.1f}%, synthesis {synth_secs / audio_secs:.3f}x real time",
            flush=True,
        )


# Main ----------------------------------------------------------------------------------------


def held(p90s: dict[int, float]) -> int:
    """The most concurrent calls with p90 under the target, every lower level too."""
    sustained = 0
    for level in sorted(p90s):
        if p90s[level] >= P90_TARGET_SECS:
            break
        sustained = level
    return sustained


async def scale_out(workdir: Path, levels: list[int]) -> None:
    """One bot process against two behind one voice server (BOT_URLS), in the same run: both
    stacks are up and each level is played on one, then the other, so a change in the machine's
    load during the run falls on both alike (an idle stack costs next to nothing)."""
    stacks: dict[int, Stack] = {}
    p90s: dict[int, dict[int, float]] = {1: {}, 2: {}}
    try:
        for bots in (1, 2):
            folder = workdir / f"bots{bots}"
            folder.mkdir()
            stacks[bots] = start_stack(folder, {}, bots=bots)
        for level in levels:
            for bots in (1, 2):
                latencies, _ = await latency_run(stacks[bots], level, max(level * 3, 12))
                report_latency(f"{bots} bot process(es), {level} concurrent calls", latencies, [])
                p90s[bots][level] = pct(latencies, 0.9) if latencies else float("inf")
    finally:
        for stack in stacks.values():
            stack.stop()
    print("Scale-out, voice-to-voice p90 per level (1 bot process -> 2):", flush=True)
    for level in levels:
        one, two = p90s[1][level], p90s[2][level]
        print(f"    {level} calls: {one:.2f} s -> {two:.2f} s ({two / one:.2f}x)", flush=True)
    print(
        f"Held with p90 < {P90_TARGET_SECS:.0f} s: 1 process {held(p90s[1])} calls, "
        f"2 processes {held(p90s[2])} calls; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores",
        flush=True,
    )


async def one_bot_parts(stack: Stack, args: argparse.Namespace, floor: float) -> None:
    try:
        if "latency" in args.parts:
            latencies, breakdown = await latency_run(stack, 1, args.turns)
            report_latency("1 call", latencies, breakdown)
            if latencies:
                print(f"    p50 / floor: {pct(latencies, 0.5) / floor:.2f}x", flush=True)
            latencies, breakdown = await latency_run(stack, 4, args.turns)
            report_latency("4 concurrent calls", latencies, breakdown)
        if "capacity" in args.parts:
            sustained = 0
            for level in args.levels:
                latencies, breakdown = await latency_run(stack, level, max(level * 3, args.turns))
                report_latency(f"{level} concurrent calls", latencies, breakdown)
                if not latencies or pct(latencies, 0.9) >= P90_TARGET_SECS:
                    break
                sustained = level
            print(f"Sustained with p90 < {P90_TARGET_SECS:.0f} s: {sustained} concurrent calls")
        if "style" in args.parts and not args.against:
            await style_check([stack], args.style)
    finally:
        stack.stop()


def label(env: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in env.items())


async def compare_configurations(workdir: Path, args: argparse.Namespace) -> None:
    """The bot as configured against one with each `--against`'s settings, call by call."""
    stacks: list[Stack] = []
    try:
        for index, env in enumerate([{}, *args.against]):
            (workdir / f"config{index}").mkdir()
            stacks.append(start_stack(workdir / f"config{index}", env))
        measured = await compared_latency_run(stacks, args.turns)
        mine = measured[0][0]
        report_latency("1 call, as configured", *measured[0])
        for env, (latencies, breakdown) in zip(args.against, measured[1:], strict=True):
            report_latency(f"1 call, {label(env)}", latencies, breakdown)
            if mine and latencies:
                print(
                    f"    as configured / {label(env)}: p50 "
                    f"{pct(mine, 0.5) / pct(latencies, 0.5):.2f}x, p90 "
                    f"{pct(mine, 0.9) / pct(latencies, 0.9):.2f}x",
                    flush=True,
                )
        if "style" in args.parts:
            await style_check(stacks, args.style, ["as configured", *map(label, args.against)])
    finally:
        for stack in stacks:
            stack.stop()


async def run(args: argparse.Namespace) -> None:
    settings = load_settings()
    floor = settings.bot_vad_stop_secs + settings.bot_user_speech_timeout_secs
    with tempfile.TemporaryDirectory(prefix="voice_bench_") as tmp:
        print(
            f"Baseline (turn-taking floor: silence heard before answering): {floor:.2f} s",
            flush=True,
        )
        if args.against:
            await compare_configurations(Path(tmp), args)
        one_bot = {"latency", "capacity"} | (set() if args.against else {"style"})
        if args.parts & one_bot:
            (Path(tmp) / "main").mkdir()
            await one_bot_parts(start_stack(Path(tmp) / "main", {}), args, floor)
        if "scale" in args.parts:
            await scale_out(Path(tmp), args.scale_levels)
    if "tts" in args.parts:
        intelligibility(args.sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument(
        "--levels", type=lambda v: [int(x) for x in v.split(",")], default=[2, 4, 6]
    )
    parser.add_argument("--style", type=int, default=12)
    parser.add_argument("--sentences", type=int, default=50)
    parser.add_argument(
        "--against",
        type=parse_env,
        action="append",
        default=[],
        metavar="ENV=VALUE[,ENV=VALUE]",
        help="also run a bot with these settings and compare one-call latency, call by call",
    )
    parser.add_argument(
        "--parts",
        type=lambda v: set(v.split(",")),
        default={"latency", "capacity", "scale", "style", "tts"},
        help="comma-separated: latency,capacity,scale,style,tts",
    )
    parser.add_argument(
        "--scale-levels", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 3, 4]
    )
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
