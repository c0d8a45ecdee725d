"""The morning digest: one email per `[[digest]]` with the figures an executive reads before the day starts.

Every figure is the pages' own: the tiles come from `dashboard.data.tiles_data` (the overview and wall's
"waiting", "21+ days", "P1 / P2 vacant" and "discharges yesterday" tiles, for the digest's scope and `at`),
the rest from the metrics layer (`run_queries`). The HWB ranking is by people waiting (NCTR count), not per
100,000 population: the store holds no population (models/reference has LSOA counts, a proxy only).
The chart is `dashboard.figures.lines` made a PNG by kaleido with the system Chromium.
"""
from __future__ import annotations

import html
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.rules import AlertsConfigError, Digest, load_config
from alerts.states import store_time, firing_in_scope
from models import settings
from models.freshness import stale_feeds
from models.periods import LONDON, london_date_of
from models.query import MetricQuery, run_queries
from models.tables import alert_notification

log = logging.getLogger("homeward.alerts")
UTC = timezone.utc
CHROMIUM = "/usr/bin/chromium"
CHART_DAYS = 14
PATHWAYS = ("0", "1", "2", "3")
CHART_CID = "nctr-chart"


@dataclass
class DigestFigures:
    scope_name: str
    at: datetime
    yesterday: date
    discharges: dict[str, tuple[float | None, float | None]]  # pathway → (yesterday, same weekday last week)
    discharges_total: tuple[float | None, float | None]
    nctr: tuple[float | None, float | None]  # (now, change over the week)
    over_21d: tuple[float | None, float | None]
    p1_vacant: float | None
    p2_vacant: float | None
    top_hwbs: list[tuple[str, str, float]]  # (code, name, people waiting)
    alerts: list[tuple[str, str]]  # (rule, scope) firing
    stale: list[str]
    chart_rows: list[dict[str, Any]] = field(default_factory=list)


def _state(digest: Digest, at: datetime) -> Any:
    from dashboard.state import FilterState

    args = {k: list(v) for k, v in digest.scope.where.items()}
    return FilterState.from_args({**args, "at": at.isoformat()})


def figures(engine: Engine, digest: Digest, at: datetime) -> DigestFigures:
    from dashboard import data
    from dashboard.sections import OVERVIEW_TILES

    state = _state(digest, at)
    geo = data.geography()
    tiles = {(t.metric, t.where.get("pathway")): t for t in data.tiles_data(OVERVIEW_TILES, state)}
    nctr, over21 = tiles[("nctr_count", None)], tiles[("nctr_over_21d", None)]
    discharged = tiles[("discharges", None)]
    today = london_date_of(at)
    yesterday = today - timedelta(days=1)
    where = dict(digest.scope.where)
    by_pathway, last_week, by_hwb, chart = run_queries(engine, [
        MetricQuery("discharges", at=at, from_=yesterday, to=today, by=("pathway",), where=where),
        MetricQuery("discharges", at=at, from_=yesterday - timedelta(days=7), to=yesterday - timedelta(days=6),
                    by=("pathway",), where=where),
        MetricQuery("nctr_count", at=at, by=("hwb",), where=where),
        MetricQuery("nctr_count", at=at, from_=today - timedelta(days=CHART_DAYS - 1), to=today + timedelta(days=1),
                    grain="day", where=where),
    ])

    def per_pathway(result: Any) -> dict[str, float]:
        return {str(r["pathway"]): r["value"] for r in result.rows}

    now_p, before_p = per_pathway(by_pathway), per_pathway(last_week)
    top = sorted((r for r in by_hwb.rows if r.get("value")), key=lambda r: (-r["value"], r["hwb"]))[:3]
    return DigestFigures(
        scope_name=data.scope_name(state, geo), at=at, yesterday=yesterday,
        discharges={p: (now_p.get(p, 0), before_p.get(p, 0)) for p in PATHWAYS},
        discharges_total=(discharged.value, dict(discharged.changes).get("vs same day last week")),
        nctr=(nctr.value, dict(nctr.changes).get("vs last week")),
        over_21d=(over21.value, dict(over21.changes).get("vs last week")),
        p1_vacant=tiles[("vacant_accepting", "1")].value, p2_vacant=tiles[("vacant_accepting", "2")].value,
        top_hwbs=[(r["hwb"], geo.hwbs[r["hwb"]].name if r["hwb"] in geo.hwbs else r["hwb"], r["value"]) for r in top],
        alerts=[(i.rule, i.scope) for i in firing_in_scope(engine, state.icb, state.place, state.hwb)
                if i.rule != "feed_stale"],
        stale=[f.feed for f in stale_feeds(engine, at)],
        chart_rows=chart.rows)


