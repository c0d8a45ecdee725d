"""`/definitions`: every metric's definition, unit, direction and thresholds, rendered from the registry."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard.components.common import page_heading
from dashboard.formatting import format_value
from models.metrics import REGISTRY, Metric

dash.register_page(__name__, path="/definitions", name="Definitions", title="Definitions · Homeward", order=9,
                   description="What every figure means: the metrics catalogue.")

DIRECTION_WORDS = {"up": "Higher is better", "down": "Lower is better", "none": "Neither: context"}


def _thresholds(m: Metric) -> str:
    t = m.thresholds
    if t is None:
        return "No RAG thresholds"
    unit = m.unit
    if m.direction == "down":
        return (f"Green at or below {format_value(t.green, unit)}; red at or above {format_value(t.red, unit)}; "
                "amber between")
    return (f"Green at or above {format_value(t.green, unit)}; red at or below {format_value(t.red, unit)}; "
            "amber between")


def _row(m: Metric) -> html.Tr:
    return html.Tr([
        html.Th([html.Div(m.label), html.Code(m.name, className="hw-code")], scope="row", id=f"def-{m.name}"),
        html.Td([html.P(m.definition, className="hw-def"), html.P(m.notes, className="hw-hint") if m.notes else None]),
        html.Td(m.unit), html.Td("At an instant (as at)" if m.kind == "snapshot" else "Over a window of days"),
        html.Td(DIRECTION_WORDS.get(m.direction, m.direction)), html.Td(_thresholds(m)),
        html.Td(", ".join(m.dimensions), className="hw-dims"),
    ])


def layout(**_query_args: Any) -> html.Div:
    groups: dict[str, list[Metric]] = {}
    for m in REGISTRY.values():
        groups.setdefault(m.group or "Other", []).append(m)
    sections: list[Any] = []
    for group, metrics in groups.items():
        sections.append(html.H2(group, className="hw-panel__title"))
        sections.append(html.Div(html.Table([
            html.Thead(html.Tr([html.Th(h, scope="col") for h in
                                ("Metric", "Definition", "Unit", "Kind", "Direction", "RAG thresholds", "Split by")])),
            html.Tbody([_row(m) for m in metrics]),
        ], className="hw-table hw-defs"), className="hw-panel"))
    return html.Div([page_heading("Definitions", "Every figure Homeward shows is one of these metrics, defined once "
                                  "and used by every page, export and the API.")] + sections, className="hw-page")
