"""The morning digest: one email per `[[digest]]` with the figures an executive reads before the day starts.

Every figure is the metrics layer's: the headline figures are the overview tiles' (`models.headlines`:
the same metrics, filters and comparisons, for the digest's scope and `at`), asked with `run_queries`; the
three HWBs with the highest NCTR per 100,000 population are `models.population.highest_per_100k` over
`nctr_count by=hwb`. The chart is `models.charts.lines` made a PNG by kaleido with the system Chromium.
Only models/ is imported: the digest is a consumer, as the pages are.
"""
from __future__ import annotations

import html
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.rules import AlertsConfigError, Digest, load_config
from alerts.states import firing_in_scope, store_time
from models import settings, thresholds
from models.formatting import RAG_SYMBOL, RAG_WORDS, format_change, format_value
from models.freshness import stale_feeds
from models.geography import Geography, get_geography
from models.headlines import OVERVIEW_TILES, TREND_DAYS, TileSpec
from models.metrics import REGISTRY
from models.periods import LONDON, london_date_of
from models.population import highest_per_100k
from models.query import MetricQuery, MetricResult, run_queries
from models.tables import alert_notification
from models.vocab import PATHWAYS

log = logging.getLogger("homeward.alerts")
UTC = timezone.utc
CHROMIUM = "/usr/bin/chromium"
CHART_DAYS = 14
CHART_CID = "nctr-chart"
WEEK = 7
# The overview tiles the digest reports, by (metric, pathway filter).
HEADLINES = (("nctr_count", None), ("nctr_over_21d", None), ("vacant_accepting", "1"), ("vacant_accepting", "2"),
             ("discharges", None))
GREY, INK, BLUE, RED, GREEN = "#4c6272", "#212b32", "#005eb8", "#d5281b", "#007f3b"


@dataclass(frozen=True)
class TopHwb:
    code: str
    name: str
    per_100k: float
    waiting: float
    population: int


@dataclass
class DigestFigures:
    scope_name: str
    scope_codes: tuple[str, ...]  # whose deployment thresholds apply (most specific first)
    at: datetime
    yesterday: date
    discharges: dict[str, tuple[float | None, float | None]]  # pathway → (yesterday, same weekday last week)
    discharges_total: tuple[float | None, float | None]  # (yesterday, change vs the same weekday last week)
    nctr: tuple[float | None, float | None]  # (now, change over the week)
    over_21d: tuple[float | None, float | None]
    p1_vacant: tuple[float | None, float | None]
    p2_vacant: tuple[float | None, float | None]
    top_hwbs: list[TopHwb]
    alerts: list[tuple[str, str]]  # (rule, scope) firing
    stale: list[str]
    chart_rows: list[dict[str, Any]] = field(default_factory=list)


def _key(spec: TileSpec) -> tuple[str, str | None]:
    return spec.metric, ",".join(spec.where["pathway"]) if "pathway" in spec.where else None


def _headline_query(spec: TileSpec, at: datetime, where: Mapping[str, tuple[str, ...]]) -> MetricQuery:
    """The query the overview tile asks (dashboard.data), for the digest's scope."""
    both = {**where, **spec.where}
    if spec.mode == "yesterday":
        day = london_date_of(at) - timedelta(days=1)
        return MetricQuery(spec.metric, at=at, from_=day - timedelta(days=TREND_DAYS - 1), to=day + timedelta(days=1),
                           grain="day", where=both)
    return MetricQuery(spec.metric, at=at, where=both, lookback_days=TREND_DAYS - 1)


def _against_last_week(spec: TileSpec, result: MetricResult, yesterday: date) -> tuple[float | None, float | None]:
    """(value, change against a week before): the tile's "vs last week" / "vs same day last week"."""
    if spec.mode == "yesterday":
        on = {r.get("period"): r.get("value") for r in result.rows}
        now, before = on.get(yesterday.isoformat()), on.get((yesterday - timedelta(days=WEEK)).isoformat())
    else:
        points = [r.get("value") for r in result.rows]  # oldest first; the last is `at` itself
        now, before = points[-1], points[-1 - WEEK]
    return now, None if now is None or before is None else float(now) - float(before)


