"""`/`: the system at a glance — six tiles with RAG and trend, a table per HWB, the key charts."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard import sections
from dashboard.components.common import page_heading
from dashboard.components.page import filtered_page, register_filtered_page
from dashboard.state import FilterState
from models.headlines import OVERVIEW_TILES

dash.register_page(__name__, path="/", name="Overview", title="Overview · Homeward", order=0,
                   description="The intermediate care system at a glance.")

PREFIX = "ov"
FILTERS = ("icb", "place", "hwb", "dates", "at")


def content(state: FilterState) -> list[Any]:
    scope, as_at = sections.scope_facts(state)
    tiles, table, *charts, waits = sections.build_all([
        lambda: sections.tiles(OVERVIEW_TILES, state, row_id=f"{PREFIX}-tiles"),
        lambda: sections.hwb_table(PREFIX, state),
        lambda: sections.nctr_trend(PREFIX, state), lambda: sections.discharges_by_pathway(PREFIX, state),
        lambda: sections.delay_reasons(PREFIX, state), lambda: sections.occupancy_by_service_type(PREFIX, state),
        lambda: sections.ic_length_of_stay(PREFIX, state),
        lambda: sections.longest_waits_table(PREFIX, state),
    ])
    return [
        page_heading("System at a glance", "Who is waiting to leave hospital, what capacity is free, and how many went "
                     "home yesterday.", scope, as_at),
        tiles, table, html.Div(charts, className="hw-charts"), waits,
    ]


def layout(**query_args: Any) -> html.Div:
    return filtered_page(PREFIX, FILTERS, content, query_args)


register_filtered_page(PREFIX, FILTERS, content)
