"""The headline figures: which registry metrics the overview and wall tiles show, and how each is read.

Here, not in dashboard/, because the morning digest (alerts/) reports the same figures as the overview for
the same scope and `at`: both take the specs from this one list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

# snapshot: at `at`, against the same time yesterday and a week before; yesterday: the London day before
# `at`'s, against the day before and the same weekday a week before; window: over the page's window
TileMode = Literal["snapshot", "yesterday", "window"]
TREND_DAYS = 8  # a tile: now, yesterday and a week ago at this time, and the days between (at least 8)


@dataclass(frozen=True)
class TileSpec:
    metric: str
    mode: TileMode = "snapshot"
    label: str | None = None
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # fixed filters, e.g. pathway=1


OVERVIEW_TILES: tuple[TileSpec, ...] = (
    TileSpec("nctr_count", label="Waiting to leave hospital (NCTR)"),
    TileSpec("nctr_over_21d", label="Waiting 21+ days"),
    TileSpec("vacant_accepting", label="P1 slots vacant", where={"pathway": ("1",)}),
    TileSpec("vacant_accepting", label="P2 beds vacant", where={"pathway": ("2",)}),
    TileSpec("discharges", mode="yesterday", label="Discharges yesterday"),
    TileSpec("ic_caseload", label="Intermediate care caseload"),
)
