"""Recordings are kept where the settings say, read back for the page, and expired safely.

The same contract runs on the local folder and on a Supabase Storage bucket (supabase-py's
storage client against a local double of Storage's HTTP API).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.recordings import (
    LocalRecordings,
    RecordingError,
    RecordingStore,
    open_recordings,
    recording_name,
)
from settings import load_settings
from tests.conftest import ROOT
from tests.db.storage_double import StorageDouble

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(36)


@pytest.fixture
def storage() -> Iterator[StorageDouble]:
    double = StorageDouble().start()
    yield double
    double.stop()


@pytest.fixture(params=["local", "supabase"])
def recordings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordingStore]:
    if request.param == "local":
        yield open_recordings(load_settings(recordings_dir=str(tmp_path / "recordings")))
        return
    double = StorageDouble().start()
    settings = load_settings(
        supabase_url=double.url, supabase_service_role_key=double.service_role_key
    )
    yield open_recordings(settings)
    double.stop()


def test_a_saved_recording_reads_back_by_its_url(recordings: RecordingStore) -> None:
    url = recordings.save(recording_name("pc_abc/../x"), WAV)

    assert url.startswith(("file://", "supabase-storage://recordings/"))
    assert recordings.read(url) == WAV
    assert recordings.save(recording_name("pc_abc/../x"), WAV + b"more") == url  # replaced
    assert recordings.read(url) == WAV + b"more"
    assert recordings.read(url.replace("pc_abc", "pc_other")) is None


def test_only_expired_recordings_are_deleted_and_a_rerun_changes_nothing(
    tmp_path: Path, storage: StorageDouble
) -> None:
    for store in (
        LocalRecordings(tmp_path / "rec"),
        open_recordings(
            load_settings(
                supabase_url=storage.url, supabase_service_role_key=storage.service_role_key
            )
        ),
    ):
        old_url = store.save("old.wav", WAV)
        new_url = store.save("new.wav", WAV)
        then = (datetime.now(UTC) - timedelta(days=100)).timestamp()
        if isinstance(store, LocalRecordings):
            os.utime(store.folder / "old.wav", (then, then))
        else:
            storage.buckets["recordings"]["old.wav"].updated_at = datetime.fromtimestamp(then, UTC)
        cutoff = datetime.now(UTC) - timedelta(days=90)

        assert store.expire(cutoff) == ["old.wav"]
        assert store.expire(cutoff) == []
        assert store.read(old_url) is None and store.read(new_url) == WAV


def test_supabase_recordings_go_to_a_private_bucket_created_once(storage: StorageDouble) -> None:
    settings = load_settings(
        supabase_url=storage.url, supabase_service_role_key=storage.service_role_key
    )
    store = open_recordings(settings)

    store.save("a.wav", WAV)
    store.save("b.wav", WAV)

    assert set(storage.buckets["recordings"]) == {"a.wav", "b.wav"}
    assert storage.buckets["recordings"]["a.wav"].content_type == "audio/wav"
    creates = [r for r in storage.requests if r == ("POST", "/storage/v1/bucket")]
    assert len(creates) == 1


def test_a_refused_upload_is_a_recording_error_naming_the_file(storage: StorageDouble) -> None:
    settings = load_settings(supabase_url=storage.url, supabase_service_role_key="wrong-key")

    with pytest.raises(RecordingError, match="x.wav"):
        open_recordings(settings).save("x.wav", WAV)


def test_python_m_db_expire_recordings_deletes_old_ones_and_is_safe_to_rerun(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "recordings"
    store = LocalRecordings(folder)
    store.save("old.wav", WAV)
    store.save("new.wav", WAV)
    then = (datetime.now(UTC) - timedelta(days=10)).timestamp()
    os.utime(folder / "old.wav", (then, then))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DISPATCH_ENV_FILE": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "RECORDINGS_DIR": str(folder),
        "RECORDING_RETENTION_DAYS": "7",
    }

    runs = [
        subprocess.run(
            [sys.executable, "-m", "db", "expire-recordings"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]

    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert "Deleted 1 recording(s) older than 7 days" in runs[0].stdout
    assert "Deleted 0 recording(s)" in runs[1].stdout
    assert sorted(p.name for p in folder.iterdir()) == ["new.wav"]
