"""Benchmark of the dashboard at national scale (the page-speed issue's targets).

    .venv/bin/python bench/dashboard.py                 # both parts
    .venv/bin/python bench/dashboard.py --part pages    # (a) server time per page, cold and cached
    .venv/bin/python bench/dashboard.py --part load --warm-up 30 --duration 60 --walls 50 --analysts 10

Needs the national store from `bench/metrics.py` (bench/out/national.duckdb). It is copied to a
temporary folder first: starting the server loads the reference geography into the store.

Everyone signs in as they would on a real server (local sign-in, the default): the copy gets an
account and a wall token through the CLI (`app.py users add`, `app.py tokens create`), as an
administrator would make them; analysts and the per-page client sign in at /signin, and each wall
screen opens /wall?token=… once, all before anything is timed. The account is a case worker with
national scope: the role that sees every section (the list of people waiting too), so each page does
all the work it did before sign-in.

(a) For every page, the request the browser waits on after the shell: Dash's
`/_dash-update-component` call that renders the page for its URL (the pages
router callback), plus the wall's refresh tick, a filter change on the
overview and the export preview. Sent through Flask's test client in this
process (no network), so the time is the server's: the callback, the metrics
layer, and Dash serialising the answer. Cold = the query cache cleared before
each request (the store's own buffers stay warm); cached = the same request again.

(b) A real server (`python app.py serve --no-scheduler`) on 127.0.0.1 in a
subprocess, then N wall screens (each sends the wall's refresh tick, one in
flight at a time, every --wall-interval seconds: the browser's dcc.Interval,
compressed) and M analysts (a page load with varied filters, a filter change,
or an `/api/metrics` query, with a short think time). All of them start in the
same second against a server that has just started (nothing cached), run for
--warm-up seconds, then for --duration seconds more. The two are reported apart:
the first is a restart under full load (every wall's first load, the caches
filling); the second is the load itself, and the target is checked on it.

Targets: every page callback <= 300 ms cold and <= 20 ms cached; under the
load, p95 <= 300 ms and no errors.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCE = ROOT / "bench" / "out" / "national.duckdb"
AT = "2024-12-16T12:00"  # London; inside the generated year
COLD_TARGET_MS = 300.0
CACHED_TARGET_MS = 20.0
LOAD_P95_TARGET_MS = 300.0
PAGES = ("/", "/capacity", "/flow", "/delays", "/outcomes", "/benchmark", "/data", "/definitions", "/export", "/wall")
ICBS = ("QWO", "QOP", "QMF", "QHM", "QE1", "QKK")  # a few real ICBs (West Yorkshire, Greater Manchester, ...)
USER = "bench-user"
PASSWORD = "bench-password-not-secret"
WALL_TOKEN_NAME = "bench-wall"


# --- store and environment ---------------------------------------------------------------------

def prepare_store(workdir: Path) -> dict[str, str]:
    if not SOURCE.exists():
        sys.exit(f"{SOURCE} is missing: run `.venv/bin/python bench/metrics.py` first")
    target = workdir / "national.duckdb"
    t0 = time.perf_counter()
    shutil.copyfile(SOURCE, target)
    print(f"copied the national store to {target} in {time.perf_counter() - t0:.1f} s", flush=True)
    return {"HOMEWARD_DATA_DIR": str(workdir), "HOMEWARD_DB_URL": f"duckdb:///{target}",
            "HOMEWARD_PSEUDO_KEY": "bench-key-not-secret", "HOMEWARD_FEEDS": str(workdir / "feeds.toml"),
            "HOMEWARD_LOG_LEVEL": "WARNING", "HOMEWARD_AUTH": "local"}


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), *args], cwd=ROOT, env={**os.environ, **env},
                          input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"app.py {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout


def create_sign_ins(env: dict[str, str]) -> str:
    """The account and a wall token, made with the CLI before anything holds the store; the token."""
    t0 = time.perf_counter()
    _cli(env, "users", "add", USER, "--role", "case_worker", "--scope", "national", "--password-stdin",
         stdin=PASSWORD + "\n")
    out = _cli(env, "tokens", "create", WALL_TOKEN_NAME, "--kind", "wall", "--role", "viewer", "--scope", "national")
    print(f"made the account and a wall token in {time.perf_counter() - t0:.1f} s", flush=True)
    return out.strip().splitlines()[-1]  # the token is printed alone on the last line


def _signed_in(status: int, location: str, what: str) -> None:
    """Sign-in answers with a redirect: to where the user was going, never back to /signin."""
    if status != 302 or location.startswith("/signin") or "/signin?" in location:
        sys.exit(f"{what} did not sign in (HTTP {status}, to {location or 'nowhere'})")


FAILED_SECTION = ("could not be loaded", "Could not show this")  # dashboard.components.common's words


def failed_section(text: str) -> str | None:
    """The words around a section's failure in a rendered page, or None when every section drew."""
    for phrase in FAILED_SECTION:
        at = text.find(phrase)
        if at >= 0:
            return text[max(0, at - 120):at + 200]
    return None


