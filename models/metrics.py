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

from dataclasses import dataclass, field, replace
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
Source = Literal["capacity", "cases", "sitrep"]
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


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    definition: str
    unit: str  # people | beds or slots | services | rate | days | hours | bed days
    kind: Kind
    source: Source
    direction: Direction
    measure: Measure
    dimensions: tuple[str, ...]
    thresholds: Thresholds | None = None
    group: str = ""
    notes: str = field(default="")
    # Columns bounding when a case can count at all (start, end; end may be missing): lets a query
    # over many periods skip every other case before joining them to the periods.
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

def _capacity_sum(name: str, label: str, definition: str, expr: Expr, direction: Direction = "none",
                  thresholds: Thresholds | None = None) -> Metric:
    return Metric(name, label, definition, "beds or slots", "snapshot", "capacity", direction,
                  Sum(expr, _reporting), CAPACITY_DIMS, thresholds, "Capacity")


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
    Metric("occupancy_rate", "Occupancy", "Σ occupied ÷ Σ (occupied + vacant_accepting + vacant_reserved) — share of "
           "open capacity in use, over the services reporting. Missing when no open capacity is reported.",
           "rate", "snapshot", "capacity", "down",
           SumRatio(lambda x: x.r.occupied, lambda x: x.r.occupied + x.r.vacant_accepting + x.r.vacant_reserved,
                    _reporting), CAPACITY_DIMS, Thresholds(0.90, 0.97), "Capacity",
           "Very high occupancy leaves no room to take discharges."),
    Metric("services_reporting", "Services reporting", "Count of services with a report inside the staleness window "
           "(default 24 hours) before `at`.", "services", "snapshot", "capacity", "up",
           Count(_reporting), CAPACITY_DIMS, None, "Capacity"),
    Metric("services_not_reporting", "Services not reporting", "Count of known services (first reported at or before "
           "`at`) without a report inside the staleness window before `at`; they add nothing to the capacity sums.",
           "services", "snapshot", "capacity", "down",
           Count(lambda x: x.r.service_id.is_(None)), CAPACITY_DIMS, Thresholds(0, 3), "Capacity"),

    # Flow (period, hub cases)
    Metric("referrals", "Referrals", "Cases with `referred_at` in the window.", "people", "period", "cases", "none",
           Count(_in_window(lambda x: x.c.referred_at)), CASE_DIMS, None, "Flow"),
    Metric("discharges", "Discharges", "Cases with `discharged_at` in the window (split by `pathway` for the pathway mix).",
           "people", "period", "cases", "up", Count(_in_window(lambda x: x.c.discharged_at)), CASE_DIMS, None, "Flow"),
    Metric("pathway_share", "Pathway share", "Discharges on a pathway ÷ all discharges in the window (use with "
           "`by=pathway`; a `pathway` filter selects the numerator only).", "rate", "period", "cases", "none",
           Share(_in_window(lambda x: x.c.discharged_at), "pathway"), CASE_DIMS, None, "Flow"),
    Metric("ic_starts", "IC starts", "Cases with `ic_started_at` in the window.", "people", "period", "cases", "none",
           Count(_in_window(lambda x: x.c.ic_started_at)), CASE_DIMS, None, "Flow"),
    Metric("ic_ends", "IC ends", "Cases with `ic_ended_at` in the window.", "people", "period", "cases", "none",
           Count(_in_window(lambda x: x.c.ic_ended_at)), CASE_DIMS, None, "Flow"),
    Metric("hub_decision_hours", "Hub decision time", "Median hours (fractional) from `referred_at` to "
           "`pathway_decided_at`, for cases decided in the window.", "hours", "period", "cases", "down",
           Percentile(lambda x: seconds_between(x.c.referred_at, x.c.pathway_decided_at) / 3600.0, 0.5,
                      _in_window(lambda x: x.c.pathway_decided_at)), CASE_DIMS, Thresholds(24, 72), "Flow"),
    Metric("ic_caseload", "IC caseload", "Cases with `ic_started_at ≤ at` and (`ic_ended_at` missing or `> at`): people "
           "in an intermediate care episode at the instant.", "people", "snapshot", "cases", "none",
           Open("ic_started_at", ("ic_ended_at",)), CASE_DIMS, None, "Flow"),
    Metric("awaiting_pathway", "Awaiting a pathway decision", "Cases with `referred_at ≤ at`, no `pathway_decided_at ≤ at`, "
           "and not discharged by `at`.", "people", "snapshot", "cases", "down",
           Open("referred_at", ("pathway_decided_at", "discharged_at")), CASE_DIMS, None, "Flow"),

    # Delays (snapshot)
    Metric("nctr_count", "No longer meet criteria to reside", "People who no longer meet the criteria to reside and are "
           "still in hospital: `discharge_ready_at ≤ at` and (`discharged_at` missing or `> at`).", "people",
           "snapshot", "cases", "down", Open(*_WAITING), CASE_DIMS, None, "Delays"),
    *(Metric(f"nctr_over_{d}d", f"Waiting {d}+ days", f"Of `nctr_count`, those whose whole days (difference of "
             f"Europe/London calendar dates) from `discharge_ready_at` to `at` are ≥ {d}.", "people", "snapshot",
             "cases", "down", Open(*_WAITING, min_days=d), CASE_DIMS, None, "Delays") for d in (7, 14, 21)),
    Metric("nctr_days_total", "Bed days lost by people waiting now", "Σ fractional days from `discharge_ready_at` to "
           "`at` over `nctr_count` — bed days already lost by the people waiting now.", "bed days", "snapshot",
           "cases", "down", Open(*_WAITING, days=True),
           CASE_DIMS, None, "Delays"),

    # Delays (period, over cases discharged in the window that have a discharge_ready_at)
    Metric("discharged_on_ready_day_rate", "Discharged on the ready day", "Of cases discharged in the window with a "
           "`discharge_ready_at`, the share whose whole days from `discharge_ready_at` to `discharged_at` is 0.",
           "rate", "period", "cases", "up", Ratio(lambda x: _delay_days(x) == 0, _discharged_ready),
           CASE_DIMS, Thresholds(0.80, 0.60), "Delays"),
    Metric("mean_delay_days", "Mean discharge delay", "Mean whole days from `discharge_ready_at` to `discharged_at`, over "
           "cases discharged in the window with at least 1 day of delay (the NHS England Discharge Ready Date measure).",
           "days", "period", "cases", "down",
           Mean(_delay_days, lambda x: sa.and_(_discharged_ready(x), _delay_days(x) >= 1)),
           CASE_DIMS, Thresholds(2.0, 5.0), "Delays"),
    Metric("p90_delay_days", "90th percentile discharge delay", "90th percentile (continuous) of whole days from "
           "`discharge_ready_at` to `discharged_at`, over all cases discharged in the window with a `discharge_ready_at`.",
           "days", "period", "cases", "down", Percentile(_delay_days, 0.9, _discharged_ready),
           CASE_DIMS, Thresholds(3.0, 10.0), "Delays"),
    Metric("delay_bed_days", "Delay bed days", "Σ over all cases with a `discharge_ready_at` of the fractional days of "
           "overlap between [`discharge_ready_at`, `discharged_at` — or `at` while still waiting) and the window — bed "
           "days lost inside the window, including by people still waiting.", "bed days", "period", "cases", "down",
           Overlap("discharge_ready_at", "discharged_at"), CASE_DIMS, None, "Delays"),

    # Outcomes (period)
    Metric("ic_length_of_stay_days", "IC length of stay", "Median whole days from `ic_started_at` to `ic_ended_at`, over "
           "episodes ended in the window.", "days", "period", "cases", "down", Percentile(_ic_days, 0.5, _ic_ended),
           CASE_DIMS, Thresholds(28, 42), "Outcomes"),
    Metric("ic_over_6_weeks_rate", "IC over 6 weeks", "Episodes ended in the window lasting more than 42 whole days ÷ "
           "episodes ended in the window.", "rate", "period", "cases", "down",
           Ratio(lambda x: _ic_days(x) > 42, _ic_ended), CASE_DIMS, Thresholds(0.10, 0.25), "Outcomes"),
    Metric("ic_outcome_share", "IC outcome share", "Episodes ended in the window with an `ic_outcome` ÷ episodes ended in "
           "the window (use with `by=ic_outcome`).", "rate", "period", "cases", "none",
           Share(_ic_ended, "ic_outcome", require_value=True), CASE_DIMS, None, "Outcomes"),
    Metric("readmission_30d_rate", "Readmitted within 30 days", "Of cases discharged in the window with `discharged_at + "
           "30 days ≤ at`, the share with `readmitted_at` within 30 whole days of `discharged_at`.", "rate", "period",
           "cases", "down",
           Ratio(lambda x: sa.and_(x.c.readmitted_at.is_not(None),
                                   _whole_days(x, "discharged_at", "readmitted_at") <= 30),
                 lambda x: sa.and_(_in_window(lambda y: y.c.discharged_at)(x),
                                   x.c.discharged_at <= x.p.at_minus_30d)),
           CASE_DIMS, Thresholds(0.10, 0.15), "Outcomes"),
    Metric("home_91d_rate", "At home 91 days after discharge", "ASCOF 2B(1)-style: of people aged 65+ discharged on "
           "pathway 1 or 2 in the window with `discharged_at + 91 days ≤ at`, the share with `status_91d = at_home`. "
           "Missing or `unknown` status counts in the denominator, not the numerator.", "rate", "period", "cases", "up",
           Ratio(lambda x: x.c.status_91d == "at_home",
                 lambda x: sa.and_(_in_window(lambda y: y.c.discharged_at)(x), x.c.discharged_at <= x.p.at_minus_91d,
                                   x.c.age >= 65, x.c.pathway.in_([1, 2]))),
           CASE_DIMS, Thresholds(0.82, 0.75), "Outcomes"),

    # National benchmark (published sitreps)
    Metric("sitrep_nctr", "Published NCTR", "Published daily count of patients no longer meeting the criteria to reside, "
           "for England, a region, an ICB or a trust (acute sitrep by default; `collection=community` for the community "
           "sitrep). Over a window: mean of the daily totals, using only days with a value.", "people", "period",
           "sitrep", "down", DailyMean("nctr"), SITREP_DIMS, None, "Benchmark"),
    Metric("sitrep_discharged", "Published NCTR discharged", "Published daily count of those patients discharged (mean "
           "daily total over a window, days with a value only).", "people", "period", "sitrep", "up",
           DailyMean("discharged"), SITREP_DIMS, None, "Benchmark"),
    Metric("sitrep_remaining", "Published NCTR remaining", "Published daily count of those patients remaining in hospital "
           "(mean daily total over a window, days with a value only).", "people", "period", "sitrep", "down",
           DailyMean("remaining"), SITREP_DIMS, None, "Benchmark"),
    Metric("sitrep_discharged_share", "Published share of NCTR discharged", "Σ published daily `discharged` ÷ Σ "
           "published daily NCTR over the window: the share of patients no longer meeting the criteria to reside who "
           "were discharged each day. Comparable between organisations of different sizes.", "rate", "period",
           "sitrep", "up", PublishedRatio("discharged", "nctr"), SITREP_DIMS, None, "Benchmark"),
    Metric("sitrep_discharges_by_pathway", "Published discharges by pathway", "Published monthly discharges by "
           "destination / pathway (Table 4), summed over the months starting in the window (use with `by=pathway`).",
           "people", "period", "sitrep", "none", PublishedSum("discharges_"), SITREP_PATHWAY_DIMS, None, "Benchmark"),
)

_SPANS: dict[str, tuple[str, str]] = {
    **{name: ("discharge_ready_at", "discharged_at") for name in (
        "nctr_count", "nctr_over_7d", "nctr_over_14d", "nctr_over_21d", "nctr_days_total", "delay_bed_days")},
    "ic_caseload": ("ic_started_at", "ic_ended_at"),
    "awaiting_pathway": ("referred_at", "pathway_decided_at"),  # waiting needs no decision yet
    "referrals": ("referred_at", "referred_at"),
    "hub_decision_hours": ("pathway_decided_at", "pathway_decided_at"),
    "ic_starts": ("ic_started_at", "ic_started_at"),
    **{name: ("ic_ended_at", "ic_ended_at") for name in (
        "ic_ends", "ic_length_of_stay_days", "ic_over_6_weeks_rate", "ic_outcome_share")},
    **{name: ("discharged_at", "discharged_at") for name in (
        "discharges", "pathway_share", "discharged_on_ready_day_rate", "mean_delay_days", "p90_delay_days",
        "readmission_30d_rate", "home_91d_rate")},
}

REGISTRY: dict[str, Metric] = {m.name: replace(m, span=_SPANS.get(m.name)) for m in _METRICS}
