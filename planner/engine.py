"""Discrete-event simulation of one service group, vectorised across runs (issue 15, "Engine").

Model: arrivals are Poisson per day with their times uniform within the day; `capacity[d]` places;
first come, first served; nobody leaves the queue; each person stays a length of stay (LOS) drawn from
the scenario's distribution. People in service at the start stay a further U·L days (U uniform on 0–1,
L a LOS draw); people waiting at the start are at the head of the queue (their wait counts from day 0).

Each run is a multi-server FCFS queue solved person by person (Kiefer–Wolfowitz: the next person in the
queue takes the place that frees first, not before they arrive), all runs at once as numpy arrays.
Place j is open on the days when capacity > j, so a cut in capacity closes places as they empty and
nobody is turned out. Every run draws from its own random streams (arrival counts by inverse transform,
arrival times, LOS, the stay left of those in service), so two scenarios with the same seed share their
random numbers person by person: a difference between them is the scenario's, not noise.
"""
from __future__ import annotations

import math
import warnings
from datetime import timedelta
from typing import Any

import numpy as np

from planner.scenario import Scenario

QUANTILES = (5, 50, 95)
# Poisson counts above this λ are drawn directly: the inverse transform would loop too long.
_INVERSE_POISSON_MAX = 500.0


def _poisson_inverse(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts from uniforms by inverse transform: monotone in λ, so demand +10% keeps its runs' luck."""
    k = np.zeros(u.shape, dtype=np.int64)
    p = np.exp(-lam)
    cdf = p.copy()
    more = u > cdf
    step = 0
    while more.any():
        step += 1
        p = p * lam / step
        cdf = cdf + p
        k += more
        more &= u > cdf
        if step > 10_000:  # rounding left a tail the CDF cannot reach
            break
    return k


class _Draws:
    """The random numbers of the runs, one set of streams per run so that prefixes agree across scenarios."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        runs = np.random.SeedSequence(scenario.seed).spawn(scenario.runs)
        self.streams = [[np.random.Generator(np.random.PCG64(s)) for s in run.spawn(4)] for run in runs]

    def arrival_counts(self, lam: np.ndarray) -> np.ndarray:
        days = len(lam)
        u = np.stack([count.random(days) for count, _, _, _ in self.streams])
        big = lam > _INVERSE_POISSON_MAX
        counts = _poisson_inverse(u, np.where(big, 0.0, lam)[None, :].repeat(len(u), 0))
        if big.any():
            counts[:, big] = np.stack([s[0].poisson(lam[big]) for s in self.streams])
        return counts

    def within_day(self, counts: np.ndarray, width: int) -> np.ndarray:
        """Arrival times (days from the start), sorted, padded with +inf to `width` per run."""
        times = np.full((len(counts), width), np.inf)
        for r, (_, stream, _, _) in enumerate(self.streams):
            n = int(counts[r].sum())
            day = np.repeat(np.arange(counts.shape[1], dtype=np.float64), counts[r])
            times[r, :n] = np.sort(day + stream.random(n))
        return times

    def los(self, width: int) -> np.ndarray:
        return np.stack([_los_draws(self.scenario, s[2], width) for s in self.streams])

    def stay_left(self, occupied: int) -> np.ndarray:
        """U·L for those in service at the start."""
        if occupied == 0:
            return np.zeros((len(self.streams), 0))
        return np.stack([s[3].random(occupied) * _los_draws(self.scenario, s[3], occupied) for s in self.streams])


def _los_draws(scenario: Scenario, stream: np.random.Generator, n: int) -> np.ndarray:
    los = scenario.los
    if los.samples is not None:
        samples = np.asarray(los.samples, dtype=np.float64)
        return samples[np.minimum((stream.random(n) * len(samples)).astype(np.int64), len(samples) - 1)]
    return np.exp(los.meanlog + los.sdlog * stream.standard_normal(n))


def _open_from(capacity: np.ndarray, places: int) -> np.ndarray:
    """open_from[j, d]: the first day >= d on which place j is open (capacity > j); days+1 means never."""
    days = len(capacity)
    cap = np.append(capacity, capacity[-1])  # after the horizon capacity stays as on its last day
    is_open = cap[None, :] > np.arange(places)[:, None]
    out = np.full((places, days + 2), days + 1, dtype=np.int64)
    for d in range(days, -1, -1):
        out[:, d] = np.where(is_open[:, d], d, out[:, d + 1])
    return out


def _serve(arrive: np.ndarray, los: np.ndarray, free: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Start times of service, FCFS, for persons in queue order (columns) across runs (rows)."""
    runs, persons = arrive.shape
    start = np.empty_like(arrive)
    rows = np.arange(runs)
    constant = bool((capacity == capacity[0]).all()) and free.shape[1] <= capacity[0]
    if constant:
        for n in range(persons):
            slot = free.argmin(axis=1)
            s = np.maximum(arrive[:, n], free[rows, slot])
            start[:, n] = s
            free[rows, slot] = s + los[:, n]
        return start
    days = len(capacity)
    open_from = _open_from(capacity, free.shape[1])
    cap_by_day = np.concatenate([capacity, capacity[-1:], [0]])  # day `days` = after the horizon; days+1 = never
    rising = bool((np.diff(capacity) >= 0).all())
    first_open = np.where(open_from[:, 0] > days, np.inf, open_from[:, 0]).astype(np.float64)[None, :]
    places = np.arange(free.shape[1])[None, :]
    previous = np.zeros(runs)
    for n in range(persons):
        ready = np.maximum(arrive[:, n][:, None], free)
        if rising:  # each place is open from its first day on: one bound per place
            ready = np.maximum(ready, first_open)
        else:
            day = np.where(np.isfinite(ready), np.minimum(ready, days), days + 1).astype(np.int64)
            shut = cap_by_day[day] <= places  # closed on the day it frees: wait for it to open again
            if shut.any():
                rows_shut, places_shut = np.nonzero(shut)
                opens = open_from[places_shut, day[rows_shut, places_shut]].astype(np.float64)
                opens[opens > days] = np.inf
                ready[rows_shut, places_shut] = opens
        slot = ready.argmin(axis=1)
        s = np.maximum(ready[rows, slot], previous)  # first come, first served even as places open and close
        start[:, n] = s
        previous = np.where(np.isfinite(s), s, previous)
        free[rows, slot] = np.where(np.isfinite(s), s + los[:, n], free[rows, slot])
    return start


def _daily_mean(times: np.ndarray, signs: np.ndarray, days: int) -> np.ndarray:
    """Time-weighted mean over each day of a count that steps by `signs` at `times` (runs × days)."""
    runs = times.shape[0]
    finite = np.isfinite(times) & (times < days)
    day = np.where(finite, np.floor(np.where(finite, times, 0)), days).astype(np.int64)
    index = (day + np.arange(runs)[:, None] * (days + 1)).ravel()
    weight = np.where(finite, signs, 0.0)
    whole = np.bincount(index, weight.ravel(), runs * (days + 1)).reshape(runs, days + 1)[:, :days]
    part = np.bincount(index, (weight * np.where(finite, day + 1 - times, 0.0)).ravel(),
                       runs * (days + 1)).reshape(runs, days + 1)[:, :days]
    before = np.cumsum(whole, axis=1) - whole
    return np.round(before + part, 9) + 0.0  # sums of +1/−1 weights: drop the float dust (and −0)


def _nan_percentiles(values: np.ndarray, quantiles: tuple[int, ...]) -> np.ndarray:
    """np.nanpercentile's linear method along axis 0, vectorised (numpy's own goes column by column)."""
    ordered = np.sort(values, axis=0)  # NaN sort last
    n = (~np.isnan(values)).sum(axis=0)
    out = np.full((len(quantiles), values.shape[1]), np.nan)
    has = n > 0
    for i, q in enumerate(quantiles):
        pos = q / 100 * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        low = np.take_along_axis(ordered, lo[None, :], axis=0)[0]
        high = np.take_along_axis(ordered, hi[None, :], axis=0)[0]
        out[i] = np.where(has, low + (high - low) * (pos - lo), np.nan)
    return out


def _stats(values: np.ndarray) -> dict[str, list[float | None]]:
    """mean, p05, p50, p95 over runs (axis 0), ignoring runs without a value (nan)."""
    with warnings.catch_warnings():  # a day nobody was admitted in any run has no wait: None, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
    q = _nan_percentiles(values.astype(np.float64), QUANTILES)

    def tidy(a: np.ndarray) -> list[float | None]:
        return [None if math.isnan(x) else round(float(x), 3) for x in np.atleast_1d(a)]
    return {"mean": tidy(mean), "p05": tidy(q[0]), "p50": tidy(q[1]), "p95": tidy(q[2])}


def run_arrays(scenario: Scenario) -> dict[str, np.ndarray]:
    """The per-run daily arrays (runs × days): occupied, waiting, admitted, wait_days; and per-run totals."""
    days = scenario.days
    lam = np.asarray(scenario.arrivals, dtype=np.float64)
    capacity = np.asarray(scenario.capacity, dtype=np.int64)
    draws = _Draws(scenario)
    counts = draws.arrival_counts(lam)
    width = int(counts.sum(axis=1).max())
    runs = scenario.runs
    arrive = np.concatenate([np.zeros((runs, scenario.waiting)), draws.within_day(counts, width)], axis=1)
    los = draws.los(arrive.shape[1])
    stay_left = draws.stay_left(scenario.occupied)
    places = min(max(int(capacity.max()), scenario.occupied), scenario.occupied + arrive.shape[1])
    free = np.zeros((runs, max(places, 1)))
    # The longest stays take the lowest places: above capacity, the first to leave free places that stay
    # closed, so nobody is admitted until occupancy is under capacity.
    free[:, :scenario.occupied] = -np.sort(-stay_left, axis=1)
    start = _serve(arrive, los, free, capacity)
    end = start + los

    occ_times = np.concatenate([np.zeros_like(stay_left), stay_left, start, end], axis=1)
    occ_signs = np.concatenate([np.ones_like(stay_left), -np.ones_like(stay_left),
                                np.ones_like(start), -np.ones_like(end)], axis=1)
    occupied = _daily_mean(occ_times, occ_signs, days)
    waiting = _daily_mean(np.concatenate([arrive, start], axis=1),
                          np.concatenate([np.ones_like(arrive), -np.ones_like(start)], axis=1), days)
    admitted_mask = np.isfinite(start) & (start < days)
    day = np.where(admitted_mask, np.floor(np.where(admitted_mask, start, 0)), days).astype(np.int64)
    index = (day + np.arange(runs)[:, None] * (days + 1)).ravel()
    admitted = np.bincount(index, None, runs * (days + 1)).reshape(runs, days + 1)[:, :days]
    waited = np.where(admitted_mask, start - np.where(admitted_mask, arrive, 0.0), 0.0)
    wait_sum = np.bincount(index, waited.ravel(), runs * (days + 1)).reshape(runs, days + 1)[:, :days]
    with np.errstate(invalid="ignore", divide="ignore"):
        wait_days = np.where(admitted > 0, wait_sum / np.maximum(admitted, 1), np.nan)
        mean_wait = np.where(admitted.sum(axis=1) > 0, wait_sum.sum(axis=1) / np.maximum(admitted.sum(axis=1), 1),
                             np.nan)
    days_full = (occupied >= capacity[None, :] - 0.5).sum(axis=1).astype(np.float64)
    return {"occupied": occupied, "waiting": waiting, "admitted": admitted, "wait_days": wait_days,
            "waiting_at_end": waiting[:, -1], "days_full": days_full, "mean_wait_days": mean_wait}


def simulate(scenario: Scenario) -> dict[str, Any]:
    """The result JSON of issue 15: per-day stats over runs, a summary, runs and seed."""
    arrays = run_arrays(scenario)
    per_day = {name: _stats(arrays[name]) for name in ("occupied", "waiting", "admitted", "wait_days")}
    dates = [(scenario.start + timedelta(days=d)).isoformat() for d in range(scenario.days)]
    day_rows = [{"date": dates[d], **{name: {k: per_day[name][k][d] for k in ("mean", "p05", "p50", "p95")}
                                      for name in per_day}} for d in range(scenario.days)]
    summary = {}
    for name in ("waiting_at_end", "days_full", "mean_wait_days"):
        stats = _stats(arrays[name][:, None])
        summary[name] = {k: v[0] for k, v in stats.items()}
    return {"days": day_rows, "summary": summary, "runs": scenario.runs, "seed": scenario.seed}


def smallest_capacity(body: dict[str, Any], target: float, high: int | None = None) -> int | None:
    """The smallest constant capacity whose 95th-percentile queue stays at or under `target` on every day
    (bisection; with common random numbers the queue only falls as places are added). None if even `high`
    places (default: enough for everyone arriving) do not."""
    from planner.scenario import parse_scenario

    def ok(capacity: int) -> bool:
        arrays = run_arrays(parse_scenario({**body, "capacity": capacity}))
        return bool((np.percentile(arrays["waiting"], 95, axis=0) <= target + 1e-9).all())

    base = parse_scenario(body)
    if high is None:
        high = base.occupied + base.waiting + int(math.ceil(sum(base.arrivals) * 1.2)) + 1
    if not ok(high):
        return None
    low = 0
    while high - low > 1:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid
    return high if not ok(low) else low
