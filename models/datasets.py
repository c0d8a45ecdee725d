"""The export datasets: the rows behind `GET /api/export/<dataset>` and the /export page.

Four datasets, each a SQLAlchemy Core select over the store with the same
filter vocabulary as the metrics layer (icb / place / hwb / pathway …,
repeated values mean "either", values always bound parameters):

- `capacity` — each service known at `at` with its latest report at or before
  `at`, the service's attributes and geography, and whether it is reporting
  (latest report inside the staleness window, as the capacity metrics say);
- `cases` — person-level hub cases, pseudonymised: `person_id` is the HMAC
  pseudonym ingest stored; no NHS number exists in the store to leak;
- `metric` — a metric's rows from the metrics layer (`name=`), through
  `MetricQuery.from_params` + `run_query`, the same path as pages and CLI;
- `sitrep` — the published NHS England sitrep values.

The big datasets are read in chunks over a server-side cursor
(`iter_chunks`), so an export of millions of rows never sits in memory.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Literal, Mapping, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models import settings
from models.access import restrict
from models.db import is_duckdb
from models.dialects import latest
from models.periods import london_date_of, london_midnight_utc
from models.query import MetricQuery, MetricResult, QueryError, check_bounds, parse_time
from models.query import _known_codes as known_geography_codes  # the metrics layer's own check: one rule
from models.tables import capacity_report, hub_case, hwb, service, sitrep_value, trust
from models.vocab import AGE_BANDS, NOT_RECORDED, SITREP_FEEDS, SITREP_LEVELS

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc

ColumnType = Literal["str", "int", "float", "datetime", "date", "bool"]


class UnknownDataset(QueryError):
    """Not one of DATASETS (HTTP 404)."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: ColumnType
    meaning: str


@dataclass(frozen=True)
class DatasetQuery:
    """A validated export request: which dataset, as at when, which rows."""

    dataset: str
    at: datetime  # aware UTC
    at_given: bool  # False when `at` defaulted to now (so the filters JSON says so)
    from_: date | None = None
    to: date | None = None
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    limit: int | None = None
    metric_query: MetricQuery | None = None  # for the `metric` dataset

    def filters(self) -> dict[str, Any]:
        """The request's filters as plain JSON (audit row, XLSX info sheet, Parquet metadata)."""
        out: dict[str, Any] = {}
        if self.metric_query is not None:
            out["name"] = self.metric_query.metric
        out["at"] = self.at.isoformat() if self.at_given else None
        if self.from_:
            out["from"] = self.from_.isoformat()
        if self.to:
            out["to"] = self.to.isoformat()
        for key, values in sorted(self.where.items()):
            out[key] = list(values)
        if self.limit is not None:
            out["limit"] = self.limit
        return out


# --- parameters ----------------------------------------------------------

MAX_LIMIT = 100_000
# Parameters every dataset accepts that are not filters on rows.
CONTROL_PARAMS = ("format", "limit")

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\- ]{0,63}$")

# Which filters each dataset takes (besides at / from / to and CONTROL_PARAMS).
DATASET_FILTERS: dict[str, tuple[str, ...]] = {
    "capacity": ("icb", "place", "hwb", "pathway", "service_type", "service_id"),
    "cases": ("icb", "place", "hwb", "pathway", "acute_site", "age_band", "delay_reason", "ic_outcome"),
    "sitrep": ("feed", "level", "org", "measure", "icb"),
    "metric": (),  # whatever the metric takes: validated by MetricQuery.from_params
}
DATASET_WINDOWS = {"capacity": False, "cases": True, "sitrep": True, "metric": True}
DATASETS: dict[str, str] = {
    "capacity": "Each service known at the time, its latest capacity report at or before it, and whether it is reporting.",
    "cases": "Person-level hub cases, pseudonymised (person_id is a keyed pseudonym, never an NHS number); "
             "from/to select cases referred in the window.",
    "metric": "A metric's rows from the metrics layer (name=), as the API and pages show them.",
    "sitrep": "Published NHS England sitrep values (from/to select period dates).",
}


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in params.get(name, []) if v != ""]
    if len(values) > 1:
        raise QueryError(name, f"give {name} once")
    return values[0] if values else None


