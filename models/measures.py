"""Measures: how a metric is computed from its source's rows, and what the query stages need to know of it.

A measure type owns its behaviour: the rows it reads (`where`), its aggregates (`aggregates`: value,
numerator, denominator), how a fetched row becomes its value (`value`, `shape`), its value where nothing
matched (`empty`), whether it is a ratio, whether it may share a select (`batched`), and — for `Open` and
`Overlap` — how the interval strategy counts it over many periods (`Interval`). The stages of
`models.query` call these; none of them asks which measure it holds.

A measure's callables receive a `Scope`: the period's columns `p` and the source's table aliases
(`c` hub cases, `s` services, `r` each service's latest capacity report, `v` published sitrep values).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import ColumnElement

from models.dialects import percentile_cont, seconds_between
from models.periods import Period
from models.vocab import NOT_RECORDED

SQL = ColumnElement[Any]
Columns = ReadOnlyColumnCollection[str, ColumnElement[Any]]
Aggregates = tuple[SQL, SQL, SQL]  # value, numerator, denominator
Row = dict[str, Any]


class PeriodColumns:
    """One period's columns as a measure reads them: a row of the periods' VALUES table, or a single
    period's bound constants. (A select over many periods may carry only the columns it reads.)"""

    def __init__(self, column: Callable[[str], SQL]) -> None:
        self._column = column

    @property
    def start(self) -> SQL:
        return self._column("p_start")

    @property
    def end(self) -> SQL:
        return self._column("p_end")

    @property
    def at(self) -> SQL:
        return self._column("p_at")

    @property
    def at_minus_30d(self) -> SQL:
        return self._column("at_minus_30d")

    @property
    def at_minus_91d(self) -> SQL:
        return self._column("at_minus_91d")

    def cut(self, days: int) -> SQL:
        """A time is at least `days` whole London days before `at` when it is before this (7, 14 or 21)."""
        return self._column(f"cut_{days}")


class Scope:
    """What a measure's callables read: the period `p` and the tables of the metric's source. A source
    gives only its own tables; reading another's is a mistake in the registry, named here."""

    def __init__(self, p: PeriodColumns, *, c: Columns | None = None, s: Columns | None = None,
                 r: Columns | None = None, v: Columns | None = None) -> None:
        self.p = p
        self._tables = {"c": c, "s": s, "r": r, "v": v}

    def _table(self, name: str) -> Columns:
        table = self._tables[name]
        if table is None:
            raise AttributeError(f"this source has no table {name!r} for a measure to read")
        return table

    @property
    def c(self) -> Columns:
        """Hub cases."""
        return self._table("c")

    @property
    def s(self) -> Columns:
        """Services (capacity)."""
        return self._table("s")

    @property
    def r(self) -> Columns:
        """Each service's latest capacity report inside the staleness window (missing: not reporting)."""
        return self._table("r")

    @property
    def v(self) -> Columns:
        """Published sitrep values."""
        return self._table("v")


Cond = Callable[[Scope], ColumnElement[bool]]
Expr = Callable[[Scope], SQL]


@dataclass(frozen=True)
class Rows:
    """The rows an aggregate reads: all the select's, or (a member of a batch) only those meeting `cond`;
    the others are NULL to it, which every aggregate skips."""
    cond: ColumnElement[bool] | None = None

    def only(self, expr: SQL) -> SQL:
        return expr if self.cond is None else sa.case((self.cond, expr))

    def count(self) -> SQL:
        return sa.func.count() if self.cond is None else sa.func.count(sa.case((self.cond, 1)))


_NULL: SQL = sa.null()


def _ratio(num: Any, den: Any) -> float | None:
    # missing, not 0: a zero denominator, or a numerator that was never published
    return None if num is None or not den else float(num) / float(den)


