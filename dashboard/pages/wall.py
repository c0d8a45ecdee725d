"""`/wall`: the kiosk view for a wall screen read from 4 m.

No navigation (the shell is hidden by CSS), very large type, light or dark
(`?theme=dark`), refreshed in place every `?refresh=` seconds (default 60)
with one request in flight at a time (assets/wall.js skips a tick while the
previous one is unanswered), rotation between panels (`?rotate=SECONDS`; without it only the first, the tiles, is shown:
a wall is one screen and never scrolls), scope
and "as at" always on screen, a loud banner when a feed is stale, and (in
assets/wall.js) one when the server cannot be reached.
"""
from __future__ import annotations

import json
from typing import Any

import dash
from dash import Input, Output, State, callback, clientside_callback, dcc, html
from plotly.io.json import to_json_plotly

from dashboard import data, sections
from dashboard.components.common import guarded
from dashboard.labels import FEED_LABELS
from dashboard.state import FilterState
from models import settings
from models.cache import shared_view
from models.db import get_engine
from models.formatting import format_age, format_time
from models.freshness import stale_feeds
from models.headlines import OVERVIEW_TILES

dash.register_page(__name__, path="/wall", name="Wall", title="Wall · Homeward", nav=False, order=20,
                   description="Kiosk view for wall screens.")

PREFIX = "wall"
DEFAULT_REFRESH = 60
PANELS = 3
STALE_CHECK_SECONDS = 5


