"""The feed road: fetch → land raw → validate → load (one transaction) → record the run.

Every feed goes through `run_feed`. The run row is written as `running` in its
own transaction first, so a crash leaves a trace; the data, the rejects and the
run's final status then commit together, so a crash (even `kill -9`) mid-load
leaves the store as it was and the same delivery can simply be run again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ingest import bulk, sources
from ingest.feed import Feed, FeedContext, Kept, LoadResult, Reject
from ingest.feeds import get_feed
from ingest.formats import UnreadableDelivery
from ingest.pseudonym import scrub
from models import settings
from models.db import next_id
from models.tables import ingest_run, raw_payload, run_id_seq
from models.vocab import REFERENCE_FEED

log = logging.getLogger("homeward.ingest")


class ScrubNhsNumbers(logging.Filter):
    """Masks NHS-number-like runs in a record's message and traceback before any handler writes it:
    a source's name, an error or a library's message can quote one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


for _name in ("homeward.ingest", "homeward.scheduler"):
    logging.getLogger(_name).addFilter(ScrubNhsNumbers())

__all__ = ["Feed", "FeedContext", "Kept", "LoadResult", "Reject", "RunSummary", "run_delivery", "run_feed"]

STATUS_RANK = {"unchanged": 0, "ok": 1, "partial": 2, "failed": 3}
EXIT_CODES = {"unchanged": 0, "ok": 0, "partial": 3, "failed": 2}


def utc_now() -> datetime:
    """Naive UTC, as the store keeps every time."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class RunSummary:
    feed: str
    source: str
    status: str  # ok | partial | failed | unchanged
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    payload_sha256: str | None = None
    error: str | None = None
    run_id: int | None = None
    parts: list["RunSummary"] = field(default_factory=list)  # one per file when the source is a folder

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        return {"feed": self.feed, "source": scrub(self.source), "status": self.status,
                "rows_read": self.rows_read, "rows_loaded": self.rows_loaded,
                "rows_rejected": self.rows_rejected, "payload_sha256": self.payload_sha256,
                "error": self.error}


# --- the run log -----------------------------------------------------------

def last_success_sha(conn: Connection, feed: str) -> str | None:
    row = conn.execute(
        sa.select(ingest_run.c.payload_sha256)
        .where(ingest_run.c.feed == feed, ingest_run.c.status.in_(("ok", "partial", "unchanged")),
               ingest_run.c.payload_sha256.is_not(None))
        .order_by(ingest_run.c.run_id.desc()).limit(1)).first()
    return None if row is None else str(row[0])


def start_run(engine: Engine, feed: str, source: str, sha: str | None) -> int:
    with engine.begin() as conn:
        # A run still `running` for this feed was cut off (the scheduler never runs a feed
        # twice at once), so it is closed as failed for the run log to read true.
        conn.execute(ingest_run.update()
                     .where(ingest_run.c.feed == feed, ingest_run.c.status == "running")
                     .values(status="failed", finished_at=utc_now(),
                             error="interrupted: the process stopped before the run finished"))
        run_id = next_id(conn, run_id_seq)
        conn.execute(ingest_run.insert().values(
            run_id=run_id, feed=feed, source=scrub(source), started_at=utc_now(), status="running",
            rows_read=0, rows_loaded=0, rows_rejected=0, payload_sha256=sha))
    return run_id


def finish_run(conn: Connection, summary: RunSummary) -> None:
    conn.execute(ingest_run.update().where(ingest_run.c.run_id == summary.run_id).values(
        finished_at=utc_now(), status=summary.status, rows_read=summary.rows_read,
        rows_loaded=summary.rows_loaded, rows_rejected=summary.rows_rejected,
        payload_sha256=summary.payload_sha256, error=summary.error))


def record_unchanged(engine: Engine, feed: str, source: str, sha: str | None, note: str | None = None) -> RunSummary:
    with engine.begin() as conn:
        run_id = next_id(conn, run_id_seq)
        now = utc_now()
        conn.execute(ingest_run.insert().values(
            run_id=run_id, feed=feed, source=scrub(source), started_at=now, finished_at=now, status="unchanged",
            rows_read=0, rows_loaded=0, rows_rejected=0, payload_sha256=sha, error=note))
    log.info("feed %s: %s unchanged", feed, source)
    return RunSummary(feed=feed, source=source, status="unchanged", payload_sha256=sha, run_id=run_id, error=note)


def record_failed(engine: Engine, feed: str, source: str, error: str) -> RunSummary:
    run_id = start_run(engine, feed, source, None)
    summary = RunSummary(feed=feed, source=source, status="failed", error=scrub(error)[:2000], run_id=run_id)
    with engine.begin() as conn:
        finish_run(conn, summary)
    log.warning("feed %s: %s failed: %s", feed, source, summary.error)
    return summary


# --- landing the raw payload -------------------------------------------------

def land_raw(engine: Engine, feed: str, sha: str, kept: Kept, ext: str, pseudonymised: bool) -> Path:
    """Keep the payload under data/raw/<feed>/<sha[:2]>/<sha>.<ext>; addressed by the original bytes' hash."""
    relative = Path("raw") / feed / sha[:2] / f"{sha}.{ext}"
    path = settings.data_dir() / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        with tmp.open("wb") as fh:
            for block in [kept] if isinstance(kept, bytes) else kept:
                fh.write(block)
        os.replace(tmp, path)  # never a half-written copy under the final name
    with engine.begin() as conn:
        exists = conn.execute(sa.select(raw_payload.c.sha256).where(raw_payload.c.sha256 == sha)).first()
        if exists is None:
            conn.execute(raw_payload.insert().values(
                sha256=sha, feed=feed, path=str(relative), size_bytes=path.stat().st_size,
                pseudonymised=pseudonymised, first_seen_at=utc_now()))
    return path


