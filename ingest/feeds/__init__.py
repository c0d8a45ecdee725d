"""The feed registry: feed name -> the implementation that parses, checks and loads it.

The sitrep feeds live in `ingest.feeds.nhse_sitrep` (written separately) and
are imported only when used, so the other feeds work without it.
"""
from __future__ import annotations

from typing import Any, Callable

from ingest.base import Feed, FeedContext, LoadResult


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


FEEDS: dict[str, Callable[[], Feed]] = {
    "vacancy": _vacancy,
    "hub_cases": _hub_cases,
    "nhse_acute_sitrep": lambda: SitrepFeed("nhse_acute_sitrep"),
    "nhse_community_sitrep": lambda: SitrepFeed("nhse_community_sitrep"),
}
# `reference` has no payload to parse: ingest.base.run_reference reloads the shipped geography.
FEED_NAMES: tuple[str, ...] = (*FEEDS, "reference")


def get_feed(name: str) -> Feed:
    try:
        return FEEDS[name]()
    except KeyError:
        raise ValueError(f"unknown feed '{name}'; one of: {', '.join(FEED_NAMES)}") from None
