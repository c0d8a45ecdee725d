"""`/flow`: referrals, discharges by pathway, IC starts and ends, caseload, pathway mix."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard import sections
from dashboard.components.common import page_heading
from dashboard.components.page import filtered_page, register_filtered_page
from dashboard.data import TileSpec
from dashboard.labels import PATHWAY_SHORT
from dashboard.state import FilterState

dash.register_page(__name__, path="/flow", name="Flow", title="Flow · Homeward", order=2,
                   description="Referrals, discharges and intermediate care episodes.")

PREFIX = "flow"
FILTERS = ("icb", "place", "hwb", "pathway", "dates", "at")
TILES = (TileSpec("referrals", mode="window"), TileSpec("discharges", mode="window"),
         TileSpec("ic_starts", mode="window"), TileSpec("ic_ends", mode="window"),
         TileSpec("ic_caseload", label="IC caseload now"), TileSpec("awaiting_pathway"),
         TileSpec("hub_decision_hours", mode="window", label="Hub decision time (median hours)"))


def content(state: FilterState) -> list[Any]:
    scope, as_at = sections.scope_facts(state)
    tiles, *charts = sections.build_all([
        lambda: sections.tiles(TILES, state, row_id=f"{PREFIX}-tiles"),
        lambda: sections.series_chart(PREFIX, "daily", state, [("referrals", "Referrals"), ("discharges", "Discharges")],
                                  grain="day", title="Referrals and discharges per day", y_title="people",
                                  empty="no referrals or discharges recorded in this window for this area."),
        lambda: sections.discharges_by_pathway(PREFIX, state),
        lambda: sections.series_chart(PREFIX, "ic", state, [("ic_starts", "IC starts"), ("ic_ends", "IC ends")],
                                  grain="day", title="Intermediate care starts and ends per day", y_title="people",
                                  empty="no intermediate care episode started or ended in this window."),
        lambda: sections.series_chart(PREFIX, "caseload", state, [("ic_caseload", "IC caseload")], grain="day",
                                  title="Intermediate care caseload, end of each day", y_title="people",
                                  empty="nobody was in intermediate care in this window."),
        lambda: sections.ranked_chart(PREFIX, "mix", state, "pathway_share", "pathway", PATHWAY_SHORT,
                                  title="Pathway mix of discharges", x_title="share of discharges", percent=True,
                                  empty="no discharges in this window, so there is no pathway mix."),
    ])
    return [
        page_heading("Flow", "People referred to the care transfer hub, discharged from hospital, and starting and "
                     "ending intermediate care.", scope, as_at),
        tiles, html.Div(charts, className="hw-charts"),
    ]


def layout(**query_args: Any) -> html.Div:
    return filtered_page(PREFIX, FILTERS, content, query_args)


register_filtered_page(PREFIX, FILTERS, content)