def scope_words(digest: Digest, geo: Geography) -> str:
    where = digest.scope.where
    names = [geo.hwbs[c].name if c in geo.hwbs else c for c in where.get("hwb", ())]
    names += [geo.places[c].name if c in geo.places else c for c in where.get("place", ())]
    names += [geo.icbs[c].name if c in geo.icbs else c for c in where.get("icb", ())]
    return ", ".join(names) or "All areas in the store"


def figures(engine: Engine, digest: Digest, at: datetime) -> DigestFigures:
    where = {k: tuple(v) for k, v in digest.scope.where.items()}
    geo = get_geography(engine)
    today = london_date_of(at)
    yesterday = today - timedelta(days=1)
    specs = {_key(s): s for s in OVERVIEW_TILES if _key(s) in HEADLINES}
    asked = [_headline_query(specs[k], at, where) for k in HEADLINES] + [
        MetricQuery("discharges", at=at, from_=yesterday, to=today, by=("pathway",), where=where),
        MetricQuery("discharges", at=at, from_=yesterday - timedelta(days=WEEK),
                    to=yesterday - timedelta(days=WEEK - 1), by=("pathway",), where=where),
        MetricQuery("nctr_count", at=at, by=("hwb",), where=where),
        MetricQuery("nctr_count", at=at, from_=today - timedelta(days=CHART_DAYS - 1), to=today + timedelta(days=1),
                    grain="day", where=where)]
    results = run_queries(engine, asked)
    heads = {k: _against_last_week(specs[k], r, yesterday) for k, r in zip(HEADLINES, results)}
    by_pathway, last_week, by_hwb, chart = results[len(HEADLINES):]

    def per_pathway(result: MetricResult) -> dict[str, float]:
        return {str(r["pathway"]): r["value"] for r in result.rows}

    now_p, before_p = per_pathway(by_pathway), per_pathway(last_week)
    scope = digest.scope
    return DigestFigures(
        scope_name=scope_words(digest, geo), scope_codes=scope.codes, at=at, yesterday=yesterday,
        discharges={p: (now_p.get(p, 0), before_p.get(p, 0)) for p in PATHWAYS},
        discharges_total=heads[("discharges", None)], nctr=heads[("nctr_count", None)],
        over_21d=heads[("nctr_over_21d", None)], p1_vacant=heads[("vacant_accepting", "1")],
        p2_vacant=heads[("vacant_accepting", "2")],
        top_hwbs=[TopHwb(r["hwb"], geo.hwbs[r["hwb"]].name, r["value"], r["numerator"], r["denominator"])
                  for r in highest_per_100k(by_hwb, geo)],
        alerts=[(i.rule, i.scope) for i in firing_in_scope(engine, where.get("icb", ()), where.get("place", ()),
                                                           where.get("hwb", ())) if i.rule != "feed_stale"],
        stale=[f.feed for f in stale_feeds(engine, at)],
        chart_rows=chart.rows)


def chart_png(f: DigestFigures) -> bytes:
    """People waiting, end of each day over a fortnight: the /delays chart's house style, as a small PNG."""
    import plotly.io as pio

    from models import charts

    os.environ.setdefault("BROWSER_PATH", CHROMIUM)  # kaleido drives the system Chromium
    fig = charts.lines([("People waiting", f.chart_rows)], title=f"People waiting to leave hospital, last {CHART_DAYS} days",
                       y_title="people", font_size=13, partial_last="today so far")
    fig["layout"].update(width=600, height=280, paper_bgcolor="#ffffff", plot_bgcolor="#ffffff")
    if max((r.get("value") or 0 for r in f.chart_rows), default=0) < 5:
        fig["layout"]["yaxis"].update(dtick=1)  # people are whole: no 0.5 ticks on a small count
    return pio.to_image(fig, format="png")


def _n(value: float | None) -> str:
    return format_value(value, "people")


