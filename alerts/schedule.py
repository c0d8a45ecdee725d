"""Alerts on the scheduler: the evaluation every minute and after each successful ingest run, the digests on
their crons. Given to the scheduler by app.py (`ingest.scheduler.HOOKS`)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from alerts.cli import scheduled_check
from alerts.rules import AlertsConfigError, load_config

log = logging.getLogger("homeward.alerts")
JOB_ID = "alerts-check"
EVERY_S = 60


def add_alert_jobs(scheduler: BaseScheduler, engine: Engine) -> Callable[[], None]:
    """Add the jobs; return what an ingest run calls when it succeeds: bring the check forward to now. The
    check runs in the scheduler's own thread, so mail or webhook trouble never holds ingest up."""
    scheduler.add_job(scheduled_check, trigger=IntervalTrigger(seconds=EVERY_S), args=(engine,), id=JOB_ID,
                      name=JOB_ID, max_instances=1, coalesce=True, misfire_grace_time=None)
    try:
        digests = load_config().digests
    except AlertsConfigError as exc:
        log.error("alerts: %s", exc)
        digests = ()
    for digest in digests:
        from alerts.digest import scheduled_digest

        scheduler.add_job(scheduled_digest, trigger=CronTrigger.from_crontab(digest.cron, timezone="Europe/London"),
                          args=(engine, digest.name), id=f"digest-{digest.name}", name=f"digest-{digest.name}",
                          max_instances=1, coalesce=True)

    def after_ingest() -> None:
        try:
            scheduler.modify_job(JOB_ID, next_run_time=datetime.now(timezone.utc))
        except Exception:  # noqa: BLE001 - the scheduler is stopping
            log.debug("alerts: could not bring the check forward", exc_info=True)

    return after_ingest
