"""Page sections built from the metrics layer: each asks the registry, then draws.

Shared by several pages (the overview, delays, flow, the wall), so a chart
means the same wherever it appears. Every section is wrapped by
`guarded`, so a failure shows plain words, never a traceback.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Mapping, Sequence

from dash import dcc, html

from dashboard import data
from dashboard.components.common import chart, empty_state, grid, guarded, number_col
from dashboard.components.tile import tile, tile_row
from dashboard.labels import DELAY_REASON_LABELS, PATHWAY_SHORT, SERVICE_TYPE_LABELS
from dashboard.state import FilterState
from models import charts as figures
from models.cache import cached_rows, cached_value
from models.cases import longest_waits
from models.db import get_engine
from models.formatting import format_time


def _nothing(rows: Sequence[Mapping[str, Any]]) -> bool:
    """True when there is nothing to draw (no rows, or only zeros and missing values)."""
    return not any(r.get("value") not in (None, 0, 0.0) for r in rows)


def _window_words(state: FilterState) -> str:
    from_, to = state.window()
    last = to - timedelta(days=1)
    return f"{from_:%-d %b %Y} to {last:%-d %b %Y}"


def tiles(specs: Sequence[data.TileSpec], state: FilterState, *, size: str = "normal",
          row_id: str | None = None) -> html.Div:
    def build() -> html.Div:
        got = data.tiles_data(specs, state)  # asked for together: one select per source and shape
        return tile_row([guarded(lambda d=d: tile(d, size=size), s_label(spec)) for spec, d in zip(specs, got)],
                        row_id=row_id)
    return guarded(build, "Figures")


def build_all(builders: Sequence[Callable[[], Any]]) -> list[Any]:
    """A page's independent sections, built side by side (each mostly waits on the store)."""
    from dashboard.concurrency import run_parallel

    return run_parallel(builders)


def s_label(spec: data.TileSpec) -> str:
    return spec.label or data.metric(spec.metric).label


def scope_facts(state: FilterState) -> tuple[str, str]:
    """(scope in words, "as at" in words) for a page heading."""
    geo = data.geography()
    return data.scope_name(state, geo), format_time(state.resolved_at()) + ("" if state.at else " (now)")


# --- charts -------------------------------------------------------------------

def discharges_by_pathway(prefix: str, state: FilterState, *, font_size: int = 15, dark: bool = False) -> html.Div:
    def build() -> html.Div:
        result = data.query("discharges", state, by=("pathway",), grain="day")
        rows = result.rows
        fig = None if _nothing(rows) else figures.stacked_bars(
            [{**r, "pathway": str(r.get("pathway"))} for r in rows], series_key="pathway", labels=PATHWAY_SHORT,
            title="Discharges by pathway, per day", y_title="people", font_size=font_size, dark=dark,
            partial_last=_partial_last(("discharges",), state, "day", result))
        return chart(fig, graph_id=f"{prefix}-g-discharges", empty=f"no discharges recorded from {_window_words(state)} "
                     "for this area.", summary="Daily discharges stacked by pathway.")
    return guarded(build, "Discharges by pathway")


def nctr_trend(prefix: str, state: FilterState, *, font_size: int = 15, dark: bool = False,
               window: tuple[Any, Any] | None = None) -> html.Div:
    def build() -> html.Div:
        named = (("nctr_count", "All waiting"), ("nctr_over_7d", "7+ days"),
                 ("nctr_over_14d", "14+ days"), ("nctr_over_21d", "21+ days"))
        results = data.queries([(name, {"grain": "day", "window": window}) for name, _ in named], state)
        series = [(label, result.rows) for (_, label), result in zip(named, results)]
        fig = None if _nothing(series[0][1]) else figures.overlaid_areas(
            series, title="People waiting to leave hospital, end of each day",
            y_title="people", font_size=font_size, dark=dark)
        return chart(fig, graph_id=f"{prefix}-g-nctr", empty="nobody was recorded as waiting in hospital after their "
                     "discharge ready date in this window.", summary="Daily count of people waiting, with the 7, 14 "
                     "and 21 days and over bands drawn over it.")
    return guarded(build, "People waiting over time")