def _date(params: Mapping[str, Sequence[str]], name: str) -> date | None:
    raw = _single(params, name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise QueryError(name, f"{name} must be a date YYYY-MM-DD, not {raw!r}") from None


def _values(params: Mapping[str, Sequence[str]], name: str) -> tuple[str, ...]:
    """Repeated and comma-separated values, de-duplicated in order."""
    out: list[str] = []
    for raw in params.get(name, []):
        for part in raw.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return tuple(out)


def _check_filter(engine: Engine, dataset: str, name: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """Validate one filter's values; codes are checked against the reference geography."""
    for v in values:
        if not _CODE.match(v):
            raise QueryError(name, f"{v!r} is not a valid {name} value")
    if name == "pathway" and dataset != "sitrep":
        bad = [v for v in values if v not in ("0", "1", "2", "3")]
        if bad:
            raise QueryError("pathway", f"pathway must be 0, 1, 2 or 3, not {bad[0]!r}")
    elif name == "age_band":
        bad = [v for v in values if v not in AGE_BANDS]
        if bad:
            raise QueryError("age_band", f"age_band must be one of {', '.join(AGE_BANDS)}, not {bad[0]!r}")
    elif name == "feed":
        bad = [v for v in values if v not in SITREP_FEEDS]
        if bad:
            raise QueryError("feed", f"feed must be one of {', '.join(SITREP_FEEDS)}, not {bad[0]!r}")
    elif name == "level":
        values = tuple(v.lower() for v in values)
        bad = [v for v in values if v not in SITREP_LEVELS]
        if bad:
            raise QueryError("level", f"level must be one of {', '.join(SITREP_LEVELS)}, not {bad[0]!r}")
    elif name in ("icb", "hwb", "place"):
        # Upper-cased, HWB aliases resolved, unknown codes refused — as for metrics.
        values = tuple(known_geography_codes(engine, name, values))
    return values


def parse_dataset_params(engine: Engine, dataset: str, params: Mapping[str, Sequence[str]]) -> DatasetQuery:
    """Query-string values (as `request.args.to_dict(flat=False)`) → a DatasetQuery.

    Raises UnknownDataset, or QueryError naming the offending parameter.
    """
    if dataset not in DATASETS:
        raise UnknownDataset("dataset", f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}")
    limit_raw = _single(params, "limit")
    limit: int | None = None
    if limit_raw is not None:
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_LIMIT:
            raise QueryError("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(limit_raw)

    if dataset == "metric":
        name = _single(params, "name")
        if not name:
            raise QueryError("name", "the metric dataset needs name=<metric>")
        metric_params = {k: list(v) for k, v in params.items() if k not in ("name", *CONTROL_PARAMS)}
        mq = MetricQuery.from_params(name, metric_params)  # QueryError / UnknownMetric
        at_raw = _single(params, "at")
        at = _metric_at(mq, at_raw)
        where = {k: tuple(v) for k, v in sorted(metric_params.items()) if k not in ("at",)}
        return DatasetQuery(dataset, at=at, at_given=at_raw is not None, where=where, limit=limit, metric_query=mq)

    allowed = {"at", *CONTROL_PARAMS, *DATASET_FILTERS[dataset]}
    if DATASET_WINDOWS[dataset]:
        allowed |= {"from", "to"}
    for key in params:
        if key not in allowed:
            raise QueryError(key, f"{dataset} exports take no parameter {key!r}; they take {', '.join(sorted(allowed))}")

    at_raw = _single(params, "at")
    at = parse_time("at", at_raw) if at_raw is not None else datetime.now(UTC).replace(microsecond=0)
    from_, to = _date(params, "from"), _date(params, "to")
    if from_ and to and from_ >= to:
        raise QueryError("to", "to must be after from (the window is [from, to))")
    check_bounds(at, from_, to, None)  # the same date range as metric queries
    where: dict[str, tuple[str, ...]] = {}
    for name in DATASET_FILTERS[dataset]:
        values = _values(params, name)
        if values:
            where[name] = _check_filter(engine, dataset, name, values)
    restrict(engine, where, has_hwb=dataset != "sitrep")  # an explicit code outside the scope: OutOfScope now
    return DatasetQuery(dataset, at=at, at_given=at_raw is not None, from_=from_, to=to, where=where, limit=limit)


def _metric_at(mq: MetricQuery, at_raw: str | None) -> datetime:
    return mq.at if mq.at is not None else datetime.now(UTC).replace(microsecond=0)


# --- columns ---------------------------------------------------------------

TIME_NOTE = "UTC"

CAPACITY_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("service_id", "str", "The service's identifier in the vacancy feed."),
    ColumnSpec("service_name", "str", "The service's name."),
    ColumnSpec("provider_name", "str", "Who runs the service."),
    ColumnSpec("service_type", "str", "Kind of service (e.g. reablement, step-down beds)."),
    ColumnSpec("pathway", "int", "Discharge pathway the service serves (0-3)."),
    ColumnSpec("hwb_code", "str", "ONS code of the Health and Wellbeing Board area the service sits in."),
    ColumnSpec("hwb_name", "str", "Name of that HWB."),
    ColumnSpec("place_code", "str", "Place the HWB belongs to."),
    ColumnSpec("icb_code", "str", "ODS code of the ICB the HWB belongs to."),
    ColumnSpec("reported_at", "datetime", f"Time of the latest report at or before the as-at time ({TIME_NOTE}); empty if none."),
    ColumnSpec("capacity", "int", "Beds or slots commissioned, as last reported."),
    ColumnSpec("occupied", "int", "Beds or slots in use, as last reported."),
    ColumnSpec("vacant_accepting", "int", "Vacant beds or slots that can take someone now."),
    ColumnSpec("vacant_reserved", "int", "Vacant beds or slots held for someone."),
    ColumnSpec("unavailable", "int", "capacity - occupied - vacant_accepting - vacant_reserved (closed, staffing, etc.)."),
    ColumnSpec("reporting", "bool", "True when the latest report is inside the staleness window before the as-at time; "
                                    "a service not reporting adds nothing to the capacity metrics."),
)

CASE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("hub_id", "str", "The discharge hub that sent the case."),
    ColumnSpec("case_id", "str", "The hub's case reference."),
    ColumnSpec("person_id", "str", "Keyed pseudonym (HMAC-SHA256) of the person's NHS number; the same person has the same pseudonym."),
    ColumnSpec("age", "int", "Age in years at referral."),
    ColumnSpec("age_band", "str", "Age band: 18-64, 65-74, 75-84, 85+."),
    ColumnSpec("hwb_code", "str", "ONS code of the HWB of the person's residence."),
    ColumnSpec("place_code", "str", "Place of that HWB."),
    ColumnSpec("icb_code", "str", "ICB of that HWB."),
    ColumnSpec("acute_site_code", "str", "ODS code of the acute site the person was in."),
    ColumnSpec("admitted_at", "datetime", f"Admission time ({TIME_NOTE})."),
    ColumnSpec("referred_at", "datetime", f"Referral to the hub ({TIME_NOTE})."),
    ColumnSpec("discharge_ready_at", "datetime", f"When the person no longer met the criteria to reside ({TIME_NOTE})."),
    ColumnSpec("pathway", "int", "Discharge pathway decided (0-3)."),
    ColumnSpec("pathway_decided_at", "datetime", f"When the pathway was decided ({TIME_NOTE})."),
    ColumnSpec("delay_reason", "str", "Reason for delay past discharge-ready, as coded by the hub."),
    ColumnSpec("discharged_at", "datetime", f"Discharge from hospital ({TIME_NOTE})."),
    ColumnSpec("destination_service_id", "str", "Intermediate care service the person went to."),
    ColumnSpec("ic_started_at", "datetime", f"Start of intermediate care ({TIME_NOTE})."),
    ColumnSpec("ic_ended_at", "datetime", f"End of intermediate care ({TIME_NOTE})."),
    ColumnSpec("ic_outcome", "str", "Outcome at the end of intermediate care."),
    ColumnSpec("readmitted_at", "datetime", f"Readmission to hospital ({TIME_NOTE})."),
    ColumnSpec("status_91d", "str", "Where the person was 91 days after discharge (at_home, …, unknown)."),
    ColumnSpec("updated_at", "datetime", f"When the hub last updated the case ({TIME_NOTE})."),
)

SITREP_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("feed", "str", "nhse_acute_sitrep or nhse_community_sitrep."),
    ColumnSpec("period_date", "date", "The day, or the first day of the week / month, the value is for."),
    ColumnSpec("period_kind", "str", "day, week or month."),
    ColumnSpec("level", "str", "england, region, icb, trust or provider."),
    ColumnSpec("org_code", "str", "Organisation code (ENG, region code, ODS code)."),
    ColumnSpec("org_name", "str", "Organisation name as published."),
    ColumnSpec("region_name", "str", "Region as published."),
    ColumnSpec("measure", "str", "Published measure (nctr, discharged, remaining, discharges by pathway …)."),
    ColumnSpec("pathway", "str", "For discharges by destination: P0..P3, P3b, other."),
    ColumnSpec("value", "float", "Published value; empty when not submitted (never 0 for missing)."),
    ColumnSpec("edition", "str", "The publication the value came from."),
)


