"""`python app.py alerts check [--at T]` and the scheduler's evaluation job."""
from __future__ import annotations

import logging
import sys
from datetime import datetime

from sqlalchemy.engine import Engine

from alerts.delivery import deliver_due
from alerts.rules import AlertsConfigError, load_config
from alerts.states import NO_DATA_MEANING, Instance, evaluate

log = logging.getLogger("homeward.alerts")


def check(engine: Engine, at: datetime | None = None) -> tuple[list[Instance], list[dict[str, object]]]:
    """Evaluate every rule once and send what is due."""
    config = load_config()
    instances = evaluate(engine, config, at)
    return instances, deliver_due(engine, config, at)


def scheduled_check(engine: Engine) -> None:
    """The scheduler's job (every minute and after each successful ingest): never raises into the scheduler."""
    try:
        check(engine)
    except Exception:  # noqa: BLE001 - a bad rules file or a mail outage must not stop the scheduler
        log.exception("alerts check failed")


def run_check_command(at_text: str | None) -> int:
    from models.db import init_store
    from models.query import QueryError, parse_time

    try:
        at = parse_time("at", at_text) if at_text else None
    except QueryError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    try:
        load_config()
    except AlertsConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    instances, sent = check(init_store(), at)
    print(f"{'rule':24} {'scope':22} {'state':9} {'value':>10} {'threshold':>10}  since (UTC)")
    for i in sorted(instances, key=lambda i: i.instance_key):
        value = "" if i.value is None else f"{i.value:g}"
        threshold = "" if i.threshold is None else f"{i.threshold:g}"
        # no_data is never ok: say so in words, as the page and the notification do
        words = f"  {NO_DATA_MEANING}" if i.state == "no_data" else ""
        print(f"{i.rule:24} {i.scope:22} {i.state:9} {value or '-':>10} {threshold:>10}  "
              f"{i.since.isoformat(timespec='minutes')}{words}")
    for entry in sent:
        print(f"notification {entry['rule']} via {entry['channel']}: {entry['status']} "
              f"({entry.get('to') or entry.get('error')})")
    return 0