# --- one delivery ------------------------------------------------------------

def _write_rejects(conn: Connection, feed: str, run_id: int, rejects: pa.Table | Sequence[Any]) -> None:
    if isinstance(rejects, pa.Table):
        if rejects.num_rows == 0:
            return
        bulk.stage(conn, "stage_reject", rejects)
        conn.execute(sa.text(
            "INSERT INTO reject (run_id, feed, row_number, field, value, reason) "
            "SELECT :run_id, :feed, row_no, field, value, reason FROM stage_reject"),
            {"run_id": run_id, "feed": feed})
        bulk.drop_stage(conn, "stage_reject")
        return
    rows = [{"run_id": run_id, "feed": feed, "row_number": int(r.row_number), "field": str(r.field),
             "value": None if r.value is None else scrub(str(r.value)), "reason": scrub(str(r.reason))}
            for r in rejects]
    if rows:
        from models.tables import reject

        conn.execute(reject.insert(), rows)


def run_delivery(engine: Engine, feed_impl: Feed, payload: bytes, ctx: FeedContext) -> RunSummary:
    sha = hashlib.sha256(payload).hexdigest()
    with engine.connect() as conn:
        if last_success_sha(conn, ctx.feed) == sha:
            return record_unchanged(engine, ctx.feed, ctx.source, sha)
    run_id = start_run(engine, ctx.feed, ctx.source, sha)
    summary = RunSummary(feed=ctx.feed, source=ctx.source, status="failed", payload_sha256=sha, run_id=run_id)
    try:
        try:
            parsed = feed_impl.parse(payload, ctx)
        except BaseException:
            # The payload as far as it can be kept (masked), for the failure to be looked into.
            land_raw(engine, ctx.feed, sha, *feed_impl.kept_copy(payload, None))
            raise
        kept = feed_impl.kept_copy(payload, parsed)
        # The bytes are not needed any more; and `load` receives the only reference to the parsed delivery
        # (but for the kept copy's), so it can let it go once checked: a large delivery is held once, not thrice.
        payload = b""
        handed = [parsed]
        del parsed
        # The raw copy is written while the delivery is checked and loaded (a large copy is made as it
        # is written, mostly Arrow's and the disk's work; checking is DuckDB's: on two cores they overlap).
        # The load commits only once the copy has landed, so a run that fails to keep its copy loads nothing.
        with ThreadPoolExecutor(1, thread_name_prefix="land-raw") as landing, engine.begin() as conn:
            landed = landing.submit(land_raw, engine, ctx.feed, sha, *kept)
            del kept
            try:
                result = feed_impl.load(conn, handed.pop(), run_id, ctx)
            except BaseException:
                wait([landed])  # the copy is kept whatever became of the load; the load's error is the run's
                raise
            landed.result()  # a copy that failed to land fails the run
            _write_rejects(conn, ctx.feed, run_id, result.rejects)
            summary.rows_read, summary.rows_loaded = result.rows_read, result.rows_loaded
            summary.rows_rejected = result.rows_rejected
            problems = [scrub(p) for p in result.problems]
            summary.status = "partial" if (result.rows_rejected or problems) else "ok"
            summary.error = "; ".join(problems) or None
            finish_run(conn, summary)
    except UnreadableDelivery as exc:
        summary.status, summary.error = "failed", scrub(str(exc))
        summary.rows_read = summary.rows_loaded = summary.rows_rejected = 0
        with engine.begin() as conn:
            finish_run(conn, summary)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded in the run log, never lost
        log.exception("feed %s: load failed", ctx.feed)
        summary.status, summary.error = "failed", scrub(f"{type(exc).__name__}: {exc}")[:2000]
        summary.rows_read = summary.rows_loaded = summary.rows_rejected = 0
        with engine.begin() as conn:
            finish_run(conn, summary)
    log.info("feed %s: %s %s read=%d loaded=%d rejected=%d%s", ctx.feed, ctx.source, summary.status,
             summary.rows_read, summary.rows_loaded, summary.rows_rejected,
             f" error={summary.error}" if summary.error else "")
    return summary


