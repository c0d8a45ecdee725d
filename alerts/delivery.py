"""Sending what is due, exactly once across processes.

Each due notification is claimed by a conditional update (`status` and `attempts` as read → `sending`,
with this process's id): of several web workers or a restarted scheduler only one gets each row. The
claimed rows are grouped per rule and channel — one message per group — and marked `sent`, or `failed`
with a later `next_attempt_at` (back-off doubling from a minute up to an hour). A claim left `sending` by a
process that died is taken again after CLAIM_TIMEOUT.
"""
from __future__ import annotations

import html
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.channels import DeliveryError, post_webhook, send_email, teams_payload
from alerts.rules import AlertsConfig, Rule, parse_scope
from alerts.states import NO_DATA_MEANING, lost_race, store_time
from models.formatting import format_value
from models.metrics import REGISTRY
from models.periods import LONDON
from models.tables import alert_instance, alert_notification

log = logging.getLogger("homeward.alerts")
UTC = timezone.utc
CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)
WORKER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
PAGE_OF_GROUP = {"Capacity": "/capacity", "Flow": "/flow", "Delays": "/delays", "Outcomes": "/outcomes"}


@dataclass(frozen=True)
class Item:
    """One claimed notification with what its message says."""
    instance_key: str
    episode: int
    kind: str
    channel: str
    rule: str
    scope: str
    value: float | None
    threshold: float | None
    since: datetime | None  # naive UTC: when it fired (or resolved)
    attempts: int


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(minutes=2 ** max(0, attempts - 1)))


def _claim(engine: Engine, now: datetime) -> list[Item]:
    n, i = alert_notification.c, alert_instance.c
    ready = sa.or_(sa.and_(n.status.in_(("due", "failed")), n.next_attempt_at <= now),
                   sa.and_(n.status == "sending", n.claimed_at < now - CLAIM_TIMEOUT))
    with engine.connect() as conn:
        candidates = conn.execute(sa.select(n.instance_key, n.episode, n.kind, n.channel, n.status, n.attempts,
                                            n.created_at).where(ready)).all()
    claimed: list[Item] = []
    for c in candidates:
        key = (n.instance_key == c.instance_key, n.episode == c.episode, n.kind == c.kind, n.channel == c.channel)
        try:
            with engine.begin() as conn:
                row = conn.execute(alert_notification.update()
                                   .where(*key, n.status == c.status, n.attempts == c.attempts)
                                   .values(status="sending", claimed_by=WORKER, claimed_at=now)
                                   .returning(n.rule, n.value, n.threshold)).first()
        except sa.exc.OperationalError as exc:
            if not lost_race(exc):
                raise
            row = None
        if row is None:
            continue  # another process claimed it first
        with engine.connect() as conn:
            inst = conn.execute(sa.select(i.scope, i.fired_at, i.resolved_at)
                                .where(i.instance_key == c.instance_key)).first()
        if is_no_data(c.kind):
            since = c.created_at  # when it went without data (the instance may have moved on since)
        else:
            since = None if inst is None else (inst.resolved_at if c.kind == "resolved" else inst.fired_at)
        claimed.append(Item(c.instance_key, c.episode, c.kind, c.channel, row.rule,
                            inst.scope if inst else c.instance_key.split("|", 1)[1],
                            row.value, row.threshold, since, c.attempts))
    return claimed


