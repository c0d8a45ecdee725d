"""Planner engine speed (issue 15): 200 runs × 182 days of a busy node (≈ 10 arrivals a day, 100 places),
target ≤ 1 s on one core. Prints the best and median of a few repeats, and a capacity search's cost.

    .venv/bin/python bench/planner.py [--repeats N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the target says
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from planner.engine import simulate  # noqa: E402
from planner.scenario import parse_scenario  # noqa: E402

BUSY = {"start": "2023-01-01", "days": 182, "arrivals": [9, 11, 11, 10, 12, 9, 8], "capacity": 100,
        "occupied": 97, "waiting": 31, "los": {"lognormal": {"meanlog": 2.1, "sdlog": 0.6}}, "runs": 200, "seed": 1}


def _time(body: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one simulate(); CPU time says what one core costs on a shared machine."""
    scenario = parse_scenario(body)
    t0, c0 = time.perf_counter(), time.process_time()
    simulate(scenario)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for label, body in [("busy node, 100 places constant", BUSY),
                        ("busy node, capacity per day (100 then 110)", {**BUSY, "capacity": [100] * 91 + [110] * 91}),
                        ("bootstrap LOS (500 samples)", {**BUSY, "los": {"samples": [float(1 + i % 20) for i in range(500)]}})]:
        walls, cpus = zip(*[_time(body) for _ in range(args.repeats)])
        print(f"{label}: wall best {min(walls):.3f} s, median {statistics.median(walls):.3f} s; "
              f"CPU best {min(cpus):.3f} s, median {statistics.median(cpus):.3f} s over {args.repeats} (target <= 1 s)")


if __name__ == "__main__":
    main()
