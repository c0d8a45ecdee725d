"""The demo system's live feeds: the same world as `demo` wrote, continued in real time.

`start_live_feeds(data_dir)` re-creates the simulation from
`<data dir>/demo/state.json` (seed and start instant), runs it up to now,
and serves over HTTP on localhost, advancing it to the wall clock on every
request:

- `GET /vacancy.csv`: the latest report of every service that is reporting
  (services report every 3-6 hours at staggered times, so about one new
  report every few minutes across the system);
- `GET /hub_cases.csv`: the current state of every case changed in the last
  24 hours (referrals, decisions and discharges arrive every few minutes in
  the working day).

Both carry an ETag and answer 304 to a matching If-None-Match, so the
ingest road's conditional GET sees "unchanged" between changes. Because the
world depends only on the seed and start, stopping and restarting continues
the same world.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from ingest.demo import STATE_FILE, DemoState, demo_dir, write_demo
from ingest.demo_csv import hub_cases_csv, vacancy_csv
from ingest.demo_sim import DAY, Simulation
from models.vocab import HUB_CASES_FEED, VACANCY_FEED

log = logging.getLogger(__name__)

# With no history yet, the live world starts with this much behind it, so the
# dashboard has trends and waits to show at once.
SHORT_HISTORY_DAYS = 14
DEFAULT_SEED = 7
CHANGED_WINDOW = 1 * DAY


class LiveWorld:
    """The simulation behind a lock, advanced to the clock before each read."""

    def __init__(self, state: DemoState, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # Only the latest report per service is served, so history is not kept.
        self._sim = Simulation(state.seed, state.start, keep_reports=False)
        self._sim.advance_to(clock())

    def vacancy(self) -> str:
        with self._lock:
            now = self._advance()
            reports = [self._sim.latest[sid] for sid in sorted(self._sim.latest)
                       if self._sim.is_reporting(sid, now)]
            return vacancy_csv(reports)

    def hub_cases(self) -> str:
        with self._lock:
            now = self._advance()
            return hub_cases_csv(c for c in self._sim.cases if c.updated_at >= now - CHANGED_WINDOW)

    def _advance(self) -> float:
        now = self._clock()
        self._sim.advance_to(now)
        return now


@dataclass
class LiveFeeds:
    """A running live feed server; `urls` maps feed name to its URL."""
    server: ThreadingHTTPServer
    thread: threading.Thread
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _handler(world: LiveWorld) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Callable[[], str]] = {"/vacancy.csv": world.vacancy, "/hub_cases.csv": world.hub_cases}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404, "no such feed")
                return
            body = route().encode("utf-8")
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if etag in [t.strip() for t in (self.headers.get("If-None-Match") or "").split(",")]:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            log.debug("demo feed %s: " + format, self.address_string(), *args)

    return Handler


def start_live_feeds(data_dir: Path, host: str = "127.0.0.1", port: int = 0,
                     clock: Callable[[], float] = time.time) -> LiveFeeds:
    """Serve the demo world's live feeds from Homeward's data dir (the world lives in `demo/`).

    `clock` gives POSIX seconds; tests pass their own to move time on.
    Without a `state.json`, a short history is simulated and written first.
    """
    folder = demo_dir(data_dir)
    if not (folder / STATE_FILE).exists():
        write_demo(folder, days=SHORT_HISTORY_DAYS, seed=DEFAULT_SEED, now=clock())
    world = LiveWorld(DemoState.read(folder / STATE_FILE), clock)
    server = ThreadingHTTPServer((host, port), _handler(world))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-live-feeds", daemon=True)
    thread.start()
    base = f"http://{host}:{server.server_address[1]}"
    return LiveFeeds(server=server, thread=thread,
                     urls={VACANCY_FEED: f"{base}/vacancy.csv", HUB_CASES_FEED: f"{base}/hub_cases.csv"})
