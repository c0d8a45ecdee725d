"""The query builder: metric + (at, window, grain, by, filters) → one select → rows.

Pages, the HTTP API, exports and the CLI all come through `run_query`, so the
same question gives the same number everywhere. Strings from URLs and the
command line enter through `MetricQuery.from_params`, which validates every
value (a `QueryError` names the parameter) before any SQL is built; filter
values are always bound parameters.
"""
from __future__ import annotations

import functools
import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from models import deadline, settings
from models.metrics import (
    REGISTRY, Count, DailyMean, Mean, Metric, Open, Overlap, PublishedRatio, PublishedSum, Percentile, Ratio, Share, Sum,
    SumRatio,
)
from models.dialects import latest, seconds_between
from models.geography import Geography, get_geography, invalidate_geography
from models.periods import (
    EARLIEST, GRAINS, LATEST, LONDON, PERIOD_COLUMNS, UTC, Period, bucket_count, build_periods, default_window,
    london_midnight_utc, period_param, period_params, periods_table, to_naive_utc,
)
from models.tables import CASE_DATES, capacity_report, hub_case, hwb, ingest_run, service, sitrep_value
from models.vocab import AGE_BANDS, DELAY_REASONS, IC_OUTCOMES, NOT_RECORDED, SERVICE_TYPES, SITREP_LEVELS

RESERVED = ("at", "from", "to", "grain", "by")


class QueryError(ValueError):
    """A bad query: `param` names what was wrong (HTTP 400, CLI exit 2)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": self.message, "parameter": self.param}


class UnknownMetric(QueryError):
    """No such metric (HTTP 404)."""


@dataclass(frozen=True)
class MetricQuery:
    metric: str
    at: datetime | None = None  # aware; None = now
    from_: date | None = None
    to: date | None = None
    grain: str | None = None
    by: tuple[str, ...] = ()
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A snapshot metric measured at `at` and at the same London time on each of the previous
    # `lookback_days` days (oldest first, labelled by day): a tile's value, its changes against
    # yesterday and last week, and its trend in one select. Pages only; not part of the HTTP API.
    lookback_days: int = 0

    def cache_key(self) -> str:
        at = self.at.isoformat() if self.at else "now"
        where = ";".join(f"{k}={','.join(sorted(v))}" for k, v in sorted(self.where.items()))
        return (f"{self.metric}|{at}|{self.from_}|{self.to}|{self.grain}|{','.join(self.by)}|{where}"
                + (f"|lookback={self.lookback_days}" if self.lookback_days else ""))

    @staticmethod
    def from_params(metric: str, params: Mapping[str, Sequence[str] | str], *,
                    ignore: Iterable[str] = ()) -> "MetricQuery":
        """Build and validate a query from URL / CLI strings (`by` comma-separated; repeated values = either)."""
        spec = get_metric(metric)
        ignored = set(ignore)

        def values(key: str) -> list[str]:
            raw = params.get(key, [])
            items = [raw] if isinstance(raw, str) else list(raw)
            return [v.strip() for item in items for v in ([item] if key not in ("by",) else item.split(",")) if v.strip()]

        def single(key: str) -> str | None:
            vals = values(key)
            if len(vals) > 1:
                raise QueryError(key, f"`{key}` takes one value, got {len(vals)}")
            return vals[0] if vals else None

        at = parse_time("at", single("at")) if single("at") else None
        from_ = parse_day("from", single("from")) if single("from") else None
        to = parse_day("to", single("to")) if single("to") else None
        if from_ and to and from_ >= to:
            raise QueryError("to", f"`to` ({to}) must be after `from` ({from_}); the window is [from, to)")
        grain = single("grain")
        if grain is not None and grain not in GRAINS:
            raise QueryError("grain", f"unknown grain {grain!r}; expected one of {', '.join(GRAINS)}")
        check_bounds(at or datetime.now(UTC), from_, to, grain, spec.source)
        by = tuple(dict.fromkeys(values("by")))
        for dim in by:
            if dim not in spec.dimensions:
                raise QueryError("by", f"metric {metric!r} cannot be split by {dim!r}; "
                                       f"dimensions: {', '.join(spec.dimensions)}")
        where: dict[str, tuple[str, ...]] = {}
        for key in params:
            if key in RESERVED or key in ignored:
                continue
            if key not in spec.dimensions:
                raise QueryError(key, f"unknown filter {key!r} for metric {metric!r}; "
                                      f"filters: {', '.join(spec.dimensions)}")
            vals = values(key)
            if vals:
                where[key] = tuple(dict.fromkeys(vals))
        return MetricQuery(metric=metric, at=at, from_=from_, to=to, grain=grain, by=by, where=where)


@dataclass
class MetricResult:
    metric: str
    as_of: datetime
    data_version: int
    rows: list[dict[str, Any]]
    query: MetricQuery
    window: tuple[date, date]
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "as_of": self.as_of.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "data_version": self.data_version,
            "unit": self.unit,
            "from": self.window[0].isoformat(),
            "to": self.window[1].isoformat(),
            "grain": self.query.grain,
            "by": list(self.query.by),
            "filters": {k: list(v) for k, v in self.query.where.items()},
            "rows": self.rows,
        }

    def total(self) -> float | int | None:
        """The value of a single-row result (no `by`, no `grain`)."""
        return self.rows[0]["value"] if len(self.rows) == 1 else None


def get_metric(name: str) -> Metric:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownMetric("metric", f"unknown metric {name!r}; `python app.py metrics` lists them") from None


def parse_time(param: str, text: str) -> datetime:
    """ISO 8601; a time without an offset is Europe/London local time; a bare date is its London midnight."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise QueryError(param, f"`{param}` must be an ISO 8601 time, got {_shown(text)}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # an offset pushing year 1 or 9999 off the calendar
        raise QueryError(param, f"`{param}` must lie within {EARLIEST.isoformat()} .. {LATEST.isoformat()}") from None


