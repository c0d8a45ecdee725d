"""Where deliveries come from: a file, a folder of files, or an http(s) URL.

Folder: every file directly in it is a new delivery (oldest first); once its
run is recorded it moves to `processed/`, or to `failed/` if it could not be
used. Files being written should be named with a leading dot or end in
`.part` / `.tmp`: they are skipped until renamed. A file is taken only once it
has settled (unchanged for HOMEWARD_SETTLE_SECONDS: its modification time is
that old, and any write, which changes the size, moves it on), so a file still
being copied in is left for a later run. A file in `failed/` that changes after
it failed (the hub was still writing it, or put a corrected copy there) is tried
again once it settles: the size and time it failed with are kept in
`failed/.failed.json`.

URL: timeouts, retries with back-off, and a conditional GET. The ETag and
Last-Modified of the last delivery that went in are remembered per feed and
URL in `<data dir>/http_validators.json`.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from models import settings

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0
RETRIES = 3
BACKOFF_S = 0.5  # 0.5 s, 1 s, 2 s between attempts
_SKIP_SUFFIXES = (".part", ".tmp", ".partial")
_validators_lock = threading.Lock()


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


_FAILED_RECORD = ".failed.json"


def _is_delivery(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and not path.name.endswith(_SKIP_SUFFIXES)


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _failed_seen(failed_dir: Path) -> dict[str, list[int]]:
    try:
        data = json.loads((failed_dir / _FAILED_RECORD).read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_failed_seen(failed_dir: Path, seen: dict[str, list[int]]) -> None:
    tmp = failed_dir / (_FAILED_RECORD + ".tmp")
    tmp.write_text(json.dumps(seen, sort_keys=True), "utf-8")
    os.replace(tmp, failed_dir / _FAILED_RECORD)


def new_files(folder: Path, settle_seconds: float | None = None) -> list[Path]:
    """The settled deliveries in `folder`, and those in its `failed/` that changed since they failed."""
    settle = settings.settle_seconds() if settle_seconds is None else settle_seconds
    candidates = [p for p in folder.iterdir() if _is_delivery(p)]
    failed_dir = folder / "failed"
    if failed_dir.is_dir():
        seen = _failed_seen(failed_dir)
        candidates += [p for p in failed_dir.iterdir() if _is_delivery(p) and seen.get(p.name) != _stamp(p)]
    now = time.time()
    settled = [p for p in candidates if now - p.stat().st_mtime >= settle]
    return sorted(settled, key=lambda p: (p.stat().st_mtime, p.name))


def move_done(path: Path, *, failed: bool, folder: Path | None = None) -> Path:
    """Move a delivery of drop folder `folder` (default: its own folder) to processed/ or failed/."""
    folder = folder if folder is not None else path.parent
    target_dir = folder / ("failed" if failed else "processed")
    target_dir.mkdir(exist_ok=True)
    failed_dir = folder / "failed"
    seen = _failed_seen(failed_dir) if failed_dir.is_dir() else {}
    if path.parent == target_dir:  # a retried failure failing again stays where it is
        target = path
    else:
        target = target_dir / path.name
        if target.exists():  # the same name delivered again: keep both
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            target = target_dir / f"{path.stem}.{stamp}{path.suffix}"
        os.replace(path, target)
    if path.parent == failed_dir:
        seen.pop(path.name, None)
    if failed:
        seen[target.name] = _stamp(target)
    if failed or path.parent == failed_dir:
        _write_failed_seen(failed_dir, seen)
    return target


@dataclass(frozen=True)
class Fetched:
    not_modified: bool
    payload: bytes
    fetched_at: datetime  # naive UTC
    etag: str | None
    last_modified: str | None


def _validators_path() -> Path:
    return settings.data_dir() / "http_validators.json"


def _read_validators() -> dict[str, dict[str, str]]:
    path = _validators_path()
    try:
        data = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def remember_validators(feed: str, url: str, etag: str | None, last_modified: str | None) -> None:
    with _validators_lock:
        data = _read_validators()
        key = f"{feed} {url}"
        entry = {k: v for k, v in (("etag", etag), ("last_modified", last_modified)) if v}
        if entry:
            data[key] = entry
        else:
            data.pop(key, None)
        path = _validators_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, path)


def _session() -> requests.Session:
    retry = Retry(total=RETRIES, connect=RETRIES, read=RETRIES, status=RETRIES, backoff_factor=BACKOFF_S,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                  respect_retry_after_header=True)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch_url(feed: str, url: str) -> Fetched:
    remembered = _read_validators().get(f"{feed} {url}", {})
    headers = {"User-Agent": "Homeward ingest"}
    if remembered.get("etag"):
        headers["If-None-Match"] = remembered["etag"]
    if remembered.get("last_modified"):
        headers["If-Modified-Since"] = remembered["last_modified"]
    with _session() as session:
        response = session.get(url, headers=headers, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    fetched_at = datetime.now(timezone.utc).replace(tzinfo=None)
    if response.status_code == 304:
        return Fetched(True, b"", fetched_at, remembered.get("etag"), remembered.get("last_modified"))
    response.raise_for_status()
    return Fetched(False, response.content, fetched_at,
                   response.headers.get("ETag"), response.headers.get("Last-Modified"))
