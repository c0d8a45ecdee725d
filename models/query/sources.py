"""Sources: where a metric's rows come from. In, the periods of a select, the dimensions it needs and its
metrics; out, its FROM clause with the joins those dimensions need, the `Scope` its measures read, each
dimension's column and the source's own conditions (`From`). A source also names the feeds whose data it
reads (`FEED_SOURCE`, `source_version`: which cached answers a delivery leaves valid) and the bound
parameters it adds.

A metric names its source in the registry (`Metric.source`); `SOURCES` has one object per name.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause, Subquery

from models import settings
from models.dialects import latest
from models.dimensions import COLLECTIONS, columns_in, tables_for
from models.measures import SQL, PeriodColumns, Scope
from models.metrics import Metric, SourceName
from models.periods import PERIOD_COLUMNS, Period, period_param, periods_table
from models.query.cases import _case_dims, _case_joins, _event_column, _join_case_dims, _span_filter
from models.query.intervals import _first_period, _pp
from models.tables import CASE_DATES, capacity_report, hub_case, hwb, ingest_run, service, sitrep_value
from models.vocab import HUB_CASES_FEED, SITREP_FEEDS, VACANCY_FEED


@dataclass(frozen=True)
class Periods:
    """The periods as a select reads them: one period's values as bound constants (`table` None: no join;
    the store prunes row groups by their min / max and pushes filters into the scan — the select one would
    write by hand), or a VALUES table of `n` periods joined in. `columns` by name (`k`, `p_at`, ...)."""
    n: int
    columns: Mapping[str, SQL]
    table: FromClause | None
    reach: int = 1  # `Source.reach` of the periods

    @property
    def single(self) -> bool:
        return self.table is None

    def __getitem__(self, name: str) -> SQL:
        return self.columns[name]

    @property
    def period(self) -> PeriodColumns:
        return PeriodColumns(self.columns.__getitem__)

    def joined(self) -> FromClause:
        if self.table is None:  # pragma: no cover - a single period is never joined
            raise TypeError("a single period has no table to join")
        return self.table


def periods(n: int, columns: frozenset[str] | None = None, reach: int = 1) -> Periods:
    """One period as the bound parameters of period 0 (`period_params`), or a VALUES table of `n` periods
    with only `columns` (the ones a select reads: every cell is a parameter bound on every run)."""
    if n == 1:
        consts: dict[str, SQL] = {name: sa.bindparam(period_param(0, name), type_=type_)
                                  for name, type_ in PERIOD_COLUMNS if name != "k"}
        consts["k"] = sa.literal_column("0", sa.Integer)
        return Periods(1, consts, None)
    table = periods_table(n, columns)
    return Periods(n, {name: table.c[name] for name, _ in PERIOD_COLUMNS if name in table.c}, table, reach)


@dataclass(frozen=True)
class From:
    """A source's part of a select."""
    frm: FromClause
    scope: Scope
    dims: Mapping[str, SQL]  # dimension -> its value (`columns_in`: those whose table is joined)
    filters: list[ColumnElement[bool]]  # the source's own conditions, before any filter on a dimension


class Source(ABC):
    """Where a metric's rows come from: one object per `Metric.source` name (`SOURCES`)."""
    name: SourceName
    feeds: tuple[str, ...]  # the feeds whose data it reads
    batches: bool = True  # metrics of this source over the same periods may share one select
    param_dimensions: frozenset[str] = frozenset()  # dimensions chosen by a bound parameter, not a column filter

    @abstractmethod
    def select_from(self, p: Periods, needed: set[str], metrics: Sequence[Metric], grain: str | None) -> From:
        """The FROM clause for `metrics` over the periods `p`, joining what the dimensions `needed` need."""

    def params(self, periods: Sequence[Period], where: Mapping[str, list[Any]]) -> dict[str, Any]:
        """Bound parameters of its own for one query."""
        return {}

    def reach(self, periods: Sequence[Period]) -> int:
        """A number the select's text depends on beyond the periods' count (part of the plan's key)."""
        return 1


class Cases(Source):
    """Hub cases, one row per case; over several periods each case meets every period (or, counted by one
    event, the one period its event falls in)."""
    name: SourceName = "cases"
    feeds = (HUB_CASES_FEED,)

    def select_from(self, p: Periods, needed: set[str], metrics: Sequence[Metric], grain: str | None) -> From:
        c = hub_case.alias("c")
        h, svc = _case_joins(needed)
        event = _event_column(metrics) if grain is not None and not p.single else None
        frm: FromClause
        if p.single:
            frm = c
        elif event is not None:
            # Each case meets the one period its event falls in: a hash join on the period's index,
            # not every case paired with every period (the measure's own window test still applies).
            frm = c.join(p.joined(), p["k"] == _bucket(c.c[CASE_DATES[event]], grain))
        else:
            frm = p.joined().join(c, sa.true())
        frm = _join_case_dims(frm, c, h, svc)
        filters = [] if p.single or metrics[0].span is None else [_span_filter(c, metrics[0])]
        return From(frm, Scope(p.period, c=c.c), _case_dims(c, h, svc), filters)

    def params(self, periods: Sequence[Period], where: Mapping[str, list[Any]]) -> dict[str, Any]:
        if len(periods) < 2:
            return {}
        return {"span_from": min(x.start for x in periods), "span_to": max(max(x.at, x.end) for x in periods)}


