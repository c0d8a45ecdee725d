"""What a feed is to the feed road (ingest.base): the protocol every feed implements and what
passes between them. Here, apart from the road, so that the feeds and the road can each import it
without importing each other."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Protocol, Sequence

import pyarrow as pa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Reject:
    row_number: int  # 1 = first data row
    field: str
    value: str | None  # masked if it could identify a person
    reason: str


@dataclass(frozen=True)
class FeedContext:
    feed: str
    source: str
    fetched_at: datetime  # naive UTC
    hub_id: str | None = None  # hub_cases: the default hub for rows without one


@dataclass
class LoadResult:
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rejects: pa.Table | Sequence[Any]  # Arrow (row_no, field, value, reason) or Reject-like objects
    problems: list[str] = field(default_factory=list)


# A kept raw copy: the bytes, or blocks of them written one after another (a large copy is never held whole).
Kept = bytes | Iterable[bytes]


class Feed(Protocol):
    name: str

    def parse(self, payload: bytes, ctx: FeedContext) -> Any:
        """Read the delivery; raise UnreadableDelivery when none of it can be used."""

    def kept_copy(self, payload: bytes, parsed: Any | None) -> tuple[Kept, str, bool]:
        """(bytes to keep, file extension, pseudonymised?) — never clear identifiers."""

    def load(self, conn: Connection, parsed: Any, run_id: int, ctx: FeedContext) -> LoadResult:
        """Validate and write inside the caller's transaction."""
