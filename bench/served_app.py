"""An ASGI app served by uvicorn in a background thread: the in-process doubles of the
benchmarks and the tests (engine, TMS receiver, PostgREST, storage, chat completions) and the
voice server the tests talk to."""

from __future__ import annotations

import threading
import time
from typing import Any, Self

import uvicorn

from bench.processes import free_port


class ServedApp:
    """uvicorn serving `app` on 127.0.0.1 (a free port unless one is given) until `stop()`."""

    def __init__(self, app: Any, port: int = 0, what: str = "the app") -> None:
        self.port = port or free_port()
        self.what = what
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> Self:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.what} did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ServesApp:
    """A double whose `app()` is served: `start()` sets `url`, `stop()` ends it."""

    url: str
    what = "the double"

    def app(self) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        self._served = ServedApp(self.app(), what=self.what).start(timeout=10)
        self.url = self._served.url
        return self

    def stop(self) -> None:
        self._served.stop()