def _change(delta: float | None, metric: str, against: str = "") -> str:
    """The change against `against`, then whether that is better or worse (the metric's direction), in words."""
    text = format_change(delta, "people") + (f" {against}" if against else "")
    direction = REGISTRY[metric].direction
    if delta in (None, 0) or direction == "none":
        return text
    assert delta is not None
    return f"{text} ({'better' if (delta > 0) == (direction == 'up') else 'worse'})"


@dataclass(frozen=True)
class Line:
    label: str
    value: str
    change: str
    rag: str | None = None  # green | amber | red from the deployment's thresholds; None: none set
    minor: bool = False  # a breakdown line under the one above


def lines(f: DigestFigures) -> list[Line]:
    week_day = f.yesterday - timedelta(days=WEEK)
    def rag(metric: str, v: float | None) -> str | None:
        return thresholds.rag(metric, v, f.scope_codes)

    out = [Line("People waiting to leave hospital (NCTR)", _n(f.nctr[0]),
                _change(f.nctr[1], 'nctr_count', "vs a week ago"), rag("nctr_count", f.nctr[0])),
           Line("Of them, waiting 21 days or more", _n(f.over_21d[0]),
                _change(f.over_21d[1], 'nctr_over_21d', "vs a week ago"), rag("nctr_over_21d", f.over_21d[0])),
           Line("Discharged yesterday", _n(f.discharges_total[0]),
                _change(f.discharges_total[1], 'discharges', f"vs {week_day:%a} {week_day.day} {week_day:%b}"),
                rag("discharges", f.discharges_total[0]))]
    out += [Line(f"Pathway {p}", _n(now), _change(None if now is None or then is None else now - then, "discharges"),
                 minor=True) for p, (now, then) in f.discharges.items()]
    out += [Line("P1 home care slots free now", _n(f.p1_vacant[0]),
                 _change(f.p1_vacant[1], 'vacant_accepting', "vs a week ago"), rag("vacant_accepting", f.p1_vacant[0])),
            Line("P2 beds free now", _n(f.p2_vacant[0]),
                 _change(f.p2_vacant[1], 'vacant_accepting', "vs a week ago"), rag("vacant_accepting", f.p2_vacant[0]))]
    return out


def _rate(value: float) -> str:
    return f"{value:,.1f}"


