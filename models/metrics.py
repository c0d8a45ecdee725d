"""The metrics registry: every figure Homeward shows, defined once, as data.

Each `Metric` is a typed spec (after dbt-labs/metricflow): what it means
(label, definition, unit, direction, thresholds) and how it is measured (a
`Measure` over one source). `models.query` compiles a metric plus a query
(at, window, grain, by, filters) to one SQLAlchemy Core select. The
definitions are the text of shared/spec/metrics.md; /definitions renders them.

The measure types (models.measures) own how a metric is computed; their
callables receive a `Scope` with the source's table aliases (`c` hub cases,
`s` services, `r` latest capacity reports, `v` published sitrep values) and
the period's columns `p`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from models.dialects import seconds_between
from models.measures import (
    Cond,
    Count,
    DailyMean,
    Expr,
    Mean,
    Measure,
    Open,
    Overlap,
    Percentile,
    PublishedRatio,
    PublishedSum,
    Ratio,
    Scope,
    Share,
    Sum,
    SumRatio,
)
from models.tables import CASE_DATES

Kind = Literal["snapshot", "period"]
SourceName = Literal["capacity", "cases", "sitrep"]
Direction = Literal["up", "down", "none"]

GEOGRAPHY_DIMS = ("icb", "place", "hwb")
CAPACITY_DIMS = GEOGRAPHY_DIMS + ("pathway", "service_type", "service_id")
CASE_DIMS = GEOGRAPHY_DIMS + ("pathway", "service_type", "service_id", "acute_site", "age_band",
                              "delay_reason", "ic_outcome", "hub")
SITREP_DIMS = ("level", "org", "collection")
SITREP_PATHWAY_DIMS = SITREP_DIMS + ("pathway",)


@dataclass(frozen=True)
class Thresholds:
    """RAG limits: with direction 'down', ≤ green is green and ≥ red is red; 'up' the other way."""
    green: float
    red: float


@dataclass(frozen=True, kw_only=True)
class Metric:
    """One figure: what it means and how it is measured (`measure` over `source`), set by keyword."""
    name: str
    label: str
    definition: str
    unit: str  # people | beds or slots | services | rate | days | hours | bed days
    kind: Kind
    source: SourceName
    direction: Direction
    measure: Measure
    dimensions: tuple[str, ...]
    thresholds: Thresholds | None = None
    group: str = ""
    notes: str = ""
    # Case metrics: the columns bounding when a case can count at all (start, end; end may be missing):
    # a query over many periods skips every other case before joining them to the periods.
    span: tuple[str, str] | None = None

    def catalogue(self) -> dict[str, Any]:
        return {
            "name": self.name, "label": self.label, "definition": self.definition, "unit": self.unit,
            "kind": self.kind, "source": self.source, "direction": self.direction, "group": self.group,
            "dimensions": list(self.dimensions),
            "thresholds": None if self.thresholds is None else
            {"green": self.thresholds.green, "red": self.thresholds.red,
             "rule": ("≤ green is green, ≥ red is red" if self.direction == "down"
                      else "≥ green is green, ≤ red is red")},
            "notes": self.notes,
        }


# --- conditions shared by several metrics ---------------------------------

def _in_window(col: Expr) -> Cond:
    def cond(x: Scope) -> ColumnElement[bool]:
        return sa.and_(col(x) >= x.p.start, col(x) < x.p.end)
    return cond


def _reporting(x: Scope) -> ColumnElement[bool]:
    return x.r.service_id.is_not(None)


# No longer meets the criteria to reside and still in hospital at the instant.
_WAITING = ("discharge_ready_at", ("discharged_at",))


def _discharged_ready(x: Scope) -> ColumnElement[bool]:
    return sa.and_(_in_window(lambda y: y.c.discharged_at)(x), x.c.discharge_ready_at.is_not(None))


def _whole_days(x: Scope, start: str, end: str) -> ColumnElement[Any]:
    """Difference of the two events' London calendar dates (the spec's 'whole days'), from the dates the
    loader stores beside the times (models.tables.CASE_DATES)."""
    return sa.cast(x.c[CASE_DATES[end]] - x.c[CASE_DATES[start]], sa.Integer)


def _delay_days(x: Scope) -> ColumnElement[Any]:
    return _whole_days(x, "discharge_ready_at", "discharged_at")


def _ic_ended(x: Scope) -> ColumnElement[bool]:
    return sa.and_(_in_window(lambda y: y.c.ic_ended_at)(x), x.c.ic_started_at.is_not(None))


def _ic_days(x: Scope) -> ColumnElement[Any]:
    return _whole_days(x, "ic_started_at", "ic_ended_at")


# --- the registry ----------------------------------------------------------

def _capacity_sum(name: str, label: str, definition: str, expr: Expr, direction: Direction = "none") -> Metric:
    return Metric(name=name, label=label, definition=definition, unit="beds or slots", kind="snapshot",
                  source="capacity", direction=direction, measure=Sum(expr, _reporting), dimensions=CAPACITY_DIMS,
                  group="Capacity")


# The spans of case metrics (see `Metric.span`).
_WAITING_SPAN = ("discharge_ready_at", "discharged_at")
_DISCHARGED_SPAN = ("discharged_at", "discharged_at")
_IC_ENDED_SPAN = ("ic_ended_at", "ic_ended_at")

_METRICS: tuple[Metric, ...] = (
    # Capacity (snapshot, vacancy feed)
    _capacity_sum("capacity", "Capacity", "Σ capacity: maximum beds (bed-based) or concurrent people (home-based) of the "
                  "services reporting within the staleness window (default 24 hours) before `at`, each by its latest report.",
                  lambda x: x.r.capacity),
    _capacity_sum("occupied", "Occupied", "Σ occupied of the services reporting (latest report per service within the "
                  "staleness window before `at`).", lambda x: x.r.occupied),
    _capacity_sum("vacant_accepting", "Vacant, accepting", "Σ vacant_accepting — beds or slots that can take someone now — "
                  "of the services reporting (latest report per service within the staleness window before `at`).",
                  lambda x: x.r.vacant_accepting, "up"),
    _capacity_sum("vacant_reserved", "Vacant, reserved", "Σ vacant_reserved — vacant but held for a named person — of the "
                  "services reporting.", lambda x: x.r.vacant_reserved),
    _capacity_sum("unavailable", "Unavailable", "Σ (capacity − occupied − vacant_accepting − vacant_reserved): beds or "
                  "slots closed (staffing, infection, maintenance), over the services reporting.",
                  lambda x: x.r.capacity - x.r.occupied - x.r.vacant_accepting - x.r.vacant_reserved, "down"),
    Metric(name="occupancy_rate", label="Occupancy",
           definition="Σ occupied ÷ Σ (occupied + vacant_accepting + vacant_reserved) — share of open capacity in use, "
           "over the services reporting. Missing when no open capacity is reported.",
           unit="rate", kind="snapshot", source="capacity", direction="down",
           measure=SumRatio(lambda x: x.r.occupied, lambda x: x.r.occupied + x.r.vacant_accepting + x.r.vacant_reserved,
                            _reporting),
           dimensions=CAPACITY_DIMS, thresholds=Thresholds(0.90, 0.97), group="Capacity",
           notes="Very high occupancy leaves no room to take discharges."),
    Metric(name="services_reporting", label="Services reporting",
           definition="Count of services with a report inside the staleness window (default 24 hours) before `at`.",
           unit="services", kind="snapshot", source="capacity", direction="up",
           measure=Count(_reporting), dimensions=CAPACITY_DIMS, group="Capacity"),
    Metric(name="services_not_reporting", label="Services not reporting",
           definition="Count of known services (first reported at or before `at`) without a report inside the "
           "staleness window before `at`; they add nothing to the capacity sums.",
           unit="services", kind="snapshot", source="capacity", direction="down",
           measure=Count(lambda x: x.r.service_id.is_(None)), dimensions=CAPACITY_DIMS, thresholds=Thresholds(0, 3),
           group="Capacity"),

    # Flow (period, hub cases)
    Metric(name="referrals", label="Referrals", definition="Cases with `referred_at` in the window.",
           unit="people", kind="period", source="cases", direction="none",
           measure=Count(_in_window(lambda x: x.c.referred_at)), dimensions=CASE_DIMS, group="Flow",
           span=("referred_at", "referred_at")),
    Metric(name="discharges", label="Discharges",
           definition="Cases with `discharged_at` in the window (split by `pathway` for the pathway mix).",
           unit="people", kind="period", source="cases", direction="up",
           measure=Count(_in_window(lambda x: x.c.discharged_at)), dimensions=CASE_DIMS, group="Flow",
           span=_DISCHARGED_SPAN),
    Metric(name="pathway_share", label="Pathway share",
           definition="Discharges on a pathway ÷ all discharges in the window (use with `by=pathway`; a `pathway` "
           "filter selects the numerator only).",
           unit="rate", kind="period", source="cases", direction="none",
           measure=Share(_in_window(lambda x: x.c.discharged_at), "pathway"), dimensions=CASE_DIMS, group="Flow",
           span=_DISCHARGED_SPAN),
    Metric(name="ic_starts", label="IC starts", definition="Cases with `ic_started_at` in the window.",
           unit="people", kind="period", source="cases", direction="none",
           measure=Count(_in_window(lambda x: x.c.ic_started_at)), dimensions=CASE_DIMS, group="Flow",
           span=("ic_started_at", "ic_started_at")),
    Metric(name="ic_ends", label="IC ends", definition="Cases with `ic_ended_at` in the window.",
           unit="people", kind="period", source="cases", direction="none",
           measure=Count(_in_window(lambda x: x.c.ic_ended_at)), dimensions=CASE_DIMS, group="Flow",
           span=_IC_ENDED_SPAN),
    Metric(name="hub_decision_hours", label="Hub decision time",
           definition="Median hours (fractional) from `referred_at` to `pathway_decided_at`, for cases decided in the "
           "window.",
           unit="hours", kind="period", source="cases", direction="down",
           measure=Percentile(lambda x: seconds_between(x.c.referred_at, x.c.pathway_decided_at) / 3600.0, 0.5,
                              _in_window(lambda x: x.c.pathway_decided_at)),
           dimensions=CASE_DIMS, thresholds=Thresholds(24, 72), group="Flow",
           span=("pathway_decided_at", "pathway_decided_at")),
    Metric(name="ic_caseload", label="IC caseload",
           definition="Cases with `ic_started_at ≤ at` and (`ic_ended_at` missing or `> at`): people in an "
           "intermediate care episode at the instant.",
           unit="people", kind="snapshot", source="cases", direction="none",
           measure=Open("ic_started_at", ("ic_ended_at",)), dimensions=CASE_DIMS, group="Flow",
           span=("ic_started_at", "ic_ended_at")),
    Metric(name="awaiting_pathway", label="Awaiting a pathway decision",
           definition="Cases with `referred_at ≤ at`, no `pathway_decided_at ≤ at`, and not discharged by `at`.",
           unit="people", kind="snapshot", source="cases", direction="down",
           measure=Open("referred_at", ("pathway_decided_at", "discharged_at")), dimensions=CASE_DIMS, group="Flow",
           span=("referred_at", "pathway_decided_at")),  # waiting needs no decision yet

    # Delays (snapshot)
    Metric(name="nctr_count", label="No longer meet criteria to reside",
           definition="People who no longer meet the criteria to reside and are still in hospital: "
           "`discharge_ready_at ≤ at` and (`discharged_at` missing or `> at`).",
           unit="people", kind="snapshot", source="cases", direction="down",
           measure=Open(*_WAITING), dimensions=CASE_DIMS, group="Delays", span=_WAITING_SPAN),
    *(Metric(name=f"nctr_over_{d}d", label=f"Waiting {d}+ days",
             definition=f"Of `nctr_count`, those whose whole days (difference of Europe/London calendar dates) from "
             f"`discharge_ready_at` to `at` are ≥ {d}.",
             unit="people", kind="snapshot", source="cases", direction="down",
             measure=Open(*_WAITING, min_days=d), dimensions=CASE_DIMS, group="Delays", span=_WAITING_SPAN)
      for d in (7, 14, 21)),
    Metric(name="nctr_days_total", label="Bed days lost by people waiting now",
           definition="Σ fractional days from `discharge_ready_at` to `at` over `nctr_count` — bed days already lost "
           "by the people waiting now.",
           unit="bed days", kind="snapshot", source="cases", direction="down",
           measure=Open(*_WAITING, days=True), dimensions=CASE_DIMS, group="Delays", span=_WAITING_SPAN),

    # Delays (period, over cases discharged in the window that have a discharge_ready_at)
    Metric(name="discharged_on_ready_day_rate", label="Discharged on the ready day",
           definition="Of cases discharged in the window with a `discharge_ready_at`, the share whose whole days from "
           "`discharge_ready_at` to `discharged_at` is 0.",
           unit="rate", kind="period", source="cases", direction="up",
           measure=Ratio(lambda x: _delay_days(x) == 0, _discharged_ready),
           dimensions=CASE_DIMS, thresholds=Thresholds(0.80, 0.60), group="Delays", span=_DISCHARGED_SPAN),
    Metric(name="mean_delay_days", label="Mean discharge delay",
           definition="Mean whole days from `discharge_ready_at` to `discharged_at`, over cases discharged in the "
           "window with at least 1 day of delay (the NHS England Discharge Ready Date measure).",
           unit="days", kind="period", source="cases", direction="down",
           measure=Mean(_delay_days, lambda x: sa.and_(_discharged_ready(x), _delay_days(x) >= 1)),
           dimensions=CASE_DIMS, thresholds=Thresholds(2.0, 5.0), group="Delays", span=_DISCHARGED_SPAN),
    Metric(name="p90_delay_days", label="90th percentile discharge delay",
           definition="90th percentile (continuous) of whole days from `discharge_ready_at` to `discharged_at`, over "
           "all cases discharged in the window with a `discharge_ready_at`.",
           unit="days", kind="period", source="cases", direction="down",
           measure=Percentile(_delay_days, 0.9, _discharged_ready),
           dimensions=CASE_DIMS, thresholds=Thresholds(3.0, 10.0), group="Delays", span=_DISCHARGED_SPAN),
    Metric(name="delay_bed_days", label="Delay bed days",
           definition="Σ over all cases with a `discharge_ready_at` of the fractional days of overlap between "
           "[`discharge_ready_at`, `discharged_at` — or `at` while still waiting) and the window — bed days lost "
           "inside the window, including by people still waiting.",
           unit="bed days", kind="period", source="cases", direction="down",
           measure=Overlap("discharge_ready_at", "discharged_at"), dimensions=CASE_DIMS, group="Delays",
           span=_WAITING_SPAN),

    # Outcomes (period)
    Metric(name="ic_length_of_stay_days", label="IC length of stay",
           definition="Median whole days from `ic_started_at` to `ic_ended_at`, over episodes ended in the window.",
           unit="days", kind="period", source="cases", direction="down",
           measure=Percentile(_ic_days, 0.5, _ic_ended),
           dimensions=CASE_DIMS, thresholds=Thresholds(28, 42), group="Outcomes", span=_IC_ENDED_SPAN),
    Metric(name="ic_over_6_weeks_rate", label="IC over 6 weeks",
           definition="Episodes ended in the window lasting more than 42 whole days ÷ episodes ended in the window.",
           unit="rate", kind="period", source="cases", direction="down",
           measure=Ratio(lambda x: _ic_days(x) > 42, _ic_ended),
           dimensions=CASE_DIMS, thresholds=Thresholds(0.10, 0.25), group="Outcomes", span=_IC_ENDED_SPAN),
    Metric(name="ic_outcome_share", label="IC outcome share",
           definition="Episodes ended in the window with an `ic_outcome` ÷ episodes ended in the window (use with "
           "`by=ic_outcome`).",
           unit="rate", kind="period", source="cases", direction="none",
           measure=Share(_ic_ended, "ic_outcome", require_value=True), dimensions=CASE_DIMS, group="Outcomes",
           span=_IC_ENDED_SPAN),
    Metric(name="readmission_30d_rate", label="Readmitted within 30 days",
           definition="Of cases discharged in the window with `discharged_at + 30 days ≤ at`, the share with "
           "`readmitted_at` within 30 whole days of `discharged_at`.",
           unit="rate", kind="period", source="cases", direction="down",
           measure=Ratio(lambda x: sa.and_(x.c.readmitted_at.is_not(None),
                                           _whole_days(x, "discharged_at", "readmitted_at") <= 30),
                         lambda x: sa.and_(_in_window(lambda y: y.c.discharged_at)(x),
                                           x.c.discharged_at <= x.p.at_minus_30d)),
           dimensions=CASE_DIMS, thresholds=Thresholds(0.10, 0.15), group="Outcomes", span=_DISCHARGED_SPAN),
    Metric(name="home_91d_rate", label="At home 91 days after discharge",
           definition="ASCOF 2B(1)-style: of people aged 65+ discharged on pathway 1 or 2 in the window with "
           "`discharged_at + 91 days ≤ at`, the share with `status_91d = at_home`. Missing or `unknown` status counts "
           "in the denominator, not the numerator.",
           unit="rate", kind="period", source="cases", direction="up",
           measure=Ratio(lambda x: x.c.status_91d == "at_home",
                         lambda x: sa.and_(_in_window(lambda y: y.c.discharged_at)(x),
                                           x.c.discharged_at <= x.p.at_minus_91d, x.c.age >= 65,
                                           x.c.pathway.in_([1, 2]))),
           dimensions=CASE_DIMS, thresholds=Thresholds(0.82, 0.75), group="Outcomes", span=_DISCHARGED_SPAN),

    # National benchmark (published sitreps)
    Metric(name="sitrep_nctr", label="Published NCTR",
           definition="Published daily count of patients no longer meeting the criteria to reside, for England, a "
           "region, an ICB or a trust (acute sitrep by default; `collection=community` for the community sitrep). Over "
           "a window: mean of the daily totals, using only days with a value.",
           unit="people", kind="period", source="sitrep", direction="down",
           measure=DailyMean("nctr"), dimensions=SITREP_DIMS, group="Benchmark"),
    Metric(name="sitrep_discharged", label="Published NCTR discharged",
           definition="Published daily count of those patients discharged (mean daily total over a window, days with "
           "a value only).",
           unit="people", kind="period", source="sitrep", direction="up",
           measure=DailyMean("discharged"), dimensions=SITREP_DIMS, group="Benchmark"),
    Metric(name="sitrep_remaining", label="Published NCTR remaining",
           definition="Published daily count of those patients remaining in hospital (mean daily total over a "
           "window, days with a value only).",
           unit="people", kind="period", source="sitrep", direction="down",
           measure=DailyMean("remaining"), dimensions=SITREP_DIMS, group="Benchmark"),
    Metric(name="sitrep_discharged_share", label="Published share of NCTR discharged",
           definition="Σ published daily `discharged` ÷ Σ published daily NCTR over the window: the share of patients "
           "no longer meeting the criteria to reside who were discharged each day. Comparable between organisations "
           "of different sizes.",
           unit="rate", kind="period", source="sitrep", direction="up",
           measure=PublishedRatio("discharged", "nctr"), dimensions=SITREP_DIMS, group="Benchmark"),
    Metric(name="sitrep_discharges_by_pathway", label="Published discharges by pathway",
           definition="Published monthly discharges by destination / pathway (Table 4), summed over the months "
           "starting in the window (use with `by=pathway`).",
           unit="people", kind="period", source="sitrep", direction="none",
           measure=PublishedSum("discharges_"), dimensions=SITREP_PATHWAY_DIMS, group="Benchmark"),
)

REGISTRY: dict[str, Metric] = {m.name: m for m in _METRICS}
