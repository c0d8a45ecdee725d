"""Feed freshness from the ingest run log: the one definition of a *stale* feed.

A feed is stale when its last successful run (status ok, partial or
unchanged: the source answered and was read) is older than the feed's
maximum age, or when it has never succeeded. The wall's banner, the /data
page and `/healthz` all read `feed_freshness`, so they always agree.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models import settings
from models.tables import export_audit, ingest_run, reject
from models.vocab import ACUTE_SITREP_FEED, COMMUNITY_SITREP_FEED, HUB_CASES_FEED, REFERENCE_FEED, VACANCY_FEED

UTC = timezone.utc
SUCCESS_STATUSES = ("ok", "partial", "unchanged")

# How old a feed's last success may be before it is stale. Live feeds are
# pulled every few minutes, so two hours means several missed pulls, not one
# slow one; the published sitreps come monthly, so 45 days means a missed month.
DEFAULT_MAX_AGE: Mapping[str, timedelta] = {
    VACANCY_FEED: timedelta(hours=2),
    HUB_CASES_FEED: timedelta(hours=2),
    ACUTE_SITREP_FEED: timedelta(days=45),
    COMMUNITY_SITREP_FEED: timedelta(days=45),
}
# Feeds every deployment relies on: listed (as never loaded) even before their first run.
CORE_FEEDS: tuple[str, ...] = (VACANCY_FEED, HUB_CASES_FEED)
# Reference geography is loaded by hand when it changes; it is never "late".
UNTIMED_FEEDS: frozenset[str] = frozenset({REFERENCE_FEED})


@dataclass(frozen=True)
class FeedFreshness:
    feed: str
    last_success_at: datetime | None  # aware UTC
    last_run_at: datetime | None  # aware UTC, the latest run of any status
    last_status: str | None  # status of the latest run
    rows_loaded: int | None  # of the latest run
    rows_rejected: int | None
    age_seconds: float | None  # since the last success
    max_age_seconds: float
    stale: bool

    def to_json(self) -> dict[str, Any]:
        """The `/healthz` entry for this feed."""
        return {
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "last_status": self.last_status,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "max_age_seconds": self.max_age_seconds,
            "stale": self.stale,
        }


def _configured_max_ages() -> dict[str, timedelta]:
    """`max_age_minutes` per feed from the feeds file, where the deployment sets one."""
    path = settings.feeds_file()
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    feeds = doc.get("feeds", doc)
    out: dict[str, timedelta] = {}
    items = feeds.items() if isinstance(feeds, dict) else ((f.get("name"), f) for f in feeds if isinstance(f, dict))
    for name, spec in items:
        if isinstance(name, str) and isinstance(spec, dict) and isinstance(spec.get("max_age_minutes"), (int, float)):
            out[name] = timedelta(minutes=float(spec["max_age_minutes"]))
    return out


def max_age(feed: str, configured: Mapping[str, timedelta] | None = None) -> timedelta:
    configured = _configured_max_ages() if configured is None else configured
    return configured.get(feed) or DEFAULT_MAX_AGE.get(feed, timedelta(days=2))


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def feed_run_summary(engine: Engine) -> dict[str, Any]:
    """What freshness is computed from, as plain JSON (cacheable): per feed, the last success and
    the latest run (status, rows loaded and rejected, when it finished)."""
    r = ingest_run.c
    finished = sa.func.coalesce(r.finished_at, r.started_at)
    last_success = (sa.select(r.feed, sa.func.max(finished).label("at"))
                    .where(r.status.in_(SUCCESS_STATUSES)).group_by(r.feed).subquery())
    latest_id = sa.select(r.feed, sa.func.max(r.run_id).label("run_id")).group_by(r.feed).subquery()
    latest = (sa.select(r.feed, r.status, r.rows_loaded, r.rows_rejected, finished.label("at"))
              .join(latest_id, latest_id.c.run_id == r.run_id))
    with engine.connect() as conn:
        successes = {row.feed: _iso(row.at) for row in conn.execute(sa.select(last_success))}
        latest_runs = {row.feed: {"status": row.status, "rows_loaded": int(row.rows_loaded),
                                  "rows_rejected": int(row.rows_rejected), "at": _iso(row.at)}
                       for row in conn.execute(latest)}
    return {"successes": successes, "latest": latest_runs}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: str | None) -> datetime | None:
    return None if value is None else _aware(datetime.fromisoformat(value))


def freshness_from_summary(summary: Mapping[str, Any], now: datetime | None = None) -> dict[str, FeedFreshness]:
    """Every known feed (core feeds, plus any in the run log) with its freshness at `now`."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    successes: Mapping[str, str | None] = summary["successes"]
    latest_runs: Mapping[str, Mapping[str, Any]] = summary["latest"]
    configured = _configured_max_ages()
    names = [f for f in dict.fromkeys([*CORE_FEEDS, *sorted(latest_runs)]) if f not in UNTIMED_FEEDS]
    out: dict[str, FeedFreshness] = {}
    for feed in names:
        success = _from_iso(successes.get(feed))
        run = latest_runs.get(feed)
        limit = max_age(feed, configured)
        age = None if success is None else max(0.0, (now - success).total_seconds())
        out[feed] = FeedFreshness(
            feed=feed, last_success_at=success, last_run_at=_from_iso(run["at"]) if run else None,
            last_status=run["status"] if run else None,
            rows_loaded=int(run["rows_loaded"]) if run else None,
            rows_rejected=int(run["rows_rejected"]) if run else None,
            age_seconds=age, max_age_seconds=limit.total_seconds(),
            stale=age is None or age > limit.total_seconds(),
        )
    return out


