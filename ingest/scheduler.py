"""Scheduled ingest: one job per configured feed, built from the feed configuration file.

The file (HOMEWARD_FEEDS, default feeds.toml) holds `[[feed]]` tables:

    [[feed]]
    name = "hub_north"            # unique job name
    kind = "hub_cases"            # vacancy | hub_cases | nhse_acute_sitrep | nhse_community_sitrep | reference
    source = "/srv/drop/hub"      # a folder or an http(s) URL
    interval_seconds = 300        # or: cron = "*/5 * * * *"
    hub_id = "north"              # hub_cases only: the hub for rows without one

Each job runs at most once at a time and missed runs coalesce; a failing feed
is recorded in the run log and never stops the others.
"""
from __future__ import annotations

import logging
import signal
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from ingest.base import record_failed, run_feed
from models import settings
from models.vocab import FEEDS as FEED_NAMES

log = logging.getLogger("homeward.scheduler")
DEMO_INTERVAL_S = 60


# Extra jobs wired in by app.py (alerts): each is given the scheduler and the store, adds its jobs and
# returns what to call after every successful ingest run. Ingest knows nothing more of them.
SchedulerHook = Callable[[BackgroundScheduler, Engine], Callable[[], None]]
HOOKS: list[SchedulerHook] = []


class FeedConfigError(ValueError):
    pass


@dataclass(frozen=True)
class FeedJob:
    name: str
    kind: str
    source: str
    interval_seconds: float | None = None
    cron: str | None = None
    hub_id: str | None = None


def read_feed_config(path: Path | None = None) -> list[FeedJob]:
    path = path or settings.feeds_file()
    if not path.exists():
        return []
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise FeedConfigError(f"{path}: {exc}") from None
    jobs: list[FeedJob] = []
    for i, entry in enumerate(data.get("feed", [])):
        where = f"{path}: feed {i + 1}"
        kind = entry.get("kind")
        if kind not in FEED_NAMES:
            raise FeedConfigError(f"{where}: kind must be one of {', '.join(FEED_NAMES)}, got {kind!r}")
        if not entry.get("source"):
            raise FeedConfigError(f"{where}: source is required")
        interval, cron = entry.get("interval_seconds"), entry.get("cron")
        if (interval is None) == (cron is None):
            raise FeedConfigError(f"{where}: give exactly one of interval_seconds or cron")
        if interval is not None and (not isinstance(interval, (int, float)) or interval <= 0):
            raise FeedConfigError(f"{where}: interval_seconds must be a positive number")
        jobs.append(FeedJob(name=str(entry.get("name") or f"{kind}-{i + 1}"), kind=kind, source=str(entry["source"]),
                            interval_seconds=float(interval) if interval is not None else None,
                            cron=str(cron) if cron is not None else None, hub_id=entry.get("hub_id")))
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise FeedConfigError(f"{path}: feed names must be unique")
    return jobs


def run_job(engine: Engine, job: FeedJob, after_success: tuple[Callable[[], None], ...] = ()) -> None:
    """One scheduled run; whatever happens is logged and recorded, never raised into the scheduler."""
    try:
        summary = run_feed(engine, job.kind, job.source, hub_id=job.hub_id)
        log.info("job %s: %s", job.name, summary.status)
        if summary.status in ("ok", "partial"):
            for call in after_success:
                call()
    except Exception as exc:  # noqa: BLE001
        log.exception("job %s failed", job.name)
        try:
            record_failed(engine, job.kind, job.source, f"{type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001 - the store itself is unreachable; the log line above stands
            log.exception("job %s: could not record the failure", job.name)


def _trigger(job: FeedJob) -> Any:
    if job.cron is not None:
        return CronTrigger.from_crontab(job.cron, timezone="Europe/London")
    return IntervalTrigger(seconds=job.interval_seconds or 60)


def build_scheduler(engine: Engine, jobs: list[FeedJob] | None = None) -> BackgroundScheduler:
    """A scheduler (not started) with one job per configured feed, plus the demo feeds when enabled."""
    jobs = list(read_feed_config() if jobs is None else jobs)
    scheduler = BackgroundScheduler(timezone="UTC")
    if settings.demo_enabled():
        from ingest.demo_live import start_live_feeds

        live = start_live_feeds(settings.data_dir())
        for feed, url in live.urls.items():
            if url:
                jobs.append(FeedJob(name=f"demo-{feed}", kind=feed, source=url, interval_seconds=DEMO_INTERVAL_S))
        scheduler.homeward_live_feeds = live  # stopped with the scheduler
    after_success = tuple(hook(scheduler, engine) for hook in HOOKS)
    for job in jobs:
        scheduler.add_job(run_job, trigger=_trigger(job), args=(engine, job, after_success), id=job.name, name=job.name,
                          max_instances=1, coalesce=True, misfire_grace_time=None,
                          next_run_time=_now())  # first run at start, then on schedule
    return scheduler


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def stop_scheduler(scheduler: BackgroundScheduler) -> None:
    scheduler.shutdown(wait=True)
    live = getattr(scheduler, "homeward_live_feeds", None)
    if live is not None:
        live.stop()


def run_blocking() -> None:
    """`python app.py scheduler`: run the jobs until SIGINT / SIGTERM."""
    from models.db import init_store

    engine = init_store()
    scheduler = build_scheduler(engine)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    log.info("scheduler running %d job(s)", len(scheduler.get_jobs()))
    try:
        stop.wait()
    finally:
        stop_scheduler(scheduler)