def deliver_due(engine: Engine, config: AlertsConfig, at: datetime | None = None) -> list[dict[str, Any]]:
    """Send every due notification this process can claim; returns one entry per message tried."""
    now = store_time((at or datetime.now(UTC)).astimezone(UTC))
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in _claim(engine, now):
        groups.setdefault((item.rule, item.channel), []).append(item)
    report: list[dict[str, Any]] = []
    for (rule_name, channel_name), items in groups.items():
        channel = config.channels.get(channel_name)
        try:
            if channel is None:
                raise DeliveryError(f"channel {channel_name!r} is no longer configured")
            rule = next((r for r in config.rules if r.name == rule_name), None)
            subject, text, body_html, body_json = compose(rule_name, rule, items, config.link_base,
                                                          geography_names(engine))
            if channel.type == "email":
                told = send_email(channel.to, subject, text, body_html)
            else:
                payload = (teams_payload(subject, [li for li in text.splitlines()[1:] if li], _link(rule, items[0], config.link_base))
                           if channel.format == "teams" else body_json)
                told = post_webhook(channel, payload)
        except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried, never raised into ingest
            error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
            log.warning("alert %s via %s failed: %s", rule_name, channel_name, error)
            _finish(engine, items, now, status="failed", error=error)
            report.append({"rule": rule_name, "channel": channel_name, "status": "failed", "error": error,
                           "notifications": len(items)})
            continue
        _finish(engine, items, now, status="sent", recipients=told)
        report.append({"rule": rule_name, "channel": channel_name, "status": "sent", "to": told,
                       "notifications": len(items)})
    return report


def _finish(engine: Engine, items: list[Item], now: datetime, *, status: str, recipients: str | None = None,
            error: str | None = None) -> None:
    n, i = alert_notification.c, alert_instance.c
    with engine.begin() as conn:
        for item in items:
            key = (n.instance_key == item.instance_key, n.episode == item.episode, n.kind == item.kind,
                   n.channel == item.channel, n.claimed_by == WORKER)
            values: dict[str, Any] = {"status": status, "attempts": item.attempts + 1, "error": error}
            if status == "sent":
                values.update(sent_at=now, recipients=recipients)
            else:
                values.update(next_attempt_at=now + backoff(item.attempts + 1))
            conn.execute(alert_notification.update().where(*key).values(values))
    if status != "sent":
        return
    # Apart from the notifications' own transaction: a clash with an evaluation writing the same instance
    # must not leave a sent message looking unsent (it would be sent again once its claim ran out).
    for item in items:
        try:
            with engine.begin() as conn:
                conn.execute(alert_instance.update().where(i.instance_key == item.instance_key)
                             .values(last_notified_at=now))
        except sa.exc.OperationalError as exc:
            if not lost_race(exc):
                raise
            log.info("alert %s: last_notified_at not updated (busy)", item.instance_key)


# --- what a message says (aggregates only) ---------------------------------

def scope_name(scope: str, names: Mapping[str, str]) -> str:
    """`hwb:E08000032` → `Bradford (hwb:E08000032)`; `feed:vacancy` → `feed vacancy`."""
    if scope.startswith("feed:"):
        return f"feed {scope[5:]}"
    if scope == "national":
        return "England"
    parts = [p.partition(":")[2] for p in scope.split(",")]
    named = [names[c] for c in parts if c in names]
    return f"{', '.join(named)} ({scope})" if named else scope


def geography_names(engine: Engine) -> dict[str, str]:
    from models.geography import get_geography

    geo = get_geography(engine)
    return {**{c: i.name for c, i in geo.icbs.items()}, **{c: p.name for c, p in geo.places.items()},
            **{c: h.name for c, h in geo.hwbs.items()}}


def _format(rule: Rule | None, value: float | None) -> str:
    if rule is None:
        return "never" if value is None else f"{value:,.1f} hours"
    return format_value(value, REGISTRY[rule.metric].unit)


def _link(rule: Rule | None, item: Item, link_base: str) -> str:
    if rule is None:
        return f"{link_base}/data"
    page = PAGE_OF_GROUP.get(REGISTRY[rule.metric].group, "/overview")
    where = parse_scope(item.scope).where if ":" in item.scope and not item.scope.startswith("feed:") else {}
    query = urlencode([(k, v) for k, vals in where.items() for v in vals])
    return f"{link_base}{page}" + (f"?{query}" if query else "")


def _when(at: datetime | None) -> str:
    return "—" if at is None else at.replace(tzinfo=UTC).astimezone(LONDON).strftime("%a %d %b %Y %H:%M")


KIND_WORDS = {"firing": "FIRING", "resolved": "RESOLVED"}
NO_DATA_WORDS = "NO DATA"


def is_no_data(kind: str) -> bool:
    return kind.startswith("no_data")