class Measure(ABC):
    """What every measure tells the query stages (compile, batching, shape) and suppression."""

    where: Cond  # the rows it aggregates (a field of most measures, a method of some)
    is_ratio: ClassVar[bool] = False  # value = numerator ÷ denominator (missing when the denominator is 0)
    summed: ClassVar[bool] = False  # a count or a sum of rows: 0 where nothing matched, never missing
    # A count of people / cases (Count; Open, with `days` their days open): a split value with no row is 0 where
    # its source has data for it (dashboard.data.with_zero_counts). Not Sum (no row: no service reporting) nor Overlap.
    is_count: ClassVar[bool] = False
    # (value, numerator, denominator) of a period or split where nothing matched
    empty: ClassVar[tuple[Any, Any, Any]] = (None, None, None)
    batched: ClassVar[bool] = True  # may share a select with other metrics of its source
    # Shares a select at one period too: its condition is no window test the store would push into the
    # scan were it alone (see models.query.batching._batch_key).
    batched_at_one_period: ClassVar[bool] = False
    adds_over_days: ClassVar[bool] = False  # its aggregates over a window are the sums of its days' (batching)

    @abstractmethod
    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        """(value, numerator, denominator) aggregates over `rows`."""

    @property
    def counts_rows(self) -> bool:
        """The value is a number of rows (people, services), not a measurement."""
        return False

    def row_filters(self, x: Scope) -> list[ColumnElement[bool]]:
        """Conditions on the source's rows for this measure alone, in the WHERE clause after the source's own."""
        return []

    @property
    def share_dimension(self) -> str | None:
        """The dimension whose values share the total (`Share`), grouped by even when not asked for."""
        return None

    def shape(self, fetched: list[Row], by: tuple[str, ...], selected: set[Any] | None) -> list[Row]:
        """The select's rows as rows of the answer (`Share` works out its denominators here)."""
        return fetched

    def value(self, value: Any, num: Any, den: Any) -> Any:
        """A row's value from its fetched value, numerator and denominator."""
        if self.is_ratio:
            return _ratio(num, den)
        if self.summed and value is None:
            return 0
        return value

    def interval(self) -> Interval | None:
        """How the interval strategy (models.query.intervals) counts it over many periods; None: it does not."""
        return None


# --- rows of the source, aggregated ----------------------------------------

@dataclass(frozen=True)
class Count(Measure):
    """Rows meeting `where`."""
    where: Cond
    summed: ClassVar[bool] = True
    is_count: ClassVar[bool] = True
    empty: ClassVar[tuple[Any, Any, Any]] = (0, None, None)
    adds_over_days: ClassVar[bool] = True

    @property
    def counts_rows(self) -> bool:
        return True

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return rows.count(), _NULL, _NULL


@dataclass(frozen=True)
class Sum(Measure):
    expr: Expr
    where: Cond
    summed: ClassVar[bool] = True
    empty: ClassVar[tuple[Any, Any, Any]] = (0, None, None)

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return sa.func.sum(rows.only(self.expr(x))), _NULL, _NULL


@dataclass(frozen=True)
class Ratio(Measure):
    """Count meeting `numerator` ÷ count meeting `where` (the denominator)."""
    numerator: Cond
    where: Cond
    is_ratio: ClassVar[bool] = True
    empty: ClassVar[tuple[Any, Any, Any]] = (None, 0, 0)
    adds_over_days: ClassVar[bool] = True

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return _NULL, sa.func.sum(rows.only(sa.case((self.numerator(x), 1), else_=0))), rows.count()


@dataclass(frozen=True)
class SumRatio(Measure):
    numerator: Expr
    denominator: Expr
    where: Cond
    is_ratio: ClassVar[bool] = True
    empty: ClassVar[tuple[Any, Any, Any]] = (None, 0, 0)

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return _NULL, sa.func.sum(rows.only(self.numerator(x))), sa.func.sum(rows.only(self.denominator(x)))


@dataclass(frozen=True)
class Percentile(Measure):
    expr: Expr
    fraction: float
    where: Cond

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return percentile_cont(self.fraction, rows.only(self.expr(x))), _NULL, _NULL


@dataclass(frozen=True)
class Mean(Measure):
    expr: Expr
    where: Cond

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return sa.func.avg(rows.only(self.expr(x))), _NULL, _NULL