def delay_reasons(prefix: str, state: FilterState, *, font_size: int = 15, dark: bool = False,
                  limit: int = 12) -> html.Div:
    def build() -> html.Div:
        rows = data.query("nctr_count", state, by=("delay_reason",)).rows
        fig = None if _nothing(rows) else figures.ranked_bars(
            rows, key="delay_reason", labels=DELAY_REASON_LABELS, title="Why people are still waiting (now)",
            x_title="people waiting", font_size=font_size, dark=dark, limit=limit)
        return chart(fig, graph_id=f"{prefix}-g-reasons", empty="nobody is waiting in hospital after their discharge "
                     "ready date, so there are no delay reasons to rank.")
    return guarded(build, "Delay reasons")


def occupancy_by_service_type(prefix: str, state: FilterState, *, font_size: int = 15, dark: bool = False) -> html.Div:
    def build() -> html.Div:
        names = ("occupied", "vacant_accepting", "vacant_reserved", "unavailable", "occupancy_rate")
        reporting, split = build_all([lambda: data.value("services_reporting", state),
                                      lambda: data.by_dimensions([(n, {}) for n in names], state, "service_type")])
        if (reporting or 0) == 0:
            return html.Div(empty_state(f"no service in this area reported its capacity in the last "
                                        f"{_stale_hours()} hours."), className="hw-panel")
        got = dict(zip(names, split))
        rates = got.pop("occupancy_rate")
        parts = got
        types = [t for t in SERVICE_TYPE_LABELS if any(t in p for p in parts.values())]
        categories = [f"{SERVICE_TYPE_LABELS[t]}<br>{figures_rate(rates.get(t))} occupied" for t in types]
        fig = figures.grouped_stack(categories, [
            ("Occupied", [parts["occupied"].get(t) for t in types]),
            ("Vacant, accepting", [parts["vacant_accepting"].get(t) for t in types]),
            ("Vacant, reserved", [parts["vacant_reserved"].get(t) for t in types]),
            ("Unavailable", [parts["unavailable"].get(t) for t in types]),
        ], title="Beds and slots by service type (now)", x_title="beds or slots", font_size=font_size, dark=dark)
        return chart(fig, graph_id=f"{prefix}-g-occupancy", empty="no capacity reported.")
    return guarded(build, "Occupancy by service type")


def figures_rate(value: float | None) -> str:
    from models.formatting import format_value

    return format_value(value, "rate")


def _stale_hours() -> str:
    from models import settings

    hours = settings.stale_hours()
    return f"{hours:g}"


def ic_length_of_stay(prefix: str, state: FilterState, *, font_size: int = 15, dark: bool = False) -> html.Div:
    def build() -> html.Div:
        rows = data.query("ic_length_of_stay_days", state, grain="week").rows
        fig = None if all(r.get("value") is None for r in rows) else figures.lines(
            [("Median length of stay", rows)], title="IC length of stay: median days, by week ended", y_title="days", font_size=font_size, dark=dark,
            value_format=",.1f")
        return chart(fig, graph_id=f"{prefix}-g-iclos", empty=f"no intermediate care episode ended from "
                     f"{_window_words(state)} in this area.")
    return guarded(build, "IC length of stay")