def kind_words(kind: str) -> str:
    return NO_DATA_WORDS if is_no_data(kind) else KIND_WORDS.get(kind, "STILL FIRING")


def compose(rule_name: str, rule: Rule | None, items: list[Item], link_base: str,
            names: Mapping[str, str] | None = None) -> tuple[str, str, str, dict[str, Any]]:
    """(subject, plain text, HTML, JSON body) of one message about a rule's instances."""
    if rule is None:
        title, condition = "Feed not updating", "last successful load older than its limit"
    else:
        title = REGISTRY[rule.metric].label
        condition = rule.describe().split(": ", 1)[1].split(";")[0]
    firing = [it for it in items if it.kind != "resolved" and not is_no_data(it.kind)]
    head = "FIRING" if firing else NO_DATA_WORDS if any(is_no_data(it.kind) for it in items) else "RESOLVED"
    subject = f"[Homeward] {head}: {rule_name} ({len(items)} {'scope' if len(items) == 1 else 'scopes'})"
    lines, rows, entries = [f"{title}: {rule_name}", f"Rule: {condition}", ""], [], []
    for it in items:
        word = kind_words(it.kind)
        since = _when(it.since)
        value, threshold = _format(rule, it.value), _format(rule, it.threshold)
        reading = f"value {value}"
        if is_no_data(it.kind):
            value = reading = NO_DATA_MEANING
        link = _link(rule, it, link_base)
        lines.append(f"{word} · {scope_name(it.scope, names or {})} · {reading} (threshold {threshold}) · since {since}"
                     f" · {link}")
        rows.append(f"<tr><td><strong>{word}</strong></td><td>{html.escape(scope_name(it.scope, names or {}))}</td>"
                    f"<td style='text-align:right'>{html.escape(value)}</td>"
                    f"<td style='text-align:right'>{html.escape(threshold)}</td><td>{html.escape(since)}</td>"
                    f"<td><a href='{html.escape(link)}'>open</a></td></tr>")
        entries.append({"scope": it.scope, "kind": "no_data" if is_no_data(it.kind) else it.kind, "value": it.value, "threshold": it.threshold,
                        "since": None if it.since is None else it.since.replace(tzinfo=UTC).isoformat(),
                        "link": link})
    text = "\n".join(lines) + "\n\nHomeward sends aggregate figures only.\n"
    body_html = (
        "<!doctype html><html><body style='font-family:Arial,sans-serif;color:#212b32'>"
        f"<h2 style='color:{'#d5281b' if firing else '#425563' if head == NO_DATA_WORDS else '#007f3b'}'>"
        f"{head}: {html.escape(title)}</h2>"
        f"<p><strong>{html.escape(rule_name)}</strong> — {html.escape(condition)}</p>"
        "<table cellpadding='6' style='border-collapse:collapse;border:1px solid #d8dde0'>"
        "<tr style='background:#f0f4f5'><th>State</th><th>Scope</th><th>Value</th><th>Threshold</th>"
        "<th>Since (London)</th><th></th></tr>" + "".join(rows) + "</table>"
        "<p style='color:#4c6272;font-size:12px'>Homeward sends aggregate figures only.</p></body></html>")
    body_json = {"rule": rule_name, "metric": rule.metric if rule else None, "state": head.lower().replace(" ", "_"),
                 "notifications": entries, "text": text}
    return subject, text, body_html, body_json


def history(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications newest first, with the instance's scope and firing/resolved times (the /alerts page)."""
    n, i = alert_notification.c, alert_instance.c
    stmt = (sa.select(n.rule, i.scope, n.kind, n.channel, n.created_at, n.status, n.attempts, n.sent_at,
                      n.recipients, n.error, n.next_attempt_at, n.value, n.threshold)
            .select_from(alert_notification.outerjoin(alert_instance, i.instance_key == n.instance_key))
            .order_by(n.created_at.desc(), n.rule, n.channel).limit(limit))
    from alerts.states import visible_scopes

    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    visible = visible_scopes(engine, {r["scope"] for r in rows if r["scope"]})
    return [r for r in rows if r["scope"] in visible]