def _shown(text: str) -> str:
    """A bad value as quoted in an error: long ones cut, so an error stays one line."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def check_bounds(at: datetime, from_: date | None, to: date | None, grain: str | None,
                 source: str | None = None) -> tuple[date, date]:
    """Refuse, before any work, a query whose dates leave [EARLIEST, LATEST) or whose periods pass the cap
    (`HOMEWARD_MAX_PERIODS`): the cost of a query grows with its periods, a capacity series' fastest
    (one aggregate per period, see `_compile`). Returns the window."""
    span = f"{EARLIEST.isoformat()} .. {LATEST.isoformat()}"
    if not london_midnight_utc(EARLIEST) <= to_naive_utc(at) < london_midnight_utc(LATEST):
        raise QueryError("at", f"`at` must lie within {span}")
    for param, day in (("from", from_), ("to", to)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise QueryError(param, f"`{param}` must lie within {span}, got {day.isoformat()}")
    window = default_window(at, from_, to)
    if not EARLIEST <= window[0] < window[1] <= LATEST:
        raise QueryError("from" if window[0] < EARLIEST else "to", f"the window must lie within {span}")
    if grain in GRAINS:
        caps = settings.max_periods()
        count, cap = bucket_count(window[0], window[1], grain), caps[grain]
        if source == "capacity":
            cap = min(cap, caps["capacity"])
        if count > cap:
            raise QueryError("grain", f"{count} {grain}s from {window[0]} to {window[1]} is more than the "
                                      f"{cap} one query may ask for; choose a longer grain or a shorter window")
    return window


def parse_day(param: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(param, f"`{param}` must be a date YYYY-MM-DD, got {_shown(text)}") from None


_DATA_VERSION = (sa.select(sa.func.max(ingest_run.c.run_id))
                 .where(ingest_run.c.status.in_(("ok", "partial"))))


def data_version(engine: Engine) -> int:
    """The latest ingest run that may have changed data; caches key on it."""
    with engine.connect() as conn:
        return _data_version(conn)


# Which metrics a feed's data can change. A feed not named here (reference geography, a new feed)
# may change any metric.
FEED_SOURCE: dict[str, str] = {"vacancy": "capacity", "hub_cases": "cases",
                               "nhse_acute_sitrep": "sitrep", "nhse_community_sitrep": "sitrep"}


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


def _data_version(conn: sa.Connection) -> int:
    return int(conn.execute(_DATA_VERSION).scalar() or 0)


# --- compilation -----------------------------------------------------------

class Scope:
    """Table aliases a measure's callables see; joins are added only when a dimension needs them.

    `p` holds the period columns: columns of the VALUES table of periods, or, for a
    single period (no grain, the common case), the period's values as bound constants.
    """

    def __init__(self, p: Mapping[str, Any], **tables: Any) -> None:
        # (a select over many periods may carry only the period columns it reads: see `_plan`)
        self.p = SimpleNamespace(**p, start=p.get("p_start"), end=p.get("p_end"), at=p.get("p_at"))
        for name, table in tables.items():
            setattr(self, name, table.c if table is not None else None)


class _Constants:
    """A single period as bound parameters, shaped like a VALUES table's `.c` (`pc.c.p_at`, `pc.c["k"]`).

    With constants in the WHERE clause the store prunes row groups by their min / max
    (zone maps), pushes filters into the scan and needs no join against the periods:
    the select is what one would write by hand. The parameters are those of period 0
    of `period_params`.
    """

    def __init__(self) -> None:
        self.c = SimpleNamespace(**{name: sa.bindparam(period_param(0, name), type_=type_)
                                    for name, type_ in PERIOD_COLUMNS if name != "k"})
        self.c.k = sa.literal_column("0", sa.Integer)

    def columns(self) -> dict[str, Any]:
        return dict(vars(self.c))


def _age_band(age: ColumnElement[Any]) -> ColumnElement[Any]:
    return sa.case((age < 65, "18-64"), (age < 75, "65-74"), (age < 85, "75-84"), else_="85+")


def _validate_values(engine: Engine, metric: Metric, where: Mapping[str, tuple[str, ...]]) -> dict[str, list[Any]]:
    """Check filter values against the vocabularies and the reference geography; return typed values."""
    typed: dict[str, list[Any]] = {}
    enums = {"service_type": SERVICE_TYPES, "delay_reason": DELAY_REASONS + (NOT_RECORDED,),
             "ic_outcome": IC_OUTCOMES + (NOT_RECORDED,), "age_band": AGE_BANDS, "level": SITREP_LEVELS,
             "collection": ("acute", "community")}
    for key, vals in where.items():
        if key == "pathway":
            bad = [v for v in vals if v not in ("0", "1", "2", "3")]
            if bad:
                raise QueryError(key, f"pathway must be 0, 1, 2 or 3, got {bad[0]!r}")
            typed[key] = [f"P{v}" for v in vals] if metric.source == "sitrep" else [int(v) for v in vals]
        elif key in enums:
            norm = [v.upper() if key in ("service_type", "delay_reason") or v.upper() == NOT_RECORDED
                    else v.lower() for v in vals]
            bad = [v for v, n in zip(vals, norm) if n not in enums[key]]
            if bad:
                raise QueryError(key, f"unknown {key} {bad[0]!r}; expected one of {', '.join(enums[key])}")
            typed[key] = norm
        elif key in ("icb", "hwb", "place"):
            typed[key] = _known_codes(engine, key, vals)
        else:
            typed[key] = list(vals)
    return typed


def _known_codes(engine: Engine, key: str, vals: Sequence[str]) -> list[str]:
    """The values as the store's codes, checked against the reference geography (read once per store
    and kept until it is reloaded: a page runs a dozen queries, and asking the store each time cost
    ~1.8 ms a query). A code not found is looked for again in a fresh read, so geography loaded by
    another process is never refused."""
    def check(geo: Geography) -> tuple[list[str], list[str]]:
        if key == "icb":
            norm, known = [v.upper() for v in vals], geo.icbs
        elif key == "place":
            norm, known = list(vals), geo.places
        else:
            norm, known = [geo.aliases.get(v.upper(), v.upper()) for v in vals], geo.hwbs
        return norm, [v for v, n in zip(vals, norm) if n not in known]

    norm, bad = check(get_geography(engine))
    if bad:
        invalidate_geography(engine)
        norm, bad = check(get_geography(engine))
    if bad:
        what = {"icb": "ICB ODS code (e.g. QWO)", "hwb": "HWB ONS code (e.g. E08000035)", "place": "place code"}[key]
        raise QueryError(key, f"unknown {key} {bad[0]!r}; expected an {what} from the reference geography")
    return norm


def _as_hwbs(engine: Engine, metric: Metric, where: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """ICB and place filters as the HWBs they cover (with an HWB filter too: the HWBs in all of them).

    The same rows as filtering on the HWB table's ICB or place, but the store tests the case's or
    service's own HWB code in the scan instead of joining every row to the HWB table first
    (NCTR by delay reason in one ICB: 26 -> 18 ms)."""
    if "hwb" not in metric.dimensions or not where.keys() & {"icb", "place"}:
        return where
    geo = get_geography(engine)
    covered: list[set[str]] = [set(where["hwb"])] if "hwb" in where else []
    if "icb" in where:
        covered.append({h for code in where["icb"] for h in geo.hwbs_in_icb(code)})
    if "place" in where:
        covered.append({h for code in where["place"] for h in geo.hwbs_in_place(code)})
    return {**{k: v for k, v in where.items() if k not in ("icb", "place")}, "hwb": sorted(set.intersection(*covered))}


def _compile(names: tuple[str, ...], member_keys: tuple[tuple[str, ...], ...], n_periods: int,
             by: tuple[str, ...], filter_keys: tuple[str, ...], grain: str | None = None,
             interval: bool = False, period_columns: frozenset[str] | None = None,
             ) -> tuple[sa.Select, list[str], tuple["_OpenMember", ...] | None]:
    """The select for a query's shape. Every value that varies between queries of the same shape
    is a named bound parameter, filled by `_params`: the periods' `p{i}_{column}`, the filter
    values `w_{key}` (expanding: any number of values), the sitrep `feeds`, and for a case
    metric with several periods `span_from` / `span_to`.

    Several metrics of one source over the same periods and `by` (`names`, a batch) share one
    select: the source's rows are read and joined once, and each metric aggregates only its own
    rows (its condition, plus its own filters `w{i}_{key}` from `member_keys`, inside the
    aggregate). The columns are then `v{i}`, `num{i}`, `den{i}` and `n{i}` (its rows matched).

    With `interval` (`Open` / `Overlap` measures over many periods, see `_interval`) the select is
    `_open_select`'s instead, and the third item says how to read its rows (`_open_rows`).
    `period_columns` (several periods): the only columns of the periods' VALUES table the select reads.
    """
    if interval:
        return _open_select(names, member_keys, n_periods, by, filter_keys)
    metrics = [REGISTRY[n] for n in names]
    metric = metrics[0]
    batch = len(metrics) > 1
    measure = metric.measure
    single = n_periods == 1
    # One period: its bounds are constants (no join). Several (a grain): a VALUES table joined in.
    p: Any = _Constants() if single else periods_table(n_periods, period_columns)
    pcols = p.columns() if single else {name: p.c[name] for name, _ in PERIOD_COLUMNS if name in p.c}
    where = set(filter_keys)
    dims_needed = set(by) | where | {k for keys in member_keys for k in keys}
    share_dim = measure.dimension if isinstance(measure, Share) else None
    group_dims = list(by) + ([share_dim] if share_dim and share_dim not in by else [])
    filters: list[ColumnElement[bool]] = []

    if metric.source == "cases":
        c = hub_case.alias("c")
        h, svc = _case_joins(dims_needed)
        event = _event_column(metrics) if grain is not None and not single else None
        if single:
            frm = c
        elif event is not None:
            # Each case meets the one period its event falls in: a hash join on the period's index,
            # not every case paired with every period (the measure's own window test still applies).
            frm = c.join(p, p.c.k == _bucket(c.c[CASE_DATES[event]], grain))  # type: ignore[arg-type]
        else:
            frm = p.join(c, sa.true())
        frm = _join_case_dims(frm, c, h, svc)
        scope = Scope(pcols, c=c)
        if not single and metric.span is not None:
            filters.append(_span_filter(c, metric))
        dim_expr = _case_dims(c, h, svc)
    elif metric.source == "capacity":
        cr = capacity_report
        # each service's latest report inside the staleness window (per period)
        latest_cols = [latest(col, cr.c.reported_at).label(col.name)
                       for col in (cr.c.capacity, cr.c.occupied, cr.c.vacant_accepting, cr.c.vacant_reserved)]
        if single:
            r = (sa.select(cr.c.service_id, *latest_cols)
                 .where(cr.c.reported_at >= p.c.stale_from, cr.c.reported_at <= p.c.p_at)
                 .group_by(cr.c.service_id)
                 .subquery("r"))
        else:
            # One aggregate per period, each over its own staleness window given as constants, as in the
            # single-period select: the scan reads only that window's row groups and the aggregate is a
            # plain hash aggregate. (A range join of the periods to the reports paired every report with
            # every period before filtering: 0.3-3 s on a year of national reports.)
            def window(i: int) -> sa.Select:
                stale_from = sa.bindparam(period_param(i, "stale_from"), type_=sa.DateTime)
                at = sa.bindparam(period_param(i, "p_at"), type_=sa.DateTime)
                return (sa.select(sa.literal_column(str(i), sa.Integer).label("k"), cr.c.service_id, *latest_cols)
                        .where(cr.c.reported_at >= stale_from, cr.c.reported_at <= at)
                        .group_by(cr.c.service_id))
            r = sa.union_all(*[window(i) for i in range(n_periods)]).subquery("r")
        s = service.alias("s")
        h = hwb.alias("h") if dims_needed & {"icb", "place"} else None
        if single:
            frm = s.outerjoin(r, r.c.service_id == s.c.service_id)
            filters.append(s.c.first_reported_at <= p.c.p_at)
        else:
            frm = p.join(s, s.c.first_reported_at <= p.c.p_at).outerjoin(
                r, sa.and_(r.c.k == p.c.k, r.c.service_id == s.c.service_id))
        if h is not None:
            frm = frm.join(h, h.c.hwb_code == s.c.hwb_code)
        scope = Scope(pcols, s=s, r=r)
        dim_expr = {"hwb": s.c.hwb_code, "icb": h.c.icb_code if h is not None else None,
                    "place": h.c.place_code if h is not None else None, "pathway": s.c.pathway,
                    "service_type": s.c.service_type, "service_id": s.c.service_id}
    else:
        v = sitrep_value.alias("v")
        in_period = sa.and_(v.c.period_date >= p.c.start_date, v.c.period_date < p.c.end_date)
        if single:
            frm = v
            filters.append(in_period)
        else:
            frm = p.join(v, in_period)
        scope = Scope(pcols, v=v)
        where.discard("collection")  # chooses the feeds
        filters.append(v.c.feed.in_(sa.bindparam("feeds", expanding=True)))
        if isinstance(measure, DailyMean):
            filters.append(v.c.measure == measure.measure)
        elif isinstance(measure, PublishedRatio):
            filters.append(v.c.measure.in_((measure.numerator, measure.denominator)))
        else:
            filters.append(v.c.measure.startswith(measure.prefix))
        if not ({"level", "org"} & (set(by) | set(where))):
            filters.append(v.c.level == "england")  # one figure, not the sum of every level
        dim_expr = {"level": v.c.level, "org": v.c.org_code, "pathway": v.c.pathway,
                    "collection": sa.case((v.c.feed == "nhse_community_sitrep", "community"), else_="acute")}

    for key in sorted(where):
        if share_dim and key == share_dim:
            continue  # applied to the numerator after aggregation
        filters.append(dim_expr[key].in_(sa.bindparam(f"w_{key}", expanding=True)))

    if batch:
        conds: list[ColumnElement[bool]] = []
        aggs: list[Any] = []
        for i, (m, keys) in enumerate(zip(metrics, member_keys)):
            cond = sa.and_(m.measure.where(scope),  # type: ignore[union-attr]
                           *[dim_expr[key].in_(sa.bindparam(f"w{i}_{key}", expanding=True)) for key in keys])
            conds.append(cond)
            value, num, den = _aggregates(m.measure, scope, cond)
            aggs += [value.label(f"v{i}"), num.label(f"num{i}"), den.label(f"den{i}"),
                     sa.func.count(sa.case((cond, 1))).label(f"n{i}")]
        row_filter: ColumnElement[bool] = sa.or_(*conds)
    else:
        row_filter = measure.where(scope) if hasattr(measure, "where") else sa.true()
        value, num, den = _aggregates(measure, scope, None)
        aggs = [value.label("value"), num.label("num"), den.label("den")]

    dim_cols = [dim_expr[d].label(f"d_{d}") for d in group_dims]
    stmt = sa.select(p.c.k.label("k"), *dim_cols, *aggs).select_from(frm).where(row_filter, *filters)
    if single:
        stmt = stmt.group_by(*[dim_expr[d] for d in group_dims])
        if not group_dims and not batch:  # as when grouped by period: no row at all when nothing matched
            stmt = stmt.having(sa.func.count() > 0)
    else:
        stmt = stmt.group_by(p.c.k, *[dim_expr[d] for d in group_dims])
    return stmt, group_dims, None


# --- open intervals over many periods ------------------------------------------
#
# "Open at the instant" (`Open`: waiting, in an IC episode) and "overlapping the period" (`Overlap`)
# are conditions that turn true once and false once as the periods go by. So over many periods the
# store works out, per case, the first period it counts in (`s`) and the first it no longer counts in
# (`e`), groups the cases by them, and sums the groups into the changes at each period (`_open_events`);
# the count at period k is then the running sum of the changes up to k, which `_open_rows` adds up.
# Every case is read once, not once per period. At national scale (measured): the 28-day NCTR series
# 110 -> 25-45 ms; a year of days 0.9 -> 0.2-0.3 s; a year of days by HWB 2.2 -> 1.6 s.

_PERIOD_TYPES = dict(PERIOD_COLUMNS)


def _pp(k: int, name: str) -> Any:
    """Column `name` of period k, as the bound parameter `_params` fills."""
    return sa.bindparam(period_param(k, name), type_=_PERIOD_TYPES[name])


def _first_period(n: int, cond: Any) -> ColumnElement[Any]:
    """The first period index k in [0, n) for which `cond(k)` holds, else n (also when the row's value is
    missing: a comparison with NULL is not true). `cond` holds for every k after the first one that it holds
    for, so this is a binary search of nested CASEs: log2(n) comparisons a row."""
    def first(lo: int, hi: int) -> Any:  # the first k in [lo, hi) meeting cond, else hi
        if hi - lo <= 3:
            whens = [(cond(k), sa.literal_column(str(k), sa.Integer)) for k in range(lo, hi)]
            return sa.case(*whens, else_=sa.literal_column(str(hi), sa.Integer)) if whens else \
                sa.literal_column(str(hi), sa.Integer)
        mid = (lo + hi) // 2
        return sa.case((cond(mid), first(lo, mid)), else_=first(mid + 1, hi))
    return first(0, n)


@dataclass(frozen=True)
class _OpenMember:
    """How to read one metric's counts from `_open_select`'s rows."""
    kind: str  # count | days (Σ days open so far) | overlap (Σ days of overlap with the period)
    s: str  # column: the first period the case counts in
    e: str  # column: the first period (from s on) it no longer counts in; n = never


def _open_select(names: tuple[str, ...], member_keys: tuple[tuple[str, ...], ...], n: int,
                 by: tuple[str, ...], filter_keys: tuple[str, ...]) -> tuple[sa.Select, list[str], tuple[_OpenMember, ...]]:
    metrics = [REGISTRY[name] for name in names]
    c = hub_case.alias("c")
    h, svc = _case_joins(set(by) | set(filter_keys) | {k for keys in member_keys for k in keys})
    dim_expr = _case_dims(c, h, svc)
    cols: dict[str, Any] = {}  # label -> expression; members with the same bounds share a column

    def column(prefix: str, expr: Any) -> str:
        for label, known in cols.items():
            if label.startswith(prefix) and known.compare(expr):
                return label
        label = f"{prefix}{len(cols)}"
        cols[label] = expr
        return label

    ref = _pp(0, "p_start")  # sums are seconds from here: small numbers, exact enough in a double
    members: list[_OpenMember] = []
    aggs: list[Any] = []
    own_conds: list[ColumnElement[bool]] = []
    for i, (m, keys) in enumerate(zip(metrics, member_keys)):
        measure = m.measure
        own = sa.and_(sa.true(), *[dim_expr[key].in_(sa.bindparam(f"w{i}_{key}", expanding=True)) for key in keys])
        if keys:
            own_conds.append(own)
        if isinstance(measure, Open):
            start = c.c[measure.start]

            def opened(k: int, start: Any = start, days: int = measure.min_days) -> Any:
                cond = start <= _pp(k, "p_at")
                return sa.and_(cond, start < _pp(k, f"cut_{days}")) if days else cond
            s_col = column("s", _first_period(n, opened))
            ends = [_first_period(n, lambda k, end=c.c[name]: end <= _pp(k, "p_at")) for name in measure.ends]
            e_col = column("e", ends[0] if len(ends) == 1 else sa.func.least(*ends))
            kind = "days" if measure.days else "count"
            lower, upper = seconds_between(ref, start), None
        elif isinstance(measure, Overlap):
            start, end = c.c[measure.start], c.c[measure.end]
            s_col = column("s", _first_period(n, lambda k: start < _pp(k, "p_end")))
            e_col = column("e", _first_period(n, lambda k: end <= _pp(k, "p_start")))
            kind = "overlap"
            last_end = _pp(n - 1, "p_end")
            lower = seconds_between(ref, sa.func.greatest(start, ref))
            upper = seconds_between(ref, sa.func.least(sa.func.coalesce(end, last_end), last_end))
        else:  # pragma: no cover - `_interval` sends only these measures here
            raise TypeError(type(measure).__name__)
        only = (lambda expr: expr) if not keys else (lambda expr, own=own: sa.case((own, expr)))
        aggs += [sa.func.count(only(sa.literal_column("1"))).label(f"n{i}"),
                 (sa.func.sum(only(lower)) if kind != "count" else sa.null()).label(f"lo{i}"),
                 (sa.func.sum(only(upper)) if kind == "overlap" else sa.null()).label(f"hi{i}")]
        members.append(_OpenMember(kind, s_col, e_col))

    frm = _join_case_dims(c, c, h, svc)
    filters = [_span_filter(c, metrics[0]),
               *[dim_expr[key].in_(sa.bindparam(f"w_{key}", expanding=True)) for key in sorted(filter_keys)]]
    if own_conds and len(own_conds) == len(metrics):
        filters.append(sa.or_(*own_conds))  # a row no member counts is not read further
    dim_cols = [dim_expr[d].label(f"d_{d}") for d in by]
    bound_cols = [expr.label(label) for label, expr in cols.items()]
    groups = (sa.select(*dim_cols, *bound_cols, *aggs).select_from(frm).where(*filters)
              .group_by(*[dim_expr[d] for d in by], *[expr for expr in cols.values()])).subquery("g")
    return _open_events(groups, members, n, by), list(by), tuple(members)


def _open_events(g: Any, members: Sequence[_OpenMember], n: int, by: Sequence[str]) -> sa.Select:
    """From the groups (s, e), the period indexes where each member's counts change, summed per dimension
    and index: a case starts counting at s, stops at e, and (`Overlap`) is in its last period at e - 1. At
    most (dimension values x periods) rows come back, however many groups there are (a year of days by HWB
    has over a million)."""
    kinds = [(i, kind) for i, m in enumerate(members) for kind in ((0, 1, 2) if m.kind == "overlap" else (0, 1))]
    ev = sa.values(sa.column("m", sa.Integer), sa.column("kind", sa.Integer), name="ev", literal_binds=True).data(kinds)

    def at(i: int, kind: int) -> Any:
        return sa.and_(ev.c.m == i, ev.c.kind == kind)

    def event_index(i: int, kind: int) -> Any:
        m = members[i]
        return (g.c[m.s], g.c[m.e], g.c[m.e] - 1)[kind]

    index = sa.case(*[(at(i, kind), event_index(i, kind)) for i, kind in kinds])
    counted = sa.or_(*[sa.and_(ev.c.m == i, g.c[m.s] < g.c[m.e], g.c[m.s] < n) for i, m in enumerate(members)])
    sums: list[Any] = []
    for i, m in enumerate(members):
        sums += [sa.func.sum(sa.case((at(i, 0), g.c[f"n{i}"]))).label(f"ns{i}"),  # starting here
                 sa.func.sum(sa.case((at(i, 1), g.c[f"n{i}"]))).label(f"ne{i}")]  # stopping here
        if m.kind != "count":
            sums += [sa.func.sum(sa.case((at(i, 0), g.c[f"lo{i}"]))).label(f"ls{i}"),
                     sa.func.sum(sa.case((at(i, 1), g.c[f"lo{i}"]))).label(f"le{i}")]
        if m.kind == "overlap":
            sums += [sa.func.sum(sa.case((at(i, 2), g.c[f"n{i}"]))).label(f"nl{i}"),  # in their last period here
                     sa.func.sum(sa.case((at(i, 2), g.c[f"hi{i}"]))).label(f"hl{i}")]
    dims = [g.c[f"d_{d}"] for d in by]
    return (sa.select(*dims, index.label("k"), *sums).select_from(g.join(ev, sa.true())).where(counted)
            .group_by(*dims, index))


def _interval(prep: "_Prepared") -> bool:
    """Whether `_open_select` answers this query: an `Open` measure over several instants in order, or an
    `Overlap` over several periods end to end (what `build_periods` and the look back give)."""
    measure, periods = prep.metric.measure, prep.periods
    if prep.metric.source != "cases" or len(periods) < 2:
        return False
    pairs = list(zip(periods, periods[1:]))
    if isinstance(measure, Open):
        return all(a.at < b.at for a, b in pairs)
    if isinstance(measure, Overlap):
        return all(a.end == b.start for a, b in pairs) and all(p.start < p.end for p in periods)
    return False


def _open_rows(members: Sequence[_OpenMember], group_dims: Sequence[str], periods: Sequence[Period],
               fetched: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Each member's rows (`k`, dimensions, `value`), as the per-period select gives them, from
    `_open_events`' changes: a case of group (s, e) counts in periods s .. e-1. A period where no case
    counts has no row (the same as grouping by period)."""
    n = len(periods)
    ref = periods[0].start
    secs = lambda t: (t - ref).total_seconds()  # noqa: E731
    out: list[list[dict[str, Any]]] = []
    for i, m in enumerate(members):
        tallies: dict[tuple[Any, ...], tuple[list[int], list[float]]] = {}
        for row in fetched:
            k = row["k"]
            starting, stopping = int(row.get(f"ns{i}") or 0), int(row.get(f"ne{i}") or 0)
            last = int(row.get(f"nl{i}") or 0)
            if k is None or k >= n or not (starting or stopping or last):
                continue  # (an index n: stops after the last period)
            key = tuple(row.get(f"d_{d}") for d in group_dims)
            counts, extra = tallies.setdefault(key, ([0] * n, [0.0] * n))
            counts[k] += starting - stopping
            if m.kind == "days":  # Σ (at - start) = count * at - Σ start, from s on
                extra[k] += float(row.get(f"ls{i}") or 0.0) - float(row.get(f"le{i}") or 0.0)
            elif m.kind == "overlap":  # whole periods, less the part of the first before the start ...
                extra[k] += float(row.get(f"ls{i}") or 0.0) - starting * secs(periods[k].start)
                # ... and the part of the last after the end (clipped to the last period's end)
                extra[k] += last * secs(periods[k].end) - float(row.get(f"hl{i}") or 0.0)
        rows: list[dict[str, Any]] = []
        for key, (counts, extra) in tallies.items():
            count, running = 0, 0.0
            for k, period in enumerate(periods):
                count += counts[k]
                if m.kind == "days":
                    running += extra[k]
                if not count:
                    continue
                if m.kind == "count":
                    value: Any = count
                elif m.kind == "days":
                    value = (count * secs(period.at) - running) / 86400.0
                else:
                    value = (count * (secs(period.end) - secs(period.start)) - extra[k]) / 86400.0
                row = {"k": k, "value": value, "num": None, "den": None}
                row.update({f"d_{d}": v for d, v in zip(group_dims, key)})
                rows.append(row)
        out.append(rows)
    return out


