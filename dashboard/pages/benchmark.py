"""`/benchmark`: "are we worse than others?" — an ICB and its trusts against its region and England.

Everything comes from NHS England's published Acute Discharge SitRep through
the metrics layer (`sitrep_nctr`, `sitrep_discharged`, `sitrep_remaining`,
`sitrep_discharged_share`, `sitrep_discharges_by_pathway`) via `cached_query`;
the page runs no SQL. Raw counts differ in size between an ICB, its region and
England, so the page compares shapes and shares: the share of NCTR patients
discharged (the registry's `sitrep_discharged_share`: Σ discharged ÷ Σ NCTR
over the window, or per day with grain=day), NCTR indexed to the window's
first day, and the pathway mix in percent.

URL: `?icb=QWO&from=2023-12-01&to=2024-01-01` (to exclusive); without an ICB
the deployment's own (HOMEWARD_HOME_ICB), without dates the latest month
published in the store.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Mapping, NamedTuple, Sequence

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from dashboard.components.common import chart, empty_state, grid, guarded, number_col, page_heading
from dashboard.components.tile import tile, tile_row
from dashboard.data import TileData
from dashboard.state import parse_at, parse_date
from models import charts as figures
from models import settings
from models.cache import cached_query
from models.formatting import format_value
from models.geography import Geography
from models.query import MetricQuery, MetricResult

dash.register_page(__name__, path="/benchmark", name="Benchmark", title="Benchmark · Homeward", order=5,
                   description="An ICB and its trusts against its region and England, from NHS England's "
                               "published discharge sitrep.")

PREFIX = "bm"
SOURCE = "NHS England Acute Discharge SitRep"
LICENCE = "Open Government Licence v3.0"
EMPTY_STORE = ("No NHS England sitrep loaded yet: ingest one with "
               "python app.py ingest nhse_acute_sitrep FILE")
# The discharge sitrep began in 2020; months are looked for from here to next month.
FIRST_MONTH = date(2020, 1, 1)
SHARE_METRIC = "sitrep_discharged_share"  # Σ published discharged ÷ Σ published NCTR (the registry's)
MEAN_METRICS = ("sitrep_nctr", "sitrep_discharged", "sitrep_remaining")
PATHWAY_LABELS: dict[str, str] = {
    "P0": "P0: home, no new support", "P1": "P1: home with support", "P2": "P2: short-term bed",
    "P3": "P3: new care home placement", "P3b": "Back to own care home", "other": "Other",
}


def _id(name: str) -> str:
    return f"{PREFIX}-{name}"


# --- what the page asks the metrics layer --------------------------------------------------

def _q(metric: str, *, window: tuple[date, date] | None = None, grain: str | None = None,
       by: tuple[str, ...] = (), where: Mapping[str, tuple[str, ...]] | None = None,
       at: datetime | None = None) -> MetricResult:
    from_, to = window if window else (None, None)
    return cached_query(MetricQuery(metric=metric, at=at, from_=from_, to=to, grain=grain, by=by,
                                    where=dict(where or {})))


def _next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def published_months(at: datetime | None = None) -> list[date]:
    """First days of the months with a published England NCTR figure, oldest first (one cheap query)."""
    today = date.today()
    rows = _q("sitrep_nctr", window=(FIRST_MONTH, _next_month(today)), grain="month", at=at).rows
    return [date.fromisoformat(str(r["period"])[:10]) for r in rows if r.get("value") is not None]


def month_words(d: date) -> str:
    return f"{d:%B %Y}"


def window_words(window: tuple[date, date]) -> str:
    from_, to = window
    if from_.day == 1 and to == _next_month(from_):
        return month_words(from_)
    last = to - timedelta(days=1)
    if last <= from_:
        return f"{from_.day} {from_:%b %Y}"
    return f"{from_.day} {from_:%b %Y} to {last.day} {last:%b %Y}"


def short_org(name: str) -> str:
    """"NHS West Yorkshire Integrated Care Board" → "West Yorkshire ICB"; trusts lose "NHS (Foundation) Trust"."""
    for tail, new in ((" NHS Foundation Trust", ""), (" NHS Trust", ""), (" Integrated Care Board", " ICB")):
        name = name.replace(tail, new)
    return name[4:] if name.startswith("NHS ") else name


class View(NamedTuple):
    """What the page shows: one ICB, its region, one window (a NamedTuple: Dash loads pages outside sys.modules)."""
    icb: str
    icb_name: str
    region: str
    region_name: str
    window: tuple[date, date]
    at: datetime | None = None

    @property
    def orgs(self) -> dict[str, str]:
        """Code → label for the three comparison lines, in drawing order."""
        return {self.icb: self.icb_name, self.region: self.region_name, "ENG": "England"}

    def where(self, code: str) -> dict[str, tuple[str, ...]]:
        level = "england" if code == "ENG" else ("region" if code == self.region else "icb")
        return {"level": (level,), "org": (code,)}


def _by_org(metric: str, view: View) -> dict[tuple[str, str], float | None]:
    """{(level, org): the metric over the window (a mean daily count, or the share)} for every published organisation."""
    rows = _q(metric, window=view.window, by=("level", "org"), at=view.at).rows
    return {(str(r["level"]), str(r["org"])): r.get("value") for r in rows}


def _daily(metric: str, view: View) -> dict[str, dict[str, float | None]]:
    """{org: {day: value}} for the ICB, its region and England."""
    rows = _q(metric, window=view.window, grain="day", by=("org",),
              where={"org": tuple(view.orgs)}, at=view.at).rows
    out: dict[str, dict[str, float | None]] = {code: {} for code in view.orgs}
    for r in rows:
        out.setdefault(str(r["org"]), {})[str(r["period"])[:10]] = r.get("value")
    return out


def _days(view: View) -> list[str]:
    from_, to = view.window
    return [(from_ + timedelta(days=i)).isoformat() for i in range((to - from_).days)]


# --- sections ------------------------------------------------------------------------------

def _cell(value: float | None, unit: str, metric: str, where: Mapping[str, tuple[str, ...]]) -> html.Td:
    text = format_value(value, unit) if unit == "rate" or value is None else f"{float(value):,.1f}"
    return html.Td(text, className="hw-num", **{
        "data-metric": metric, "data-value": "" if value is None else repr(float(value)),
        "data-where": ",".join(f"{k}={','.join(v)}" for k, v in sorted(where.items()))})


def comparison(view: View, means: Mapping[str, Mapping[tuple[str, str], float | None]]) -> html.Div:
    """ICB, region and England side by side: the published means and the share discharged."""
    def build() -> html.Div:
        body = []
        for code, label in view.orgs.items():
            where = view.where(code)
            key = (where["level"][0], code)
            nctr, dis, rem, shr = (means[m].get(key) for m in (*MEAN_METRICS, SHARE_METRIC))
            body.append(html.Tr([
                html.Th(label, scope="row"),
                _cell(nctr, "people", "sitrep_nctr", where), _cell(dis, "people", "sitrep_discharged", where),
                _cell(rem, "people", "sitrep_remaining", where), _cell(shr, "rate", SHARE_METRIC, where),
            ], className="hw-bm-row--icb" if code == view.icb else None,
                style={"fontWeight": 700} if code == view.icb else None))
        head = html.Tr([html.Th("Area"), html.Th("NCTR per day (mean)", className="hw-num"),
                        html.Th("Discharged per day (mean)", className="hw-num"),
                        html.Th("Remaining per day (mean)", className="hw-num"),
                        html.Th("Share of NCTR discharged", className="hw-num")])
        return html.Div([
            html.H2(f"{view.icb_name}, its region and England, {window_words(view.window)}",
                    className="hw-panel__title", style={"marginTop": 0}),
            html.Table([html.Thead(head), html.Tbody(body)], className="hw-table", id=_id("compare"),
                       style={"fontSize": "19px"}),
            html.P("Counts differ in size with the population served, so compare the share discharged, not the "
                   "counts. Region and England include patients discharged to a hospice; ICB and trust figures "
                   "exclude them (NHS England disclosure rule).", className="hw-filter__hint",
                   style={"fontSize": "15px", "marginBottom": 0}),
        ], className="hw-panel")
    return guarded(build, "ICB, region and England compared")


def _rank(view: View, means: Mapping[str, Mapping[tuple[str, str], float | None]]) -> tuple[int | None, int]:
    """The ICB's place among ICBs by share of NCTR discharged (1 = highest share)."""
    shares = {org: v for (level, org), v in means[SHARE_METRIC].items() if level == "icb"}
    valid = sorted((s, org) for org, s in shares.items() if s is not None)
    order = [org for _, org in sorted(valid, key=lambda t: -t[0])]
    return (order.index(view.icb) + 1 if view.icb in order else None), len(order)