# --- Dash callback payloads ----------------------------------------------------------------------

def _find_callback(callback_map: dict[str, Any], output_part: str) -> tuple[str, dict[str, Any]]:
    for key, spec in callback_map.items():
        if output_part in key:
            return key, spec
    raise KeyError(output_part)


def payload(callback_map: dict[str, Any], output_part: str, values: dict[str, Any],
            changed: str | None = None) -> dict[str, Any]:
    """The body Dash's renderer posts for the callback whose output contains `output_part`."""
    key, spec = _find_callback(callback_map, output_part)
    outputs = []
    for part in key.strip(".").split("..."):
        cid, prop = part.rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})

    def items(kind: str) -> list[dict[str, Any]]:
        return [{"id": i["id"], "property": i["property"], "value": values.get(f"{i['id']}.{i['property']}")}
                for i in spec.get(kind, [])]

    inputs = items("inputs")
    return {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0], "inputs": inputs,
            "state": items("state"), "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"]}


def page_payload(callback_map: dict[str, Any], path: str, search: str) -> dict[str, Any]:
    return payload(callback_map, "_pages_content.children",
                   {"_pages_location.pathname": path, "_pages_location.search": search},
                   changed="_pages_location.pathname")


def wall_payload(callback_map: dict[str, Any], args: dict[str, Any], n: int = 1) -> dict[str, Any]:
    return payload(callback_map, "wall-panel-0.children", {"wall-tick.n_intervals": n, "wall-args.data": args})


def overview_filter_payload(callback_map: dict[str, Any], icb: list[str]) -> dict[str, Any]:
    return payload(callback_map, "ov-content.children", {"ov-f-icb.value": icb, "ov-f-place.value": [],
                                                         "ov-f-hwb.value": [], "ov-f-at.value": AT},
                   changed="ov-f-icb.value")


def export_payload(callback_map: dict[str, Any]) -> dict[str, Any]:
    return payload(callback_map, "ex-grid.rowData", {"ex-dataset.value": "capacity", "ex-name.value": "nctr_count",
                                                     "ex-by.value": [], "ex-grain.value": None,
                                                     "ex-f-icb.value": ["QWO"], "ex-f-at.value": AT})


# --- (a) per page, in process ------------------------------------------------------------------

def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def bench_pages(env: dict[str, str], wall_token: str, cold_runs: int,
                cached_runs: int) -> list[tuple[str, list[float], list[float]]]:
    os.environ.update(env)
    from dashboard.cache import EXTENSION_KEY
    from dashboard.server import build_app
    from models.db import init_store

    init_store()  # as `serve` does: schema checked, reference geography loaded
    app = build_app()
    server = app.server
    client = server.test_client()  # the analyst's browser
    r = client.post("/signin", data={"username": USER, "password": PASSWORD, "next": "/"})
    _signed_in(r.status_code, r.headers.get("Location", ""), "the analyst")
    wall_client = server.test_client()  # a wall screen's browser
    r = wall_client.get(f"/wall?token={wall_token}&at={AT}")
    _signed_in(r.status_code, r.headers.get("Location", ""), "the wall screen")
    client.get("/")  # Dash's first request: index, layout and dependencies are set up
    cmap = {d["output"]: d for d in json.loads(client.get("/_dash-dependencies").data)}
    cache = server.extensions[EXTENSION_KEY]
    search = f"?at={AT}"
    cases: list[tuple[str, dict[str, Any]]] = [(path, page_payload(cmap, path, search)) for path in PAGES]
    cases.append(("/wall tick", wall_payload(cmap, {"at": AT})))
    cases.append(("/wall tick icb=QOP", wall_payload(cmap, {"at": AT, "icb": "QOP"})))
    cases.append(("/ filter icb=QWO", overview_filter_payload(cmap, ["QWO"])))
    cases.append(("/export preview", export_payload(cmap)))

    def post(body: dict[str, Any]) -> float:
        on_the_wall = "wall-panel" in body["output"] or body["inputs"][0].get("value") == "/wall"
        t0 = time.perf_counter()
        response = (wall_client if on_the_wall else client).post("/_dash-update-component", json=body)
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{response.status_code}: {response.data[:300]!r}")
        failed = failed_section(response.get_data(as_text=True))
        if failed:
            raise RuntimeError(f"a section failed: …{failed}…")
        return elapsed

    # One untimed pass so imports, the geography and the store's buffers are warm.
    for _name, body in cases:
        cache.clear()
        post(body)
    results: list[tuple[str, list[float], list[float]]] = []
    for name, body in cases:
        cold: list[float] = []
        for _ in range(cold_runs):
            cache.clear()
            cold.append(post(body))
        cached = [post(body) for _ in range(cached_runs)]
        results.append((name, cold, cached))
        print(f"  {name:24s} cold p50 {_pct(cold, .5):7.1f} ms   cached p50 {_pct(cached, .5):6.1f} ms", flush=True)
    return results


