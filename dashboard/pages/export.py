"""`/export`: for BI leads — choose a dataset and filters, preview, download CSV / XLSX / Parquet.

The preview and the downloads are the same rows: both go through
`models.datasets.parse_dataset_params` and `dashboard.export_table.open_table`
(suppression included), and the page shows the exact API URL behind the
download links, so a scheduled job can fetch the same view. All state is in
the URL (the shared filter bar plus `dataset`, `name`, `by`, `grain`).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, callback, clientside_callback, dcc, html

from dashboard.components.common import page_heading
from dashboard.components.filters import (
    filter_bar,
    filter_inputs,
    register_filter_callbacks,
    state_from_inputs,
    sync_target,
)
from dashboard.state import FilterState
from models.params import listed

dash.register_page(__name__, path="/export", name="Export", title="Export data · Homeward", order=80,
                   description="Filtered extracts of capacity, cases, metrics and sitrep data for BI.")

PREFIX = "ex"
FILTERS = ("icb", "place", "hwb", "pathway", "service_type", "dates", "at")
PREVIEW_ROWS = 500
DATASET_LABELS = {"capacity": "Capacity: latest report per service", "cases": "Cases: person-level, pseudonymised",
                  "metric": "Metric: a metric's figures", "sitrep": "Published NHS England sitrep"}
DOWNLOADS = (("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("parquet", "Parquet"))


def _first(raw: Any) -> str | None:
    if isinstance(raw, (list, tuple)):
        raw = raw[0] if raw else None
    return str(raw) if raw not in (None, "") else None


def export_params(dataset: str, name: str | None, by: list[str] | None, grain: str | None,
                  state: FilterState) -> tuple[list[tuple[str, str]], list[str]]:
    """The API query for this view, and the filters this dataset does not take (shown as a note)."""
    from models import datasets
    from models.metrics import REGISTRY

    pairs: list[tuple[str, str]] = []
    if dataset == "metric":
        metric = REGISTRY.get(name or "")
        if metric is None:
            return [], []
        pairs.append(("name", metric.name))
        accepted = set(metric.dimensions)
        chosen_by = [b for b in (by or []) if b in accepted]
        if chosen_by:
            pairs.append(("by", ",".join(chosen_by)))
        if grain:
            pairs.append(("grain", grain))
        window = True
    else:
        accepted = set(datasets.DATASET_FILTERS[dataset])
        window = datasets.DATASET_WINDOWS[dataset]
    ignored: list[str] = []
    for key in ("icb", "place", "hwb", "pathway", "service_type"):
        values: tuple[str, ...] = getattr(state, key)
        if not values:
            continue
        if key in accepted:
            pairs.extend((key, v) for v in values)
        else:
            ignored.append(key)
    if state.from_ or state.to:
        if window:
            if state.from_:
                pairs.append(("from", state.from_.isoformat()))
            if state.to:
                pairs.append(("to", state.to.isoformat()))
        else:
            ignored.append("dates")
    if state.at:
        pairs.append(("at", state.at.isoformat().replace("+00:00", "Z")))
    return pairs, ignored


def api_url(dataset: str, pairs: list[tuple[str, str]], fmt: str | None = None) -> str:
    query = pairs + ([("format", fmt)] if fmt else [])
    return f"/api/export/{dataset}" + (f"?{urlencode(query)}" if query else "")


def _cell(v: Any) -> Any:
    from dashboard.export_table import SUPPRESSED

    if v is SUPPRESSED:
        return None
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def preview(dataset: str, pairs: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """First rows of the export (column defs, rows, a note), through the same code as the download;
    cached on the view and the data version (an unpinned "now" view for a minute)."""
    from models import access
    from models.cache import cached_value

    # The same roles as the download (dashboard.auth.ROLE_RULES); asked before the cache, which is per scope.
    need = "case_worker" if dataset == "cases" else "analyst"
    principal = access.current()
    if not principal.at_least(need):
        return [], [], f"Cannot preview: the {dataset} export needs the {need.replace('_', ' ')} role."
    pinned = any(k == "at" for k, _ in pairs)
    # Suppression depends on the role too (case workers see small numbers): part of the key.
    columns, records, note = cached_value("export_preview",
                                          f"{dataset}|{pairs}|{PREVIEW_ROWS}|{access.sees_small_numbers(principal)}",
                                          lambda: list(_preview(dataset, pairs)), pinned=pinned)
    return columns, records, note


def _preview(dataset: str, pairs: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    from dashboard.export_table import open_table
    from models import access, datasets, settings
    from models.db import get_engine
    from models.query import QueryError

    params: dict[str, list[str]] = {}
    for k, v in pairs:
        params.setdefault(k, []).append(v)
    if dataset != "metric":
        params["limit"] = [str(PREVIEW_ROWS + 1)]  # one more than shown, to know if there are more
    engine = get_engine()
    try:
        q = datasets.parse_dataset_params(engine, dataset, params)
        table = open_table(engine, q, suppress=settings.suppression_enabled()
                           and not access.sees_small_numbers())
    except QueryError as exc:
        return [], [], f"Cannot preview: {exc.message} (parameter `{exc.param}`)."
    rows: list[tuple[Any, ...]] = []
    try:
        for chunk in table.counted():
            rows.extend(chunk)
            if len(rows) > PREVIEW_ROWS:
                break
    finally:
        table.close()
    more = len(rows) > PREVIEW_ROWS
    names = [c.name for c in table.columns]
    records = [{n: _cell(v) for n, v in zip(names, row)} for row in rows[:PREVIEW_ROWS]]
    numeric = {"int", "float"}
    columns = [{"field": c.name, "headerName": c.name, "headerTooltip": c.meaning,
                "filter": "agNumberColumnFilter" if c.type in numeric else "agTextColumnFilter",
                **({"type": "numericColumn"} if c.type in numeric else {})} for c in table.columns]
    note = (f"Showing the first {PREVIEW_ROWS} rows; the download holds them all." if more
            else f"{len(records)} row{'s' if len(records) != 1 else ''}.")
    note += (" Small-number suppression applied: counts 1–7 withheld (blank, flagged), others rounded to the nearest 5."
             if table.suppression_applied else " No suppression applied to this dataset.")
    return columns, records, note


def _metric_options() -> list[dict[str, str]]:
    from models.metrics import REGISTRY

    return [{"label": f"{m.label} ({m.name})", "value": m.name} for m in REGISTRY.values()]


def _by_options(name: str | None) -> list[dict[str, str]]:
    from models.metrics import REGISTRY

    metric = REGISTRY.get(name or "")
    return [{"label": d, "value": d} for d in (metric.dimensions if metric else ())]


def layout(**query_args: Any) -> html.Div:
    from dashboard.data import geography

    state = FilterState.from_args(query_args)
    dataset = _first(query_args.get("dataset")) or "capacity"
    if dataset not in DATASET_LABELS:
        dataset = "capacity"
    name = _first(query_args.get("name")) or "nctr_count"
    by = list(listed(query_args.get("by")))
    grain = _first(query_args.get("grain"))
    return html.Div([
        page_heading("Export data", "Choose a dataset and filters, check the preview, then download it — or copy the "
                     "API address to fetch the same rows from a BI tool. Every export is logged."),
        html.Section([
            html.Div([html.Label("Dataset", htmlFor=f"{PREFIX}-dataset", className="hw-filter__label"),
                      dcc.Dropdown(id=f"{PREFIX}-dataset", options=[{"label": v, "value": k} for k, v in DATASET_LABELS.items()],
                                   value=dataset, clearable=False)], className="hw-filter"),
            html.Div([html.Label("Metric", htmlFor=f"{PREFIX}-name", className="hw-filter__label"),
                      dcc.Dropdown(id=f"{PREFIX}-name", options=_metric_options(), value=name, clearable=False)],
                     id=f"{PREFIX}-name-field", className="hw-filter", hidden=dataset != "metric"),
            html.Div([html.Label("Split by", htmlFor=f"{PREFIX}-by", className="hw-filter__label"),
                      dcc.Dropdown(id=f"{PREFIX}-by", options=_by_options(name), value=by, multi=True,
                                   placeholder="One total row")],
                     id=f"{PREFIX}-by-field", className="hw-filter", hidden=dataset != "metric"),
            html.Div([html.Label("Grain", htmlFor=f"{PREFIX}-grain", className="hw-filter__label"),
                      dcc.Dropdown(id=f"{PREFIX}-grain", options=[{"label": g, "value": g} for g in ("day", "week", "month")],
                                   value=grain, placeholder="Whole window")],
                     id=f"{PREFIX}-grain-field", className="hw-filter", hidden=dataset != "metric"),
        ], className="hw-filters", role="group", **{"aria-label": "Dataset"}),
        filter_bar(PREFIX, state, geography(), show=FILTERS),
        sync_target(PREFIX),
        html.Div(id=f"{PREFIX}-own-sync", hidden=True),
        html.Section([
            html.H2("Download", className="hw-h2"),
            html.Div([html.A(label, id=f"{PREFIX}-download-{fmt}", href="#", download="", className="hw-button",
                             **{"data-format": fmt}) for fmt, label in DOWNLOADS], className="hw-downloads"),
            html.P(["API address for this view: ", html.Code(id=f"{PREFIX}-api-url")]),
            html.P(id=f"{PREFIX}-note", className="hw-note", **{"aria-live": "polite"}),
        ], className="hw-panel"),
        html.Section([
            html.H2("Preview", className="hw-h2"),
            html.Div([html.Label("Columns", htmlFor=f"{PREFIX}-columns", className="hw-filter__label"),
                      dcc.Dropdown(id=f"{PREFIX}-columns", multi=True, placeholder="All columns")], className="hw-filter"),
            dag.AgGrid(id=f"{PREFIX}-grid", rowData=[], columnDefs=[],
                       defaultColDef={"sortable": True, "resizable": True, "filter": True, "floatingFilter": True,
                                      "minWidth": 110},
                       dashGridOptions={"pagination": True, "paginationPageSize": 50, "tooltipShowDelay": 300},
                       style={"height": "560px"}, className="ag-theme-quartz hw-grid"),
        ], className="hw-panel"),
    ], className="hw-page")


register_filter_callbacks(PREFIX, FILTERS)

# dataset / name / by / grain into the URL too (the filter bar writes its own keys), without a reload.
clientside_callback(
    """
    function(dataset, name, by, grain) {
        var params = new URLSearchParams(window.location.search);
        ["dataset", "name", "by", "grain"].forEach(function(k) { params.delete(k); });
        params.set("dataset", dataset);
        if (dataset === "metric") {
            if (name) { params.set("name", name); }
            if (by && by.length) { params.set("by", by.join(",")); }
            if (grain) { params.set("grain", grain); }
        }
        var url = window.location.pathname + "?" + params.toString() + window.location.hash;
        window.history.replaceState(window.history.state, "", url);
        return window.dash_clientside.no_update;
    }
    """,
    Output(f"{PREFIX}-own-sync", "children"),
    Input(f"{PREFIX}-dataset", "value"), Input(f"{PREFIX}-name", "value"),
    Input(f"{PREFIX}-by", "value"), Input(f"{PREFIX}-grain", "value"),
)


@callback(Output(f"{PREFIX}-name-field", "hidden"), Output(f"{PREFIX}-by-field", "hidden"),
          Output(f"{PREFIX}-grain-field", "hidden"), Input(f"{PREFIX}-dataset", "value"))
def _metric_fields(dataset: str) -> tuple[bool, bool, bool]:
    hidden = dataset != "metric"
    return hidden, hidden, hidden


@callback(Output(f"{PREFIX}-by", "options"), Output(f"{PREFIX}-by", "value"),
          Input(f"{PREFIX}-name", "value"), State(f"{PREFIX}-by", "value"), prevent_initial_call=True)
def _by_for_metric(name: str, by: list[str] | None) -> tuple[list[dict[str, str]], list[str]]:
    options = _by_options(name)
    allowed = {o["value"] for o in options}
    return options, [b for b in (by or []) if b in allowed]


@callback(
    Output(f"{PREFIX}-grid", "columnDefs"), Output(f"{PREFIX}-grid", "rowData"),
    Output(f"{PREFIX}-columns", "options"), Output(f"{PREFIX}-columns", "value"),
    Output(f"{PREFIX}-api-url", "children"), Output(f"{PREFIX}-note", "children"),
    *[Output(f"{PREFIX}-download-{fmt}", "href") for fmt, _ in DOWNLOADS],
    inputs=dict(dataset=Input(f"{PREFIX}-dataset", "value"), name=Input(f"{PREFIX}-name", "value"),
                by=Input(f"{PREFIX}-by", "value"), grain=Input(f"{PREFIX}-grain", "value"),
                **filter_inputs(PREFIX, FILTERS)),
)
def _refresh(dataset: str, name: str | None, by: list[str] | None, grain: str | None, **values: Any) -> tuple[Any, ...]:
    state = state_from_inputs(values)
    pairs, ignored = export_params(dataset, name, by, grain, state)
    columns, rows, note = preview(dataset, pairs)
    if ignored:
        note += f" Not applicable to this dataset, so not applied: {', '.join(ignored)}."
    names = [c["field"] for c in columns]
    # none chosen reads "All columns": a list of every column on screen is noise (and hid most of itself)
    return (columns, rows, [{"label": n, "value": n} for n in names], [], api_url(dataset, pairs, "csv"), note,
            *[api_url(dataset, pairs, fmt) for fmt, _ in DOWNLOADS])


@callback(Output(f"{PREFIX}-grid", "columnDefs", allow_duplicate=True), Input(f"{PREFIX}-columns", "value"),
          State(f"{PREFIX}-grid", "columnDefs"), prevent_initial_call=True)
def _choose_columns(chosen: list[str] | None, columns: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    keep = set(chosen or [])
    return [{**c, "hide": bool(keep) and c["field"] not in keep} for c in (columns or [])]