def _int_arg(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(float(raw)) if raw not in (None, "") else default
    except ValueError:
        return default
    return max(low, min(high, value))


def wall_state(args: dict[str, Any]) -> FilterState:
    """The page's state; without any geography filter the scope is the deployment's own ICB (or, for a
    scoped principal, its scope)."""
    from models import access

    state = FilterState.from_args(args)
    # A scoped screen (a wall token's scope) shows its whole scope, not the home ICB.
    if not (state.icb or state.place or state.hwb) and access.current().national:
        state = FilterState.from_args({**args, "icb": settings.home_icb()})
    return state


def _stale_banner() -> html.Div | None:
    stale = stale_feeds(get_engine())
    if not stale:
        return None
    parts = [f"{FEED_LABELS.get(f.feed, f.feed)} ({'never loaded' if f.age_seconds is None else 'last loaded ' + format_age(f.age_seconds) + ' ago'})"
             for f in stale]
    return html.Div(["⚠ DATA IS STALE: ", "; ".join(parts), ". Figures may be out of date."],
                    className="hw-banner hw-banner--stale hw-wall__banner", role="alert", id=f"{PREFIX}-stale-text")


def _alerts_banner(state: FilterState) -> html.Div | None:
    """The rules' alerts firing in the wall's scope (stale feeds have the banner above)."""
    from alerts.rules import FEED_RULE
    from alerts.states import firing_in_scope

    firing = [i for i in firing_in_scope(get_engine(), state.icb, state.place, state.hwb) if i.rule != FEED_RULE]
    if not firing:
        return None
    return html.Div(["🔔 ALERTS FIRING: ", "; ".join(f"{i.rule} ({i.scope})" for i in firing), "."],
                    className="hw-banner hw-banner--stale hw-wall__banner", role="alert", id=f"{PREFIX}-alerts-text")


def panels(state: FilterState, dark: bool) -> list[Any]:
    """Everything that refreshes: tiles, charts, the table; plain data in, fresh components out."""
    tiles, trend, reasons, table = sections.build_all([
        lambda: sections.tiles(OVERVIEW_TILES, state, size="wall", row_id=f"{PREFIX}-tiles"),
        lambda: sections.nctr_trend(PREFIX, state, font_size=26, dark=dark),
        lambda: sections.delay_reasons(PREFIX, state, font_size=26, dark=dark, limit=8),
        lambda: sections.hwb_table(PREFIX, state),
    ])
    return [tiles, html.Div([trend, reasons], className="hw-wall__charts"), table]


def _fill_panel(node: Any) -> Any:
    """The wall's charts take the panel's height (set by CSS for the screen), not the height a page gives them."""
    if isinstance(node, dict):
        if node.get("type") == "Graph" and isinstance(node.get("props", {}).get("figure"), dict):
            layout = node["props"]["figure"].setdefault("layout", {})
            layout.pop("height", None)
            layout["autosize"] = True
        for value in node.values():
            _fill_panel(value)
    elif isinstance(node, list):
        for value in node:
            _fill_panel(value)
    return node


def _compute(state: FilterState, dark: bool) -> list[Any]:
    scope = data.scope_name(state, data.geography())
    as_at = format_time(state.resolved_at())
    # Plain JSON (Dash's own serialisation of the components): cacheable, and the renderer takes it as is.
    return _fill_panel(json.loads(to_json_plotly([scope, as_at, *panels(state, dark)])))


def _stale_json(state: FilterState) -> Any:
    return json.loads(to_json_plotly([guarded(_stale_banner, "Feed freshness"),
                                      guarded(lambda: _alerts_banner(state), "Alerts")]))


def _refreshed(args: dict[str, Any]) -> tuple[Any, ...]:
    """The wall's outputs for its scope: computed once per data version (and minute, unless pinned) and
    shared by every screen showing that scope, so a tick is a cache read that never waits for the store."""
    state = wall_state(args)
    dark = args.get("theme") == "dark"
    scope_key = (f"{','.join(state.icb)}|{','.join(state.place)}|{','.join(state.hwb)}|{','.join(state.pathway)}|"
                 f"{','.join(state.service_type)}|{state.from_}|{state.to}|{state.at.isoformat() if state.at else 'now'}|"
                 f"{'dark' if dark else 'light'}")
    # Feed freshness moves with the clock and with failed runs, not with the data version: its own
    # entry, shared by every screen, looked at again every few seconds (in the background).
    geo_key = f"{','.join(state.icb)}|{','.join(state.place)}|{','.join(state.hwb)}"
    stale = shared_view("wall-stale", geo_key, lambda: _stale_json(state), pinned=False,
                        refresh_seconds=STALE_CHECK_SECONDS)
    content = shared_view("wall", scope_key, lambda: _compute(state, dark), pinned=state.at is not None)
    return (stale, *content)


def layout(**query_args: Any) -> html.Div:
    theme = "dark" if query_args.get("theme") == "dark" else "light"
    refresh = _int_arg(query_args.get("refresh"), DEFAULT_REFRESH, 2, 3600)
    rotate = _int_arg(query_args.get("rotate"), 0, 0, 3600)
    stale, scope, as_at, *content = _refreshed(query_args)
    return html.Div([
        html.Div([
            html.Div([html.Span("Scope ", className="hw-wall__key"), html.Span(scope, id=f"{PREFIX}-scope")],
                     className="hw-wall__scope"),
            html.Div([html.Span("As at ", className="hw-wall__key"), html.Span(as_at, id=f"{PREFIX}-asat")],
                     className="hw-wall__asat"),
        ], className="hw-wall__top"),
        html.Div(stale, id=f"{PREFIX}-stale", **{"aria-live": "assertive"}),
        *[html.Div(panel, id=f"{PREFIX}-panel-{i}",
                   className="hw-wall__panel" + (" hw-wall__panel--hidden" if i else ""))
          for i, panel in enumerate(content)],
        dcc.Store(id=f"{PREFIX}-args", data={k: v for k, v in query_args.items()}),
        dcc.Interval(id=f"{PREFIX}-tick", interval=refresh * 1000),
        dcc.Interval(id=f"{PREFIX}-rotate", interval=max(rotate, 1) * 1000, disabled=rotate == 0),
    ], className=f"hw-wall hw-wall--{theme}" + (" hw-wall--rotating" if rotate else ""),
        **{"data-refresh": str(refresh), "data-rotate": str(rotate)})


@callback(
    Output(f"{PREFIX}-stale", "children"), Output(f"{PREFIX}-scope", "children"), Output(f"{PREFIX}-asat", "children"),
    *[Output(f"{PREFIX}-panel-{i}", "children") for i in range(PANELS)],
    Input(f"{PREFIX}-tick", "n_intervals"), State(f"{PREFIX}-args", "data"),
    prevent_initial_call=True,
)
def _tick(_n: int | None, args: dict[str, Any] | None) -> tuple[Any, ...]:
    return _refreshed(args or {})


# Rotation happens in the browser: it only shows and hides panels already there.
clientside_callback(
    """
    function(n) {
        var count = __PANELS__;
        var shown = (n || 0) % count;
        var out = [];
        for (var i = 0; i < count; i++) {
            out.push("hw-wall__panel" + (i === shown ? "" : " hw-wall__panel--hidden"));
        }
        return out;
    }
    """.replace("__PANELS__", str(PANELS)),
    *[Output(f"{PREFIX}-panel-{i}", "className") for i in range(PANELS)],
    Input(f"{PREFIX}-rotate", "n_intervals"),
    prevent_initial_call=True,
)
