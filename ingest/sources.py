"""Where deliveries come from: a file, a folder of files, or an http(s) URL.

Folder: every file directly in it is a new delivery (oldest first); once its
run is recorded it moves to `processed/`, or to `failed/` if it could not be
used. Files being written should be named with a leading dot or end in
`.part` / `.tmp`: they are skipped until renamed.

URL: timeouts, retries with back-off, and a conditional GET. The ETag and
Last-Modified of the last delivery that went in are remembered per feed and
URL in `<data dir>/http_validators.json`.
"""
from __future__ import annotations

import json
import os
import threading
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


def new_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_SKIP_SUFFIXES)]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def move_done(path: Path, *, failed: bool) -> Path:
    target_dir = path.parent / ("failed" if failed else "processed")
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():  # the same name delivered again: keep both
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = target_dir / f"{path.stem}.{stamp}{path.suffix}"
    os.replace(path, target)
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