def _age_band(age: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.case((age < 65, "18-64"), (age < 75, "65-74"), (age < 85, "75-84"), else_="85+")


def _as_at(col: sa.ColumnElement[Any], at: datetime) -> sa.ColumnElement[Any]:
    """An event time, or NULL if it happened after `at` (events after `at` are ignored, as in the metrics)."""
    return sa.case((col <= at, col), else_=sa.null()).label(col.key)


def _in(col: sa.ColumnElement[Any], values: tuple[Any, ...]) -> sa.ColumnElement[bool]:
    return col.in_(values)


def _known_services(at: datetime, where: Mapping[str, tuple[str, ...]], limit: int | None) -> sa.Select[Any]:
    """The services known at `at` (first reported by then), filtered, as (service_id, last_reported_at,
    last_capacity, last_occupied, last_vacant_accepting, last_vacant_reserved); the first `limit` by id."""
    w = restrict(None, where)  # the principal's scope (models.access)
    known = (sa.select(service.c.service_id, service.c.last_reported_at, service.c.last_capacity,
                       service.c.last_occupied, service.c.last_vacant_accepting, service.c.last_vacant_reserved)
             .select_from(service.outerjoin(hwb, hwb.c.hwb_code == service.c.hwb_code))
             .where(service.c.first_reported_at <= at))
    if "icb" in w:
        known = known.where(_in(hwb.c.icb_code, w["icb"]))
    if "place" in w:
        known = known.where(_in(hwb.c.place_code, w["place"]))
    if "hwb" in w:
        known = known.where(_in(service.c.hwb_code, w["hwb"]))
    if "pathway" in w:
        known = known.where(_in(service.c.pathway, tuple(int(v) for v in w["pathway"])))
    if "service_type" in w:
        known = known.where(_in(service.c.service_type, w["service_type"]))
    if "service_id" in w:
        known = known.where(_in(service.c.service_id, w["service_id"]))
    if limit is not None:
        known = known.order_by(service.c.service_id).limit(limit)
    return known


def _latest_reports(ids: sa.FromClause, *conditions: sa.ColumnElement[bool], values: bool = True) -> sa.Select[Any]:
    """For each service of `ids`, its latest report among those meeting `conditions`: its reported_at
    and, with `values`, that report's figures; one aggregate per service.

    The reports are joined to the ids rather than tested with IN (subquery): DuckDB then filters the
    scan by the ids already found (join filter pushdown) and reads the other columns only for the
    rows that pass, instead of carrying every report of the range, all columns, into a semi-join
    (the preview's query took ~1.4 s of CPU that way against ~0.8 s).
    """
    cr = capacity_report
    cols: list[Any] = [cr.c.service_id, sa.func.max(cr.c.reported_at).label("reported_at")]
    if values:
        cols += [latest(col, cr.c.reported_at).label(col.name)
                 for col in (cr.c.capacity, cr.c.occupied, cr.c.vacant_accepting, cr.c.vacant_reserved)]
    return (sa.select(*cols)
            .select_from(cr.join(ids, ids.c.service_id == cr.c.service_id))
            .where(*conditions)
            .group_by(cr.c.service_id))


def _stale_from(at: datetime) -> datetime:
    return at - timedelta(hours=settings.stale_hours())


# How the latest report at or before `at` of a service silent at `at` (no report in the staleness
# window [stale_from, at]) is found, from service.last_reported_at (its latest report ever loaded):
#   - last_reported_at < stale_from: that report is its latest at `at` too (nothing came after it,
#     let alone before `at`), and its figures are on the service row too (last_capacity, ...):
#     no read of the reports at all;
#   - last_reported_at NULL: it never reported;
#   - otherwise (it reported again after `at`: a past-dated view): it must be searched for among
#     the reports before the window, which on DuckDB reads the service_id of every older report
#     (~0.35-0.5 s for a year of national reports). Only these services are searched for, and when
#     there are none (a view at "now", and the benchmark's past-dated views: their silent services
#     stopped for good) the search reads nothing (an empty join side skips its scan).
# A service with a report in the window needs none of this: its latest is found in the window.


def _direct(silent: sa.FromClause, stale_from: datetime) -> sa.ColumnElement[bool]:
    return silent.c.last_reported_at < stale_from


def _searched(silent: sa.FromClause, stale_from: datetime) -> sa.ColumnElement[bool]:
    # Not `> at`: a last report inside the window contradicts silence, so such a service (if the
    # column were ever behind the reports) is searched for rather than trusted.
    return silent.c.last_reported_at >= stale_from


def capacity_select(q: DatasetQuery) -> sa.Select[Any]:
    """Each service known at `at` (filtered), with its latest report at or before `at`.

    Each service's latest report is found first among the reports of the staleness window before
    `at` — a range the store prunes by its zone maps / index, as the capacity metrics do — as one
    aggregate per service (`latest`, as in the metrics layer: `arg_max` in DuckDB). The services
    with no report in that window (the few not reporting) have theirs from the service row
    (last_reported_at and the figures kept with it), or, if they reported again after `at`, searched
    for among the older reports (see the note above `_direct`). A limited export (the preview) picks
    its services first, so only their reports are read.
    """
    at = q.at.astimezone(UTC).replace(tzinfo=None)
    stale_from = _stale_from(at)
    cr = capacity_report
    known_ids = _known_services(at, q.where, q.limit).cte("known")
    recent = _latest_reports(known_ids, cr.c.reported_at <= at, cr.c.reported_at >= stale_from).cte("recent")
    silent = (sa.select(known_ids)
              .where(known_ids.c.service_id.not_in(sa.select(recent.c.service_id))).cte("silent"))
    direct = (sa.select(silent.c.service_id, silent.c.last_reported_at.label("reported_at"),
                        silent.c.last_capacity.label("capacity"), silent.c.last_occupied.label("occupied"),
                        silent.c.last_vacant_accepting.label("vacant_accepting"),
                        silent.c.last_vacant_reserved.label("vacant_reserved"))
              .where(_direct(silent, stale_from)))
    searched_ids = sa.select(silent.c.service_id).where(_searched(silent, stale_from)).subquery("searched_ids")
    searched = _latest_reports(searched_ids, cr.c.reported_at < stale_from)
    reports = sa.union_all(sa.select(recent), direct, searched).subquery("latest")
    stmt = (
        sa.select(
            service.c.service_id, service.c.service_name, service.c.provider_name, service.c.service_type,
            service.c.pathway, service.c.hwb_code, hwb.c.name.label("hwb_name"), hwb.c.place_code, hwb.c.icb_code,
            reports.c.reported_at, reports.c.capacity, reports.c.occupied, reports.c.vacant_accepting,
            reports.c.vacant_reserved,
            (reports.c.capacity - reports.c.occupied - reports.c.vacant_accepting
             - reports.c.vacant_reserved).label("unavailable"),
            sa.case((reports.c.reported_at >= stale_from, sa.true()), else_=sa.false()).label("reporting"),
        )
        .select_from(
            known_ids.join(service, service.c.service_id == known_ids.c.service_id)
            .outerjoin(hwb, hwb.c.hwb_code == service.c.hwb_code)
            .outerjoin(reports, reports.c.service_id == service.c.service_id)
        )
        .order_by(service.c.service_id)
    )
    return stmt


def capacity_head(engine: Engine, q: DatasetQuery, limit: int) -> tuple[list[dict[str, Any]], int, int]:
    """The capacity dataset's first `limit` rows, services not reporting first and then by name, with the
    number of services and of those not reporting: what the services grid shows, sorted and cut in the
    store (a national view has ~15,000 services; fetching them all to show 200 cost ~180 ms)."""
    rows = capacity_select(q).order_by(None).subquery("services")
    stmt = (sa.select(rows, sa.func.count().over().label("total"),
                      sa.func.count(sa.case((sa.not_(rows.c.reporting), 1))).over().label("not_reporting"))
            .order_by(rows.c.reporting, rows.c.service_name, rows.c.service_id).limit(limit))
    with engine.connect() as conn:
        got = [dict(row._mapping) for row in conn.execute(stmt)]
    if not got:
        return [], 0, 0
    return got, int(got[0]["total"]), int(got[0]["not_reporting"])


def not_reporting_select(at: datetime) -> sa.Select[Any]:
    """The services not reporting at `at`: the capacity dataset's rows with `reporting` false, as
    (service_id, service_name, service_type, hwb_code, reported_at), by service_id.

    Found without the latest report of every service: the services with no report in the staleness
    window are the known ones less those seen in that window (a range the store prunes). Their latest
    report at `at` is service.last_reported_at when that is before the window, none when it is NULL,
    and is searched for among the older reports only for those that reported again after `at` (see
    the note above `_direct`).
    """
    at = at.astimezone(UTC).replace(tzinfo=None)
    stale_from = _stale_from(at)
    cr = capacity_report
    in_window = sa.select(cr.c.service_id).where(cr.c.reported_at <= at, cr.c.reported_at >= stale_from)
    silent = (_known_services(at, {}, None).where(service.c.service_id.not_in(in_window))).cte("silent")
    searched_ids = sa.select(silent.c.service_id).where(_searched(silent, stale_from)).subquery("searched_ids")
    searched = _latest_reports(searched_ids, cr.c.reported_at < stale_from, values=False).subquery("searched")
    reported_at = sa.case((_direct(silent, stale_from), silent.c.last_reported_at),
                          else_=searched.c.reported_at).label("reported_at")
    return (sa.select(service.c.service_id, service.c.service_name, service.c.service_type, service.c.hwb_code,
                      reported_at)
            .select_from(silent.join(service, service.c.service_id == silent.c.service_id)
                         .outerjoin(searched, searched.c.service_id == service.c.service_id))
            .order_by(service.c.service_id))


def services_not_reporting(engine: Engine, at: datetime) -> list[dict[str, Any]]:
    """`not_reporting_select` as plain rows."""
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(not_reporting_select(at))]


