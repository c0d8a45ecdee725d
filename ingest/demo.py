"""`python app.py demo`: write the demo integrated care system's history as feed files.

Files, in `<data dir>/demo/`:
- `vacancy.csv`: every capacity report since the world's start;
- `hub_cases.csv`: each case's current state as at now, one row per case;
- `state.json`: the seed and the start instant, from which the live feeds
  (`ingest.demo_live`) re-create and continue the same world.

The start is a London midnight, and a re-run with the same seed and days
keeps the recorded start, so re-running `demo` re-writes the same world
(the ingest road then finds nothing new) instead of inventing another.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ingest.demo_csv import hub_cases_csv, utc_z, vacancy_csv
from ingest.demo_sim import DAY, LONDON, Simulation
from models import settings
from models.progress import Stages

STATE_FILE = "state.json"


@dataclass(frozen=True)
class DemoState:
    seed: int
    start: float  # POSIX seconds
    days: int

    def to_json(self) -> str:
        return json.dumps({"seed": self.seed, "start": utc_z(self.start), "days": self.days}, indent=2) + "\n"

    @classmethod
    def read(cls, path: Path) -> "DemoState":
        raw = json.loads(path.read_text())
        start = datetime.strptime(raw["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return cls(seed=int(raw["seed"]), start=start.timestamp(), days=int(raw["days"]))


@dataclass(frozen=True)
class DemoWritten:
    out_dir: Path
    state: DemoState
    services: int
    reports: int
    cases: int
    discharged: int


def demo_dir(data_dir: Path) -> Path:
    return data_dir / "demo"


def start_for(days: int, now: float) -> float:
    """London midnight `days` days before today: the history is whole days."""
    today = datetime.fromtimestamp(now, LONDON).date() - timedelta(days=days)
    return datetime(today.year, today.month, today.day, tzinfo=LONDON).timestamp()


def _state_for(out_dir: Path, days: int, seed: int, now: float) -> DemoState:
    path = out_dir / STATE_FILE
    if path.exists():
        try:
            kept = DemoState.read(path)
        except (ValueError, KeyError):
            kept = None
        if kept is not None and kept.seed == seed and kept.days == days and kept.start <= now:
            return kept
    return DemoState(seed=seed, start=start_for(days, now), days=days)


def write_demo(out_dir: Path, days: int, seed: int, now: float, progress: Stages | None = None) -> DemoWritten:
    """Simulate from the (kept or new) start to `now` and write the three files."""
    if days < 1:
        raise ValueError("days must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    state = _state_for(out_dir, days, seed, now)
    if progress is not None:
        progress.stage(f"simulating {(now - state.start) / DAY:.0f} days (seed {state.seed})")
    sim = Simulation(state.seed, state.start)
    sim.advance_to(now)
    # Write-then-rename so a folder source or a reader never sees half a file.
    for name, text in (("vacancy.csv", vacancy_csv(sim.reports)),
                       ("hub_cases.csv", hub_cases_csv(sim.cases)),
                       (STATE_FILE, state.to_json())):
        if progress is not None:
            progress.stage(f"writing {name}")
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out_dir / name)
    return DemoWritten(out_dir=out_dir, state=state, services=len(sim.services), reports=len(sim.reports),
                       cases=len(sim.cases), discharged=sum(1 for c in sim.cases if c.discharged_at is not None))


def run_demo_command(days: int = 90, seed: int = 7) -> int:
    with Stages("demo", 4) as progress:
        written = write_demo(demo_dir(settings.data_dir()), days=days, seed=seed, now=time.time(),
                             progress=progress)
    span = (time.time() - written.state.start) / DAY
    print(f"demo world (seed {written.state.seed}) from {utc_z(written.state.start)}, {span:.1f} days:")
    print(f"  {written.out_dir / 'vacancy.csv'}: {written.reports} reports from {written.services} services")
    print(f"  {written.out_dir / 'hub_cases.csv'}: {written.cases} cases ({written.discharged} discharged)")
    print(f"  {written.out_dir / STATE_FILE}")
    return 0
