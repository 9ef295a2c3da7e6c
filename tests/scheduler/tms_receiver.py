"""A TMS's webhook endpoint as a real HTTP server: verifies the signature the way a receiver
would (with the shared secret, at the time it is told it is), records what it accepted, and
answers the statuses a test scripts (then 200)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from protocols.webhook_signature import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from scheduler.tms_webhook import CallFinished
from tests.conftest import free_port


class TmsReceiver:
    def __init__(self, secret: str, clock: Callable[[], datetime]) -> None:
        self.secret = secret
        self.clock = clock
        self.statuses: list[int] = []  # answered in order before the default 200
        self.accepted: list[CallFinished] = []
        self.delivery_headers: list[str] = []
        self.refused_signatures = 0
        self.requests = 0
        self.port = free_port()
        app = Starlette(routes=[Route("/hooks/dispatch", self._receive, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/dispatch"

    async def _receive(self, request: Request) -> JSONResponse:
        self.requests += 1
        body = (await request.body()).decode()
        now_ms = int(self.clock().timestamp() * 1000)
        if not verify(body, self.secret, request.headers.get(SIGNATURE_HEADER, ""), now_ms):
            self.refused_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self.statuses:
            return JSONResponse({"error": "scripted"}, status_code=self.statuses.pop(0))
        self.accepted.append(CallFinished.model_validate_json(body))
        self.delivery_headers.append(request.headers[DELIVERY_HEADER])
        return JSONResponse({"ok": True})

    def start(self) -> TmsReceiver:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
