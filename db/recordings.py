"""Where call recordings live: a local folder by default, a Supabase Storage bucket when Supabase
is configured (supabase-py's storage API). The bot saves each Pipecat call's WAV here and the
call row keeps its `recording_url`; the conversation page plays it; `python -m db
expire-recordings` deletes those older than RECORDING_RETENTION_DAYS (safe to rerun).

`recording_url` forms: `file:///abs/path.wav` (local folder), `supabase-storage://bucket/name`
(a private bucket: read with the service key), `https://...` (Retell's, played as is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from settings import ROOT, Settings

SUPABASE_SCHEME = "supabase-storage"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_LIST_PAGE = 1000


class RecordingError(RuntimeError):
    """A recording could not be saved, read or deleted (the message says where)."""


def recording_name(provider_call_id: str) -> str:
    """The file name for a call's recording: the call id, made safe for a path."""
    return _SAFE_NAME.sub("_", provider_call_id)[:120] + ".wav"


class RecordingStore(Protocol):
    def save(self, name: str, wav: bytes) -> str:
        """Store `wav` under `name` (replacing it); returns the call's `recording_url`."""
        ...

    def read(self, recording_url: str) -> bytes | None:
        """The recording's bytes, or None when it is not (or no longer) there."""
        ...

    def expire(self, older_than: datetime) -> list[str]:
        """Delete recordings last written before `older_than`; returns their names."""
        ...


@dataclass(frozen=True)
class LocalRecordings:
    folder: Path

    def save(self, name: str, wav: bytes) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        partial = path.with_suffix(".partial")
        partial.write_bytes(wav)
        partial.replace(path)  # a reader never sees half a file
        return path.resolve().as_uri()

    def read(self, recording_url: str) -> bytes | None:
        parsed = urlparse(recording_url)
        if parsed.scheme != "file":
            return None
        path = Path(unquote(parsed.path))
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def expire(self, older_than: datetime) -> list[str]:
        if not self.folder.is_dir():
            return []
        cutoff = older_than.timestamp()
        deleted = []
        for path in sorted(self.folder.glob("*.wav")):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted.append(path.name)
            except FileNotFoundError:
                continue  # deleted by a concurrent run: already done
        return deleted


class SupabaseRecordings:
    """A private Storage bucket, created on first save if missing."""

    def __init__(self, storage: Any, bucket: str) -> None:
        self._storage = storage  # supabase-py's SyncStorageClient
        self._bucket = bucket
        self._bucket_checked = False

    def _files(self) -> Any:
        return self._storage.from_(self._bucket)

    def _ensure_bucket(self) -> None:
        if self._bucket_checked:
            return
        from storage3.exceptions import StorageApiError

        try:
            self._storage.get_bucket(self._bucket)
        except StorageApiError:
            self._storage.create_bucket(self._bucket, options={"public": False})
        self._bucket_checked = True

    def save(self, name: str, wav: bytes) -> str:
        from storage3.exceptions import StorageApiError

        try:
            self._ensure_bucket()
            self._files().upload(name, wav, {"content-type": "audio/wav", "upsert": "true"})
        except StorageApiError as exc:
            raise RecordingError(f"Supabase Storage refused {name}: {exc.message}") from exc
        return f"{SUPABASE_SCHEME}://{self._bucket}/{name}"

    def read(self, recording_url: str) -> bytes | None:
        from storage3.exceptions import StorageApiError

        parsed = urlparse(recording_url)
        if parsed.scheme != SUPABASE_SCHEME or parsed.netloc != self._bucket:
            return None
        try:
            return self._files().download(parsed.path.lstrip("/"))
        except StorageApiError:
            return None

    def expire(self, older_than: datetime) -> list[str]:
        from storage3.exceptions import StorageApiError

        expired: list[str] = []
        offset = 0
        try:
            while True:
                page = self._files().list(
                    "", {"limit": _LIST_PAGE, "offset": offset, "sortBy": {"column": "name"}}
                )
                for item in page:
                    stamp = item.get("updated_at") or item.get("created_at")
                    if item.get("id") and stamp and _parse_time(stamp) < older_than:
                        expired.append(item["name"])
                if len(page) < _LIST_PAGE:
                    break
                offset += _LIST_PAGE
            for start in range(0, len(expired), 100):
                self._files().remove(expired[start : start + 100])
        except StorageApiError as exc:
            if getattr(exc, "status", None) in (404, "404"):
                return []  # no bucket yet: nothing was ever recorded
            raise RecordingError(f"Supabase Storage: {exc.message}") from exc
        return expired


def _parse_time(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def open_recordings(settings: Settings, *, http_client: Any = None) -> RecordingStore:
    """The recordings store these settings select (Supabase when configured, else a folder)."""
    if settings.supabase_url and settings.supabase_service_role_key:
        from supabase import ClientOptions, create_client

        options = ClientOptions(auto_refresh_token=False)
        if http_client is not None:
            options = ClientOptions(httpx_client=http_client, auto_refresh_token=False)
        client = create_client(
            settings.supabase_url, settings.supabase_service_role_key.get_secret_value(), options
        )
        return SupabaseRecordings(client.storage, settings.recordings_bucket)
    folder = Path(settings.recordings_dir)
    return LocalRecordings(folder if folder.is_absolute() else ROOT / folder)