def print_pages(results: list[tuple[str, list[float], list[float]]]) -> list[str]:
    print()
    print(f"{'page callback':24s} | {'cold p50':>8s} | {'cold p95':>8s} | {'cached p50':>10s} | {'cached p95':>10s} |")
    print("-" * 76)
    missing: list[str] = []
    for name, cold, cached in results:
        c50, c95, h50, h95 = _pct(cold, .5), _pct(cold, .95), _pct(cached, .5), _pct(cached, .95)
        flags = []
        if c95 > COLD_TARGET_MS:
            flags.append("cold")
        if h95 > CACHED_TARGET_MS:
            flags.append("cached")
        if flags:
            missing.append(f"{name} ({', '.join(flags)})")
        print(f"{name:24s} | {c50:8.1f} | {c95:8.1f} | {h50:10.1f} | {h95:10.1f} | {'<-- ' + ', '.join(flags) if flags else ''}")
    print(f"\ntargets: cold p95 <= {COLD_TARGET_MS:.0f} ms, cached p95 <= {CACHED_TARGET_MS:.0f} ms")
    print("missing a target: " + ("; ".join(missing) if missing else "none"))
    return missing


# --- (b) load on loopback ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sample:
    kind: str
    ms: float
    ok: bool
    detail: str = ""
    start: float = 0.0  # seconds since the load began (set by the recorder)


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    t0: float = field(default_factory=time.perf_counter)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def _timed(session: Any, recorder: Recorder, kind: str, method: str, url: str, **kwargs: Any) -> None:
    t0 = time.perf_counter()
    try:
        response = session.request(method, url, timeout=30, **kwargs)
        ms = (time.perf_counter() - t0) * 1000
        ok = response.status_code in (200, 204)
        detail = "" if ok else f"HTTP {response.status_code} {response.text[:120]}"
        failed = failed_section(response.text) if ok else None
        if failed:
            ok, detail = False, f"a section failed: {failed[100:220]}"
        recorder.add(Sample(kind, ms, ok, detail, t0 - recorder.t0))
    except Exception as exc:  # noqa: BLE001 - counted as an error
        recorder.add(Sample(kind, (time.perf_counter() - t0) * 1000, False, f"{type(exc).__name__}: {exc}",
                            t0 - recorder.t0))