# --- a source: file, folder or URL -------------------------------------------------

def combine(feed: str, source: str, parts: list[RunSummary]) -> RunSummary:
    """One summary for a folder of deliveries: counts add up, the worst status stands."""
    if not parts:
        return RunSummary(feed=feed, source=source, status="unchanged", error="no new files")
    worst = max(parts, key=lambda p: STATUS_RANK[p.status])
    errors = [f"{Path(p.source).name}: {p.error}" for p in parts if p.error]
    return RunSummary(
        feed=feed, source=source, status=worst.status,
        rows_read=sum(p.rows_read for p in parts), rows_loaded=sum(p.rows_loaded for p in parts),
        rows_rejected=sum(p.rows_rejected for p in parts), payload_sha256=parts[-1].payload_sha256,
        error="; ".join(errors) or None, run_id=parts[-1].run_id, parts=parts)


def run_feed(engine: Engine, feed: str, source: str, *, hub_id: str | None = None) -> RunSummary:
    """Run `feed` once from `source` (a file, a folder of deliveries, or an http(s) URL)."""
    if feed == REFERENCE_FEED:
        return run_reference(engine, source)
    feed_impl = get_feed(feed)
    if sources.is_url(source):
        try:
            fetched = sources.fetch_url(feed, source)
        except Exception as exc:  # noqa: BLE001 - after the retries: the run log says why
            return record_failed(engine, feed, source, f"fetch failed: {type(exc).__name__}: {exc}")
        if fetched.not_modified:
            with engine.connect() as conn:
                sha = last_success_sha(conn, feed)
            return record_unchanged(engine, feed, source, sha, note="not modified (HTTP 304)")
        ctx = FeedContext(feed=feed, source=source, fetched_at=fetched.fetched_at, hub_id=hub_id)
        summary = run_delivery(engine, feed_impl, fetched.payload, ctx)
        if summary.status != "failed":
            # Only once the delivery is safely in: a remembered ETag would otherwise hide it for good.
            sources.remember_validators(feed, source, fetched.etag, fetched.last_modified)
        return summary
    path = Path(source)
    if path.is_dir():
        parts: list[RunSummary] = []
        for delivery in sources.new_files(path):
            ctx = FeedContext(feed=feed, source=str(delivery), fetched_at=utc_now(), hub_id=hub_id)
            part = run_delivery(engine, feed_impl, delivery.read_bytes(), ctx)
            sources.move_done(delivery, failed=part.status == "failed", folder=path)
            parts.append(part)
        return combine(feed, source, parts)
    if not path.is_file():
        raise FileNotFoundError(f"no such file, folder or URL: {source}")
    path = path.resolve()
    ctx = FeedContext(feed=feed, source=str(path), fetched_at=utc_now(), hub_id=hub_id)
    return run_delivery(engine, feed_impl, path.read_bytes(), ctx)


def run_reference(engine: Engine, source: str) -> RunSummary:
    """Reload the shipped reference geography; the source names where it came from, for the log."""
    from models import geography

    run_id = start_run(engine, REFERENCE_FEED, source, None)
    summary = RunSummary(feed=REFERENCE_FEED, source=source, status="ok", run_id=run_id)
    try:
        geography.load_reference(engine)
    except Exception as exc:  # noqa: BLE001
        summary.status, summary.error = "failed", scrub(f"{type(exc).__name__}: {exc}")
    with engine.begin() as conn:
        finish_run(conn, summary)
    return summary


def summary_json(summary: RunSummary) -> str:
    return json.dumps(summary.to_json())