def _case_joins(dims: set[str]) -> tuple[Any, Any]:
    """The HWB and destination service aliases a case query needs for these dimensions (None: not needed)."""
    return (hwb.alias("h") if dims & {"icb", "place"} else None,
            service.alias("svc") if "service_type" in dims else None)


def _join_case_dims(frm: Any, c: Any, h: Any, svc: Any) -> Any:
    if h is not None:
        frm = frm.join(h, h.c.hwb_code == c.c.hwb_code)
    if svc is not None:
        frm = frm.outerjoin(svc, svc.c.service_id == c.c.destination_service_id)
    return frm


def _case_dims(c: Any, h: Any, svc: Any) -> dict[str, Any]:
    return {
        "hwb": c.c.hwb_code, "icb": h.c.icb_code if h is not None else None,
        "place": h.c.place_code if h is not None else None, "pathway": c.c.pathway,
        "service_type": svc.c.service_type if svc is not None else None,
        "service_id": c.c.destination_service_id, "acute_site": c.c.acute_site_code,
        "age_band": _age_band(c.c.age), "delay_reason": sa.func.coalesce(c.c.delay_reason, NOT_RECORDED),
        "ic_outcome": sa.func.coalesce(c.c.ic_outcome, NOT_RECORDED), "hub": c.c.hub_id,
    }