def run_load(env: dict[str, str], wall_token: str, duration: float, walls: int, analysts: int, wall_interval: float,
             max_requests: int, warm_up: float = 0.0) -> dict[str, Any]:
    import requests

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc_env = {**os.environ, **env}
    log_path = Path(env["HOMEWARD_DATA_DIR"]) / "server.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--no-scheduler", "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=ROOT, env=proc_env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:  # open without sign-in
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.time() > deadline:
                sys.exit(f"the server did not start; see {log_path}")
            time.sleep(0.5)

        def analyst_session() -> requests.Session:
            session = requests.Session()
            r = session.post(f"{base}/signin", data={"username": USER, "password": PASSWORD, "next": "/"},
                             allow_redirects=False, timeout=30)
            _signed_in(r.status_code, r.headers.get("Location", ""), "an analyst")
            return session

        def wall_session(args: dict[str, str]) -> requests.Session:
            session = requests.Session()
            r = session.get(f"{base}/wall", params={"token": wall_token, **args}, allow_redirects=False, timeout=30)
            _signed_in(r.status_code, r.headers.get("Location", ""), "a wall screen")
            return session

        # Every screen and analyst signs in before the clock starts, as they would have before a restart.
        t0 = time.perf_counter()
        wall_scopes = [{"at": AT}, {"at": AT, "theme": "dark"}, {"at": AT, "icb": "QOP"}, {"at": AT, "icb": "QMF"},
                       {"at": AT, "hwb": "E08000035"}]
        wall_sessions = [wall_session(wall_scopes[i % len(wall_scopes)]) for i in range(walls)]
        analyst_sessions = [analyst_session() for _ in range(analysts)]
        print(f"{walls} wall screens and {analysts} analysts signed in in {time.perf_counter() - t0:.1f} s", flush=True)
        deps = (analyst_sessions or wall_sessions)[0].get(f"{base}/_dash-dependencies", timeout=10).json()
        cmap = {d["output"]: d for d in deps}
        recorder = Recorder()
        stop = threading.Event()
        count = {"n": 0}
        count_lock = threading.Lock()

        def budget() -> bool:
            with count_lock:
                count["n"] += 1
                return count["n"] <= max_requests

        def wall(i: int) -> None:
            session = wall_sessions[i]
            args = wall_scopes[i % len(wall_scopes)]
            # a wall loads its page once, then refreshes in place
            if budget():
                _timed(session, recorder, "wall load", "POST", f"{base}/_dash-update-component",
                       json=page_payload(cmap, "/wall", "?" + "&".join(f"{k}={v}" for k, v in args.items())))
            stop.wait(random.uniform(0, wall_interval))  # walls are not in step
            n = 0
            while not stop.is_set() and budget():
                n += 1
                t0 = time.perf_counter()
                _timed(session, recorder, "wall tick", "POST", f"{base}/_dash-update-component",
                       json=wall_payload(cmap, args, n))
                stop.wait(max(0.0, wall_interval - (time.perf_counter() - t0)))

        metrics_names = ["nctr_count", "nctr_over_21d", "vacant_accepting", "discharges", "ic_caseload", "occupancy_rate",
                         "referrals", "delay_bed_days", "ic_length_of_stay_days", "home_91d_rate"]

        def analyst(i: int) -> None:
            session = analyst_sessions[i]
            rng = random.Random(i)
            while not stop.is_set() and budget():
                roll = rng.random()
                icb = rng.choice(ICBS)
                day = rng.randint(1, 16)
                at = f"2024-12-{day:02d}T{rng.randint(8, 18):02d}:00"
                if roll < 0.5:
                    path = rng.choice(("/", "/capacity", "/flow", "/delays", "/outcomes", "/data", "/benchmark"))
                    search = rng.choice((f"?at={AT}", f"?at={at}", f"?at={AT}&icb={icb}", f"?at={at}&icb={icb}&pathway=1"))
                    _timed(session, recorder, "analyst page", "POST", f"{base}/_dash-update-component",
                           json=page_payload(cmap, path, search))
                elif roll < 0.7:
                    _timed(session, recorder, "analyst filter", "POST", f"{base}/_dash-update-component",
                           json=overview_filter_payload(cmap, [icb]))
                else:
                    name = rng.choice(metrics_names)
                    params: dict[str, Any] = {"at": at, "icb": icb}
                    if rng.random() < 0.5:
                        params["by"] = "hwb"
                    if rng.random() < 0.3:
                        params["grain"] = "day"
                    _timed(session, recorder, "analyst api", "GET", f"{base}/api/metrics/{name}", params=params)
                stop.wait(rng.uniform(0.5, 2.0))

        threads = [threading.Thread(target=wall, args=(i,), daemon=True) for i in range(walls)]
        threads += [threading.Thread(target=analyst, args=(i,), daemon=True) for i in range(analysts)]
        print(f"load: {walls} walls every {wall_interval:g} s + {analysts} analysts for {warm_up:g} + {duration:g} s "
              f"(at most {max_requests} requests) against {base}", flush=True)
        t_start = recorder.t0 = time.perf_counter()
        for t in threads:
            t.start()
        stop.wait(warm_up + duration)
        stop.set()
        for t in threads:
            t.join(timeout=35)
        elapsed = time.perf_counter() - t_start
        return {"samples": recorder.samples, "elapsed": elapsed, "warm_up": warm_up}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _load_table(samples: list[Sample]) -> None:
    print(f"{'request':16s} | {'count':>6s} | {'errors':>6s} | {'p50 ms':>8s} | {'p95 ms':>8s} | {'max ms':>8s}")
    print("-" * 68)
    for kind in [*sorted({s.kind for s in samples}), "all"]:
        ms = [s.ms for s in samples if kind == "all" or s.kind == kind]
        errors = sum(not s.ok for s in samples if kind == "all" or s.kind == kind)
        print(f"{kind:16s} | {len(ms):6d} | {errors:6d} | {_pct(ms, .5):8.1f} | {_pct(ms, .95):8.1f} | "
              f"{max(ms) if ms else float('nan'):8.1f}")


