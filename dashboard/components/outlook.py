"""The 10-day outlook of people waiting per pathway (issue 15), shown on /planner and as a tile on /delays."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from dash import dcc, html

from dashboard.components.common import guarded
from dashboard.labels import PATHWAY_SHORT
from dashboard.state import FilterState
from models.charts import GRAPH_CONFIG, SERIES_COLOURS, _figure
from models.periods import london_date_of
from planner.outlook import DISCHARGE_BAND, OUTLOOK_DAYS, outlook

GEOGRAPHY = ("icb", "place", "hwb")


def outlook_rows(state: FilterState) -> dict[str, list[dict[str, Any]]]:
    """Per pathway, the outlook's days from tomorrow."""
    from models.db import get_engine
    from models.planning_inputs import outlook_inputs

    at = state.resolved_at()
    inputs = outlook_inputs(state.where(GEOGRAPHY), at, get_engine())
    start = london_date_of(at) + timedelta(days=1)
    return {p: outlook(v["waiting"], v["ready"], v["discharged"], start) for p, v in inputs["pathways"].items()}


def outlook_panel(prefix: str, state: FilterState, *, compact: bool = False) -> html.Div:
    def build() -> html.Div:
        rows = outlook_rows(state)
        traces: list[dict[str, Any]] = []
        for i, (p, days) in enumerate(rows.items()):
            colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
            x = [d["date"] for d in days]
            label = PATHWAY_SHORT.get(p, p)
            traces += [
                {"type": "scatter", "x": x, "y": [d["high"] for d in days], "mode": "lines", "line": {"width": 0},
                 "showlegend": False, "hoverinfo": "skip", "legendgroup": p},
                {"type": "scatter", "x": x, "y": [d["low"] for d in days], "mode": "lines", "line": {"width": 0},
                 "fill": "tonexty", "fillcolor": colour + "33", "showlegend": False, "hoverinfo": "skip",
                 "legendgroup": p},
                {"type": "scatter", "x": x, "y": [d["waiting"] for d in days], "mode": "lines+markers",
                 "name": label, "line": {"color": colour, "width": 3, "dash": ("solid", "dash", "dot")[i % 3]},
                 "legendgroup": p}]
        fig = _figure(traces, title=f"Outlook: people waiting, next {OUTLOOK_DAYS} days",
                      y_title="people waiting", font_size=13 if compact else 15)
        words = "; ".join(f"{PATHWAY_SHORT.get(p, p)}: "
                          f"{days[-1]['waiting']:g} in {OUTLOOK_DAYS} days ({days[-1]['low']:g}–{days[-1]['high']:g})"
                          for p, days in rows.items())
        return html.Div([
            dcc.Graph(id=f"{prefix}-outlook", figure=fig, config=GRAPH_CONFIG, className="hw-graph"),
            html.P([f"{words}. ", "queue tomorrow = max(0, queue today + ready − discharged), with ready and "
                    f"discharged as on the same weekday over the last 4 weeks; the band has discharges "
                    f"±{DISCHARGE_BAND:.0%}."], className="hw-note", id=f"{prefix}-outlook-words"),
        ], className="hw-panel")
    return guarded(build, "The 10-day outlook")
