"""The planner page's pure parts: what-ifs from the controls' values, and the CSV of a comparison."""
from __future__ import annotations

import csv
import io
from typing import Any

from planner.scenario import adjusted

WHAT_IFS = 3
FIELDS = ("c", "dc", "d", "l")  # capacity (absolute), capacity ± places, demand ± %, length of stay ± %


def what_ifs(base: dict[str, Any], values: dict[str, Any], weeks: int) -> list[tuple[str, dict[str, Any]]]:
    """("As now", base) and the what-ifs set in the controls, as scenario bodies over `weeks`."""
    out = [("As now", adjusted(base, days=weeks * 7))]
    for i in range(1, WHAT_IFS + 1):
        c, dc, d, los = (values.get(f"{k}{i}") for k in FIELDS)
        if all(v in (None, "") for v in (c, dc, d, los)):
            continue
        words = [f"capacity {int(c)}" if c not in (None, "") else "",
                 f"{int(dc):+d} places" if dc not in (None, "", 0) else "",
                 f"demand {float(d):+g}%" if d not in (None, "", 0) else "",
                 f"stay {float(los):+g}%" if los not in (None, "", 0) else ""]
        out.append((f"What-if {i}: " + ", ".join(w for w in words if w),
                    adjusted(base, capacity=int(c) if c not in (None, "") else None, capacity_change=int(dc or 0),
                             demand_pct=float(d or 0), los_pct=float(los or 0), days=weeks * 7)))
    return out


def result_csv(results: list[dict[str, Any]]) -> str:
    """One row per scenario and day: the four measures' mean, p05, p50, p95."""
    out = io.StringIO()
    writer = csv.writer(out)
    measures = ("occupied", "waiting", "admitted", "wait_days")
    writer.writerow(["scenario", "date", *[f"{m}_{s}" for m in measures for s in ("mean", "p05", "p50", "p95")]])
    for item in results:
        for day in item["result"]["days"]:
            writer.writerow([item["label"], day["date"],
                             *[day[m][s] for m in measures for s in ("mean", "p05", "p50", "p95")]])
    return out.getvalue()
