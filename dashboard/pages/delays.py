"""`/delays`: who is waiting now and for how long, why, and the bed days lost; the longest waits."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard import sections
from dashboard.components.common import page_heading
from dashboard.components.outlook import outlook_panel
from dashboard.components.page import filtered_page, register_filtered_page
from dashboard.data import TileSpec
from dashboard.state import FilterState

dash.register_page(__name__, path="/delays", name="Delays", title="Delays · Homeward", order=3,
                   description="People who no longer meet the criteria to reside, and why they wait.")

PREFIX = "del"
FILTERS = ("icb", "place", "hwb", "pathway", "dates", "at")
TILES = (TileSpec("nctr_count", label="Waiting now"), TileSpec("nctr_over_7d"), TileSpec("nctr_over_14d"),
         TileSpec("nctr_over_21d"), TileSpec("nctr_days_total"),
         TileSpec("delay_bed_days", mode="window"), TileSpec("mean_delay_days", mode="window"),
         TileSpec("discharged_on_ready_day_rate", mode="window"))


def content(state: FilterState) -> list[Any]:
    scope, as_at = sections.scope_facts(state)
    tiles, *charts, last = sections.build_all([
        lambda: sections.tiles(TILES, state, row_id=f"{PREFIX}-tiles"),
        lambda: sections.nctr_trend(PREFIX, state),
        lambda: sections.delay_reasons(PREFIX, state),
        lambda: sections.series_chart(PREFIX, "beddays", state, [("delay_bed_days", "Delay bed days")], grain="day",
                                  title="Bed days lost to delays, per day", y_title="bed days",
                                  empty="no bed days were lost to delays in this window."),
        lambda: sections.series_chart(PREFIX, "delaymean", state, [("mean_delay_days", "Mean delay (1+ days)"),
                                                               ("p90_delay_days", "90th percentile")],
                                  grain="week", title="Discharge delay by week", y_title="days",
                                  empty="nobody with a discharge ready date was discharged in this window."),
        lambda: outlook_panel(PREFIX, state, compact=True),
        lambda: sections.longest_waits_table(PREFIX, state, limit=25),
    ])
    return [
        page_heading("Delays", "People who no longer meet the criteria to reside but are still in hospital: how "
                     "many, how long, and why.", scope, as_at),
        tiles, html.Div(charts, className="hw-charts"), last,
    ]


def layout(**query_args: Any) -> html.Div:
    return filtered_page(PREFIX, FILTERS, content, query_args)


register_filtered_page(PREFIX, FILTERS, content)
