"""The planner against the published IPACS bed-based model (tests/fixtures/ipacs, MIT): where capacity binds,
our mean queue lies within IPACS's run-to-run spread.

Known differences (IPACS quirks, see its code `functions/bed_functions.R`): IPACS fills free places at the
start only from new arrivals (its initial queue waits for a departure), so its first days keep the whole
initial queue; and its daily figure weights an event by (t − t_prev)/t, close to the value at the day's first
event rather than a time-weighted mean. P2_SG (ρ = 1.19) drifts above IPACS's 5-run mean after the first
month: our queue grows 0.36 a day, the fluid rate λ − c/E[L] = 2.14 − 61/34.06 = 0.35 a day, where IPACS's
grows 0.25 a day (cause not found in its code); their mean stays inside our 5–95 % band throughout.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from planner.engine import run_arrays
from planner.scenario import parse_scenario

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ipacs"
NODES = ("P2_B_BCap_Blos_BArr", "P2_SG_BCap_Blos_BArr", "P3_B_BCap_Blos_BArr")


def _reference() -> dict[tuple[str, str], np.ndarray]:
    """(node, measure) -> array days × (q05, q95, mean)."""
    rows: dict[tuple[str, str], list[tuple[int, float, float, float]]] = {}
    with open(FIXTURES / "stochastic_bed_output.csv", newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault((r["node_name"], r["measure"]), []).append(
                (int(r["time"]), float(r["q05"]), float(r["q95"]), float(r["mean"])))
    # IPACS writes times 0..181; 0..180 are the 181 days of its inputs
    return {k: np.array([r[1:] for r in sorted(v)][:181]) for k, v in rows.items()}


@pytest.fixture(scope="module")
def ours() -> dict[str, dict[str, np.ndarray]]:
    inputs = json.loads((FIXTURES / "bed_inputs.json").read_text())
    out = {}
    for node in NODES:
        n = inputs[node]
        scenario = parse_scenario({"start": n["start"], "days": len(n["arrivals"]), "arrivals": n["arrivals"],
                                   "capacity": n["capacity"], "occupied": n["occupied"], "waiting": n["waiting"],
                                   "los": {"lognormal": {"meanlog": n["los"]["meanlog"], "sdlog": n["los"]["sdlog"]}},
                                   "runs": 200, "seed": 1})
        out[node] = run_arrays(scenario)
    return out


def test_fixture_is_the_published_run() -> None:
    ref = _reference()
    assert ref[("P2_B_BCap_Blos_BArr", "niq")].shape == (181, 3)
    assert ref[("P2_B_BCap_Blos_BArr", "niq")][0].tolist() == [31, 31, 31]  # the initial queue, as input
    assert ref[("P3_B_BCap_Blos_BArr", "occ")][180].tolist() == [72, 72, 72]  # full at capacity 72


@pytest.mark.parametrize("node", ["P2_B_BCap_Blos_BArr", "P3_B_BCap_Blos_BArr"])
def test_queue_within_ipacs_run_to_run_spread(ours: dict, node: str) -> None:
    ref = _reference()[(node, "niq")]
    mean = ours[node]["waiting"].mean(axis=0)
    days = slice(3, None)  # IPACS keeps its initial queue whole for the first days (see the module note)
    inside = (ref[days, 0] - 1 <= mean[days]) & (mean[days] <= ref[days, 1] + 1)
    assert inside.mean() >= 0.95, np.flatnonzero(~inside)
    # the queue at six months, ours vs IPACS's mean: P2_B 120.6 vs 128.7, P3_B 161.7 vs 159.4
    assert mean[180] == pytest.approx(ref[180, 2], rel=0.10)


@pytest.mark.parametrize("node", NODES)
def test_ipacs_mean_within_our_spread_and_occupancy_at_capacity(ours: dict, node: str) -> None:
    ref_q, ref_o = _reference()[(node, "niq")], _reference()[(node, "occ")]
    p05, p95 = np.percentile(ours[node]["waiting"], [5, 95], axis=0)
    days = slice(3, None)  # as above: IPACS's initial queue waits for departures
    assert ((p05[days] <= ref_q[days, 2]) & (ref_q[days, 2] <= p95[days])).all()
    occupied = ours[node]["occupied"].mean(axis=0)
    # from the second month both hold the places full: equal to IPACS's mean occupancy within half a place
    assert np.abs(occupied[30:] - ref_o[30:, 2]).max() < 0.5


def test_p2_sg_queue_grows_at_the_fluid_rate(ours: dict) -> None:
    inputs = json.loads((FIXTURES / "bed_inputs.json").read_text())["P2_SG_BCap_Blos_BArr"]
    lam = sum(inputs["arrivals"]) / len(inputs["arrivals"])
    fluid = lam - inputs["capacity"] / inputs["los"]["mean"]  # arrivals − departures of a full unit, per day
    assert fluid == pytest.approx(0.35, abs=0.01)
    mean = ours["P2_SG_BCap_Blos_BArr"]["waiting"].mean(axis=0)
    assert (mean[180] - mean[30]) / 150 == pytest.approx(fluid, rel=0.15)