def _span_filter(c: Any, metric: Metric) -> ColumnElement[bool]:
    """Constant bounds over all periods, pushed into the scan, before the join to the periods
    (every member of a batch has this span: see `_batch_key`)."""
    start, end = (c.c[name] for name in metric.span or ())
    return sa.and_(start <= sa.bindparam("span_to", type_=sa.DateTime),
                   sa.or_(end.is_(None), end >= sa.bindparam("span_from", type_=sa.DateTime)))


def _event_column(metrics: Sequence[Metric]) -> str | None:
    """The one column whose time puts a case in a period, when every metric counts cases by a single event
    (a period metric whose span starts and ends at the same column: discharges, IC ends, ...)."""
    events = {m.span[0] if m.kind == "period" and m.span and m.span[0] == m.span[1] else None for m in metrics}
    return events.pop() if len(events) == 1 else None


def _bucket(day: ColumnElement[Any], grain: str) -> ColumnElement[Any]:
    """Index of the London day, week or month of the event (its stored London `day`) counted from the first
    period's (`bucket_from`), as `build_periods` numbers them; outside the window it is out of range or
    filtered by the window test."""
    first = sa.bindparam("bucket_from", type_=sa.Date)
    if grain == "day":
        return sa.cast(day - first, sa.Integer)
    if grain == "week":
        return sa.cast(sa.func.floor(sa.cast(day - first, sa.Integer) / 7.0), sa.Integer)
    months = lambda d: sa.cast(sa.extract("year", d), sa.Integer) * 12 + sa.cast(sa.extract("month", d), sa.Integer)  # noqa: E731
    return months(day) - months(first)


