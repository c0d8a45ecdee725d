"""The feed registry: feed name -> the implementation that parses, checks and loads it.

The sitrep feeds live in `ingest.feeds.nhse_sitrep` (written separately) and
are imported only when used, so the other feeds work without it.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

from ingest.feed import Feed, FeedContext, LoadResult
from models.vocab import FEEDS as FEED_NAMES
from models.vocab import HUB_CASES_FEED, SITREP_FEEDS, VACANCY_FEED


class SitrepFeed:
    """Adapter from `nhse_sitrep.parse/load` to the feed road."""

    def __init__(self, name: str) -> None:
        self.name = name

    def parse(self, payload: bytes, ctx: FeedContext) -> Any:
        from ingest.feeds import nhse_sitrep
        from ingest.formats import UnreadableDelivery

        try:
            return nhse_sitrep.parse(payload, self.name)
        except nhse_sitrep.UnreadableWorkbook as exc:
            raise UnreadableDelivery(str(exc)) from None

    def kept_copy(self, payload: bytes, parsed: Any | None) -> tuple[bytes, str, bool]:
        return payload, "xlsx", False  # published aggregate data: kept as delivered

    def load(self, conn: Any, parsed: Any, run_id: int, ctx: FeedContext) -> LoadResult:
        from ingest.feeds import nhse_sitrep

        loaded = nhse_sitrep.load(conn, parsed, run_id)
        rejects = list(loaded.rejects)
        return LoadResult(rows_read=loaded.rows_read, rows_loaded=loaded.rows_loaded,
                          rows_rejected=len({getattr(r, "row_number", i) for i, r in enumerate(rejects)}),
                          rejects=rejects, problems=list(loaded.problems))


def _vacancy() -> Feed:
    from ingest.feeds.vacancy import FEED

    return FEED


def _hub_cases() -> Feed:
    from ingest.feeds.hub_cases import FEED

    return FEED


FEEDS: dict[str, Callable[[], Feed]] = {  # the feeds with a payload (models.vocab.DELIVERED_FEEDS)
    VACANCY_FEED: _vacancy,
    HUB_CASES_FEED: _hub_cases,
    **{name: partial(SitrepFeed, name) for name in SITREP_FEEDS},
}
# `reference` (in FEED_NAMES) has no payload to parse: ingest.base.run_reference reloads the shipped geography.


def get_feed(name: str) -> Feed:
    try:
        return FEEDS[name]()
    except KeyError:
        raise ValueError(f"unknown feed '{name}'; one of: {', '.join(FEED_NAMES)}") from None
