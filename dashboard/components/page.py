"""The frame of a filtered page and its one content callback (pages stay a few lines long)."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from dash import Output, callback, html

from dashboard.components.filters import (
    filter_bar, filter_inputs, register_filter_callbacks, state_from_inputs, sync_target,
)
from dashboard.state import FilterState

Content = Callable[[FilterState], list[Any]]


def filtered_page(prefix: str, filters: Iterable[str], content: Content, query_args: dict[str, Any], *,
                  default_days: int = 28) -> html.Div:
    """Filter bar + content for the state in the URL, rendered on this load (no data at import)."""
    from dashboard.data import geography

    state = FilterState.from_args(query_args, default_days=default_days)
    return html.Div([filter_bar(prefix, state, geography(), show=tuple(filters)), sync_target(prefix),
                     html.Div(content(state), id=f"{prefix}-content", **{"aria-live": "polite"})],
                    className="hw-page")


def register_filtered_page(prefix: str, filters: Iterable[str], content: Content, *, default_days: int = 28) -> None:
    """The bar's own callbacks, and one thin callback re-rendering the content when a filter changes."""
    shown = tuple(filters)
    register_filter_callbacks(prefix, shown)

    @callback(Output(f"{prefix}-content", "children"), inputs=filter_inputs(prefix, shown), prevent_initial_call=True)
    def _refresh(**values: Any) -> list[Any]:
        return content(state_from_inputs(values, default_days=default_days))
