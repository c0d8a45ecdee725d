"""`python app.py ingest FEED SOURCE [--json]`: run one feed once and print the run summary."""
from __future__ import annotations

import json
import sys

from ingest.base import RunSummary, run_feed
from ingest.pseudonym import scrub
from models.db import init_store


def format_summary(summary: RunSummary) -> str:
    text = (f"{summary.feed} from {summary.source}: {summary.status} — read {summary.rows_read}, "
            f"loaded {summary.rows_loaded}, rejected {summary.rows_rejected}")
    if summary.payload_sha256:
        text += f"\npayload sha256 {summary.payload_sha256}"
    if summary.error:
        text += f"\n{summary.error}"
    return text


def run_ingest_command(feed: str, source: str, as_json: bool) -> int:
    """Exit 0: all rows loaded or unchanged; 3: some rows rejected; 2: the whole delivery failed."""
    engine = init_store()
    try:
        summary = run_feed(engine, feed, source)
    except (FileNotFoundError, ValueError) as exc:
        summary = RunSummary(feed=feed, source=source, status="failed", error=scrub(str(exc)))
    print(json.dumps(summary.to_json()) if as_json else format_summary(summary), file=sys.stdout)
    return summary.exit_code
