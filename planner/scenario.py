"""The planner's scenario: its JSON shape (issue 15, "Contract"), checked once here."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

MAX_DAYS = 730
MAX_RUNS = 2000
MAX_CAPACITY = 100_000
MAX_ARRIVALS_PER_DAY = 10_000


class ScenarioError(ValueError):
    """The scenario is invalid; the message is one line naming what is wrong."""


@dataclass(frozen=True)
class Los:
    """Length of stay in days: a lognormal (meanlog, sdlog) or an empirical sample drawn with replacement."""
    meanlog: float | None = None
    sdlog: float | None = None
    samples: tuple[float, ...] | None = None

    @property
    def mean(self) -> float:
        if self.samples is not None:
            return sum(self.samples) / len(self.samples)
        return math.exp(self.meanlog + self.sdlog ** 2 / 2)  # type: ignore[operator]  # without samples both are set

    def as_json(self) -> dict[str, Any]:
        if self.samples is not None:
            return {"samples": list(self.samples)}
        return {"lognormal": {"meanlog": self.meanlog, "sdlog": self.sdlog}}


@dataclass(frozen=True)
class Scenario:
    start: date
    days: int
    arrivals: tuple[float, ...]   # λ per day, one per day of the horizon (a weekly pattern is expanded)
    capacity: tuple[int, ...]     # places per day of the horizon
    occupied: int
    waiting: int
    los: Los
    runs: int
    seed: int

    def as_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "days": self.days, "arrivals": list(self.arrivals),
                "capacity": list(self.capacity), "occupied": self.occupied, "waiting": self.waiting,
                "los": self.los.as_json(), "runs": self.runs, "seed": self.seed}


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"{name} must be a finite number, not {value!r}")
    return float(value)


def _count(value: Any, name: str, low: int, high: int) -> int:
    number = _number(value, name)
    if number != int(number):
        raise ScenarioError(f"{name} must be a whole number, not {value!r}")
    if not low <= number <= high:
        raise ScenarioError(f"{name} must be between {low} and {high}, not {int(number)}")
    return int(number)


def _per_day(value: Any, name: str, days: int, weekday0: int) -> list[float]:
    """One value per day of the horizon, from a scalar, 7 values (Monday first) or one per day."""
    if not isinstance(value, (list, tuple)):
        return [_number(value, name)] * days
    if len(value) == 0:
        raise ScenarioError(f"{name} must not be empty")
    values = [_number(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if len(values) == 7 and days != 7:
        return [values[(weekday0 + d) % 7] for d in range(days)]
    if len(values) != days:
        raise ScenarioError(f"{name} must have 7 values (Monday first) or one per day ({days}), not {len(values)}")
    return values


def _los(value: Any) -> Los:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ScenarioError('los must be {"lognormal": {"meanlog": m, "sdlog": s}} or {"samples": [days, ...]}')
    (kind, body), = value.items()
    if kind == "lognormal":
        if not isinstance(body, Mapping) or set(body) != {"meanlog", "sdlog"}:
            raise ScenarioError("los.lognormal needs exactly meanlog and sdlog")
        meanlog, sdlog = _number(body["meanlog"], "los.lognormal.meanlog"), _number(body["sdlog"], "los.lognormal.sdlog")
        if sdlog < 0 or meanlog > 10:
            raise ScenarioError("los.lognormal needs sdlog >= 0 and meanlog <= 10")
        return Los(meanlog=meanlog, sdlog=sdlog)
    if kind == "samples":
        if not isinstance(body, (list, tuple)) or not body:
            raise ScenarioError("los.samples must be a non-empty list of days")
        samples = tuple(_number(v, f"los.samples[{i}]") for i, v in enumerate(body))
        if min(samples) < 0 or max(samples) <= 0:
            raise ScenarioError("los.samples must be >= 0 days with at least one above 0")
        return Los(samples=samples)
    raise ScenarioError(f"unknown length of stay distribution {kind!r} (lognormal or samples)")


def parse_scenario(body: Any) -> Scenario:
    """A checked Scenario from the JSON body; ScenarioError (one line) when anything is invalid."""
    if not isinstance(body, Mapping):
        raise ScenarioError("the scenario must be a JSON object")
    known = {"start", "days", "arrivals", "capacity", "occupied", "waiting", "los", "runs", "seed"}
    missing = sorted(k for k in ("start", "days", "arrivals", "capacity", "los") if k not in body)
    if missing:
        raise ScenarioError(f"missing {', '.join(missing)}")
    unknown = sorted(set(body) - known - {"basis"})  # basis: how /api/plan/inputs filled it in; not used
    if unknown:
        raise ScenarioError(f"unknown field {unknown[0]!r}")
    try:
        start = date.fromisoformat(str(body["start"]))
    except ValueError:
        raise ScenarioError(f"start must be a date YYYY-MM-DD, not {body['start']!r}") from None
    days = _count(body["days"], "days", 1, MAX_DAYS)
    arrivals = _per_day(body["arrivals"], "arrivals", days, start.weekday())
    if min(arrivals) < 0 or max(arrivals) > MAX_ARRIVALS_PER_DAY:
        raise ScenarioError(f"arrivals must be between 0 and {MAX_ARRIVALS_PER_DAY} a day")
    capacity = _per_day(body["capacity"], "capacity", days, start.weekday())
    capacity_ints = [_count(c, "capacity", 0, MAX_CAPACITY) for c in capacity]
    if max(capacity_ints) == 0:
        raise ScenarioError("capacity must be above 0 on at least one day")
    return Scenario(start=start, days=days, arrivals=tuple(arrivals), capacity=tuple(capacity_ints),
                    occupied=_count(body.get("occupied", 0), "occupied", 0, MAX_CAPACITY),
                    waiting=_count(body.get("waiting", 0), "waiting", 0, MAX_CAPACITY),
                    los=_los(body["los"]), runs=_count(body.get("runs", 200), "runs", 1, MAX_RUNS),
                    seed=_count(body.get("seed", 1), "seed", 0, 2 ** 32 - 1))


def adjusted(body: Mapping[str, Any], *, capacity: int | None = None, capacity_change: int = 0,
             demand_pct: float = 0.0, los_pct: float = 0.0, days: int | None = None) -> dict[str, Any]:
    """A what-if of a scenario body: capacity set (or changed by ± places), arrivals and lengths of stay
    scaled by ± %; the seed is kept, so the what-if shares the base's random numbers."""
    out = dict(body)
    out.pop("basis", None)
    if days is not None:
        out["days"] = days
    base_capacity = out["capacity"] if capacity is None else capacity
    if isinstance(base_capacity, list):
        out["capacity"] = [max(0, int(c) + capacity_change) for c in base_capacity]
    else:
        out["capacity"] = max(0, int(base_capacity) + capacity_change)
    factor = 1 + demand_pct / 100
    arrivals = out["arrivals"]
    out["arrivals"] = [a * factor for a in arrivals] if isinstance(arrivals, list) else arrivals * factor
    los = out["los"]
    if los_pct:
        if "lognormal" in los:
            out["los"] = {"lognormal": {"meanlog": los["lognormal"]["meanlog"] + math.log(1 + los_pct / 100),
                                        "sdlog": los["lognormal"]["sdlog"]}}
        elif "samples" in los:
            out["los"] = {"samples": [s * (1 + los_pct / 100) for s in los["samples"]]}
    return out
