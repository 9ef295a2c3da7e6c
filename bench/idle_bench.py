"""What an idle `make run` costs: `python -m bench.idle_bench [--secs 60]`.

Starts the Procfile's `web` and `voice` lines as `make run` does (a seeded SQLite file), lets
them sit idle, and reads the CPU time both processes used from /proc: first with nobody
looking, then with one browser tab open on the dashboard (whose live figures refresh every
10 s). The baseline, in the same run, is the same start with Streamlit's file watcher switched
back on (`STREAMLIT_SERVER_FILE_WATCHER_TYPE=auto`, as before `make run` turned it off). Run it
in a checkout holding its `.venv`, as `make run` leaves it: that is what the watcher walked.
Prints % of one core and the ratio to the baseline (target: idle under 2% of one core).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.processes import free_port, procfile_command, stop, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid: int) -> float:
    """User + system CPU of the process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def idle_cpu(database_url: str, secs: float, watcher: str | None) -> dict[str, float]:
    """% of one core each process used while idle: nobody looking, then a tab on the app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["DATABASE_URL"] = database_url
    if watcher:
        env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = watcher
    web_port, voice_port = free_port(), free_port()
    env["VOICE_SERVER_URL"] = f"http://127.0.0.1:{voice_port}"
    quiet = {"cwd": ROOT, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = {
        "web": subprocess.Popen(procfile_command("web", web_port), **quiet),
        "voice": subprocess.Popen(procfile_command("voice", voice_port), **quiet),
    }
    try:
        wait_until_up(f"http://127.0.0.1:{web_port}/_stcore/health")
        wait_until_up(f"http://127.0.0.1:{voice_port}/healthz")
        time.sleep(5)
        result = {}
        before = {name: cpu_secs(p.pid) for name, p in processes.items()}
        started = time.monotonic()
        time.sleep(secs)
        elapsed = time.monotonic() - started
        for name, p in processes.items():
            result[f"{name}, nobody looking"] = 100 * (cpu_secs(p.pid) - before[name]) / elapsed
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{web_port}")
            page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=120_000)
            time.sleep(5)  # let start-up work (imports, caches, first queries) settle
            before = {name: cpu_secs(p.pid) for name, p in processes.items()}
            started = time.monotonic()
            time.sleep(secs)
            elapsed = time.monotonic() - started
            for name, p in processes.items():
                used = cpu_secs(p.pid) - before[name]
                result[f"{name}, dashboard open"] = 100 * used / elapsed
            browser.close()
        return result
    finally:
        stop(*processes.values(), timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secs", type=float, default=60.0, help="idle seconds measured per run")
    parser.add_argument("--calls", type=int, default=2000, help="demo calls seeded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/idle.db"
        env = {**os.environ, "DATABASE_URL": database_url}
        subprocess.run([sys.executable, "-m", "db", "migrate"], cwd=ROOT, env=env, check=True)
        seed = [sys.executable, "-m", "db", "seed", "--calls", str(args.calls), "--quiet"]
        subprocess.run(seed, cwd=ROOT, env=env, check=True)
        baseline = idle_cpu(database_url, args.secs, watcher="auto")
        configured = idle_cpu(database_url, args.secs, watcher=None)
    print(f"Idle CPU, % of one core over {args.secs:.0f} s (checkout: {ROOT})")
    for name in configured:
        ratio = configured[name] / baseline[name] if baseline[name] else float("nan")
        print(
            f"  {name:24s} as make run starts it {configured[name]:5.2f}%   "
            f"watcher on (baseline) {baseline[name]:5.2f}%   ratio {ratio:.2f}"
        )
    for when in ("nobody looking", "dashboard open"):
        total = sum(v for k, v in configured.items() if k.endswith(when))
        print(f"  both processes, {when}: {total:.2f}% of one core (target < 2%)")


if __name__ == "__main__":
    main()