def print_load(outcome: dict[str, Any]) -> list[str]:
    samples: list[Sample] = outcome["samples"]
    warm_up: float = outcome.get("warm_up", 0.0)
    start = [s for s in samples if s.start < warm_up]
    steady = [s for s in samples if s.start >= warm_up]
    if start:
        print(f"\nthe first {warm_up:g} s, from a server just started (all clients arriving at once, nothing cached):")
        _load_table(start)
    print(f"\nthe load{f' after the first {warm_up:g} s' if start else ''}:")
    _load_table(steady)
    # When the slow requests came: the start (every wall's first load at once) or all along.
    print("\nby 10 s of the run (all requests): " + ", ".join(
        f"{w * 10}-{w * 10 + 10} s p95 {_pct([s.ms for s in samples if w * 10 <= s.start < w * 10 + 10], .95):.0f} ms"
        for w in range(int(max((s.start for s in samples), default=0) // 10) + 1)))
    print(f"whole run, start included: p95 {_pct([s.ms for s in samples], .95):.0f} ms")
    print(f"\n{len(samples)} requests in {outcome['elapsed']:.0f} s ({len(samples) / outcome['elapsed']:.1f}/s)")
    details = [s.detail for s in samples if not s.ok]
    for d in sorted(set(details))[:5]:
        print(f"  error: {d} (x{details.count(d)})")
    steady_ms = [s.ms for s in steady]
    missing = []
    if _pct(steady_ms, .95) > LOAD_P95_TARGET_MS:
        missing.append(f"p95 {_pct(steady_ms, .95):.0f} ms > {LOAD_P95_TARGET_MS:.0f} ms")
    if details:
        missing.append(f"{len(details)} errors")
    print(f"targets (the load): p95 <= {LOAD_P95_TARGET_MS:.0f} ms, no errors; missing: {'; '.join(missing) or 'none'}")
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("pages", "load", "both"), default="both")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--cached-runs", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load measured against the target")
    parser.add_argument("--warm-up", type=float, default=30.0,
                        help="seconds of the same load first, from a cold start, reported apart")
    parser.add_argument("--walls", type=int, default=50)
    parser.add_argument("--analysts", type=int, default=10)
    parser.add_argument("--wall-interval", type=float, default=5.0, help="seconds between a wall's ticks (real: 60)")
    parser.add_argument("--max-requests", type=int, default=5000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="homeward-bench-"))
    missing: list[str] = []
    try:
        env = prepare_store(workdir)
        wall_token = create_sign_ins(env)
        if args.part in ("load", "both"):
            # first, while nothing in this process holds the store (DuckDB: one process per file)
            missing += print_load(run_load(env, wall_token, args.duration, args.walls, args.analysts,
                                           args.wall_interval, args.max_requests, args.warm_up))
        if args.part in ("pages", "both"):
            print("\nper page, in process (cold = query cache cleared):", flush=True)
            missing += print_pages(bench_pages(env, wall_token, args.cold_runs, args.cached_runs))
    finally:
        log = workdir / "server.log"
        if log.exists() and "Traceback" in log.read_text(errors="replace"):
            kept = ROOT / "bench" / "out" / "dashboard-server.log"  # errors are worth reading after the run
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, kept)
            print(f"the server logged errors: {kept}")
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
