"""What this bot process can still take: sessions running and CPU, on `GET /dispatch/health`.

The voice server reads it from every bot in BOT_URLS and places a new session on the
least-loaded one that answers (voice_server/engines/bot_placement.py). No key: it says nothing
about calls, and load balancers probe it too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter

from protocols.bot_capacity import BotCapacity

MIN_CPU_WINDOW_SECS = 0.5  # a shorter window than this reuses the last reading


class SessionCounter:
    def __init__(self) -> None:
        self._running = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        return self._running

    @contextmanager
    def session(self) -> Iterator[None]:
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1


class CpuMeter:
    """This process's CPU use (percent of one core) since the previous reading."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), _cpu_secs())
        self._percent = 0.0
        self._lock = threading.Lock()

    def percent(self) -> float:
        with self._lock:
            now, cpu = time.monotonic(), _cpu_secs()
            wall = now - self._last[0]
            if wall >= MIN_CPU_WINDOW_SECS:
                self._percent = round(100.0 * (cpu - self._last[1]) / wall, 1)
                self._last = (now, cpu)
            return self._percent


def _cpu_secs() -> float:
    times = os.times()
    return times.user + times.system


SESSIONS = SessionCounter()
CPU = CpuMeter()


def capacity_router(sessions: SessionCounter = SESSIONS, cpu: CpuMeter = CPU) -> APIRouter:
    router = APIRouter()

    @router.get("/dispatch/health")
    async def health() -> BotCapacity:
        return BotCapacity(
            status="ok",
            sessions=sessions.running,
            cpu_percent=cpu.percent(),
            cpu_count=os.cpu_count() or 1,
            load_average=round(os.getloadavg()[0], 2),
        )

    return router
