"""`python app.py ingest FEED SOURCE [--json]`: run one feed once and print the run summary."""
from __future__ import annotations

import json
import sys

import duckdb

from ingest.base import RunSummary, run_feed
from ingest.pseudonym import scrub
from models.db import init_store
from models.progress import Stages


def format_summary(summary: RunSummary) -> str:
    text = (f"{summary.feed} from {summary.source}: {summary.status} — read {summary.rows_read}, "
            f"loaded {summary.rows_loaded}, rejected {summary.rows_rejected}")
    if summary.payload_sha256:
        text += f"\npayload sha256 {summary.payload_sha256}"
    if summary.error:
        text += f"\n{summary.error}"
    return text


def store_in_use(exc: BaseException) -> bool:
    """Is this DuckDB refusing the file because another process (the running server) holds its lock?"""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, duckdb.IOException) and "Could not set lock on file" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "orig", None)
    return False


def run_ingest_command(feed: str, source: str, as_json: bool) -> int:
    """Exit 0: all rows loaded or unchanged; 3: some rows rejected; 2: the whole delivery failed
    (or the store is held by the running server: one line says how to deliver instead)."""
    progress = Stages("ingest", 2)
    progress.stage("opening the store")
    try:
        engine = init_store()
    except Exception as exc:  # noqa: BLE001 - only the lock is answered here; anything else is raised
        if not store_in_use(exc):
            raise
        progress.close()
        print(f"the store is in use by the running server; deliver with POST /api/ingest/{feed} instead",
              file=sys.stderr)
        return 2
    progress.stage(f"reading and loading {feed}")
    try:
        summary = run_feed(engine, feed, source)
    except (FileNotFoundError, ValueError) as exc:
        summary = RunSummary(feed=feed, source=source, status="failed", error=scrub(str(exc)))
    finally:
        progress.close()
    print(json.dumps(summary.to_json()) if as_json else format_summary(summary), file=sys.stdout)
    return summary.exit_code