def _aggregates(measure: Any, scope: Scope, cond: ColumnElement[bool] | None) -> tuple[Any, Any, Any]:
    """(value, numerator, denominator) aggregates of a measure. With `cond` (a batch member) each
    aggregate sees only the rows meeting it: the others are NULL to it, which every aggregate skips."""
    def only(expr: Any) -> Any:
        return expr if cond is None else sa.case((cond, expr))

    def rows() -> Any:  # count of the measure's rows
        return sa.func.count() if cond is None else sa.func.count(sa.case((cond, 1)))

    null = sa.null()
    if isinstance(measure, Count) or (isinstance(measure, Open) and not measure.days):
        return rows(), null, null
    if isinstance(measure, (Sum, Open, Overlap)):
        return sa.func.sum(only(measure.expr(scope))), null, null
    if isinstance(measure, Ratio):
        return null, sa.func.sum(only(sa.case((measure.numerator(scope), 1), else_=0))), rows()
    if isinstance(measure, SumRatio):
        return null, sa.func.sum(only(measure.numerator(scope))), sa.func.sum(only(measure.denominator(scope)))
    if isinstance(measure, Percentile):
        from models.dialects import percentile_cont
        return percentile_cont(measure.fraction, only(measure.expr(scope))), null, null
    if isinstance(measure, Mean):
        return sa.func.avg(only(measure.expr(scope))), null, null
    if cond is not None:  # pragma: no cover - `_batch_key` keeps the measures below out of batches
        raise TypeError(f"{type(measure).__name__} cannot be batched")
    if isinstance(measure, Share):
        return null, sa.func.count(), null
    if isinstance(measure, DailyMean):
        v_ = scope.v
        return null, sa.func.sum(v_.value), sa.func.count(sa.distinct(sa.case((v_.value.is_not(None), v_.period_date))))
    if isinstance(measure, PublishedRatio):
        v_ = scope.v
        return (null, sa.func.sum(sa.case((v_.measure == measure.numerator, v_.value))),
                sa.func.sum(sa.case((v_.measure == measure.denominator, v_.value))))
    if isinstance(measure, PublishedSum):
        return sa.func.sum(scope.v.value), null, null
    raise TypeError(measure)  # pragma: no cover - the registry only holds the types above