def cases_select(q: DatasetQuery) -> sa.Select[Any]:
    at = q.at.astimezone(UTC).replace(tzinfo=None)
    c = hub_case.c
    band = _age_band(c.age)
    stmt = (
        sa.select(
            c.hub_id, c.case_id, c.person_id, c.age, band.label("age_band"), c.hwb_code, hwb.c.place_code,
            hwb.c.icb_code, c.acute_site_code, _as_at(c.admitted_at, at), c.referred_at,
            _as_at(c.discharge_ready_at, at), c.pathway, _as_at(c.pathway_decided_at, at), c.delay_reason,
            _as_at(c.discharged_at, at), c.destination_service_id, _as_at(c.ic_started_at, at),
            _as_at(c.ic_ended_at, at),
            sa.case((c.ic_ended_at <= at, c.ic_outcome), else_=sa.null()).label("ic_outcome"),
            _as_at(c.readmitted_at, at), c.status_91d, c.updated_at,
        )
        .select_from(hub_case.outerjoin(hwb, hwb.c.hwb_code == c.hwb_code))
        .where(c.referred_at <= at)
        # A stable order lets BI diff deliveries (dropped for whole DuckDB exports: see iter_chunks).
        .order_by(c.referred_at, c.hub_id, c.case_id)
    )
    if q.from_:
        stmt = stmt.where(c.referred_at >= london_midnight_utc(q.from_))
    if q.to:
        stmt = stmt.where(c.referred_at < london_midnight_utc(q.to))
    w = restrict(None, q.where)  # the principal's scope (models.access)
    if "icb" in w:
        stmt = stmt.where(_in(hwb.c.icb_code, w["icb"]))
    if "place" in w:
        stmt = stmt.where(_in(hwb.c.place_code, w["place"]))
    if "hwb" in w:
        stmt = stmt.where(_in(c.hwb_code, tuple(w["hwb"])))
    if "pathway" in w:
        stmt = stmt.where(_in(c.pathway, tuple(int(v) for v in w["pathway"])))
    if "acute_site" in w:
        stmt = stmt.where(_in(c.acute_site_code, w["acute_site"]))
    if "age_band" in w:
        stmt = stmt.where(_in(band, w["age_band"]))
    if "delay_reason" in w:
        reasons = tuple(v for v in w["delay_reason"] if v != NOT_RECORDED)
        cond = _in(c.delay_reason, reasons) if reasons else sa.false()
        if NOT_RECORDED in w["delay_reason"]:
            cond = sa.or_(cond, c.delay_reason.is_(None))
        stmt = stmt.where(cond)
    if "ic_outcome" in w:
        stmt = stmt.where(_in(c.ic_outcome, w["ic_outcome"]))
    return stmt