def longest_waits_table(prefix: str, state: FilterState, *, limit: int = 15) -> html.Div:
    from models import access, accounts

    principal = access.current()
    if not principal.at_least("case_worker"):  # person-level: case workers and admins only
        return html.Div([html.H2("Longest current waits", className="hw-panel__title"),
                         empty_state("The list of people waiting is shown to case workers.", kind="info")],
                        className="hw-section")

    def build() -> html.Div:
        where = state.where(("icb", "place", "hwb", "pathway"))
        at = state.resolved_at()
        access.restrict(get_engine(), where)  # an explicit code outside the scope: a plain message, nothing recorded
        if principal.kind != "system":
            accounts.record(get_engine(), "person_view", actor=principal, route=f"/{prefix}",
                            detail={"list": "longest_waits", "filters": {k: list(v) for k, v in where.items()},
                                    "limit": limit})
        rows = cached_rows("longest_waits", f"{at.isoformat()}|{sorted(where.items())}|{limit}",
                           lambda: longest_waits(get_engine(), at, where, limit=limit), pinned=state.at is not None)
        shown = [{"person_id": r["person_id"], "hwb": r["hwb_name"] or r["hwb_code"],
                  "site": r["acute_site_code"] or "not recorded",
                  "pathway": PATHWAY_SHORT.get(str(r["pathway"]), "No pathway yet"),
                  "reason": DELAY_REASON_LABELS.get(r["delay_reason"] or "NOT_RECORDED", r["delay_reason"]),
                  "ready": format_time(r["discharge_ready_at"]), "days": r["days_waiting"]} for r in rows]
        return html.Div([
            html.H2("Longest current waits", className="hw-panel__title"),
            html.P("Pseudonymised: the person ID is a keyed hash, never the NHS number.", className="hw-hint"),
            grid(f"{prefix}-grid-waits", shown, [
                {"field": "person_id", "headerName": "Person (pseudonym)", "minWidth": 150},
                number_col("days", "Days waiting", unit="count"),
                {"field": "ready", "headerName": "Discharge ready", "minWidth": 170},
                {"field": "pathway", "headerName": "Pathway"},
                {"field": "reason", "headerName": "Delay reason", "minWidth": 200},
                {"field": "hwb", "headerName": "HWB (residence)", "minWidth": 150},
                {"field": "site", "headerName": "Acute site"},
            ], empty="nobody is waiting in hospital after their discharge ready date in this area."),
        ], className="hw-section")
    return guarded(build, "Longest current waits")


HWB_TABLE_METRICS: tuple[tuple[str, str, str, Mapping[str, tuple[str, ...]], str], ...] = (
    # (column field, header, metric, fixed filters, mode)
    ("nctr", "NCTR now", "nctr_count", {}, "snapshot"),
    ("over21", "Waiting 21+ days", "nctr_over_21d", {}, "snapshot"),
    ("p1", "P1 slots vacant", "vacant_accepting", {"pathway": ("1",)}, "snapshot"),
    ("p2", "P2 beds vacant", "vacant_accepting", {"pathway": ("2",)}, "snapshot"),
    ("discharges", "Discharges yesterday", "discharges", {}, "yesterday"),
    ("caseload", "IC caseload", "ic_caseload", {}, "snapshot"),
)


def hwb_table(prefix: str, state: FilterState) -> html.Div:
    """The overview tiles' metrics per HWB (residence for cases, location for services)."""
    def build() -> html.Div:
        from models.periods import london_date_of

        geo = data.geography()
        yesterday = london_date_of(state.resolved_at()) - timedelta(days=1)
        window = (yesterday, yesterday + timedelta(days=1))
        columns: dict[str, dict[Any, Any]] = dict(zip([f for f, *_ in HWB_TABLE_METRICS], data.by_dimensions([
            (name, {"where": where, "window": window if mode == "yesterday" else None})
            for _field, _header, name, where, mode in HWB_TABLE_METRICS], state, "hwb")))
        scope = data.scope_hwbs(state, geo)
        codes = scope if scope is not None else sorted({c for col in columns.values() for c in col if c})
        rows = [{"hwb": geo.hwbs[c].name if c in geo.hwbs else c, "code": c,
                 **{field: columns[field].get(c) for field in columns}} for c in codes]
        return html.Div([
            html.H2("By health and wellbeing board", className="hw-panel__title"),
            grid(f"{prefix}-grid-hwb", rows, [
                {"field": "hwb", "headerName": "HWB", "minWidth": 180, "pinned": "left"},
                *[number_col(field, header) for field, header, *_ in HWB_TABLE_METRICS],
            ], empty="no HWB in this area has any cases or services recorded."),
            html.P("— means nothing recorded.", className="hw-hint"),
        ], className="hw-section")
    return guarded(build, "Table by HWB")


