"""The app's processes as the benchmarks and the tests run them: a free port, the Procfile's
command lines, waiting until a process answers, and stopping it."""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from settings import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_command(name: str, port: int) -> list[str]:
    """The Procfile line `name`, with this venv's executables and `port` for its ${...:-N}."""
    line = next(
        line.split(":", 1)[1]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith(f"{name}:")
    )
    words = shlex.split(line)
    words[0] = str(Path(sys.executable).parent / Path(words[0]).name)
    return [str(port) if word.startswith("${") else word for word in words]


def wait_until_up(
    url: str,
    process: subprocess.Popen[bytes] | None = None,
    what: str = "the server",
    timeout: float = 60,
) -> None:
    """Until `url` answers 200; fails at once when `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url}")


def stop(*processes: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Terminate them all, then kill any that has not exited within `timeout`."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
