"""Benchmark: export 1.5 million hub cases over HTTP from a real server; time and server memory.

    .venv/bin/python bench/export.py [--rows 1500000] [--formats csv,parquet,json,xlsx]

Builds a DuckDB store in a temporary folder (its own data generator, in SQL),
starts `python app.py serve --no-scheduler` on a free port as a separate
process, downloads `/api/export/cases?format=…` while sampling the server's
resident memory (VmRSS) every 50 ms, and prints, per format: rows, bytes,
seconds, and the peak RSS growth over the server's warmed-up baseline.
Target: growth ≤ 300 MB (the export streams; it never holds all rows).
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_MB = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def build_store(url: str, rows: int) -> None:
    """1.5 M cases across West Yorkshire's five HWBs, spread over two years, in one INSERT … SELECT."""
    import sqlalchemy as sa

    from models import db

    engine = db.init_store(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"""
            INSERT INTO hub_case
            SELECT 'HUB' || (i % 3) AS hub_id, 'C' || lpad(CAST(i AS VARCHAR), 8, '0') AS case_id,
                   md5('person' || CAST(i % 900000 AS VARCHAR)) || md5(CAST(i % 900000 AS VARCHAR)) AS person_id,
                   18 + (i * 7919) % 85 AS age,
                   ['E08000032','E08000033','E08000034','E08000035','E08000036'][1 + i % 5] AS hwb_code,
                   ['RAE','RR8','RWY','RXF','RCF'][1 + (i // 5) % 5] || '01' AS acute_site_code,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40) SECOND AS admitted_at,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40 + 86400) SECOND AS referred_at,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40 + 3 * 86400) SECOND AS discharge_ready_at,
                   i % 4 AS pathway,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40 + 2 * 86400) SECOND AS pathway_decided_at,
                   CASE WHEN i % 3 = 0 THEN 'P2_BED' END AS delay_reason,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40 + (4 + i % 9) * 86400) SECOND AS discharged_at,
                   'SVC' || (i % 40) AS destination_service_id,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40 + (4 + i % 9) * 86400) SECOND AS ic_started_at,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40 + (30 + i % 20) * 86400) SECOND AS ic_ended_at,
                   'home_with_care' AS ic_outcome, NULL AS readmitted_at, 'at_home' AS status_91d,
                   TIMESTAMP '2023-01-01 00:00' + INTERVAL (i * 40 + 60 * 86400) SECOND AS updated_at,
                   1 AS run_id
            FROM range({rows}) t(i)
        """))
    db.dispose_all()


def download(url: str, pid: int, baseline: float) -> tuple[int, float, float]:
    """(bytes, seconds, peak RSS growth MB) for one streamed download."""
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    size = 0
    with requests.get(url, stream=True, timeout=3600) as r:
        r.raise_for_status()
        for block in r.iter_content(1 << 20):
            size += len(block)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    return size, seconds, peak[0] - baseline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--formats", default="csv,parquet")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="homeward-bench-export-"))
    url = f"duckdb:///{work / 'homeward.duckdb'}"
    env = {**os.environ, "HOMEWARD_DATA_DIR": str(work), "HOMEWARD_DB_URL": url, "HOMEWARD_DEMO": "0",
           "HOMEWARD_PSEUDO_KEY": "bench-key", "HOMEWARD_LOG_LEVEL": "WARNING"}
    os.environ.update({k: env[k] for k in ("HOMEWARD_DATA_DIR", "HOMEWARD_DB_URL", "HOMEWARD_PSEUDO_KEY")})
    t0 = time.perf_counter()
    build_store(url, args.rows)
    print(f"store: {args.rows:,} cases built in {time.perf_counter() - t0:.1f}s ({work})")
    port = _free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--no-scheduler", "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    failed = False
    try:
        deadline = time.time() + 120
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("server did not start: " + (server.stderr.read().decode()[-2000:] if server.stderr else ""))
            time.sleep(0.3)
        # warm up: imports, pool, a small export in each format
        for fmt in args.formats.split(","):
            requests.get(f"{base}/api/export/cases?limit=1000&format={fmt}", timeout=60).raise_for_status()
        print(f"{'format':8} {'rows':>10} {'MB':>9} {'seconds':>8} {'rows/s':>9} {'RSS base':>9} {'RSS growth':>11}")
        for fmt in args.formats.split(","):
            baseline = rss_mb(server.pid)
            size, seconds, growth = download(f"{base}/api/export/cases?format={fmt}", server.pid, baseline)
            ok = growth <= TARGET_MB
            failed |= not ok
            print(f"{fmt:8} {args.rows:>10,} {size / 1e6:>9.1f} {seconds:>8.1f} {args.rows / seconds:>9,.0f} "
                  f"{baseline:>7.0f}MB {growth:>8.0f} MB {'ok' if ok else 'OVER TARGET'}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"target: server RSS growth <= {TARGET_MB:.0f} MB per export")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