# --- generic sections used by the topic pages -------------------------------------

def series_chart(prefix: str, chart_id: str, state: FilterState, series: Sequence[tuple[str, str]], *, grain: str,
                 title: str, y_title: str, empty: str, percent: bool = False, font_size: int = 15,
                 dark: bool = False) -> html.Div:
    """One line per metric over the page's window at `grain`."""
    def build() -> html.Div:
        results = data.queries([(name, {"grain": grain}) for name, _ in series], state)
        got = [(label, result.rows) for (_, label), result in zip(series, results)]
        nothing = all(_nothing(rows) for _, rows in got)
        fig = None if nothing else figures.lines(got, title=title, y_title=y_title, percent=percent,
                                                 font_size=font_size, dark=dark,
                                                 partial_last=_partial_last([name for name, _ in series], state,
                                                                            grain, results[0]))
        return chart(fig, graph_id=f"{prefix}-g-{chart_id}", empty=empty)
    return guarded(build, title)


def _partial_last(names: Sequence[str], state: FilterState, grain: str, result: Any) -> str | None:
    """What to call the last period of period metrics' series (`result`: one of them) when `at` falls
    inside it (counted so far), else None."""
    from datetime import date

    from models.periods import london_midnight_utc, next_bucket, to_naive_utc

    if not all(data.metric(name).kind == "period" for name in names) or not result.rows:
        return None
    last = date.fromisoformat(result.rows[-1]["period"])
    end = min(next_bucket(last, grain), result.window[1])
    if london_midnight_utc(end) <= to_naive_utc(state.resolved_at()):
        return None  # the last period is over: every point is whole
    if state.at is not None:
        return "counted up to the as-at time"
    return {"day": "today so far", "week": "this week so far", "month": "this month so far"}.get(grain)


def ranked_chart(prefix: str, chart_id: str, state: FilterState, name: str, dim: str, labels: Mapping[str, str], *,
                 title: str, x_title: str, empty: str, percent: bool = False) -> html.Div:
    def build() -> html.Div:
        rows = data.query(name, state, by=(dim,)).rows
        fig = None if _nothing(rows) else figures.ranked_bars(rows, key=dim, labels=labels, title=title,
                                                              x_title=x_title, percent=percent)
        return chart(fig, graph_id=f"{prefix}-g-{chart_id}", empty=empty)
    return guarded(build, title)


def by_hwb(prefix: str, table_id: str, state: FilterState, title: str,
           columns: Sequence[tuple[str, str, str, str]]) -> html.Div:
    """(field, header, metric, unit) per column, split by HWB."""
    def build() -> html.Div:
        geo = data.geography()
        values = dict(zip([f for f, *_ in columns], data.by_dimensions(
            [(name, {}) for _f, _h, name, _u in columns], state, "hwb")))
        scope = data.scope_hwbs(state, geo)
        codes = scope if scope is not None else sorted({c for col in values.values() for c in col if c})
        rows = [{"hwb": geo.hwbs[c].name if c in geo.hwbs else c, **{f: values[f].get(c) for f in values}}
                for c in codes]
        return html.Div([
            html.H2(title, className="hw-panel__title"),
            grid(f"{prefix}-grid-{table_id}", rows,
                 [{"field": "hwb", "headerName": "HWB", "minWidth": 180, "pinned": "left"},
                  *[number_col(f, h, unit=u) for f, h, _n, u in columns]],
                 empty="no HWB in this area has anything recorded."),
            html.P("— means nothing recorded.", className="hw-hint"),
        ], className="hw-section")
    return guarded(build, title)