@dataclass(frozen=True)
class Share(Measure):
    """Rows of each `dimension` value ÷ all rows meeting `where` (filters on that dimension apply to the numerator)."""
    where: Cond
    dimension: str
    require_value: bool = False  # rows with no value of the dimension count only in the denominator
    is_ratio: ClassVar[bool] = True
    empty: ClassVar[tuple[Any, Any, Any]] = (None, 0, 0)
    batched: ClassVar[bool] = False  # its denominators are worked out after the select (`shape`)

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return _NULL, sa.func.count(), _NULL

    @property
    def share_dimension(self) -> str:
        return self.dimension

    def shape(self, fetched: list[Row], by: tuple[str, ...], selected: set[Any] | None) -> list[Row]:
        """Numerator per group (its value of the dimension among `selected`, the dimension's filter),
        denominator = all rows of the same period and other dimensions."""
        dim = f"d_{self.dimension}"
        others = [f"d_{d}" for d in by if d != self.dimension]
        totals: dict[tuple[Any, ...], int] = {}
        for row in fetched:
            key = (row["k"], *[row[o] for o in others])
            totals[key] = totals.get(key, 0) + int(row["num"])
        keep_dim = self.dimension in by
        grouped: dict[tuple[Any, ...], Row] = {}
        for row in fetched:
            others_key = (row["k"], *[row[o] for o in others])
            has_value = not (self.require_value and row[dim] in (None, NOT_RECORDED))
            chosen = selected is None or row[dim] in selected
            if keep_dim and not (has_value and chosen):
                continue  # not a row of the answer; it still counted in the denominator above
            entry = grouped.setdefault((*others_key, row[dim] if keep_dim else None),
                                       {**row, "num": 0, "den": totals[others_key]})
            entry["num"] += int(row["num"]) if (has_value and chosen) else 0
        return list(grouped.values())


# --- intervals: open at an instant, overlapping a period ----------------------

IntervalKind = Literal["count", "days", "overlap"]


class Interval(Measure):
    """A condition on a case that turns true once (`started`) and false once (`stopped`, by any of `end_columns`) as
    the periods go by. Over many periods in order (`fits`) the interval strategy (models.query.intervals)
    works out once per case the first period it counts in and the first it no longer does, and counts from
    those, instead of testing every case in every period."""
    start: str
    summed: ClassVar[bool] = True
    empty: ClassVar[tuple[Any, Any, Any]] = (0, None, None)

    def interval(self) -> Interval:
        return self

    @property
    @abstractmethod
    def kind(self) -> IntervalKind:
        """count (cases open), days (Σ days open so far) or overlap (Σ days of overlap with the period)."""

    @abstractmethod
    def end_columns(self) -> tuple[str, ...]:
        """The columns whose time stops a case counting."""

    @abstractmethod
    def fits(self, periods: Sequence[Period]) -> bool:
        """Whether the periods are in the order the strategy needs."""

    @abstractmethod
    def started(self, start: SQL, p: PeriodColumns) -> ColumnElement[bool]:
        """True in the first period the case counts in and every one after."""

    @abstractmethod
    def stopped(self, end: SQL, p: PeriodColumns) -> ColumnElement[bool]:
        """True in the first period this end stops the case counting and every one after."""

    @abstractmethod
    def sums(self, c: Columns, ref: SQL, last_end: SQL) -> tuple[SQL, SQL | None]:
        """Seconds from `ref` summed per group of cases: the lower bound and (`overlap`) the upper."""


@dataclass(frozen=True)
class Open(Interval):
    """Cases open at the period's instant: `start ≤ at`, each of `ends` missing or `> at`, and with `min_days`
    (7, 14 or 21) at least that many whole London days from `start` to `at`. The value is their count, or with
    `days` the Σ of fractional days from `start` to `at`.

    Each condition only ever turns true (or false) once as the instant moves on (`Interval`)."""
    start: str
    ends: tuple[str, ...]
    min_days: int = 0
    days: bool = False
    is_count: ClassVar[bool] = True
    batched_at_one_period: ClassVar[bool] = True

    @property
    def counts_rows(self) -> bool:
        return not self.days

    @property
    def kind(self) -> IntervalKind:
        return "days" if self.days else "count"

    def end_columns(self) -> tuple[str, ...]:
        return self.ends

    def where(self, x: Scope) -> ColumnElement[bool]:
        start = x.c[self.start]
        conds = [start <= x.p.at, *[sa.or_(x.c[end].is_(None), x.c[end] > x.p.at) for end in self.ends]]
        if self.min_days:
            conds.append(start < x.p.cut(self.min_days))  # whole days to `at` ≥ min_days
        return sa.and_(*conds)

    def expr(self, x: Scope) -> SQL:
        return seconds_between(x.c[self.start], x.p.at) / 86400.0

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        if self.days:
            return sa.func.sum(rows.only(self.expr(x))), _NULL, _NULL
        return rows.count(), _NULL, _NULL

    def fits(self, periods: Sequence[Period]) -> bool:
        return all(a.at < b.at for a, b in zip(periods, periods[1:]))

    def started(self, start: SQL, p: PeriodColumns) -> ColumnElement[bool]:
        cond = start <= p.at
        return sa.and_(cond, start < p.cut(self.min_days)) if self.min_days else cond

    def stopped(self, end: SQL, p: PeriodColumns) -> ColumnElement[bool]:
        return end <= p.at

    def sums(self, c: Columns, ref: SQL, last_end: SQL) -> tuple[SQL, SQL | None]:
        return seconds_between(ref, c[self.start]), None


