"""A local OpenAI-compatible Chat Completions server that streams SSE, for OpenAIPolicy tests.

Served by uvicorn on a free port in a background thread. The requested `model` picks the
behaviour, so one server covers every case:
- "talk": two sentences in small chunks, no tool call;
- "finish": a confirmation and an `end_call` tool call streamed in fragments;
- "transfer": a sentence and a `transfer_to_dispatcher` tool call;
- "silent-transfer": only the tool call, no text;
- "slow": waits `slow_secs` before the first chunk;
- "fail": HTTP 500;  "garbage": a chunk that is not JSON;
- "drop": one sentence, then the connection is cut before [DONE].
Every request body and Authorization header is recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.served_app import ServedApp


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "double",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def _tool_call(name: str, arguments: str) -> list[str]:
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": name}}
    first["function"]["arguments"] = ""
    half = len(arguments) // 2
    return [
        _chunk({"tool_calls": [first]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]}),
    ]


def _words(text: str) -> list[str]:
    pieces = text.split(" ")
    return [
        _chunk({"content": p + (" " if i < len(pieces) - 1 else "")}) for i, p in enumerate(pieces)
    ]


class ChatCompletionsDouble:
    def __init__(self, slow_secs: float = 2.0) -> None:
        self.slow_secs = slow_secs
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])]
        )
        self._served: ServedApp | None = None

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        model = body.get("model")
        if model == "fail":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=500)
        return StreamingResponse(self._events(model), media_type="text/event-stream")

    async def _events(self, model: str) -> AsyncIterator[str]:
        if model == "slow":
            await asyncio.sleep(self.slow_secs)
        script: list[str]
        if model == "garbage":
            script = ["data: {not json\n\n"]
        elif model == "finish":
            script = _words("Got it, I have you on I-40 near Amarillo. Drive safe.")
            script += _tool_call("end_call", '{"reason": "check-in complete"}')
        elif model in ("transfer", "silent-transfer"):
            script = [] if model == "silent-transfer" else _words("Okay, stay where you are.")
            script += _tool_call("transfer_to_dispatcher", '{"emergency_type": "Breakdown"}')
        elif model == "drop":
            script = _words("Thanks for the update. What's your")
        else:
            script = _words("Thanks for the update. What's your ETA to Phoenix?")
        for event in script:
            yield event
            await asyncio.sleep(0.001)
        if model == "drop":
            raise ConnectionResetError("the upstream went away mid-answer")
        yield _chunk({}, finish="stop")
        yield "data: [DONE]\n\n"

    def start(self, port: int) -> str:
        self._served = ServedApp(self.app, port, "the chat completions double").start(timeout=10)
        return f"{self._served.url}/v1"

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()


def running_double(
    port: int, slow_secs: float = 2.0
) -> Iterator[tuple[ChatCompletionsDouble, str]]:
    double = ChatCompletionsDouble(slow_secs=slow_secs)
    url = double.start(port)
    try:
        yield double, url
    finally:
        double.stop()
