"""`/capacity`: vacancies and occupancy by service type and HWB; every service with its last report."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard import sections
from dashboard.components.common import page_heading
from dashboard.components.page import filtered_page, register_filtered_page
from dashboard.data import TileSpec
from dashboard.state import FilterState

dash.register_page(__name__, path="/capacity", name="Capacity", title="Capacity · Homeward", order=1,
                   description="Vacancies and occupancy of intermediate care services.")

PREFIX = "cap"
FILTERS = ("icb", "place", "hwb", "pathway", "service_type", "at")
TILES = (TileSpec("vacant_accepting", label="Vacant, accepting now"), TileSpec("occupancy_rate"),
         TileSpec("occupied"), TileSpec("capacity"), TileSpec("unavailable", label="Unavailable (closed)"),
         TileSpec("services_not_reporting"))


def content(state: FilterState) -> list[Any]:
    scope, as_at = sections.scope_facts(state)
    tiles, occupancy, table, services = sections.build_all([
        lambda: sections.tiles(TILES, state, row_id=f"{PREFIX}-tiles"),
        lambda: sections.occupancy_by_service_type(PREFIX, state),
        lambda: sections.by_hwb(PREFIX, "hwb", state, "By health and wellbeing board (where services sit)", [
            ("accepting", "Vacant, accepting", "vacant_accepting", "count"),
            ("occupied", "Occupied", "occupied", "count"), ("capacity", "Capacity", "capacity", "count"),
            ("rate", "Occupancy", "occupancy_rate", "rate"),
            ("missing", "Not reporting", "services_not_reporting", "count")]),
        lambda: sections.service_table(PREFIX, state),
    ])
    return [
        page_heading("Capacity", "Beds and home-based slots: what is free to take someone now, and who has not "
                     "reported.", scope, as_at),
        tiles, html.Div([occupancy, table], className="hw-charts"), services,
    ]


def layout(**query_args: Any) -> html.Div:
    return filtered_page(PREFIX, FILTERS, content, query_args)


register_filtered_page(PREFIX, FILTERS, content)