def feed_freshness(engine: Engine, now: datetime | None = None) -> dict[str, FeedFreshness]:
    """Every known feed (core feeds, plus any in the run log) with its freshness at `now`."""
    return freshness_from_summary(feed_run_summary(engine), now)


def stale_feeds(engine: Engine, now: datetime | None = None) -> list[FeedFreshness]:
    return [f for f in feed_freshness(engine, now).values() if f.stale]


def recent_runs(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The ingest run log, newest first."""
    r = ingest_run.c
    stmt = (sa.select(r.run_id, r.feed, r.source, r.started_at, r.finished_at, r.status, r.rows_read,
                      r.rows_loaded, r.rows_rejected, r.error)
            .order_by(r.run_id.desc()).limit(limit))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def log_version(engine: Engine) -> str:
    """Changes whenever the run log, the rejected rows or the export audit trail change, so the
    /data page can cache what it reads from them (`data_version` ignores failed and unchanged
    runs and exports). A run is inserted with a new run_id when it starts (closing any run cut
    off before, in the same transaction) and gets its finished_at when it ends, in the transaction
    that writes its rejected rows; every export adds an export_id; none of them is ever deleted."""
    r = ingest_run.c
    stmt = sa.select(sa.select(sa.func.max(r.run_id)).scalar_subquery(),
                     sa.select(sa.func.count(r.finished_at)).scalar_subquery(),
                     sa.select(sa.func.max(export_audit.c.export_id)).scalar_subquery())
    with engine.connect() as conn:
        row = conn.execute(stmt).one()
    return "|".join("" if v is None else str(v) for v in row)


def recent_rejects(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The latest rejected rows with their reasons (values already masked by ingest)."""
    from models.access import current

    if not current().national:
        return []  # a rejected row may not name its HWB, so only a national scope sees them (models.access)
    j = reject.join(ingest_run, ingest_run.c.run_id == reject.c.run_id)
    stmt = (sa.select(reject.c.run_id, reject.c.feed, ingest_run.c.started_at, reject.c.row_number,
                      reject.c.field, reject.c.value, reject.c.reason)
            .select_from(j).order_by(reject.c.run_id.desc(), reject.c.row_number, reject.c.field).limit(limit))
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]
