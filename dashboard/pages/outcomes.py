"""`/outcomes`: IC length of stay, over-6-weeks share, 91-day home rate, readmissions, outcome mix."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard import sections
from dashboard.components.common import page_heading
from dashboard.components.page import filtered_page, register_filtered_page
from dashboard.data import TileSpec
from dashboard.labels import IC_OUTCOME_LABELS
from dashboard.state import FilterState

dash.register_page(__name__, path="/outcomes", name="Outcomes", title="Outcomes · Homeward", order=4,
                   description="Intermediate care outcomes: length of stay, home at 91 days, readmissions.")

PREFIX = "out"
FILTERS = ("icb", "place", "hwb", "pathway", "dates", "at")
# Outcomes lag by nature (91 days to know who is at home), so the page looks back half a year by default.
DEFAULT_DAYS = 182
TILES = (TileSpec("ic_length_of_stay_days", mode="window"), TileSpec("ic_over_6_weeks_rate", mode="window"),
         TileSpec("home_91d_rate", mode="window"), TileSpec("readmission_30d_rate", mode="window"))


def content(state: FilterState) -> list[Any]:
    scope, as_at = sections.scope_facts(state)
    tiles, *charts = sections.build_all([
        lambda: sections.tiles(TILES, state, row_id=f"{PREFIX}-tiles"),
        lambda: sections.ic_length_of_stay(PREFIX, state),
        lambda: sections.ranked_chart(PREFIX, "mix", state, "ic_outcome_share", "ic_outcome", IC_OUTCOME_LABELS,
                                  title="Outcome of episodes ended in the window", x_title="share of episodes",
                                  percent=True, empty="no intermediate care episode with a recorded outcome ended "
                                                      "in this window."),
        lambda: sections.series_chart(PREFIX, "rates", state, [("ic_over_6_weeks_rate", "IC over 6 weeks"),
                                                           ("readmission_30d_rate", "Readmitted within 30 days"),
                                                           ("home_91d_rate", "At home after 91 days")],
                                  grain="month", title="Outcome rates by month", y_title="", percent=True,
                                  empty="no outcome can be measured yet for this window."),
    ])
    return [
        page_heading("Outcomes", "How long intermediate care lasts and where people are afterwards. These figures lag: "
                     "a 91-day outcome is known 91 days after discharge.", scope, as_at),
        tiles, html.Div(charts, className="hw-charts"),
    ]


def layout(**query_args: Any) -> html.Div:
    return filtered_page(PREFIX, FILTERS, content, query_args, default_days=DEFAULT_DAYS)


register_filtered_page(PREFIX, FILTERS, content, default_days=DEFAULT_DAYS)
