"""A figure tile: value, unit, RAG level in words and colour, change, small trend.

The tile's element carries `data-metric` and `data-value` (the unformatted
value) so tests and assistive tools can find the number behind the text.
"""
from __future__ import annotations

from typing import Any

from dash import html

from dashboard.data import TileData
from models.formatting import (
    RAG_SHORT,
    RAG_SYMBOL,
    RAG_WORDS,
    format_change,
    format_value,
    is_missing,
    unit_label,
)


def _judgement(delta: float | None, direction: str) -> str:
    """Better / worse in words, so the arrow's meaning never depends on colour."""
    if is_missing(delta) or delta == 0 or direction not in ("up", "down"):
        return ""
    assert delta is not None
    good = (delta > 0) == (direction == "up")
    return " (better)" if good else " (worse)"


def _change_line(label: str, delta: float | None, data: TileData) -> html.Div:
    text = format_change(delta, data.unit)
    arrow = "" if is_missing(delta) or delta == 0 else ("▲ " if (delta or 0) > 0 else "▼ ")
    return html.Div([html.Span(label, className="hw-tile__change-label"),
                     html.Span(f"{arrow}{text}{_judgement(delta, data.direction)}")],
                    className="hw-tile__change")


def _sparkline(data: TileData) -> html.Div | None:
    """Bars scaled to the largest value: light enough for a wall that runs for days."""
    points = [(label, v) for label, v in data.trend]
    values = [float(v) for _, v in points if not is_missing(v)]
    if len(values) < 2:
        return None
    top = max(values) or 1.0
    bars = [html.Span(className="hw-spark__bar hw-spark__bar--missing" if is_missing(v) else "hw-spark__bar",
                      style={"height": f"{max(4.0, 100.0 * float(v or 0) / top):.0f}%"},
                      title=f"{label}: {format_value(v, data.unit)}")
            for label, v in points]
    first, last = points[0], points[-1]
    summary = (f"Trend over {len(points)} periods, from {format_value(first[1], data.unit)} on {first[0]} "
               f"to {format_value(last[1], data.unit)} on {last[0]}")
    return html.Div(bars, className="hw-spark", role="img", **{"aria-label": summary})


def tile(data: TileData, *, size: str = "normal", tile_id: str | None = None) -> html.Div:
    """One tile; `size="wall"` for the kiosk view's very large type."""
    rag = data.rag if data.rag in RAG_WORDS else None
    value_text = format_value(data.value, data.unit)
    unit = unit_label(data.unit)
    attrs: dict[str, Any] = {
        "data-metric": data.metric,
        "data-value": "" if is_missing(data.value) else str(data.value),
        "data-rag": rag or "none",
    }
    if data.where:
        attrs["data-where"] = ",".join(f"{k}={v}" for k, v in sorted(data.where.items()))
    if tile_id:
        attrs["id"] = tile_id
    level = (html.Div([html.Span(RAG_SYMBOL[rag], className="hw-rag__symbol", **{"aria-hidden": "true"}),
                       html.Span(RAG_WORDS[rag] if size != "wall" else RAG_SHORT[rag])],
                      className=f"hw-rag hw-rag--{rag}")
             if rag else None)  # no target for this scope: nothing, rather than a sentence on every tile
    children: list[Any] = [
        html.Div(data.label, className="hw-tile__label"),
        html.Div([html.Span(value_text, className="hw-tile__value"),
                  html.Span(f" {unit}", className="hw-tile__unit") if unit and not is_missing(data.value) else None],
                 className="hw-tile__figure"),
        level,
    ]
    if data.note:
        children.append(html.Div(data.note, className="hw-tile__note"))
    for label, delta in data.changes:
        children.append(_change_line(f"{label}: ", delta, data))
    spark = _sparkline(data)
    if spark is not None:
        children.append(spark)
    return html.Div(children, className=f"hw-tile hw-tile--{size} hw-tile--rag-{rag or 'none'}",
                    role="group", **{"aria-label": f"{data.label}: {value_text} {unit}".strip()}, **attrs)


def tile_row(tiles: list[html.Div], *, row_id: str | None = None) -> html.Div:
    kwargs: dict[str, Any] = {"id": row_id} if row_id else {}
    return html.Div(tiles, className="hw-tiles", **kwargs)
