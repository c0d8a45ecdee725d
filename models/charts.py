"""Rows from the metrics layer → Plotly figures. Pure functions: no queries, no arithmetic on figures.

Here, not in dashboard/, because the pages and the morning digest's PNG (alerts/) draw the same charts and
both may import models/ only. Figures are plain dicts: nothing here imports plotly.

Style: NHS identity colours, large readable type, a pattern as well as a
colour for each series (colour is never the only signal), no Plotly logo.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

NHS_BLUE = "#005EB8"
NHS_DARK_BLUE = "#003087"
NHS_BRIGHT_BLUE = "#0072CE"
NHS_LIGHT_BLUE = "#41B6E6"
NHS_AQUA_GREEN = "#00A499"
NHS_DARK_GREY = "#425563"
NHS_MID_GREY = "#768692"
NHS_PALE_GREY = "#E8EDEE"
NHS_WARM_YELLOW = "#FFB81C"
NHS_ORANGE = "#ED8B00"
NHS_RED = "#DA291C"
NHS_DARK_PINK = "#7C2855"
NHS_PURPLE = "#330072"
NHS_BLACK = "#231F20"
NHS_GREEN = "#007F3B"

SERIES_COLOURS: tuple[str, ...] = (NHS_BLUE, NHS_DARK_PINK, NHS_AQUA_GREEN, NHS_ORANGE, NHS_PURPLE,
                                   NHS_DARK_GREY, NHS_LIGHT_BLUE, NHS_RED)
PATTERNS: tuple[str, ...] = ("", "/", "x", ".", "\\", "+", "-", "|")
FONT = "Frutiger W01, Arial, Helvetica, sans-serif"

GRAPH_CONFIG: dict[str, Any] = {"displaylogo": False, "responsive": True,
                                "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"]}


Figure = dict[str, Any]  # {"data": [...], "layout": {...}}: plain dicts; dcc.Graph takes them as they are


def _deep_merge(into: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value
    return into


def _figure(traces: list[dict[str, Any]], *, title: str, y_title: str = "", font_size: int = 15, dark: bool = False,
            percent: bool = False, layout: Mapping[str, Any] | None = None) -> Figure:
    """The house style around some traces. Built as plain dicts: a go.Figure validates every
    property on the way in (~35 ms a chart), which a page of charts cannot afford."""
    ink = "#FFFFFF" if dark else NHS_BLACK
    grid = "#425563" if dark else "#D8DDE0"
    base: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "y": 1, "yref": "container", "yanchor": "top",
                  "pad": {"t": 10}, "font": {"size": font_size + 4, "color": ink}},
        "font": {"family": FONT, "size": font_size, "color": ink},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 10, "r": 10, "t": 44 + 3 * font_size, "b": 10},
        # Legend on its own line between title and plot, in drawing order: never over an axis title.
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0,
                   "traceorder": "normal"},
        "hoverlabel": {"font": {"family": FONT, "size": font_size}},
        "bargap": 0.2,
        "xaxis": {"showgrid": False, "linecolor": grid, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "gridcolor": grid, "zerolinecolor": grid, "automargin": True,
                  "rangemode": "tozero", "tickformat": ".0%" if percent else ","},
    }
    return {"data": traces, "layout": _deep_merge(base, layout or {})}


def _period(row: Mapping[str, Any]) -> Any:
    return row.get("period")


def stacked_bars(rows: Sequence[Mapping[str, Any]], *, series_key: str, labels: Mapping[Any, str], title: str,
                 y_title: str, font_size: int = 15, dark: bool = False, partial_last: str | None = None) -> Figure:
    """Per-period counts stacked by a dimension (e.g. discharges by pathway, grain=day). `partial_last` as in
    `lines`: the last period's bars are drawn pale and say so."""
    last = max((_period(r) for r in rows), default=None) if partial_last else None
    keys = [k for k in labels if any(str(r.get(series_key)) == str(k) for r in rows)]
    keys += sorted({str(r.get(series_key)) for r in rows} - {str(k) for k in keys})
    traces = []
    for i, key in enumerate(keys):
        series = [r for r in rows if str(r.get(series_key)) == str(key)]
        name = labels.get(key, labels.get(str(key), str(key)))
        so_far = [last is not None and _period(r) == last for r in series]
        traces.append({"type": "bar", "x": [_period(r) for r in series], "y": [r.get("value") for r in series],
                       "name": name, "text": [f" ({partial_last})" if x else "" for x in so_far], "textposition": "none",
                       "marker": {"color": SERIES_COLOURS[i % len(SERIES_COLOURS)],
                                  "opacity": [0.45 if x else 1.0 for x in so_far],
                                  "pattern": {"shape": PATTERNS[i % len(PATTERNS)], "fgcolor": "#FFFFFF", "fillmode": "overlay"}},
                       "hovertemplate": f"{name}<br>%{{x|%a %d %b}}%{{text}}: %{{y:,}}<extra></extra>"})
    if last is not None and partial_last:
        # the legend draws a key at full opacity: a pale grey stands for "pale"
        traces.append(_so_far_key(partial_last, {"type": "bar", "marker": {"color": "#BAC2C9"}}))
    return _figure(traces, title=title, y_title=y_title, font_size=font_size, dark=dark, layout={"barmode": "stack"})


def _so_far_key(what: str, trace: dict[str, Any]) -> dict[str, Any]:
    """A legend entry, with no data, saying how the period still being counted is drawn: in the legend it
    wraps with the series' names and never covers them or the plot."""
    return {**trace, "x": [None], "y": [None], "name": what[0].upper() + what[1:], "hoverinfo": "skip",
            "showlegend": True}