# --- the statement cache ------------------------------------------------------
#
# Building the select and compiling it to SQL costs a few milliseconds a query, as
# much as many of the queries themselves take to run (duckdb_engine opts out of
# SQLAlchemy's own compiled cache). The SQL text depends only on the query's shape:
# metric(s), `by`, which filters are set, the number of periods and the dialect.
# Everything else — the periods' instants, the filter values — is a named bound
# parameter (see `_compile`), so each shape is compiled once and then executed with
# fresh parameters; expanding `IN` lists take any number of values.

@dataclass(frozen=True)
class _Plan:
    compiled: SQLCompiler  # the select plus a `data_version` column
    group_dims: tuple[str, ...]
    open_members: tuple[_OpenMember, ...] | None = None  # an `_open_select`: read its rows with `_open_rows`


_PERIOD_REF = re.compile(r"\bp\.(\w+)")  # a column of the periods' VALUES table (named "p") in compiled SQL


@functools.lru_cache(maxsize=512)
def _plan(dialect: Dialect, names: tuple[str, ...], member_keys: tuple[tuple[str, ...], ...], n_periods: int,
          by: tuple[str, ...], filter_keys: tuple[str, ...], grain: str | None = None, interval: bool = False) -> _Plan:
    stmt, group_dims, members = _compile(names, member_keys, n_periods, by, filter_keys, grain, interval)
    if n_periods > 1 and not interval:
        # Again with only the period columns the select reads: every cell of the VALUES table is a
        # parameter bound on every run (a 28-day series: 364 cells, 2-3 ms, down to 84 cells).
        read = frozenset(_PERIOD_REF.findall(str(stmt.compile(dialect=dialect))))
        stmt, group_dims, members = _compile(names, member_keys, n_periods, by, filter_keys, grain, interval, read)
    # The data version in the same statement: one round trip, and it is read from the same snapshot as the
    # rows. (A select that returns no row returns no version either: `run_query` then asks separately.)
    stmt = stmt.add_columns(_DATA_VERSION.scalar_subquery().label("data_version"))
    return _Plan(stmt.compile(dialect=dialect), tuple(group_dims), members)


def _params(metric: Metric, periods: list[Period], where: Mapping[str, list[Any]]) -> dict[str, Any]:
    """Values of the named bound parameters of `_compile`'s select."""
    stale_hours = settings.stale_hours()
    params = period_params(periods, stale_hours)
    params["bucket_from"] = periods[0].label  # the first bucket's first day (a parameter only `_bucket` uses)
    params.update({f"w_{key}": vals for key, vals in where.items()})
    if metric.source == "sitrep":
        params["feeds"] = [f"nhse_{x}_sitrep" for x in where.get("collection", ["acute"])]
    if metric.source == "cases" and len(periods) > 1:
        params["span_from"] = min(x.start for x in periods)
        params["span_to"] = max(max(x.at, x.end) for x in periods)
    return params


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _ratio(num: Any, den: Any) -> float | None:
    # missing, not 0: a zero denominator, or a numerator that was never published
    return None if num is None or not den else float(num) / float(den)


@dataclass
class _Prepared:
    """A validated query with its periods: what `_plan` and `_params` need."""
    q: MetricQuery
    metric: Metric
    at: datetime
    window: tuple[date, date]
    where: dict[str, list[Any]]
    periods: list[Period]
    share_filter: set[Any] | None


def _lookback_periods(at: datetime, days: int) -> list[Period]:
    """`at` and the same London wall-clock time on each of the `days` days before (oldest first)."""
    local = at.astimezone(LONDON)
    periods = []
    for back in range(days, -1, -1):
        instant = (local - timedelta(days=back)).astimezone(UTC).replace(tzinfo=None)
        day = local.date() - timedelta(days=back)
        periods.append(Period(label=day, start=instant, end=instant, at=instant, start_date=day,
                              end_date=day + timedelta(days=1)))
    return periods