def _bucket(day: SQL, grain: str | None) -> SQL:
    """Index of the London day, week or month of the event (its stored London `day`) counted from the first
    period's (`bucket_from`), as `build_periods` numbers them; outside the window it is out of range or
    filtered by the window test."""
    first = sa.bindparam("bucket_from", type_=sa.Date)
    if grain == "day":
        return sa.cast(day - first, sa.Integer)
    if grain == "week":
        return sa.cast(sa.func.floor(sa.cast(day - first, sa.Integer) / 7.0), sa.Integer)

    def months(d: SQL) -> SQL:
        return sa.cast(sa.extract("year", d), sa.Integer) * 12 + sa.cast(sa.extract("month", d), sa.Integer)
    return months(day) - months(first)


class Capacity(Source):
    """Known services (first reported at or before the instant), each with its latest report inside the
    staleness window before the instant (none: not reporting)."""
    name: SourceName = "capacity"
    feeds = (VACANCY_FEED,)

    def select_from(self, p: Periods, needed: set[str], metrics: Sequence[Metric], grain: str | None) -> From:
        cr = capacity_report
        # each service's latest report inside the staleness window (per period)
        latest_cols = [latest(col, cr.c.reported_at).label(col.name)
                       for col in (cr.c.capacity, cr.c.occupied, cr.c.vacant_accepting, cr.c.vacant_reserved)]
        bucketed = p.n > WINDOWED_MAX_PERIODS
        if p.single:
            r = (sa.select(cr.c.service_id, *latest_cols)
                 .where(cr.c.reported_at >= p["stale_from"], cr.c.reported_at <= p["p_at"])
                 .group_by(cr.c.service_id)
                 .subquery("r"))
        else:
            r = _latest_by_period(p) if bucketed else _latest_per_window(p, latest_cols)
        s = service.alias("s")
        h = hwb.alias("h") if "hwb" in tables_for(self.name, needed) else None
        frm: FromClause
        filters: list[ColumnElement[bool]] = []
        if p.single:
            frm = s.outerjoin(r, r.c.service_id == s.c.service_id)
            filters.append(s.c.first_reported_at <= p["p_at"])
        else:
            # a bucket's latest report may be older than a later period's window; a window's rows never are
            in_window = [r.c.reported_at >= p["stale_from"]] if bucketed else []
            frm = p.joined().join(s, s.c.first_reported_at <= p["p_at"]).outerjoin(
                r, sa.and_(r.c.k == p["k"], r.c.service_id == s.c.service_id, *in_window))
        if h is not None:
            frm = frm.join(h, h.c.hwb_code == s.c.hwb_code)
        return From(frm, Scope(p.period, s=s.c, r=r.c), columns_in(self.name, {"service": s, "hwb": h}), filters)


    def reach(self, periods: Sequence[Period]) -> int:
        """The most periods whose staleness windows one instant falls in: how many periods on from its own
        a bucket's latest report can count in (`_latest_by_period`). The periods come in order of their
        instants, as `build_periods` and the look back make them."""
        stale = timedelta(hours=settings.stale_hours())
        ats = [x.at for x in periods]
        most = 1
        for k, at in enumerate(ats):
            m = k
            while m + 1 < len(ats) and ats[m + 1] - stale <= at:
                m += 1
            most = max(most, m - k + 1)
        return most


_REPORTED = ("capacity", "occupied", "vacant_accepting", "vacant_reserved")

# Up to this many periods, one aggregate per period's window (`_latest_per_window`); beyond, the reports
# bucketed once (`_latest_by_period`). On the national bench store (a year of 15,000 services' reports) the
# windows were faster at every length tried, 8 to 366 days (28 days by HWB: 173 against 230 ms; a year: 2.5
# against 3.2 s), but DuckDB refuses a union of about 1,000 selects ("Max expression depth"), and the cap
# on a series is 1,100 days.
WINDOWED_MAX_PERIODS = 366


def _latest_per_window(p: Periods, latest_cols: Sequence[SQL]) -> Subquery:
    """Each service's latest report inside each period's staleness window: one plain hash aggregate per
    period over its own window, given as constants (the scan prunes row groups by their min / max)."""
    cr = capacity_report

    def window(k: int) -> sa.Select[Any]:
        return (sa.select(sa.literal_column(str(k), sa.Integer).label("k"), cr.c.service_id, *latest_cols)
                .where(cr.c.reported_at >= _pp(k, "stale_from"), cr.c.reported_at <= _pp(k, "p_at"))
                .group_by(cr.c.service_id))
    return sa.union_all(*[window(k) for k in range(p.n)]).subquery("r")


