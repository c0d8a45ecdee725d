"""`/definitions`: every metric's definition, unit, direction and thresholds, rendered from the registry."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard.components.common import page_heading
from models.formatting import format_value
from models.metrics import REGISTRY, Metric, Thresholds
from models.thresholds import deployment_thresholds

dash.register_page(__name__, path="/definitions", name="Definitions", title="Definitions · Homeward", order=9,
                   description="What every figure means: the metrics catalogue.")

DIRECTION_WORDS = {"up": "Higher is better", "down": "Lower is better", "none": "Neither: context"}


def _rule(m: Metric, t: Thresholds) -> str:
    green, red = format_value(t.green, m.unit), format_value(t.red, m.unit)
    if m.direction == "down":
        return f"Green at or below {green}; red at or above {red}; amber between"
    return f"Green at or above {green}; red at or below {red}; amber between"


def _thresholds(m: Metric) -> list[Any]:
    """The registry's default, then what this deployment sets (thresholds.toml), so the page explains every tile's colour."""
    lines: list[Any] = [html.Div(_rule(m, m.thresholds) if m.thresholds else "No default RAG thresholds")]
    for scope, t in deployment_thresholds(m.name):
        lines.append(html.Div(f"{scope or 'Everywhere'} (this deployment): {_rule(m, t)}", className="hw-hint"))
    return lines


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
