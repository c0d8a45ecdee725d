"""The frame of a filtered page and its one content callback (pages stay a few lines long)."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from dash import Output, callback, html
from plotly.io.json import to_json_plotly

from dashboard.components.filters import (
    filter_bar,
    filter_inputs,
    register_filter_callbacks,
    state_from_inputs,
    sync_target,
)
from dashboard.state import FilterState

Content = Callable[[FilterState], list[Any]]
ERROR_CLASS = "hw-state--error"  # a section that could not be built (see components.common.empty_state)


def cached_json(name: str, view: str, build: Callable[[], list[Any]], *, pinned: bool) -> list[Any]:
    """Components built once per data version and view, kept as plain JSON (Dash's own serialisation):
    a page asked for again is a cache read, not dozens of cached queries and a component tree rebuilt.
    A result with a section that failed is not kept, so the next request tries again."""
    from models.cache import cached_value

    return cached_value(f"page:{name}", view, lambda: json.loads(to_json_plotly(build())), pinned=pinned,
                        slotted=False, keep=lambda value: ERROR_CLASS not in json.dumps(value))


def cached_content(prefix: str, content: Content, state: FilterState) -> list[Any]:
    """A filtered page's content for this state (and minute, when the view is "now"), through `cached_json`."""
    if state.problem:  # said in words before any query (the same bounds the API answers 400 to)
        from dashboard.components.common import empty_state

        return [empty_state(state.problem, kind="error")]
    view = f"{state.to_query_string()}|{state.default_days}|{state.resolved_at().isoformat()}"
    return cached_json(prefix, view, lambda: content(state), pinned=state.at is not None)


def filtered_page(prefix: str, filters: Iterable[str], content: Content, query_args: dict[str, Any], *,
                  default_days: int = 28) -> html.Div:
    """Filter bar + content for the state in the URL, rendered on this load (no data at import)."""
    from dashboard.data import geography

    state = FilterState.from_args(query_args, default_days=default_days)
    return html.Div([filter_bar(prefix, state, geography(), show=tuple(filters)), sync_target(prefix),
                     html.Div(cached_content(prefix, content, state), id=f"{prefix}-content",
                              **{"aria-live": "polite"})],
                    className="hw-page")


def register_filtered_page(prefix: str, filters: Iterable[str], content: Content, *, default_days: int = 28) -> None:
    """The bar's own callbacks, and one thin callback re-rendering the content when a filter changes."""
    shown = tuple(filters)
    register_filter_callbacks(prefix, shown)

    @callback(Output(f"{prefix}-content", "children"), inputs=filter_inputs(prefix, shown), prevent_initial_call=True)
    def _refresh(**values: Any) -> list[Any]:
        return cached_content(prefix, content, state_from_inputs(values, default_days=default_days))