def sitrep_select(q: DatasetQuery) -> sa.Select[Any]:
    s = sitrep_value.c
    at_date = london_date_of(q.at)
    stmt = (
        sa.select(s.feed, s.period_date, s.period_kind, s.level, s.org_code, s.org_name, s.region_name,
                  s.measure, s.pathway, s.value, s.edition)
        .where(s.period_date <= at_date)
        .order_by(s.feed, s.period_date, s.level, s.org_code, s.measure)
    )
    if q.from_:
        stmt = stmt.where(s.period_date >= q.from_)
    if q.to:
        stmt = stmt.where(s.period_date < q.to)
    w = q.where
    if "feed" in w:
        stmt = stmt.where(_in(s.feed, w["feed"]))
    if "level" in w:
        stmt = stmt.where(_in(s.level, w["level"]))
    if "org" in w:
        stmt = stmt.where(_in(s.org_code, w["org"]))
    if "measure" in w:
        stmt = stmt.where(_in(s.measure, w["measure"]))
    if "icb" in w:
        trusts = sa.select(trust.c.trust_code).where(_in(trust.c.icb_code, w["icb"]))
        stmt = stmt.where(sa.or_(_in(s.org_code, w["icb"]), s.org_code.in_(trusts)))
    return stmt


_SELECTS = {"capacity": capacity_select, "cases": cases_select, "sitrep": sitrep_select}
_COLUMNS = {"capacity": CAPACITY_COLUMNS, "cases": CASE_COLUMNS, "sitrep": SITREP_COLUMNS}