@dataclass(frozen=True)
class Overlap(Interval):
    """Σ fractional days of overlap between [`start`, `end` — or the period's end while still open) and the
    period, over the cases overlapping it. Over many contiguous periods it is worked out from each case's first
    and last period, as `Open` is (`Interval`)."""
    start: str
    end: str

    @property
    def kind(self) -> IntervalKind:
        return "overlap"

    def end_columns(self) -> tuple[str, ...]:
        return (self.end,)

    def where(self, x: Scope) -> ColumnElement[bool]:
        return sa.and_(x.c[self.start] < x.p.end, sa.or_(x.c[self.end].is_(None), x.c[self.end] > x.p.start))

    def expr(self, x: Scope) -> SQL:
        upper = sa.func.least(sa.func.coalesce(x.c[self.end], x.p.end), x.p.end)
        lower = sa.func.greatest(x.c[self.start], x.p.start)
        return sa.func.greatest(seconds_between(lower, upper), 0.0) / 86400.0

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return sa.func.sum(rows.only(self.expr(x))), _NULL, _NULL

    def fits(self, periods: Sequence[Period]) -> bool:
        return all(a.end == b.start for a, b in zip(periods, periods[1:])) and all(p.start < p.end for p in periods)

    def started(self, start: SQL, p: PeriodColumns) -> ColumnElement[bool]:
        return start < p.end

    def stopped(self, end: SQL, p: PeriodColumns) -> ColumnElement[bool]:
        return end <= p.start

    def sums(self, c: Columns, ref: SQL, last_end: SQL) -> tuple[SQL, SQL | None]:
        start, end = c[self.start], c[self.end]
        return (seconds_between(ref, sa.func.greatest(start, ref)),
                seconds_between(ref, sa.func.least(sa.func.coalesce(end, last_end), last_end)))


# --- published figures (sitreps) -----------------------------------------------

class Published(Measure):
    """A figure NHS England publishes: it reads every row of its source (`row_filters` pick them by
    measure name) and is worked out alone, never in a batch."""
    batched: ClassVar[bool] = False

    def where(self, x: Scope) -> ColumnElement[bool]:
        return sa.true()


@dataclass(frozen=True)
class DailyMean(Published):
    """Published daily figure: Σ values ÷ days with a value (unsubmitted days are skipped, never 0)."""
    measure: str
    is_ratio: ClassVar[bool] = True

    def row_filters(self, x: Scope) -> list[ColumnElement[bool]]:
        return [x.v.measure == self.measure]

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        v = x.v
        return _NULL, sa.func.sum(v.value), sa.func.count(sa.distinct(sa.case((v.value.is_not(None), v.period_date))))


@dataclass(frozen=True)
class PublishedRatio(Published):
    """Σ published `numerator` figures ÷ Σ published `denominator` figures over the window."""
    numerator: str
    denominator: str
    is_ratio: ClassVar[bool] = True

    def row_filters(self, x: Scope) -> list[ColumnElement[bool]]:
        return [x.v.measure.in_((self.numerator, self.denominator))]

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        v = x.v
        return (_NULL, sa.func.sum(sa.case((v.measure == self.numerator, v.value))),
                sa.func.sum(sa.case((v.measure == self.denominator, v.value))))


@dataclass(frozen=True)
class PublishedSum(Published):
    """Published monthly counts whose measure starts with `prefix`, summed."""
    prefix: str

    def row_filters(self, x: Scope) -> list[ColumnElement[bool]]:
        return [x.v.measure.startswith(self.prefix)]

    def aggregates(self, x: Scope, rows: Rows) -> Aggregates:
        return sa.func.sum(x.v.value), _NULL, _NULL