def tiles(view: View, means: Mapping[str, Mapping[tuple[str, str], float | None]]) -> html.Div:
    def build() -> html.Div:
        icb_key, reg_key, eng_key = ("icb", view.icb), ("region", view.region), ("england", "ENG")
        n, d, r = (means[m] for m in MEAN_METRICS)
        icb_where = {"level": "icb", "org": view.icb}
        s_icb, s_reg, s_eng = (means[SHARE_METRIC].get(k) for k in (icb_key, reg_key, eng_key))

        def delta(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a - b

        rank, of = _rank(view, means)
        period = window_words(view.window)
        cards = [
            tile(TileData(SHARE_METRIC, "Share of NCTR discharged each day", "rate", s_icb, direction="up",
                          note=f"{view.region_name} {format_value(s_reg, 'rate')} · England "
                               f"{format_value(s_eng, 'rate')}",
                          changes=((f"vs {view.region_name}", delta(s_icb, s_reg)),
                                   ("vs England", delta(s_icb, s_eng))), where=icb_where)),
            tile(TileData(f"rank:{SHARE_METRIC}", f"Rank among {of} ICBs by share discharged", None,
                          float(rank) if rank is not None else None,
                          note="1 = highest share of NCTR patients discharged", where=icb_where)),
            tile(TileData("sitrep_nctr", "NCTR patients per day (mean)", "people", n.get(icb_key),
                          direction="down", note=f"{view.icb_name}, {period}", where=icb_where)),
            tile(TileData("sitrep_discharged", "Of them, discharged per day", "people", d.get(icb_key),
                          direction="up", note=f"{view.icb_name}, {period}", where=icb_where)),
            tile(TileData("sitrep_remaining", "Of them, still in hospital per day", "people", r.get(icb_key),
                          direction="down", note=f"{view.icb_name}, {period}", where=icb_where)),
        ]
        return tile_row(cards, row_id=_id("tiles"))
    return guarded(build, "Benchmark tiles")


def share_trend(view: View, daily: Mapping[str, Mapping[str, Mapping[str, float | None]]]) -> html.Div:
    def build() -> html.Div:
        series = []
        for code, label in view.orgs.items():
            rows = [{"period": day, "value": daily[SHARE_METRIC].get(code, {}).get(day)} for day in _days(view)]
            series.append((label, rows))
        empty = all(r["value"] is None for _, rows in series for r in rows)
        fig = None if empty else figures.lines(series, title="Share of NCTR patients discharged each day",
                                               y_title="discharged ÷ NCTR", percent=True)
        return chart(fig, graph_id=_id("g-share"), empty=f"no published daily figures for "
                     f"{window_words(view.window)}.", summary="Daily share of patients no longer meeting the "
                     "criteria to reside who were discharged, for the ICB, its region and England.")
    return guarded(build, "Share discharged each day")


def index_trend(view: View, daily: Mapping[str, Mapping[str, Mapping[str, float | None]]]) -> html.Div:
    def build() -> html.Div:
        series = []
        for code, label in view.orgs.items():
            values = daily["sitrep_nctr"].get(code, {})
            days = _days(view)
            base = next((values.get(day) for day in days if values.get(day)), None)
            rows = [{"period": day, "value": None if base is None or values.get(day) is None
                     else 100.0 * float(values[day]) / float(base)} for day in days]  # type: ignore[arg-type]  # not None: tested first
            series.append((label, rows))
        empty = all(r["value"] is None for _, rows in series for r in rows)
        fig = None
        if not empty:
            fig = go.Figure(figures.lines(series, title="NCTR patients, indexed to the first day (= 100)",
                                          y_title="index", value_format=",.0f"))
            fig.update_yaxes(rangemode="normal")
            fig.add_hline(y=100, line={"color": figures.NHS_MID_GREY, "dash": "dot", "width": 1})
        return chart(fig, graph_id=_id("g-index"), empty=f"no published daily NCTR for {window_words(view.window)}.",
                     summary="Daily NCTR count for the ICB, region and England, each divided by its own first day, "
                     "so the shapes can be compared.")
    return guarded(build, "NCTR indexed")


def _trust_rows(view: View, geo: Geography,
                means: Mapping[str, Mapping[tuple[str, str], float | None]]) -> list[dict[str, Any]]:
    rows = []
    for code in geo.trusts_in_icb(view.icb):
        key = ("trust", code)
        if key not in means["sitrep_nctr"]:
            continue
        n, d, r, s = (means[m].get(key) for m in (*MEAN_METRICS, SHARE_METRIC))
        rows.append({"org": code, "trust": short_org(geo.trusts[code].name), "nctr": n, "discharged": d,
                     "remaining": r, "share": s})
    return rows


def trusts_ranked(view: View, geo: Geography,
                  means: Mapping[str, Mapping[tuple[str, str], float | None]]) -> list[Any]:
    def build_remaining() -> html.Div:
        rows = _trust_rows(view, geo, means)
        fig = None if not rows else figures.ranked_bars(
            [{"org": r["trust"], "value": r["remaining"]} for r in rows], key="org", labels={},
            title="Trusts: NCTR patients still in hospital per day (mean)", x_title="people per day")
        return chart(fig, graph_id=_id("g-trust-remaining"), empty=f"no trust in {view.icb_name} published "
                     f"figures for {window_words(view.window)}.")

    def build_share() -> html.Div:
        rows = _trust_rows(view, geo, means)
        fig = None if not rows else figures.ranked_bars(
            [{"org": r["trust"], "value": r["share"]} for r in rows], key="org", labels={},
            title="Trusts: share of NCTR patients discharged each day", x_title="share discharged", percent=True)
        if fig is not None:
            eng = means[SHARE_METRIC].get(("england", "ENG"))
            if eng is not None:
                fig = go.Figure(fig)
                fig.add_vline(x=eng, line={"color": figures.NHS_DARK_PINK, "dash": "dash", "width": 3},
                              annotation_text=f"England {format_value(eng, 'rate')}",
                              annotation_position="top", annotation_font={"color": figures.NHS_DARK_PINK})
        return chart(fig, graph_id=_id("g-trust-share"), empty=f"no trust in {view.icb_name} published figures for "
                     f"{window_words(view.window)}.")
    return [guarded(build_remaining, "Trusts by NCTR remaining"), guarded(build_share, "Trusts by share discharged")]


def trust_table(view: View, geo: Geography, means: Mapping[str, Mapping[tuple[str, str], float | None]]) -> html.Div:
    def build() -> html.Div:
        rows = sorted(_trust_rows(view, geo, means), key=lambda r: -(r["remaining"] or 0))
        return grid(_id("trusts"), rows, [
            {"field": "trust", "headerName": "Trust", "minWidth": 260},
            {"field": "org", "headerName": "Code", "maxWidth": 110},
            number_col("nctr", "NCTR per day", unit="days"), number_col("discharged", "Discharged per day", unit="days"),
            number_col("remaining", "Remaining per day", unit="days"),
            number_col("share", "Share discharged", unit="rate"),
        ], empty=f"no trust in {view.icb_name} published figures for {window_words(view.window)}.")
    return guarded(build, "Trust table")


def _pathway_fig(series: Sequence[tuple[str, Mapping[str, float]]], keys: Sequence[str]) -> go.Figure:
    """Pathways down the side (long names stay readable), the ICB and England as bars side by side."""
    fig = go.Figure()
    cats = [PATHWAY_LABELS.get(k, k) for k in keys][::-1]  # Plotly draws bottom-up
    for i, (name, shares) in enumerate(series[::-1]):  # first series on top within each group
        xs = [shares.get(k) for k in keys][::-1]
        j = len(series) - 1 - i
        fig.add_bar(y=cats, x=xs, name=name, orientation="h",
                    marker={"color": (figures.NHS_BLUE, figures.NHS_AQUA_GREEN)[j % 2],
                            "pattern": {"shape": figures.PATTERNS[j % len(figures.PATTERNS)], "fgcolor": "#FFFFFF"}},
                    text=[format_value(x, "rate") for x in xs], textposition="outside", cliponaxis=False,
                    textfont={"size": 15}, hovertemplate=f"{name}<br>%{{y}}: %{{x:.1%}}<extra></extra>")
    fig.update_layout(
        barmode="group", height=460, bargap=0.25, bargroupgap=0.05,
        title={"text": "Discharges by pathway: share of all discharges", "x": 0, "xanchor": "left", "y": 1,
               "yref": "container", "yanchor": "top", "pad": {"t": 10}, "font": {"size": 19}},
        font={"family": figures.FONT, "size": 15, "color": figures.NHS_BLACK}, paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)", margin={"l": 10, "r": 40, "t": 90, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0,
                "traceorder": "reversed"})
    fig.update_xaxes(tickformat=".0%", gridcolor="#D8DDE0", rangemode="tozero", automargin=True, showgrid=True,
                     title_text="share of discharges")
    fig.update_yaxes(automargin=True)
    return fig


