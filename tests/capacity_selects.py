"""A capacity series' two selects (models.query.sources.Capacity), for the tests that compare or keep both."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from models.query import sources
from models.query.plan import _plan


@contextmanager
def bucketed_select() -> Iterator[None]:
    """Every series of two or more periods through the bucketed select, with the statement cache emptied on
    the way in and out (its key does not hold the cut)."""
    kept = sources.WINDOWED_MAX_PERIODS
    sources.WINDOWED_MAX_PERIODS = 1
    _plan.cache_clear()
    try:
        yield
    finally:
        sources.WINDOWED_MAX_PERIODS = kept
        _plan.cache_clear()