def _prepare(engine: Engine, q: MetricQuery) -> _Prepared:
    metric = get_metric(q.metric)
    for dim in list(q.by) + list(q.where):
        if dim not in metric.dimensions:
            raise QueryError("by" if dim in q.by else dim, f"metric {q.metric!r} has no dimension {dim!r}")
    if q.grain is not None and q.grain not in GRAINS:
        raise QueryError("grain", f"unknown grain {q.grain!r}")
    if q.lookback_days and (q.grain is not None or metric.kind != "snapshot"):
        raise QueryError("lookback_days", "a look back is for a snapshot metric without a grain")
    at = (q.at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    window = check_bounds(at, q.from_, q.to, q.grain, metric.source)
    from models.access import restrict  # (models.access builds on this module's QueryError)

    where = _as_hwbs(engine, metric, restrict(engine, _validate_values(engine, metric, q.where),
                                              has_hwb="hwb" in metric.dimensions))
    share_filter = None
    if isinstance(metric.measure, Share) and metric.measure.dimension in where:
        share_filter = set(where[metric.measure.dimension])
    if q.lookback_days:
        periods = _lookback_periods(at, q.lookback_days)
    else:
        periods = build_periods(at=at, from_=window[0], to=window[1], grain=q.grain,
                                snapshot=metric.kind == "snapshot")
    if not periods:  # the whole window lies after `at`: nothing has happened in it yet
        naive = at.replace(tzinfo=None)
        periods = [Period(label=window[0], start=naive, end=naive, at=naive, start_date=window[0], end_date=window[0])]
    return _Prepared(q, metric, at, window, where, periods, share_filter)


def _fetch(engine: Engine, plan: _Plan, params: dict[str, Any],
           gate: AbstractContextManager[Any] | None = None) -> tuple[list[dict[str, Any]], int]:
    """The select's rows and the data version. `gate` is held while the store runs it (see `run_queries`)."""
    sql = plan.compiled.construct_expanded_state(params)  # IN lists expanded here
    positional = sql.positional_parameters if engine.dialect.positional else sql.parameters
    # On the driver's own cursor: a page runs a dozen or more selects, and a SQLAlchemy connection's
    # BEGIN and result wrapping cost about 1.5 ms a select (a read needs no transaction of its own).
    with gate or nullcontext():
        fetched = _execute(engine, sql.statement, positional)
    if fetched:  # the version comes with the rows; only a select that returned none needs asking
        return fetched, int(fetched[0]["data_version"] or 0)
    with engine.connect() as conn:
        return fetched, _data_version(conn)


def _execute(engine: Engine, statement: str, params: Any) -> list[dict[str, Any]]:
    dbapi = engine.raw_connection()
    try:
        cursor = dbapi.cursor()
        try:
            with deadline.watched(dbapi):  # a web request's time limit (models.deadline)
                cursor.execute(statement, params)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            cursor.close()
    finally:
        dbapi.close()  # back to the pool, which ends the driver's transaction (PostgreSQL opens one)


def _result(prep: _Prepared, group_dims: tuple[str, ...], fetched: list[dict[str, Any]], version: int) -> MetricResult:
    rows = _shape_rows(prep.metric, prep.periods, prep.q, list(group_dims), fetched, prep.share_filter)
    return MetricResult(metric=prep.metric.name, as_of=prep.at, data_version=version, rows=rows, query=prep.q,
                        window=prep.window, unit=prep.metric.unit)


def run_query(engine: Engine, q: MetricQuery) -> MetricResult:
    return _run_one(engine, _prepare(engine, q))


def _run_one(engine: Engine, prep: _Prepared, gate: AbstractContextManager[Any] | None = None) -> MetricResult:
    q = prep.q
    plan = _plan(engine.dialect, (prep.metric.name,), ((),), len(prep.periods), q.by, tuple(sorted(prep.where)),
                 q.grain, _interval(prep))
    fetched, version = _fetch(engine, plan, _params(prep.metric, prep.periods, prep.where), gate)
    if plan.open_members is not None:
        fetched = _open_rows(plan.open_members, plan.group_dims, prep.periods, fetched)[0]
    return _result(prep, plan.group_dims, fetched, version)


def _batch_key(prep: _Prepared) -> tuple[Any, ...] | None:
    """Queries with the same key can share one select (None: this one runs alone)."""
    m = prep.metric
    if m.source == "sitrep" or isinstance(m.measure, Share):
        return None  # published figures choose their rows by measure; shares are shaped after the select
    if m.source == "cases" and len(prep.periods) == 1 and not isinstance(m.measure, Open):
        # Alone, a case metric's window test is pushed into the scan; in a batch it becomes one arm of
        # an OR and is not. At one period that costs more than the shared read saves (measured: four
        # outcome rates over half a year 157 ms apart, 250 ms together). Metrics of people open at the
        # instant (`Open`) over the same span gain from sharing (NCTR, 7+, 21+ and days waited by HWB:
        # 21 ms apart, 13 ms together).
        return None
    periods = tuple((p.start, p.end, p.at) for p in prep.periods)
    # the grain numbers the periods for `_bucket`; metrics counted by different events are joined differently
    event = _event_column([m]) if prep.q.grain and len(periods) > 1 else None
    # Over many periods a case metric reads only the cases inside its span; members of other spans
    # together would read the union of them for every member (slower than apart: measured).
    span = m.span if m.source == "cases" else None
    return (m.source, periods, prep.q.by, prep.q.grain, event, span, _interval(prep))


def run_queries(engine: Engine, queries: Sequence[MetricQuery],
                gate: AbstractContextManager[Any] | None = None) -> list[MetricResult]:
    """Several queries, in order, with one select for each group that can share one (same source, periods
    and `by`; see `_batch_key`): a page's tiles read the store once, not once per tile. The results are
    those `run_query` gives for each query on its own (the tests check every metric).

    `gate` (e.g. a semaphore) is held around each select, not the whole call: a short query asked
    meanwhile waits for one select, not for all of a page's."""
    preps = [_prepare(engine, q) for q in queries]
    results: list[MetricResult | None] = [None] * len(preps)
    days: dict[tuple[Any, ...], list[int]] = {}
    for i, prep in enumerate(preps):
        key = _day_key(prep)
        if key is not None:
            days.setdefault(key, []).append(i)
    for members in days.values():
        if len(members) > 1:
            derived = _from_days(engine, [preps[i] for i in members], gate)
            if derived is not None:
                for i, result in zip(members, derived):
                    results[i] = result
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, prep in enumerate(preps):
        key = _batch_key(prep)
        if results[i] is not None:
            continue
        if key is None:
            results[i] = _run_one(engine, prep, gate)
        else:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) == 1:
            results[members[0]] = _run_one(engine, preps[members[0]], gate)
            continue
        batch = [preps[i] for i in members]
        # A filter every member shares goes into the WHERE clause (it prunes the scan); the rest are the members' own.
        common = {key: vals for key, vals in batch[0].where.items()
                  if all(b.where.get(key) == vals for b in batch[1:])}
        own = [tuple(sorted(k for k in b.where if k not in common)) for b in batch]
        plan = _plan(engine.dialect, tuple(b.metric.name for b in batch), tuple(own), len(batch[0].periods),
                     batch[0].q.by, tuple(sorted(common)), batch[0].q.grain, _interval(batch[0]))
        params = _params(batch[0].metric, batch[0].periods, common)
        for j, (b, keys) in enumerate(zip(batch, own)):
            params.update({f"w{j}_{key}": b.where[key] for key in keys})
        fetched, version = _fetch(engine, plan, params, gate)
        opened = (_open_rows(plan.open_members, plan.group_dims, batch[0].periods, fetched)
                  if plan.open_members is not None else None)
        for j, (i, b) in enumerate(zip(members, batch)):
            mine = opened[j] if opened is not None else [
                {**row, "value": row[f"v{j}"], "num": row[f"num{j}"], "den": row[f"den{j}"]}
                for row in fetched if row[f"n{j}"]]
            results[i] = _result(b, plan.group_dims, mine, version)
    return [r for r in results if r is not None]


# --- counts over several windows from one series of days ---------------------------------------
#
# A tile of events (referrals, discharges, IC starts and ends, and rates of such counts) asks for its
# window, the window before it and a weekly trend: three selects. Each is a sum over whole London
# days, so one select by day over all of them gives every figure (the days are added up here, as the
# store would add up the cases). Only for a count, or a rate of counts, whose cases are chosen by
# their event falling in the period and nothing else about the period (`_by_day`).

