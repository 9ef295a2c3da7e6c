"""Which bot process a new Pipecat session goes to: the least loaded of BOT_URLS.

Each bot answers `GET /dispatch/health` with its capacity (protocols/bot_capacity.py: sessions
running, its CPU, the host's cores). The bots that answer in time are ranked by sessions per core
(counting the sessions placed on them here in the last few seconds, which a session only shows
once its driver joins), then CPU per core; the ones that do not answer come last, so a
registration still has somewhere to go. With one URL (BOT_URL, or a load balancer in front of
the bots: the database registry lets any bot join any session) nothing is asked.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from pydantic import ValidationError

from protocols.bot_capacity import BotCapacity

# A placed session shows in its bot's count once the driver joins; until then it counts here.
PLACED_RECENTLY_SECS = 15.0

_placed: dict[str, list[float]] = {}
_placed_lock = threading.Lock()


def note_placed(url: str) -> None:
    now = time.monotonic()
    with _placed_lock:
        _placed[url] = [t for t in _placed.get(url, []) if now - t < PLACED_RECENTLY_SECS]
        _placed[url].append(now)


def _placed_recently(url: str) -> int:
    now = time.monotonic()
    with _placed_lock:
        return sum(1 for t in _placed.get(url, []) if now - t < PLACED_RECENTLY_SECS)


async def capacity_of(
    client: httpx.AsyncClient, url: str, timeout_secs: float
) -> BotCapacity | None:
    """The bot's capacity, or None when it does not answer in time or answers nonsense."""
    try:
        response = await client.get(f"{url}/dispatch/health", timeout=timeout_secs)
        if response.status_code != 200:
            return None
        return BotCapacity.model_validate(response.json())
    except (httpx.HTTPError, ValueError, ValidationError):
        return None


async def ranked_bots(
    urls: list[str],
    *,
    timeout_secs: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """`urls` in the order to try them: healthy ones least loaded first, then the silent."""
    if len(urls) == 1:
        return list(urls)
    async with httpx.AsyncClient(transport=transport) as client:
        capacities = await asyncio.gather(*(capacity_of(client, u, timeout_secs) for u in urls))

    def load(index: int) -> tuple[float, float, int]:
        capacity = capacities[index]
        assert capacity is not None
        sessions = capacity.sessions + _placed_recently(urls[index])
        return (sessions / capacity.cpu_count, capacity.cpu_percent / capacity.cpu_count, index)

    healthy = sorted((i for i, c in enumerate(capacities) if c is not None), key=load)
    silent = [i for i, c in enumerate(capacities) if c is None]
    return [urls[i] for i in healthy + silent]
