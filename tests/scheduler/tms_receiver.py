"""A TMS's webhook endpoint as a real HTTP server: verifies the signature the way a receiver
would (with the shared secret, at the time it is told it is), records what it accepted, and
answers the statuses a test scripts (then 200)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.served_app import ServedApp
from protocols.webhook_signature import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from scheduler.tms_webhook import CallFinished


class TmsReceiver(ServedApp):
    def __init__(self, secret: str, clock: Callable[[], datetime]) -> None:
        self.secret = secret
        self.clock = clock
        self.statuses: list[int] = []  # answered in order before the default 200
        self.accepted: list[CallFinished] = []
        self.delivery_headers: list[str] = []
        self.refused_signatures = 0
        self.requests = 0
        app = Starlette(routes=[Route("/hooks/dispatch", self._receive, methods=["POST"])])
        super().__init__(app, what="the TMS receiver")

    @property
    def url(self) -> str:
        return f"{super().url}/hooks/dispatch"

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
