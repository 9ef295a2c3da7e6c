"""A local stand-in for the voice server's call-start route (`POST /api/v1/calls/start`), as the
scheduler's Retell/Pipecat dialer calls it: checks the bearer key and the body, waits a while
like a provider does, answers 201 with a call id, and counts every start per (load, scenario).

Used by tests/scheduler (several scheduler processes, a killed one) and bench/scheduler_bench.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.served_app import ServedApp
from protocols.start_call import StartCallRequest, StartedCall


class EngineDouble(ServedApp):
    def __init__(self, api_key: str, *, delay_secs: float = 0.0, port: int = 0) -> None:
        self.api_key = api_key
        self.delay_secs = delay_secs
        self.starts: Counter[tuple[str, str]] = Counter()
        self.received_at: dict[tuple[str, str], float] = {}  # first start, time.time()
        self._lock = threading.Lock()
        self._next_id = 0
        app = Starlette(routes=[Route("/api/v1/calls/start", self._start, methods=["POST"])])
        super().__init__(app, port, "the engine double")

    async def _start(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"detail": "bad key"}, status_code=401)
        call = StartCallRequest.model_validate(await request.json())
        key = (call.load_number, call.scenario or "")
        with self._lock:
            self.starts[key] += 1
            self.received_at.setdefault(key, time.time())
            self._next_id += 1
            call_id = f"double_{self._next_id}"
        if self.delay_secs:
            await asyncio.sleep(self.delay_secs)
        started = StartedCall(provider="retell", provider_call_id=call_id, status="registered")
        return JSONResponse(started.model_dump(mode="json"), status_code=201)

    def duplicates(self) -> int:
        with self._lock:
            return sum(count - 1 for count in self.starts.values() if count > 1)

    def total(self) -> int:
        with self._lock:
            return sum(self.starts.values())