def pathway_mix(view: View) -> html.Div:
    def build() -> html.Div:
        icb_rows = _q("sitrep_discharges_by_pathway", window=view.window, by=("pathway",),
                      where={"level": ("icb",), "org": (view.icb,)}, at=view.at).rows
        eng_rows = _q("sitrep_discharges_by_pathway", window=view.window, by=("pathway",), at=view.at).rows

        def shares(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
            total = sum(float(r["value"]) for r in rows if r.get("value") is not None)
            return {str(r["pathway"]): float(r["value"]) / total for r in rows
                    if r.get("value") is not None and total} if total else {}

        icb_s, eng_s = shares(icb_rows), shares(eng_rows)
        keys = [k for k in PATHWAY_LABELS if k in icb_s or k in eng_s]
        keys += sorted((set(icb_s) | set(eng_s)) - set(keys))
        fig = None if not icb_s else _pathway_fig([(view.icb_name, icb_s), ("England", eng_s)], keys)
        return chart(fig, graph_id=_id("g-pathway"), empty=f"{view.icb_name} published no discharges by pathway for "
                     f"{window_words(view.window)} (Table 4 is monthly).", summary="Share of discharges on each "
                     "pathway, the ICB beside England.")
    return guarded(build, "Discharges by pathway")


def content(view: View, geo: Geography) -> list[Any]:
    """Everything below the controls for one ICB and window (built once per data version and view)."""
    from dashboard.components.page import cached_json

    key = f"{view.icb}|{view.window[0]}|{view.window[1]}|{view.at.isoformat() if view.at else 'now'}"
    return cached_json("benchmark", key, lambda: _content(view, geo), pinned=view.at is not None)


def _content(view: View, geo: Geography) -> list[Any]:
    means = {m: _by_org(m, view) for m in (*MEAN_METRICS, SHARE_METRIC)}
    if ("icb", view.icb) not in means["sitrep_nctr"]:
        return [empty_state(f"{view.icb_name} has no published sitrep figures for {window_words(view.window)}. "
                            "Choose another month or ICB.")]
    daily = {m: _daily(m, view) for m in ("sitrep_nctr", SHARE_METRIC)}
    return [
        tiles(view, means),
        comparison(view, means),
        html.Div([share_trend(view, daily), index_trend(view, daily), pathway_mix(view),
                  *trusts_ranked(view, geo, means)], className="hw-charts"),
        html.H2(f"Trusts in {view.icb_name}", className="hw-panel__title"),
        trust_table(view, geo, means),
    ]


# --- layout and callbacks -------------------------------------------------------------------

def _geography() -> Geography:
    from dashboard.data import geography

    return geography()


def resolve_view(geo: Geography, icb: str | None, window: tuple[date, date], at: datetime | None) -> View:
    code = (icb or settings.home_icb()).upper()
    if code not in geo.icbs:
        code = settings.home_icb()
    i = geo.icbs[code]
    region = geo.regions.get(i.region)
    return View(icb=code, icb_name=short_org(i.name), region=i.region,
                region_name=region.name if region else i.region, window=window, at=at)


def _source_line(window: tuple[date, date]) -> html.P:
    return html.P([html.Strong("Source: "), f"{SOURCE}, {window_words(window)}; {LICENCE}. ",
                   "NCTR: patients who no longer meet the criteria to reside."],
                  id=_id("source"), className="hw-lead", style={"fontSize": "16px"})


def _controls(geo: Geography, view: View, months: list[date]) -> html.Section:
    icbs = sorted(geo.icbs.values(), key=lambda i: i.name)
    month_value = view.window[0].isoformat() if window_words(view.window) == month_words(view.window[0]) else None
    return html.Section([
        html.Div([html.Label("ICB", htmlFor=_id("icb"), className="hw-filter__label"),
                  dcc.Dropdown(id=_id("icb"), options=[{"label": f"{short_org(i.name)} ({i.code})", "value": i.code}
                                                       for i in icbs], value=view.icb, clearable=False)],
                 className="hw-filter"),
        html.Div([html.Label("Published month", htmlFor=_id("month"), className="hw-filter__label"),
                  dcc.Dropdown(id=_id("month"), options=[{"label": month_words(m), "value": m.isoformat()}
                                                         for m in reversed(months)],
                               value=month_value, clearable=False,
                               placeholder=f"Custom: {window_words(view.window)}"),
                  html.Div("Dates in the address: from=YYYY-MM-DD&to=YYYY-MM-DD (to excluded)",
                           className="hw-filter__hint")], className="hw-filter"),
    ], className="hw-filters", **{"aria-label": "Filters"})


def _heading(view: View | None) -> html.Div:
    scope = f"{view.icb_name} ({view.icb}), {view.region_name} region" if view else None
    return page_heading("Benchmark: are we worse than others?",
                        "Your ICB and its trusts against the region and England, from NHS England's published "
                        "discharge sitrep. Counts differ in size, so compare shares and shapes.", scope, None)


def layout(**query_args: Any) -> html.Div:
    at = parse_at(query_args.get("at"))
    geo = _geography()
    months = guarded(lambda: published_months(at), "Published months")
    if not isinstance(months, list):  # the store could not be read: plain words already
        return html.Div([_heading(None), months], className="hw-page")
    if not months:
        return html.Div([_heading(None), empty_state(EMPTY_STORE)], className="hw-page", id=_id("page"))
    from_, to = parse_date(query_args.get("from")), parse_date(query_args.get("to"))
    if from_ is None and to is None:
        window = (months[-1], _next_month(months[-1]))
    else:
        from_ = from_ or ((to or months[-1]) - timedelta(days=28))
        to = to if to and to > from_ else _next_month(from_) if from_.day == 1 else from_ + timedelta(days=28)
        window = (from_, to)
    icb = query_args.get("icb")
    view = resolve_view(geo, str(icb[0] if isinstance(icb, list) else icb) if icb else None, window, at)
    return html.Div([
        _heading(view),
        _controls(geo, view, months),
        html.Div(id=_id("sync"), hidden=True),
        dcc.Store(id=_id("window"), data=[view.window[0].isoformat(), view.window[1].isoformat()]),
        html.Div([_source_line(view.window), *content(view, geo)], id=_id("content"), **{"aria-live": "polite"}),
    ], className="hw-page", id=_id("page"))


@callback(Output(_id("content"), "children"), Input(_id("icb"), "value"), Input(_id("month"), "value"),
          State(_id("window"), "data"), prevent_initial_call=True)
def _refresh(icb: str | None, month: str | None, loaded: list[str] | None) -> list[Any]:
    geo = _geography()
    if month:
        start = date.fromisoformat(month[:10])
        window = (start, _next_month(start))
    elif loaded:  # a custom window from the address: keep it when only the ICB changes
        window = (date.fromisoformat(loaded[0]), date.fromisoformat(loaded[1]))
    else:
        months = published_months()
        if not months:
            return [empty_state(EMPTY_STORE)]
        window = (months[-1], _next_month(months[-1]))
    view = resolve_view(geo, icb, window, None)
    return [_source_line(view.window), *content(view, geo)]


# The ICB and month go into the address (no reload), so the view can be bookmarked and shared.
clientside_callback(
    """
    function(icb, month) {
        var params = new URLSearchParams(window.location.search);
        ["icb", "from", "to"].forEach(function(k) { params.delete(k); });
        if (icb) { params.set("icb", icb); }
        var loaded = new URLSearchParams(window.location.search);
        if (!month && loaded.get("from")) { params.set("from", loaded.get("from")); }
        if (!month && loaded.get("to")) { params.set("to", loaded.get("to")); }
        if (month) {
            var d = new Date(String(month).slice(0, 10) + "T00:00:00Z");
            d.setUTCMonth(d.getUTCMonth() + 1);
            params.set("from", String(month).slice(0, 10));
            params.set("to", d.toISOString().slice(0, 10));
        }
        var qs = params.toString();
        var url = window.location.pathname + (qs ? "?" + qs : "") + window.location.hash;
        window.history.replaceState(window.history.state, "", url);
        return window.dash_clientside.no_update;
    }
    """,
    Output(_id("sync"), "children"), Input(_id("icb"), "value"), Input(_id("month"), "value"),
    prevent_initial_call=True,
)