# Beyond about a quarter, one select by day costs as much as the selects it replaces (measured: the
# outcome tiles' half years, 79 ms as asked, 86 ms by day; /flow's two 28-day windows, 24 -> 20 ms).
_MAX_DAYS = 92


@functools.lru_cache(maxsize=None)
def _by_day(name: str) -> bool:
    """A count, or a rate of counts, of cases by one event time that reads no period column but its bounds."""
    metric = REGISTRY[name]
    if (metric.source != "cases" or metric.kind != "period" or type(metric.measure) not in (Count, Ratio)
            or _event_column([metric]) is None):
        return False
    stmt, _, _ = _compile((name,), ((),), 2, (), (), "day")
    return set(_PERIOD_REF.findall(str(stmt.compile()))) <= {"k", "p_start", "p_end"}


def _day_key(prep: _Prepared) -> tuple[Any, ...] | None:
    q = prep.q
    if q.lookback_days or not _by_day(prep.metric.name):
        return None
    return (prep.metric.name, q.by, tuple(sorted((k, tuple(v)) for k, v in prep.where.items())), prep.at)


def _from_days(engine: Engine, preps: list[_Prepared],
               gate: AbstractContextManager[Any] | None = None) -> list[MetricResult] | None:
    """The results of queries differing only in their periods, from one select by day (None: some
    period is not a run of whole days as the day series cuts them, and they run as asked)."""
    first, q = preps[0], preps[0].q
    from_, to = min(p.start_date for b in preps for p in b.periods), max(p.end_date for b in preps for p in b.periods)
    if (to - from_).days > _MAX_DAYS:
        return None
    days = build_periods(at=first.at, from_=from_, to=to, grain="day", snapshot=False)
    spans: list[list[list[int]]] = []  # per query, per period: the indexes of its days
    for b in preps:
        mine = []
        for p in b.periods:
            ks = [k for k, d in enumerate(days) if p.start_date <= d.start_date < p.end_date]
            if not ks or days[ks[0]].start != p.start or days[ks[-1]].end != p.end:
                return None
            mine.append(ks)
        spans.append(mine)
    plan = _plan(engine.dialect, (first.metric.name,), ((),), len(days), q.by, tuple(sorted(first.where)), "day")
    fetched, version = _fetch(engine, plan, _params(first.metric, days, first.where), gate)
    by_day: dict[int, list[dict[str, Any]]] = {}
    for row in fetched:
        by_day.setdefault(row["k"], []).append(row)
    dim_cols = [f"d_{d}" for d in plan.group_dims]
    out = []
    for b, mine in zip(preps, spans):
        rows: list[dict[str, Any]] = []
        for i, ks in enumerate(mine):
            sums: dict[tuple[Any, ...], dict[str, Any]] = {}
            for k in ks:
                for row in by_day.get(k, ()):
                    acc = sums.setdefault(tuple(row[c] for c in dim_cols),
                                          {"k": i, **{c: row[c] for c in dim_cols}, "value": None, "num": None, "den": None})
                    for col in ("value", "num", "den"):
                        if row[col] is not None:
                            acc[col] = (acc[col] or 0) + row[col]
            rows += sums.values()
        out.append(_result(b, plan.group_dims, rows, version))
    return out


def _shape_rows(metric: Metric, periods: list[Period], q: MetricQuery, group_dims: list[str],
                fetched: list[dict[str, Any]], share_filter: set[Any] | None) -> list[dict[str, Any]]:
    measure = metric.measure
    label_of = {i: p.label for i, p in enumerate(periods)}
    if isinstance(measure, Share):
        fetched = _shares(measure, q.by, fetched, share_filter)
    out: list[dict[str, Any]] = []
    for row in fetched:
        num, den, value = _plain(row["num"]), _plain(row["den"]), _plain(row["value"])
        if isinstance(measure, (Ratio, SumRatio, DailyMean, PublishedRatio, Share)):
            value = _ratio(num, den)
        elif _summed(measure) and value is None:
            value = 0
        shaped: dict[str, Any] = {}
        if q.grain or q.lookback_days:
            shaped["period"] = label_of[row["k"]].isoformat()
        for d in q.by:
            shaped[d] = _plain(row[f"d_{d}"])
        shaped.update(value=value, numerator=num, denominator=den)
        shaped["_k"] = row["k"]
        out.append(shaped)
    if not q.by:  # one row per period, even where nothing happened
        have = {r["_k"] for r in out}
        for i, p in enumerate(periods):
            if i not in have:
                filler: dict[str, Any] = {"period": p.label.isoformat()} if q.grain or q.lookback_days else {}
                filler.update(_empty(metric))
                filler["_k"] = i
                out.append(filler)
    out.sort(key=lambda r: (r["_k"], *[(r.get(d) is None, str(r.get(d))) for d in q.by]))
    for r in out:
        del r["_k"]
    return out


def _summed(measure: Any) -> bool:
    """A count or a sum: 0, never missing, where nothing matched."""
    return isinstance(measure, (Count, Sum, Open, Overlap))


def empty_value(metric: str) -> float | int | None:
    """A metric's value where a split (`by`) has no row: 0 for counts and sums, missing for rates and medians."""
    return _empty(get_metric(metric))["value"]


def _empty(metric: Metric) -> dict[str, Any]:
    m = metric.measure
    if _summed(m):
        return {"value": 0, "numerator": None, "denominator": None}
    if isinstance(m, (Ratio, SumRatio, Share)):
        return {"value": None, "numerator": 0, "denominator": 0}
    return {"value": None, "numerator": None, "denominator": None}


def _shares(measure: Share, by: tuple[str, ...], fetched: list[dict[str, Any]],
            share_filter: set[Any] | None) -> list[dict[str, Any]]:
    """Numerator per group, denominator = all rows of the same period and other dimensions."""
    dim = f"d_{measure.dimension}"
    others = [f"d_{d}" for d in by if d != measure.dimension]
    totals: dict[tuple[Any, ...], int] = {}
    for row in fetched:
        key = (row["k"], *[row[o] for o in others])
        totals[key] = totals.get(key, 0) + int(row["num"])
    keep_dim = measure.dimension in by
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in fetched:
        others_key = (row["k"], *[row[o] for o in others])
        has_value = not (measure.require_value and row[dim] in (None, NOT_RECORDED))
        selected = share_filter is None or row[dim] in share_filter
        if keep_dim and not (has_value and selected):
            continue  # not a row of the answer; it still counted in the denominator above
        entry = grouped.setdefault((*others_key, row[dim] if keep_dim else None),
                                   {**row, "num": 0, "den": totals[others_key]})
        entry["num"] += int(row["num"]) if (has_value and selected) else 0
    return list(grouped.values())


def compiled_select(engine: Engine, q: MetricQuery) -> SQLCompiler:
    """The select `run_query` sends for `q`, compiled for `engine`'s dialect, before IN lists are expanded
    (for the SQL snapshot tests). Connects only if a geography filter must be checked."""
    prep = _prepare(engine, q)
    return _plan(engine.dialect, (prep.metric.name,), ((),), len(prep.periods), q.by, tuple(sorted(prep.where)),
                 q.grain, _interval(prep)).compiled