def chart_png(f: DigestFigures) -> bytes:
    """People waiting, end of each day over a fortnight: the /delays chart's house style, as a small PNG."""
    import plotly.io as pio

    from dashboard import figures as charts

    os.environ.setdefault("BROWSER_PATH", CHROMIUM)  # kaleido drives the system Chromium
    fig = charts.lines([("People waiting", f.chart_rows)], title="People waiting to leave hospital, end of each day",
                       y_title="people", font_size=13, partial_last="today so far")
    fig["layout"].update(width=600, height=280, paper_bgcolor="#ffffff", plot_bgcolor="#ffffff")
    return pio.to_image(fig, format="png")


def _n(value: float | None) -> str:
    from dashboard.formatting import format_value

    return format_value(value, "people")


def _change(delta: float | None) -> str:
    from dashboard.formatting import format_change

    return format_change(delta, "people")


def render(f: DigestFigures, digest: Digest, link_base: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML); the HTML shows the chart as `cid:nctr-chart`."""
    day = f"{f.yesterday:%a} {f.yesterday.day} {f.yesterday:%b}"
    week_day = f.yesterday - timedelta(days=7)
    subject = f"Homeward morning digest: {f.scope_name}, {f.at.astimezone(LONDON):%a %d %b %Y}"
    link = f"{link_base}/overview"
    rows = [("Discharges yesterday", f"{_n(f.discharges_total[0])}",
             f"{_change(f.discharges_total[1])} vs {week_day:%a} {week_day.day} {week_day:%b}")]
    rows += [(f"  Pathway {p}", _n(now), _change(None if now is None or then is None else now - then))
             for p, (now, then) in f.discharges.items()]
    rows += [("Waiting to leave hospital (NCTR) now", _n(f.nctr[0]), f"{_change(f.nctr[1])} over the week"),
             ("Waiting 21+ days", _n(f.over_21d[0]), f"{_change(f.over_21d[1])} over the week"),
             ("P1 slots vacant", _n(f.p1_vacant), ""), ("P2 beds vacant", _n(f.p2_vacant), "")]
    top = [f"{name}: {_n(v)} waiting" for _, name, v in f.top_hwbs] or ["nobody waiting"]
    alerts = [f"{rule} ({scope})" for rule, scope in f.alerts] or ["none"]
    stale = f.stale or ["none"]
    text = "\n".join([subject, f"As at {f.at.astimezone(LONDON):%H:%M %a %d %b} (London); yesterday = {day}.", ""]
                     + [f"{a}: {b}" + (f" ({c})" if c else "") for a, b, c in rows]
                     + ["", "Most people waiting, by HWB (per 100,000 population not available: no population data):",
                        *[f"  {t}" for t in top], "", "Alerts firing: " + "; ".join(alerts),
                        "Feeds stale: " + "; ".join(stale), "", f"Open Homeward: {link}",
                        "Aggregate figures only."])
    cells = "".join(f"<tr><td>{html.escape(a)}</td><td style='text-align:right'><strong>{html.escape(b)}</strong></td>"
                    f"<td style='color:#4c6272'>{html.escape(c)}</td></tr>" for a, b, c in rows)
    body = (
        "<!doctype html><html><body style='font-family:Arial,sans-serif;color:#212b32;max-width:640px'>"
        f"<h2 style='color:#005eb8;margin-bottom:4px'>{html.escape(f.scope_name)}: morning digest</h2>"
        f"<p style='margin-top:0'>As at {f.at.astimezone(LONDON):%H:%M %a %d %b %Y} (London); yesterday = {day}.</p>"
        f"<table cellpadding='5' style='border-collapse:collapse'>{cells}</table>"
        f"<img src='cid:{CHART_CID}' alt='People waiting to leave hospital, end of each day, last {CHART_DAYS} days' "
        "width='600' style='display:block;margin:12px 0'>"
        "<h3>Most people waiting, by HWB</h3><p style='color:#4c6272;font-size:12px'>Per 100,000 population is not "
        "available: the store holds no population.</p><ol>" + "".join(f"<li>{html.escape(t)}</li>" for t in top)
        + "</ol>"
        f"<p><strong>Alerts firing:</strong> {html.escape('; '.join(alerts))}<br>"
        f"<strong>Feeds stale:</strong> {html.escape('; '.join(stale))}</p>"
        f"<p><a href='{html.escape(link)}'>Open Homeward</a></p>"
        "<p style='color:#4c6272;font-size:12px'>Aggregate figures only.</p></body></html>")
    return subject, text, body


def build(engine: Engine, name: str, at: datetime | None = None) -> tuple[Digest, str, str, str, bytes]:
    config = load_config()
    digest = next((d for d in config.digests if d.name == name), None)
    if digest is None:
        raise KeyError(f"no digest named {name!r}; digests: {', '.join(d.name for d in config.digests) or 'none'}")
    at = (at or datetime.now(UTC)).astimezone(UTC)
    f = figures(engine, digest, at)
    subject, text, body = render(f, digest, config.link_base)
    return digest, subject, text, body, chart_png(f)


def _claim(engine: Engine, digest: Digest, at: datetime) -> bool:
    """One send per digest per London day across processes: the notification key is the claim."""
    now = store_time(at)
    try:
        with engine.begin() as conn:
            conn.execute(alert_notification.insert().values(
                instance_key=f"digest|{digest.name}", episode=london_date_of(at).toordinal(), kind="digest",
                channel=digest.channel, rule=digest.name, created_at=now, status="sending", attempts=0,
                next_attempt_at=now))
    except sa.exc.IntegrityError:
        return False
    return True


def send(engine: Engine, name: str, at: datetime | None = None, *, once_a_day: bool = False) -> str:
    from alerts.channels import send_email

    at = (at or datetime.now(UTC)).astimezone(UTC)
    digest, subject, text, body, png = build(engine, name, at)
    if once_a_day and not _claim(engine, digest, at):
        return "already sent today"
    told = send_email(digest.recipients, subject, text, body, attachments=((CHART_CID, png, "png"),))
    if once_a_day:
        n = alert_notification.c
        with engine.begin() as conn:
            conn.execute(alert_notification.update()
                         .where(n.instance_key == f"digest|{digest.name}", n.episode == london_date_of(at).toordinal())
                         .values(status="sent", sent_at=store_time(at), recipients=told, attempts=1))
    return told


def scheduled_digest(engine: Engine, name: str) -> None:
    try:
        log.info("digest %s: %s", name, send(engine, name, once_a_day=True))
    except Exception:  # noqa: BLE001 - logged; never raised into the scheduler
        log.exception("digest %s failed", name)


def write_eml(subject: str, text: str, body: str, png: bytes, recipients: tuple[str, ...], folder: Path,
              name: str) -> Path:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, settings.smtp_sender(), ", ".join(recipients)
    msg.set_content(text)
    msg.add_alternative(body, subtype="html")
    msg.get_payload()[1].add_related(png, maintype="image", subtype="png", cid=f"<{CHART_CID}>")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%S}.eml"
    path.write_bytes(bytes(msg))
    return path


def run_digest_command(name: str, at_text: str | None, *, dry_run: bool) -> int:
    from alerts.channels import DeliveryError
    from models.db import init_store
    from models.query import QueryError, parse_time

    try:
        at = parse_time("at", at_text) if at_text else None
        engine = init_store()
        digest, subject, text, body, png = build(engine, name, at)
    except (QueryError, AlertsConfigError, KeyError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    if dry_run:
        print(write_eml(subject, text, body, png, digest.recipients, settings.data_dir() / "digests", name))
        return 0
    try:
        print(f"sent to {send(engine, name, at)}")
    except DeliveryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