def dataset_select(q: DatasetQuery, *, ordered: bool = True) -> sa.Select[Any]:
    stmt = _SELECTS[q.dataset](q)
    if not ordered and q.dataset != "capacity":  # one row per service (thousands): sorting it costs nothing
        stmt = stmt.order_by(None)
    return stmt.limit(q.limit) if q.limit is not None else stmt


def table_columns(dataset: str) -> tuple[ColumnSpec, ...]:
    return _COLUMNS[dataset]


def iter_chunks(engine: Engine, q: DatasetQuery, chunk_size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a table dataset, `chunk_size` at a time, over a server-side cursor.

    The connection is held only while the generator runs and is returned to
    the pool when it finishes or is closed (a client that hangs up).
    """
    # DuckDB sorts in this process: ORDER BY over 1.5 million wide rows costs ~700 MB
    # of RSS, against ~150 MB streamed unsorted. A whole-table DuckDB export therefore
    # comes unsorted (the join may reorder rows; BI tools sort on load anyway);
    # PostgreSQL sorts on its own side, and a limited export (the preview) is a
    # cheap top-N, so both keep the stated order.
    ordered = not (is_duckdb(engine) and q.limit is None)
    stmt = dataset_select(q, ordered=ordered)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(stmt)
        try:
            for part in result.partitions(chunk_size):
                yield [tuple(row) for row in part]
        finally:
            result.close()


# --- the metric dataset ------------------------------------------------------

def run_metric(engine: Engine, q: DatasetQuery) -> MetricResult:
    """The metric dataset's rows: the metrics layer, cached where the web app has a cache."""
    assert q.metric_query is not None
    from models.cache import cached_query  # keyed on query + data version; no cache installed: the store

    return cached_query(q.metric_query, engine)
