"""A local receiver of the voice server's alert webhooks: an on-call tool's endpoint.

It checks every delivery's signature the way a receiver must (db.webhook_outbox.verify), keeps
what arrived, and can be told to fail the next deliveries (a receiver that is down).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from protocols.webhook_signature import DELIVERY_HEADER, SIGNATURE_HEADER, verify

ALERT_SECRET = "alert-secret-0123456789abcdef"


@dataclass
class AlertReceiver:
    secret: str = ALERT_SECRET
    fail_next: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)  # X-Dispatch-Delivery of each 2xx
    refused: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks/emergency")
        async def hook(request: Request) -> JSONResponse:
            body = (await request.body()).decode()
            if not verify(body, self.secret, request.headers.get(SIGNATURE_HEADER, "")):
                self.refused += 1
                return JSONResponse({"error": "bad signature"}, 401)
            if self.fail_next:
                self.fail_next -= 1
                return JSONResponse({"error": "down for maintenance"}, 503)
            self.received.append(json.loads(body))
            self.deliveries.append(request.headers[DELIVERY_HEADER])
            return JSONResponse({"ok": True})

        return app