def _latest_by_period(p: Periods) -> Subquery:
    """Each service's latest report inside each period's staleness window, over many periods in one
    aggregate (not one per period: a long series is one scan, not hundreds of selects).

    Each report falls in a bucket: the first period whose instant is at or after it (a binary search over
    the instants, `_first_period`). Per service and bucket, the latest report (`latest`). A service's latest
    report at or before period k's instant is then its latest in the greatest bucket j <= k it has one in,
    and it counts in k when it is inside k's window (`reported_at >= stale_from`, tested in the join). That
    report lies in the windows of every period from j to k, so k - j < `p.reach`: the buckets are joined to
    the periods j .. j + reach - 1 before the next bucket of the same service, on equal indexes."""
    cr = capacity_report
    reported = cr.c.reported_at
    bucket = _first_period(p.n, lambda k: reported <= _pp(k, "p_at"))
    tagged = (sa.select(cr.c.service_id, reported, *[cr.c[name] for name in _REPORTED], bucket.label("b"))
              .where(reported >= _pp(0, "stale_from"), reported <= _pp(p.n - 1, "p_at"))
              .subquery("t"))
    t = tagged.c
    g = (sa.select(t.service_id, t.b, *[latest(t[name], t.reported_at).label(name) for name in _REPORTED],
                   sa.func.max(t.reported_at).label("reported_at"),
                   sa.func.lead(t.b).over(partition_by=t.service_id, order_by=t.b).label("next_b"))
         .group_by(t.service_id, t.b)
         .subquery("g"))
    steps = sa.values(sa.column("o", sa.Integer), name="o", literal_binds=True).data([(i,) for i in range(p.reach)])
    k = g.c.b + steps.c.o
    return (sa.select(k.label("k"), g.c.service_id, *[g.c[name] for name in _REPORTED], g.c.reported_at)
            .select_from(g.join(steps, sa.true()))
            .where(k < sa.literal_column(str(p.n), sa.Integer), sa.or_(g.c.next_b.is_(None), k < g.c.next_b))
            .subquery("r"))


class Sitrep(Source):
    """Published NHS England sitrep values, one row per feed, day or month, organisation and measure; the
    `collection` dimension chooses the feeds."""
    name: SourceName = "sitrep"
    collections = dict(zip(COLLECTIONS, SITREP_FEEDS))  # collection -> feed
    feeds = tuple(collections.values())
    batches = False  # its measures choose their rows by measure name (`Measure.row_filters`)
    param_dimensions = frozenset({"collection"})

    def select_from(self, p: Periods, needed: set[str], metrics: Sequence[Metric], grain: str | None) -> From:
        v = sitrep_value.alias("v")
        in_period = sa.and_(v.c.period_date >= p["start_date"], v.c.period_date < p["end_date"])
        frm: FromClause
        filters: list[ColumnElement[bool]] = []
        if p.single:
            frm = v
            filters.append(in_period)
        else:
            frm = p.joined().join(v, in_period)
        scope = Scope(p.period, v=v.c)
        filters.append(v.c.feed.in_(sa.bindparam("feeds", expanding=True)))
        filters += metrics[0].measure.row_filters(scope)  # (alone: no batches)
        if not ({"level", "org"} & needed):
            filters.append(v.c.level == "england")  # one figure, not the sum of every level
        return From(frm, scope, columns_in(self.name, {"sitrep_value": v}), filters)

    def params(self, periods: Sequence[Period], where: Mapping[str, list[Any]]) -> dict[str, Any]:
        return {"feeds": [self.collections[x] for x in where.get("collection", ["acute"])]}


SOURCES: dict[SourceName, Source] = {s.name: s for s in (Capacity(), Cases(), Sitrep())}

# Which metrics a feed's data can change. A feed not named here (reference geography, a new feed)
# may change any metric.
FEED_SOURCE: dict[str, str] = {feed: s.name for s in SOURCES.values() for feed in s.feeds}


def feed_versions(engine: Engine) -> dict[str, int]:
    """The latest ingest run that may have changed data, per feed (their maximum is `data_version`)."""
    stmt = (sa.select(ingest_run.c.feed, sa.func.max(ingest_run.c.run_id))
            .where(ingest_run.c.status.in_(("ok", "partial"))).group_by(ingest_run.c.feed))
    with engine.connect() as conn:
        return {feed: int(run) for feed, run in conn.execute(stmt).all()}


def source_version(versions: Mapping[str, int], source: str) -> int:
    """The latest run that may have changed a metric of `source`: a capacity delivery leaves every
    case metric's cached answers valid, and the other way round."""
    return max((run for feed, run in versions.items() if FEED_SOURCE.get(feed, source) == source), default=0)
