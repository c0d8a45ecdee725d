"""Ingest benchmark: one million vacancy rows and one million hub case rows through the real road.

The deliveries are realistic (tests/fixtures/ingest/realistic.py): optional columns blank where a
live case or report has no value, and earlier versions of cases re-sent beside their latest.

    .venv/bin/python bench/ingest.py [--rows N]

Generates both CSVs in a temporary folder, ingests each into a fresh DuckDB
file with `ingest.base.run_feed` in its own child process, and prints rows/s,
CPU seconds and that process's peak memory (ru_maxrss, the whole process). Targets on 2 cores: vacancy >= 200,000 rows/s, hub cases
>= 100,000 rows/s (including pseudonymisation), peak memory <= 1 GB.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.ingest.realistic import write_cases, write_vacancy  # noqa: E402


def ingest_one(feed: str, path: str, rows: int) -> int:
    """In a child process: ingest one file and print its figures, including this process's peak memory."""
    from ingest.base import run_feed
    from models.db import get_engine

    engine = get_engine()
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = run_feed(engine, feed, path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert summary.status == "ok" and summary.rows_loaded == rows, summary.to_json()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{feed:10s} {rows:>9,d} rows {Path(path).stat().st_size / 1e6:7.1f} MB "
          f"{seconds:6.2f} s {rows / seconds:>10,.0f} rows/s  (cpu {cpu:5.2f} s)  peak memory {peak_mb:,.0f} MB"
          f"  load {os.getloadavg()[0]:.2f}", flush=True)  # the machine's 1-minute load: wall time is only fair when idle
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("FEED", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return ingest_one(args.child[0], args.child[1], args.rows)
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp:
        os.environ["HOMEWARD_DATA_DIR"] = str(Path(tmp) / "data")
        os.environ["HOMEWARD_DB_URL"] = f"duckdb:///{tmp}/bench.duckdb"
        os.environ.setdefault("HOMEWARD_PSEUDO_KEY", "bench-key")
        from models.db import dispose_all, init_store

        init_store()
        dispose_all()  # DuckDB allows one writing process per file: the children take turns
        for feed, writer in (("vacancy", write_vacancy), ("hub_cases", write_cases)):
            path = Path(tmp) / f"{feed}.csv"
            writer(path, args.rows)
            # Each feed runs in a fresh process, so its peak memory (ru_maxrss: everything the
            # process ever held, store included) is its own and not the generator's or the other feed's.
            subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--child", feed, str(path)],
                           check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
