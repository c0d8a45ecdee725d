"""Rates per 100,000 population: a count from the metrics layer over the HWBs' residents.

A case belongs to the HWB of the person's residence (shared/spec/metrics.md), so a count split `by=hwb`
divided by that HWB's population (`Geography.hwbs[code].population`, ONS mid-2020 via mySociety, see
models/reference/README.md) compares areas of different sizes: 10 waiting in 50,000 people (20.0) is more
pressure than 30 in 300,000 (10.0). The count is the registry's own; only the division happens here.
"""
from __future__ import annotations

from typing import Any

from models.geography import Geography
from models.query import MetricResult

PER = 100_000


def per_100k(result: MetricResult, geo: Geography) -> list[dict[str, Any]]:
    """A `by=hwb` count as rows like the metrics layer's: `value` per 100,000 residents, `numerator` the
    count, `denominator` the population. An HWB with no population loaded has no value (never 0)."""
    if "hwb" not in result.query.by:
        raise ValueError(f"{result.metric}: a rate per 100,000 population needs by=hwb")
    out = []
    for row in result.rows:
        hwb = geo.hwbs.get(str(row.get("hwb")))
        count, population = row.get("value"), hwb.population if hwb else None
        value = None if count is None or not population else float(count) * PER / population
        out.append({**row, "value": value, "numerator": count, "denominator": population})
    return out


def highest_per_100k(result: MetricResult, geo: Geography, n: int = 3) -> list[dict[str, Any]]:
    """The `n` HWBs with the highest rate (above 0), highest first; ties by HWB code."""
    rows = [r for r in per_100k(result, geo) if r["value"]]
    return sorted(rows, key=lambda r: (-r["value"], str(r["hwb"])))[:n]
