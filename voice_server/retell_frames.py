"""Retell's frames, parsed so that no frame can stall the other calls or hold unbounded memory.

Retell resends the whole transcript with every request, so a long (or hostile) call's frames
grow without limit: one valid `response_required` with 150,000 turns is ~5 MB, and parsing and
validating it is C code holding the GIL for seconds, on the loop or in a thread alike. So:
- every request's transcript is cut to its last `MAX_TRANSCRIPT_TURNS` turns, each turn to
  `MAX_TURN_CHARS` characters: what the agent reads, what the call keeps and what is stored are
  bounded (a real call of an hour has a few hundred turns);
- a frame over `LARGE_FRAME_CHARS` is parsed in a separate process (one at a time, a fresh
  process each time, forked from a preloaded server), so its parsing never runs in this process
  and the memory it took goes away with that process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from protocols.retell.messages import (
    ProtocolError,
    RetellRequest,
    load_frame,
    retell_request_from,
)

MAX_TRANSCRIPT_TURNS = 1000
MAX_TURN_CHARS = 4000
LARGE_FRAME_CHARS = 256 * 1024
TRANSCRIPT_FIELDS = ("transcript", "transcript_with_tool_calls")

_parser: ProcessPoolExecutor | None = None


def parse_bounded(text: str | bytes) -> RetellRequest:
    """A request from Retell with its transcript bounded; ProtocolError when it is not one."""
    value = load_frame(text)
    for field in TRANSCRIPT_FIELDS:
        turns = value.get(field)
        if isinstance(turns, list):
            turns = turns[-MAX_TRANSCRIPT_TURNS:]
            for turn in turns:
                content = turn.get("content") if isinstance(turn, dict) else None
                if isinstance(content, str) and len(content) > MAX_TURN_CHARS:
                    turn["content"] = content[-MAX_TURN_CHARS:]
            value[field] = turns
    return retell_request_from(value)


async def parse_frame(text: str | bytes) -> RetellRequest:
    """`parse_bounded`, in the frame parser process when the frame is large."""
    if len(text) <= LARGE_FRAME_CHARS:
        return parse_bounded(text)
    loop = asyncio.get_running_loop()
    try:
        # Submitting may start a parser process (the fork server, the first time: a second
        # or more): never on the event loop.
        parsed = await loop.run_in_executor(None, _frame_parser().submit, parse_bounded, text)
        return await asyncio.wrap_future(parsed)
    except BrokenProcessPool:
        _reset_parser()
        raise ProtocolError("the frame parser process died on this frame") from None


def _frame_parser() -> ProcessPoolExecutor:
    global _parser
    if _parser is None:
        context: Any = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        _parser = ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1)
    return _parser


def _reset_parser() -> None:
    global _parser
    parser, _parser = _parser, None
    if parser is not None:
        parser.shutdown(wait=False, cancel_futures=True)


def shutdown_frame_parser() -> None:
    """Stop the parser process (the server is stopping)."""
    _reset_parser()
