"""A local HTTP server answering like Retell's API, for retell-sdk pointed at it (RETELL_BASE_URL).

It answers the two endpoints the voice server uses with Retell's response shapes, records every
request (method, path, headers, JSON body), and can be told to fail the next request with a
status and Retell's error body.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class RetellApiDouble:
    requests: list[RecordedRequest] = field(default_factory=list)
    fail_with: tuple[int, str] | None = None
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # call_id -> call object

    def start(self) -> RetellApiDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                double.requests.append(RecordedRequest("POST", self.path, headers, body))
                self.reply(*double.answer(self.path, body))

            def do_GET(self) -> None:  # noqa: N802
                headers = {k.lower(): v for k, v in self.headers.items()}
                double.requests.append(RecordedRequest("GET", self.path, headers, {}))
                call = double.calls.get(self.path.removeprefix("/v2/get-call/"))
                self.reply(*((200, call) if call else (404, {"message": "Call not found"})))

            def reply(self, status: int, answer: dict[str, Any]) -> None:
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.fail_with is not None:
            status, message = self.fail_with
            return status, {"status": "error", "message": message}
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        common = {
            "call_id": call_id,
            "agent_id": body.get("agent_id") or body.get("override_agent_id"),
            "agent_version": 1,
            "call_status": "registered",
            "metadata": body.get("metadata"),
            "retell_llm_dynamic_variables": body.get("retell_llm_dynamic_variables"),
        }
        if path == "/v3/create-web-call":
            web_call = {**common, "call_type": "web_call", "access_token": f"eyJ.test.{call_id}"}
            self.calls[call_id] = web_call
            return 201, web_call
        if path == "/v2/create-phone-call":
            phone_call = {
                **common,
                "call_type": "phone_call",
                "direction": "outbound",
                "from_number": body["from_number"],
                "to_number": body["to_number"],
            }
            self.calls[call_id] = phone_call
            return 201, phone_call
        return 404, {"status": "error", "message": f"no route {path}"}
