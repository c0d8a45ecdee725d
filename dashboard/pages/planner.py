"""`/planner`: what-if planning of one HWB's intermediate care pathway on today's data (issue 15).

The HWB and pathway come from the filter bar; the base scenario ("as now") from `models.planning_inputs`;
up to three what-ifs change capacity (absolute or ± places), demand (± %) and length of stay (± %). Every
what-if shares the base's random numbers (same seed), so differences are the change's, not noise. The
controls are in the URL (c1, dc1, d1, l1 … for scenarios 1–3, weeks, target), so a plan can be shared.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import sections
from dashboard.components.common import empty_state, page_heading
from dashboard.components.outlook import outlook_panel
from dashboard.components.page import filtered_page, register_filtered_page
from dashboard.labels import PATHWAY_SHORT
from dashboard.state import FilterState
from models.charts import GRAPH_CONFIG, SERIES_COLOURS, _figure
from planner.report import FIELDS, WHAT_IFS, result_csv, what_ifs

dash.register_page(__name__, path="/planner", name="Planner", title="Planner · Homeward", order=7,
                   description="What if capacity, demand or length of stay changed: people waiting in weeks ahead.")

PREFIX = "plan"
FILTERS = ("icb", "place", "hwb", "pathway", "at")
DEFAULT_WEEKS, DEFAULT_TARGET = 12, 5
SEARCH_RUNS = 100  # the capacity search runs each candidate with fewer runs: it only needs the p95


def content(state: FilterState) -> list[Any]:
    scope, as_at = sections.scope_facts(state)
    heading = page_heading("Planner", "What if we add places, or shorten stays: how many people will wait in the "
                           "weeks ahead, and for how long? A simulation of one pathway in one HWB on today's data.",
                           scope, as_at)
    outlook = outlook_panel(PREFIX, state)
    if len(state.hwb) != 1 or len(state.pathway) != 1 or state.pathway[0] not in ("1", "2", "3"):
        return [heading, html.Div(empty_state("choose one HWB and one pathway (1, 2 or 3) above to plan; "
                                              "the outlook below covers the whole area."), className="hw-panel"),
                outlook, dcc.Store(id=f"{PREFIX}-base", data=None)]
    from models.planning_inputs import planning_inputs

    base = planning_inputs(state.hwb[0], int(state.pathway[0]), at=state.resolved_at())
    if base is None:
        return [heading, empty_state(f"unknown HWB {state.hwb[0]}"), dcc.Store(id=f"{PREFIX}-base", data=None)]
    return [heading, _basis(base), outlook,
            dcc.Store(id=f"{PREFIX}-base", data={"scenario": base, "query": state.to_query_string()})]


def _basis(base: dict[str, Any]) -> html.Div:
    b = base["basis"]
    weeks = ", ".join(f"{w['week_from']}: {w['referrals']:g}" for w in b["arrival_weeks"])
    per_day = sum(base["arrivals"]) / 7
    return html.Div([
        html.H2("As now", className="hw-h2"),
        html.Ul([
            html.Li(f"Arrivals: referrals to {PATHWAY_SHORT.get(str(b['pathway']), b['pathway'])} in this HWB, "
                    f"{per_day:.2f} a day on average, by weekday (Mon–Sun: "
                    f"{', '.join(f'{a:.2f}' for a in base['arrivals'])}) over the 12 full weeks "
                    f"{b['arrivals_from']} to {b['arrivals_to']}. Weeks (Monday: referrals): {weeks}."),
            html.Li(f"Capacity {base['capacity']} places, {base['occupied']} occupied now (vacancy feed: services of "
                    f"this pathway in this HWB). {b.get('capacity_note', '')}"),
            html.Li(f"Waiting now: {base['waiting']} people ready for discharge on this pathway still in hospital."),
            html.Li(f"Length of stay: {b['los_method']} (episodes ended {b['los_from']} to {b['los_to']})."),
        ], id=f"{PREFIX}-basis"),
    ], className="hw-panel")


def _number(value: Any, default: float | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _controls(query_args: dict[str, Any]) -> html.Div:
    def field(i: int, key: str, label: str, placeholder: str) -> html.Label:
        return html.Label([label, dcc.Input(id=f"{PREFIX}-{key}{i}", type="number", debounce=True,
                                            value=_number(query_args.get(f"{key}{i}"), None),
                                            placeholder=placeholder, className="hw-input")], className="hw-field")
    rows = [html.Fieldset([html.Legend(f"What-if {i}"),
                           field(i, "c", "Capacity (places)", "as now"), field(i, "dc", "± places", "0"),
                           field(i, "d", "Demand ± %", "0"), field(i, "l", "Length of stay ± %", "0")],
                          className="hw-fieldset",
                          style={"display": "grid", "gridTemplateColumns": "1fr 1fr", "gap": "4px 12px"})
            for i in range(1, WHAT_IFS + 1)]
    weeks = int(_number(query_args.get("weeks"), DEFAULT_WEEKS) or DEFAULT_WEEKS)
    return html.Div([
        html.H2("What if", className="hw-h2"),
        html.Div(rows, className="hw-whatifs",
                 style={"display": "grid", "gridTemplateColumns": "repeat(auto-fit, minmax(320px, 1fr))", "gap": "12px"}),
        html.Label(["Horizon (weeks)", dcc.Slider(id=f"{PREFIX}-weeks", min=4, max=26, step=1,
                                                  value=min(max(weeks, 4), 26),
                                                  marks={w: str(w) for w in (4, 8, 12, 16, 20, 26)})],
                   className="hw-field hw-field--wide"),
        html.Label(["Keep the 95th-percentile queue at or under (people)",
                    dcc.Input(id=f"{PREFIX}-target", type="number", min=0, debounce=True,
                              value=_number(query_args.get("target"), DEFAULT_TARGET), className="hw-input")],
                   className="hw-field"),
        html.Div([html.Button("Run", id=f"{PREFIX}-run", n_clicks=0, className="hw-button"),
                  html.A("Link to this plan", id=f"{PREFIX}-share", href="", className="hw-link"),
                  html.Button("Download CSV", id=f"{PREFIX}-csv-button", n_clicks=0, className="hw-button")],
                 style={"display": "flex", "gap": "16px", "alignItems": "center", "marginTop": "8px"}),
        dcc.Download(id=f"{PREFIX}-csv"),
    ], className="hw-panel", id=f"{PREFIX}-controls")


def layout(**query_args: Any) -> html.Div:
    page = filtered_page(PREFIX, FILTERS, content, query_args)
    page.children = [*page.children, _controls(query_args),
                     dcc.Loading(html.Div(id=f"{PREFIX}-results", **{"aria-live": "polite"})),
                     dcc.Store(id=f"{PREFIX}-result")]
    return page


register_filtered_page(PREFIX, FILTERS, content)


def _fan(results: list[tuple[str, dict[str, Any]]], measure: str, title: str, y_title: str,
         reference: float | None = None) -> dict[str, Any]:
    traces: list[dict[str, Any]] = []
    for i, (label, result) in enumerate(results):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        x = [d["date"] for d in result["days"]]
        traces += [
            {"type": "scatter", "x": x, "y": [d[measure]["p95"] for d in result["days"]], "mode": "lines",
             "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip", "legendgroup": label},
            {"type": "scatter", "x": x, "y": [d[measure]["p05"] for d in result["days"]], "mode": "lines",
             "line": {"width": 0}, "fill": "tonexty", "fillcolor": colour + "2E", "name": f"{label}: 5–95 %",
             "showlegend": False, "hoverinfo": "skip", "legendgroup": label},
            {"type": "scatter", "x": x, "y": [d[measure]["mean"] for d in result["days"]], "mode": "lines",
             "name": label, "line": {"color": colour, "width": 3, "dash": ("solid", "dash", "dot", "dashdot")[i % 4]},
             "legendgroup": label}]
    if reference is not None and results:
        x = [results[0][1]["days"][0]["date"], results[0][1]["days"][-1]["date"]]
        traces.append({"type": "scatter", "x": x, "y": [reference, reference], "mode": "lines",
                       "name": "λ·W (Little's law, as now)", "line": {"color": "#231F20", "width": 1, "dash": "dot"}})
    return _figure(traces, title=title, y_title=y_title)


@callback(Output(f"{PREFIX}-results", "children"), Output(f"{PREFIX}-share", "href"),
          Output(f"{PREFIX}-result", "data"),
          Input(f"{PREFIX}-run", "n_clicks"), Input(f"{PREFIX}-base", "data"),
          State(f"{PREFIX}-weeks", "value"), State(f"{PREFIX}-target", "value"),
          *[State(f"{PREFIX}-{k}{i}", "value") for i in range(1, WHAT_IFS + 1) for k in FIELDS])
def _run(_clicks: int, base: dict[str, Any] | None, weeks: int, target: float | None, *fields: Any) -> Any:
    if not base:
        return None, "", None
    from planner.engine import simulate, smallest_capacity
    from planner.scenario import ScenarioError, parse_scenario

    keys = [f"{k}{i}" for i in range(1, WHAT_IFS + 1) for k in FIELDS]
    values = dict(zip(keys, fields))
    weeks = int(weeks or DEFAULT_WEEKS)
    target = float(target if target is not None else DEFAULT_TARGET)
    filters = urlencode([(k, v) for k, v in parse_qsl(base["query"]) if k.rstrip("0123456789") not in FIELDS
                         and k not in ("weeks", "target")])
    link = "/planner?" + "&".join(x for x in (filters, urlencode(
        {**{k: v for k, v in values.items() if v not in (None, "")}, "weeks": weeks, "target": f"{target:g}"})) if x)
    try:
        runs = [(label, simulate(parse_scenario(body))) for label, body in what_ifs(base["scenario"], values, weeks)]
    except ScenarioError as e:
        return empty_state(f"this what-if cannot run: {e}", kind="error"), link, None
    as_now = base["scenario"]
    los = parse_scenario({**as_now, "days": 7}).los
    lam = sum(as_now["arrivals"]) / 7
    little = lam * los.mean
    search_body = {**{k: v for k, v in as_now.items() if k != "basis"}, "days": weeks * 7, "runs": SEARCH_RUNS}
    best = smallest_capacity(search_body, target)
    table = html.Table([
        html.Thead(html.Tr([html.Th(h) for h in ("Scenario", "Mean wait (days)", "Days at full capacity",
                                                  f"Waiting after {weeks} weeks (median, 95th pct)")])),
        html.Tbody([html.Tr([html.Td(label), html.Td(_fmt(r["summary"]["mean_wait_days"]["mean"], 1)),
                             html.Td(_fmt(r["summary"]["days_full"]["mean"], 0)),
                             html.Td(f"{_fmt(r['summary']['waiting_at_end']['p50'], 0)} "
                                     f"({_fmt(r['summary']['waiting_at_end']['p95'], 0)})")])
                    for label, r in runs])], className="hw-table", id=f"{PREFIX}-summary")
    search_words = (f"The smallest capacity keeping the 95th-percentile queue at or under {target:g} on every day of "
                    f"the {weeks} weeks, as now otherwise: {best} places." if best is not None else
                    f"No capacity keeps the 95th-percentile queue at or under {target:g} over {weeks} weeks "
                    "(the people waiting now are already more).")
    assumptions = html.Ul([
        html.Li("Each person arrives on a day at random (Poisson, the weekday's mean), joins one queue, and takes "
                "the first free place: first come, first served; nobody leaves the queue or goes elsewhere."),
        html.Li("Each stays a length of stay drawn from the distribution above; people in a place now stay a further "
                "random share of a stay; people waiting now go first."),
        html.Li(f"{as_now['runs']} runs per scenario; bands show the 5th to 95th percentile over runs, lines the mean. "
                "What-ifs share the same random numbers, so differences come from the change."),
        html.Li(f"Little's law: with places never short, λ·W = {lam:.2f} a day × {los.mean:.1f} days = "
                f"{little:.1f} people in a place (dotted line); occupancy held above it means a queue must grow."),
        html.Li("Capacity is fixed over the horizon; closures, seasonality and staffing are not modelled."),
    ])
    children = [
        html.Div([html.Div(dcc.Graph(id=f"{PREFIX}-waiting", figure=_fan(runs, "waiting", "People waiting",
                                                                       "people"), config=GRAPH_CONFIG), className="hw-panel"),
                  html.Div(dcc.Graph(id=f"{PREFIX}-occupied", figure=_fan(runs, "occupied", "Places occupied",
                                                                        "places", little), config=GRAPH_CONFIG),
                           className="hw-panel")], className="hw-charts"),
        html.Div([table, html.P(search_words, id=f"{PREFIX}-search"), html.H2("Assumptions", className="hw-h2"),
                  assumptions], className="hw-panel"),
    ]
    return children, link, [{"label": label, "result": r} for label, r in runs]


def _fmt(value: float | None, places: int) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


@callback(Output(f"{PREFIX}-csv", "data"), Input(f"{PREFIX}-csv-button", "n_clicks"),
          State(f"{PREFIX}-result", "data"), prevent_initial_call=True)
def _download(_clicks: int, results: list[dict[str, Any]] | None) -> Any:
    if not results:
        return no_update
    return {"content": result_csv(results), "filename": "homeward-plan.csv", "type": "text/csv"}
