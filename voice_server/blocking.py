"""The voice server's own thread pool for blocking work (database calls, a call's analysis).

Sized for it and kept apart from asyncio's default executor: a stuck database fills this pool,
never the one the framework and libraries share, and the size is one setting
(`VOICE_SERVER_DB_THREADS`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

T = TypeVar("T")


def database_threads(size: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="voice-db")


async def run_blocking(
    executor: Executor | None, function: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """`function(*args, **kwargs)` on `executor` (None: asyncio's default, for code run outside
    the app)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(function, *args, **kwargs))


def app_threads(connection: HTTPConnection) -> Executor | None:
    return getattr(connection.app.state, "db_threads", None)
