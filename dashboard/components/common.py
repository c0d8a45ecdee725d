"""Small shared pieces: page heading, chart panel, data grid, empty and error states."""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import dcc, html

from models.access import Forbidden
from models.charts import GRAPH_CONFIG
from models.deadline import QueryTimeout
from models.query import QueryError

log = logging.getLogger(__name__)


def page_heading(title: str, lead: str, scope: str | None = None, as_at: str | None = None) -> html.Div:
    facts = []
    if scope:
        facts.append(html.Span([html.Strong("Scope: "), scope], className="hw-heading__fact"))
    if as_at:
        facts.append(html.Span([html.Strong("As at: "), as_at], className="hw-heading__fact"))
    return html.Div([html.H1(title), html.P(lead, className="hw-lead"),
                     html.Div(facts, className="hw-heading__facts") if facts else None], className="hw-heading")


def empty_state(message: str, *, kind: str = "empty") -> html.Div:
    """Plain words instead of a blank chart: what is missing and why."""
    return html.Div([html.Strong("No data: " if kind == "empty" else "Could not show this: "), message],
                    className=f"hw-state hw-state--{kind}", role="status" if kind == "empty" else "alert")


def chart(fig: go.Figure | dict[str, Any] | None, *, graph_id: str, empty: str, summary: str | None = None) -> html.Div:
    """A chart panel, or the empty state when there is nothing to draw."""
    if fig is None:
        return html.Div(empty_state(empty), className="hw-panel")
    return html.Div([dcc.Graph(id=graph_id, figure=fig, config=GRAPH_CONFIG, className="hw-graph"),
                     html.P(summary, className="hw-sr-only") if summary else None], className="hw-panel")


def grid(grid_id: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[Mapping[str, Any]], *,
         height: int | None = None, empty: str = "nothing to list") -> html.Div:
    """dash-ag-grid with the house defaults (sortable, resizable, numbers right-aligned)."""
    if not rows:
        return html.Div(empty_state(empty), className="hw-panel")
    auto = height is None
    return html.Div(dag.AgGrid(
        id=grid_id, rowData=[dict(r) for r in rows], columnDefs=[dict(c) for c in columns],
        defaultColDef={"sortable": True, "resizable": True, "filter": False, "minWidth": 90,
                       "wrapHeaderText": True, "autoHeaderHeight": True},
        columnSize="responsiveSizeToFit",
        dashGridOptions={"domLayout": "autoHeight"} if auto else {},
        style={"height": f"{height}px"} if height else {},
        className="ag-theme-quartz hw-grid",
    ), className="hw-panel")


def number_col(field: str, header: str, *, unit: str = "count", tooltip: str | None = None) -> dict[str, Any]:
    """A numeric column formatted like the tiles (thousands separators, 1 dp days, % rates)."""
    fmt = {
        "count": "params.value == null ? '—' : d3.format(',')(params.value)",
        "days": "params.value == null ? '—' : d3.format(',.1f')(params.value)",
        "rate": "params.value == null ? '—' : d3.format('.1%')(params.value)",
    }[unit]
    col: dict[str, Any] = {"field": field, "headerName": header, "type": "rightAligned",
                           "valueFormatter": {"function": fmt}}
    if tooltip:
        col["headerTooltip"] = tooltip
    return col


def guarded(build: Callable[[], Any], what: str) -> Any:
    """Run a page section's builder; a bad filter or a store error becomes plain words, never a traceback."""
    try:
        return build()
    except (QueryError, Forbidden) as exc:  # a bad filter, a code outside the scope, a role too low
        return empty_state(f"{what}: {exc.message}", kind="error")
    except QueryTimeout as exc:  # expected under load or for a huge window: one line, not a traceback
        from models import settings

        limit = settings.query_timeout_seconds()
        log.warning("building %s stopped at the time limit (%g s): %s", what, limit, exc)
        return empty_state(f"{what} took longer than the time limit ({limit:g} seconds) and was stopped. "
                           "Narrow the dates or the area, or try again in a moment.", kind="error")
    except Exception:  # noqa: BLE001 - the page must stay up; the log keeps the detail
        log.exception("building %s failed", what)
        return empty_state(f"{what} could not be loaded from the store just now. It will be tried again at the "
                           "next refresh.", kind="error")
