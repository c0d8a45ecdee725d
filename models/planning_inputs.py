"""The planner's inputs from live data (issue 15, "From live data"): a scenario for one HWB and pathway.

Every figure comes from the metrics layer (`run_query`) except two lists no metric gives, read here by small
documented queries with the metrics' own definitions: the lengths of finished IC episodes (the whole days
`ic_length_of_stay_days` takes the median of) and the people becoming discharge-ready per day (the entries
into `nctr_count`).

- arrivals: `referrals` to the pathway and HWB per day over the last 12 full weeks (Monday to Sunday),
  mean per weekday (the IPACS method);
- capacity, occupied: `capacity`, `occupied` now (vacancy feed; services of that pathway in that HWB);
- waiting: `nctr_count` now for the pathway (discharge-ready, not yet left hospital);
- length of stay: finished episodes over the last 6 months, as bootstrap samples; with fewer than
  `MIN_EPISODES`, a lognormal from their median and mean (IPACS's method 1: μ = ln median,
  σ = √(2 (ln mean − μ))).
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from models.db import get_engine
from models.geography import get_geography
from models.periods import london_date_of
from models.query import MetricQuery, run_query
from models.tables import hub_case
from models.tables import hwb as hwb_table

PATHWAYS = ("1", "2", "3")
ARRIVAL_WEEKS = 12
LOS_DAYS = 183  # six months of finished episodes
MIN_EPISODES = 30
OUTLOOK_WEEKS = 4
DEFAULT_DAYS = 84  # 12 weeks ahead
DEFAULT_RUNS = 200
FALLBACK_SDLOG = 0.6  # when the median is not below the mean, a lognormal needs a spread from elsewhere


def _total(engine: Engine, metric: str, where: Mapping[str, tuple[str, ...]], at: datetime) -> float:
    value = run_query(engine, MetricQuery(metric=metric, at=at, where=where)).total()
    return float(value or 0)


def daily_counts(engine: Engine, metric: str, where: Mapping[str, tuple[str, ...]], from_: date, to: date,
                 at: datetime) -> list[tuple[date, float]]:
    """A period metric per London day over [from_, to)."""
    rows = run_query(engine, MetricQuery(metric=metric, at=at, from_=from_, to=to, grain="day", where=where)).rows
    return [(date.fromisoformat(r["period"]), float(r["value"] or 0)) for r in rows]


def finished_episode_days(engine: Engine, where: Mapping[str, tuple[str, ...]], from_: date, to: date) -> list[int]:
    """Whole days (London dates) from `ic_started_at` to `ic_ended_at` of IC episodes ended in [from_, to):
    the values `ic_length_of_stay_days` takes the median of, as a list for the bootstrap."""
    c = hub_case.c
    stmt = (sa.select(sa.cast(c.ic_ended_date - c.ic_started_date, sa.Integer).label("days"))
            .where(c.ic_started_at.is_not(None), c.ic_ended_date >= from_, c.ic_ended_date < to))
    stmt = _where_cases(stmt, where)
    with engine.connect() as conn:
        return sorted(int(r.days) for r in conn.execute(stmt) if r.days is not None and r.days >= 0)


def ready_by_day(engine: Engine, where: Mapping[str, tuple[str, ...]], from_: date, to: date) -> list[tuple[date, float]]:
    """People becoming discharge-ready (entering `nctr_count`) per London day over [from_, to), zeros included."""
    c = hub_case.c
    stmt = (sa.select(c.discharge_ready_date.label("day"), sa.func.count().label("n"))
            .where(c.discharge_ready_date >= from_, c.discharge_ready_date < to)
            .group_by(c.discharge_ready_date))
    stmt = _where_cases(stmt, where)
    with engine.connect() as conn:
        found = {r.day: float(r.n) for r in conn.execute(stmt)}
    return [(from_ + timedelta(days=i), found.get(from_ + timedelta(days=i), 0.0)) for i in range((to - from_).days)]


def _where_cases(stmt: sa.Select[Any], where: Mapping[str, tuple[str, ...]]) -> sa.Select[Any]:
    c = hub_case.c
    if "hwb" in where:  # an empty list (after the scope) means no HWB, not every HWB
        stmt = stmt.where(c.hwb_code.in_(list(where["hwb"])))
    if where.get("icb") or where.get("place"):
        inner = sa.select(hwb_table.c.hwb_code)
        if where.get("icb"):
            inner = inner.where(hwb_table.c.icb_code.in_(where["icb"]))
        if where.get("place"):
            inner = inner.where(hwb_table.c.place_code.in_(where["place"]))
        stmt = stmt.where(c.hwb_code.in_(inner))
    if where.get("pathway"):
        stmt = stmt.where(c.pathway.in_([int(v) for v in where["pathway"]]))
    return stmt


def lognormal_from_median_mean(median: float, mean: float) -> dict[str, float]:
    """IPACS method 1: μ = ln median, σ = √(2 (ln mean − μ)); a fixed σ when the mean is not above the median."""
    meanlog = math.log(max(median, 0.5))
    gap = math.log(max(mean, 0.5)) - meanlog
    return {"meanlog": meanlog, "sdlog": math.sqrt(2 * gap) if gap > 0 else FALLBACK_SDLOG}


def planning_inputs(hwb: str, pathway: int, at: datetime | None = None, engine: Engine | None = None,
                    days: int = DEFAULT_DAYS) -> dict[str, Any] | None:
    """A scenario filled in from live data for one HWB and pathway, with its `basis` in words and numbers;
    None when the HWB is unknown."""
    engine = engine or get_engine()
    hwb = hwb.upper()
    if hwb not in get_geography(engine).hwbs:
        return None
    from models.access import restrict

    restrict(engine, {"hwb": (hwb,)})  # outside the asker's scope: OutOfScope (403), before any figure is read
    at = at or datetime.now(timezone.utc)
    today = london_date_of(at)
    where = {"hwb": (hwb,), "pathway": (str(pathway),)}

    this_monday = today - timedelta(days=today.weekday())
    weeks_from = this_monday - timedelta(weeks=ARRIVAL_WEEKS)
    referrals = daily_counts(engine, "referrals", where, weeks_from, this_monday, at)
    arrivals = [round(v, 3) for v in weekday_means(referrals)]
    weeks = [{"week_from": (weeks_from + timedelta(weeks=w)).isoformat(),
              "referrals": sum(v for d, v in referrals if (d - weeks_from).days // 7 == w)}
             for w in range(ARRIVAL_WEEKS)]

    capacity = _total(engine, "capacity", where, at)
    occupied = _total(engine, "occupied", where, at)
    waiting = _total(engine, "nctr_count", where, at)

    los_from = today - timedelta(days=LOS_DAYS)
    episodes = finished_episode_days(engine, where, los_from, today)
    basis: dict[str, Any] = {
        "hwb": hwb, "pathway": pathway, "as_of": at.astimezone(timezone.utc).isoformat(),
        "arrival_weeks": weeks, "arrivals_from": weeks_from.isoformat(), "arrivals_to": this_monday.isoformat(),
        "los_from": los_from.isoformat(), "los_to": today.isoformat(), "episodes": len(episodes),
    }
    if len(episodes) >= MIN_EPISODES:
        los: dict[str, Any] = {"samples": [float(d) for d in episodes]}
        basis["los_method"] = f"bootstrap of {len(episodes)} finished episodes"
    elif episodes:
        median = float(run_query(engine, MetricQuery(metric="ic_length_of_stay_days", at=at, from_=los_from, to=today,
                                                     where=where)).total() or episodes[len(episodes) // 2])
        mean = sum(episodes) / len(episodes)
        los = {"lognormal": lognormal_from_median_mean(median, mean)}
        basis["los_method"] = (f"only {len(episodes)} finished episodes (fewer than {MIN_EPISODES}): a lognormal "
                               f"from their median {median:g} and mean {mean:.1f} days")
    else:
        los = {"lognormal": lognormal_from_median_mean(28.0, 28.0)}
        basis["los_method"] = ("no finished episodes in six months: an assumed lognormal with median 28 days "
                               f"and σ {FALLBACK_SDLOG} — set the length of stay by hand")
    if capacity <= 0:
        basis["capacity_note"] = "no service of this pathway in this HWB reports capacity now: set it by hand"
    return {"start": today.isoformat(), "days": days, "arrivals": arrivals,
            "capacity": max(int(round(capacity)), 1), "occupied": int(round(occupied)), "waiting": int(round(waiting)),
            "los": los, "runs": DEFAULT_RUNS, "seed": 1, "basis": basis}


def weekday_means(counts_by_day: Sequence[tuple[date, float]]) -> list[float]:
    """Mean count per weekday (Monday first) over the given days: the outlook's and the planner's arrivals."""
    sums, days = [0.0] * 7, [0] * 7
    for day, count in counts_by_day:
        sums[day.weekday()] += count
        days[day.weekday()] += 1
    return [sums[i] / days[i] if days[i] else 0.0 for i in range(7)]


def outlook_inputs(where: Mapping[str, tuple[str, ...]], at: datetime | None = None,
                   engine: Engine | None = None) -> dict[str, Any]:
    """Per pathway: people waiting now and the last 4 weeks' ready and discharge weekday means, for the outlook."""
    from models.access import restrict
    engine = engine or get_engine()
    # The two case reads below are not metrics: they get the scope here (ICB / place become the HWBs allowed).
    where = restrict(engine, where)
    at = at or datetime.now(timezone.utc)
    today = london_date_of(at)
    from_ = today - timedelta(weeks=OUTLOOK_WEEKS)
    out: dict[str, Any] = {"from": from_.isoformat(), "to": today.isoformat(), "pathways": {}}
    for p in PATHWAYS:
        scoped = {**{k: v for k, v in where.items() if k != "pathway"}, "pathway": (p,)}
        out["pathways"][p] = {
            "waiting": _total(engine, "nctr_count", scoped, at),
            "ready": weekday_means(ready_by_day(engine, scoped, from_, today)),
            "discharged": weekday_means(daily_counts(engine, "discharges", scoped, from_, today, at)),
        }
    return out