def overlaid_areas(series: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], *, title: str, y_title: str,
                   font_size: int = 15, dark: bool = False) -> Figure:
    """Nested series drawn over each other (NCTR, 7+, 14+, 21+ days): the bands show without subtracting."""
    shades = (NHS_LIGHT_BLUE, NHS_BRIGHT_BLUE, NHS_BLUE, NHS_DARK_BLUE)
    dashes = ("solid", "dot", "dash", "solid")
    traces = [{"type": "scatter", "x": [_period(r) for r in rows], "y": [r.get("value") for r in rows], "name": name,
               "mode": "lines+markers", "fill": "tozeroy",
               "line": {"color": shades[i % len(shades)], "width": 3, "dash": dashes[i % len(dashes)]},
               "marker": {"size": 6, "symbol": ("circle", "square", "diamond", "triangle-up")[i % 4]},
               "hovertemplate": f"{name}<br>%{{x|%a %d %b}}: %{{y:,}}<extra></extra>"}
              for i, (name, rows) in enumerate(series)]
    return _figure(traces, title=title, y_title=y_title, font_size=font_size, dark=dark)


def lines(series: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], *, title: str, y_title: str,
          percent: bool = False, font_size: int = 15, dark: bool = False, value_format: str = ",",
          partial_last: str | None = None) -> Figure:
    """One line per series. `partial_last` names the last period when it is not over yet ("today so far"):
    its point is drawn hollow and says so on hover and in the legend, so a half-counted day is not read as a fall."""
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "star")
    traces = []
    for i, (name, rows) in enumerate(series):
        symbol = symbols[i % len(symbols)]
        shape: Any = symbol
        text = [""] * len(rows)
        if partial_last and rows:
            shape = [symbol] * (len(rows) - 1) + [f"{symbol}-open"]
            text[-1] = f" ({partial_last})"
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        traces.append({"type": "scatter", "x": [_period(r) for r in rows], "y": [r.get("value") for r in rows],
                       "name": name, "mode": "lines+markers", "connectgaps": False, "text": text,
                       "line": {"color": colour, "width": 3},
                       "marker": {"size": 8, "symbol": shape, "line": {"width": 2, "color": colour}},
                       "hovertemplate": f"{name}<br>%{{x|%a %d %b}}%{{text}}: "
                                        f"%{{y:{'.1%' if percent else value_format}}}<extra></extra>"})
    if partial_last and any(rows for _, rows in series):
        traces.append(_so_far_key(partial_last, {"type": "scatter", "mode": "markers",
                                                 "marker": {"size": 9, "symbol": "circle-open", "color": NHS_MID_GREY,
                                                            "line": {"width": 2, "color": NHS_MID_GREY}}}))
    return _figure(traces, title=title, y_title=y_title, font_size=font_size, dark=dark, percent=percent)


def ranked_bars(rows: Sequence[Mapping[str, Any]], *, key: str, labels: Mapping[str, str], title: str,
                x_title: str, percent: bool = False, font_size: int = 15, dark: bool = False,
                limit: int = 12) -> Figure:
    """Horizontal bars, largest at the top (delay reasons ranked)."""
    ranked = sorted((r for r in rows if r.get("value") is not None), key=lambda r: float(r["value"]), reverse=True)
    ranked = ranked[:limit][::-1]  # Plotly draws bottom-up
    names = [labels.get(str(r.get(key)), str(r.get(key))) for r in ranked]
    trace = {"type": "bar", "x": [r["value"] for r in ranked], "y": names, "orientation": "h",
             "marker": {"color": NHS_BLUE},
             "text": [f"{float(r['value']):.1%}" if percent else f"{float(r['value']):,.0f}" for r in ranked],
             "textposition": "auto", "textfont": {"size": font_size},
             "hovertemplate": "%{y}: %{x:" + (".1%" if percent else ",") + "}<extra></extra>"}
    return _figure([trace], title=title, y_title="", font_size=font_size, dark=dark, layout={
        "xaxis": {"title": {"text": x_title}, "tickformat": ".0%" if percent else ",", "showgrid": True},
        "yaxis": {"rangemode": "normal", "tickformat": ""},
        "height": max(260, 60 + 34 * len(ranked) + font_size * 3)})


def grouped_stack(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *, title: str,
                  x_title: str, font_size: int = 15, dark: bool = False) -> Figure:
    """Categories down the side (service types: long names stay readable), stacked measures across."""
    colours = (NHS_DARK_BLUE, NHS_AQUA_GREEN, NHS_LIGHT_BLUE, NHS_MID_GREY)
    cats = list(categories)[::-1]  # Plotly draws bottom-up; keep the given order top-down
    traces = [{"type": "bar", "y": cats, "x": list(values)[::-1], "name": name, "orientation": "h",
               "marker": {"color": colours[i % len(colours)],
                          "pattern": {"shape": PATTERNS[i % len(PATTERNS)], "fgcolor": "#FFFFFF", "fillmode": "overlay"}},
               "hovertemplate": f"{name}<br>%{{y}}: %{{x:,}}<extra></extra>"}
              for i, (name, values) in enumerate(series)]
    return _figure(traces, title=title, y_title="", font_size=font_size, dark=dark, layout={
        "barmode": "stack", "height": max(300, 120 + 46 * len(cats)),
        "xaxis": {"title": {"text": x_title}, "showgrid": True, "tickformat": ","},
        "yaxis": {"rangemode": "normal", "tickformat": ""}})
