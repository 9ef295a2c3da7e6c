"""The committed build of the call widget is what its pinned sources build to.

Streamlit serves `ui/call_widget/build/` as it is (a fresh `make run` needs no Node), so a change
to `ui/call_widget/frontend/` without `make widget` would ship stale JavaScript. This rebuilds
the sources from the lockfile (`npm ci`: the npm registry only) in a scratch copy and compares
every file byte for byte. `make test` installs npm (Debian) when it is missing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

WIDGET = ROOT / "ui" / "call_widget"
SOURCES = ("package.json", "package-lock.json", "vite.config.js", "index.html", "src")


def digests(build: Path) -> dict[str, str]:
    return {
        str(path.relative_to(build)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(build.rglob("*"))
        if path.is_file()
    }


@pytest.mark.skipif(
    shutil.which("npm") is None, reason="npm is not installed (make test installs it)"
)
def test_the_committed_widget_build_is_what_the_sources_build_to(tmp_path: Path) -> None:
    frontend = tmp_path / "frontend"
    frontend.mkdir()
    for name in SOURCES:
        source = WIDGET / "frontend" / name
        if source.is_dir():
            shutil.copytree(source, frontend / name)
        else:
            shutil.copy2(source, frontend / name)

    def run(*command: str) -> None:
        done = subprocess.run(command, cwd=frontend, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"

    run("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
    run("npm", "run", "build")

    rebuilt = digests(tmp_path / "build")
    assert rebuilt, "the build produced no files"
    assert digests(WIDGET / "build") == rebuilt, "ui/call_widget/build is stale: run `make widget`"