SERVICE_ROWS = 200  # the grid shows this many; the export holds every service


def service_table(prefix: str, state: FilterState) -> html.Div:
    """Services not reporting first, then the others, up to SERVICE_ROWS, with a link to the full export.

    A national view has ~15,000 services: the grid is not the place to read them all, and shipping
    them made the page slow even from the cache. Only the rows shown are cached and sent.
    """
    def build() -> html.Div:
        from models.datasets import DatasetQuery

        where = state.where(("icb", "place", "hwb", "pathway", "service_type"))
        q = DatasetQuery(dataset="capacity", at=state.resolved_at(), at_given=state.at is not None, where=where)

        def shaped() -> dict[str, Any]:
            from models.datasets import capacity_head

            # Not reporting first, then by name; sorted and cut in the store (a national view has ~15,000).
            records, total, not_reporting = capacity_head(get_engine(), q, SERVICE_ROWS)
            rows = [{"service": r["service_name"], "type": SERVICE_TYPE_LABELS.get(r["service_type"], r["service_type"]),
                     "hwb": r["hwb_name"] or r["hwb_code"],
                     "status": "Reporting" if r["reporting"] else "NOT REPORTING",
                     "last": format_time(r["reported_at"]) if r["reported_at"] else "never",
                     "capacity": r["capacity"], "occupied": r["occupied"], "accepting": r["vacant_accepting"],
                     "reserved": r["vacant_reserved"], "unavailable": r["unavailable"]} for r in records]
            return {"rows": rows, "total": total, "not_reporting": not_reporting}

        got = cached_value("service_table", f"{q.at.isoformat()}|{q.at_given}|{sorted(q.where.items())}|{SERVICE_ROWS}",
                           shaped, pinned=state.at is not None)
        rows, total, missing = got["rows"], got["total"], got["not_reporting"]
        export_href = "/export?" + _export_query(state)
        if total > len(rows):
            shown_note = html.P([f"Showing {len(rows):,} of {total:,} services ({missing:,} not reporting, listed "
                                 "first). ", dcc.Link("Export the full list", href=export_href), "."],
                                className="hw-hint")
        else:
            shown_note = html.P([f"{total:,} services, {missing:,} not reporting. ",
                                 dcc.Link("Export this list", href=export_href), "."], className="hw-hint")
        return html.Div([
            html.H2("Services", className="hw-panel__title"),
            html.P(f"A service is not reporting when its latest report is more than {_stale_hours()} hours old; "
                   "it then adds nothing to the totals above.", className="hw-hint"),
            shown_note,
            grid(f"{prefix}-grid-services", rows, [
                {"field": "service", "headerName": "Service", "minWidth": 200, "pinned": "left"},
                {"field": "status", "headerName": "Status", "minWidth": 140,
                 "cellClassRules": {"hw-cell--bad": "params.value !== 'Reporting'"}},
                {"field": "last", "headerName": "Last report", "minWidth": 190},
                {"field": "type", "headerName": "Type", "minWidth": 190},
                {"field": "hwb", "headerName": "HWB"},
                number_col("capacity", "Capacity"), number_col("occupied", "Occupied"),
                number_col("accepting", "Vacant, accepting"), number_col("reserved", "Vacant, reserved"),
                number_col("unavailable", "Unavailable"),
            ], height=560 if len(rows) > 25 else None, empty="no service is known in this area."),
        ], className="hw-section")
    return guarded(build, "Services")


def _export_query(state: FilterState) -> str:
    """The /export page's URL query for the capacity dataset with this view's filters."""
    from urllib.parse import urlencode

    pairs: list[tuple[str, str]] = [("dataset", "capacity")]
    for key in ("icb", "place", "hwb", "pathway", "service_type"):
        pairs.extend((key, v) for v in getattr(state, key))
    if state.at:
        pairs.append(("at", state.at.isoformat()))
    return urlencode(pairs)