def render(f: DigestFigures, digest: Digest, link_base: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML); the HTML shows the chart as `cid:nctr-chart`."""
    day = f"{f.yesterday:%a} {f.yesterday.day} {f.yesterday:%b}"
    when = f"{f.at.astimezone(LONDON):%H:%M %a} {f.at.astimezone(LONDON).day} {f.at.astimezone(LONDON):%b %Y}"
    subject = f"Homeward morning digest: {f.scope_name}, {f.at.astimezone(LONDON):%a %d %b %Y}"
    link = f"{link_base}/overview"
    rows = lines(f)
    top = [f"{i}. {t.name}: {_rate(t.per_100k)} per 100,000 ({_n(t.waiting)} waiting, population {t.population:,})"
           for i, t in enumerate(f.top_hwbs, 1)]
    alerts = [f"{rule} ({scope})" for rule, scope in f.alerts]

    def rag_text(r: Line) -> str:
        return f" [{RAG_WORDS[r.rag]}]" if r.rag else ""

    text = "\n".join(
        [subject, f"As at {when} (London); yesterday = {day}.", ""]
        + [("  " if r.minor else "") + f"{r.label}: {r.value}" + (f", {r.change}" if r.change else "") + rag_text(r)
           for r in rows]
        + ["", "Highest NCTR per 100,000 population, by HWB (people waiting per 100,000 residents, ONS mid-2020):",
           *([f"  {t}" for t in top] or ["  nobody waiting"]), "",
           "Alerts firing: " + ("; ".join(alerts) or "none"), "Feeds not updating: " + ("; ".join(f.stale) or "none"),
           "", f"Open Homeward: {link}", "Aggregate figures only. Population: ONS mid-2020 estimates via mySociety."])

    def cell(r: Line) -> str:
        level = (f"<span style='color:{ {'green': GREEN, 'amber': '#8a5a00', 'red': RED}[r.rag] };font-weight:bold'>"
                 f"{RAG_SYMBOL[r.rag]} {html.escape(RAG_WORDS[r.rag])}</span>" if r.rag else "")
        size, weight, pad = ("13px", "normal", "padding:2px 8px 2px 24px") if r.minor else ("16px", "bold", "padding:6px 8px")
        return (f"<tr style='border-top:{'0' if r.minor else '1px solid #d8dde0'}'>"
                f"<td style='{pad};font-size:{size};color:{GREY if r.minor else INK}'>{html.escape(r.label)}</td>"
                f"<td style='padding:2px 8px;text-align:right;font-size:{'14px' if r.minor else '22px'};"
                f"font-weight:{weight}'>{html.escape(r.value)}</td>"
                f"<td style='padding:2px 8px;font-size:13px;color:{GREY};white-space:nowrap'>{html.escape(r.change)}</td>"
                f"<td style='padding:2px 8px;font-size:13px;white-space:nowrap'>{level}</td></tr>")

    warn = f"color:{RED};font-weight:bold"
    top_rows = "".join(
        f"<tr style='border-top:1px solid #d8dde0'><td style='padding:4px 8px'>{i}. {html.escape(t.name)}</td>"
        f"<td style='padding:4px 8px;text-align:right;font-size:18px;font-weight:bold'>{_rate(t.per_100k)}</td>"
        f"<td style='padding:4px 8px;text-align:right;color:{GREY}'>{_n(t.waiting)}</td>"
        f"<td style='padding:4px 8px;text-align:right;color:{GREY}'>{t.population:,}</td></tr>"
        for i, t in enumerate(f.top_hwbs, 1))
    top_table = (
        "<table style='border-collapse:collapse;font-size:14px'><tr style='color:#4c6272;font-size:12px'>"
        "<th style='text-align:left;padding:4px 8px'>HWB</th><th style='text-align:right;padding:4px 8px'>"
        "waiting per 100,000</th><th style='text-align:right;padding:4px 8px'>people waiting</th>"
        f"<th style='text-align:right;padding:4px 8px'>population</th></tr>{top_rows}</table>"
        if f.top_hwbs else "<p>Nobody is waiting.</p>")
    body = (
        f"<!doctype html><html><body style='font-family:Arial,sans-serif;color:{INK};max-width:640px'>"
        f"<h2 style='color:{BLUE};margin-bottom:4px'>{html.escape(f.scope_name)}: morning digest</h2>"
        f"<p style='margin-top:0;color:{GREY}'>As at {when} (London). Yesterday = {day}.</p>"
        f"<p style='margin:8px 0'><strong style='{warn if f.alerts else ''}'>Alerts firing: "
        f"{html.escape('; '.join(alerts)) if alerts else 'none'}</strong><br>"
        f"<strong style='{warn if f.stale else ''}'>Feeds not updating: "
        f"{html.escape('; '.join(f.stale)) if f.stale else 'none'}</strong></p>"
        f"<table style='border-collapse:collapse;width:100%'>{''.join(cell(r) for r in rows)}</table>"
        f"<img src='cid:{CHART_CID}' alt='People waiting to leave hospital, end of each day, last {CHART_DAYS} days' "
        "width='600' style='display:block;margin:12px 0'>"
        "<h3 style='margin-bottom:2px'>Highest NCTR per 100,000 population</h3>"
        f"<p style='margin-top:0;color:{GREY};font-size:12px'>People waiting to leave hospital per 100,000 residents "
        "of each health and wellbeing board (HWB), so large and small areas compare.</p>"
        + top_table +
        f"<p style='margin-top:16px'><a href='{html.escape(link)}'>Open Homeward</a></p>"
        f"<p style='color:{GREY};font-size:12px'>Aggregate figures only. Population: ONS mid-2020 estimates via "
        "mySociety (CC BY 4.0).</p></body></html>")
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
