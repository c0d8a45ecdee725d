"""The query cache: plain rows keyed on the query and the store's data version.

Keying on the data version of the query's source (the latest ingest run that changed it: `feed_versions`)
means a new delivery shows at the next refresh and the cache never serves
numbers older than the store. Only plain data is cached (never Plotly
figures), so the same entries work in the in-process cache and in Redis.
"""
from __future__ import annotations

import hashlib
import threading
import time
from datetime import date, datetime
from typing import Any, Callable, Sequence

import flask
from flask_caching import Cache
from sqlalchemy.engine import Engine

from dashboard.concurrency import OldestFirst
from models import access, settings
from models.access import scope_key, view_key
from models.db import get_engine
from models.metrics import REGISTRY
from models.query import MetricQuery, MetricResult, feed_versions, run_queries, source_version

EXTENSION_KEY = "homeward_cache"
STATE_KEY = "homeward_cache_state"
# How long the data version is trusted before the store is asked again: a page asks for
# dozens of figures, and a cached one should cost no trip to the store at all. A new
# delivery still shows within this long.
VERSION_TTL_SECONDS = 1.0
# Queries running against the store at once, across all requests of this process. The
# store already uses every core for one query; more at once only makes each slower.
MAX_CONCURRENT_QUERIES = 3
# Bounded so a wall left running for days cannot grow the process without limit.
_SIMPLE_THRESHOLD = 4000
_TIMEOUT_SECONDS = 15 * 60


def make_cache(server: flask.Flask) -> Cache:
    """Redis when HOMEWARD_CACHE_URL is set (shared by web workers), else in-process."""
    url = settings.cache_url()
    if url:
        config: dict[str, Any] = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url,
                                  "CACHE_KEY_PREFIX": "homeward:", "CACHE_DEFAULT_TIMEOUT": _TIMEOUT_SECONDS}
    else:
        config = {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": _SIMPLE_THRESHOLD,
                  "CACHE_DEFAULT_TIMEOUT": _TIMEOUT_SECONDS}
    cache = Cache(config=config)
    cache.init_app(server)
    # Kept on the app, not in a module global, so two apps never share it.
    server.extensions[EXTENSION_KEY] = cache
    server.extensions[STATE_KEY] = _CacheState()
    return cache


class _CacheState:
    """Per app: the data version (briefly remembered), the queries in flight, the store's slots."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versions: dict[str, tuple[float, dict[str, int]]] = {}  # per store: (when asked, feed → run)
        self.in_flight: dict[str, threading.Event] = {}
        self.slots = OldestFirst(MAX_CONCURRENT_QUERIES)
        self.refreshing: set[str] = set()  # shared views being recomputed in the background
        self.version_refreshing: set[str] = set()

    def known_version(self, engine: Engine) -> int:
        """The data version without waiting on the store when one is known: if it is older than
        VERSION_TTL_SECONDS a background thread asks the store again, and this answer uses the
        last one (a new delivery shows a moment later). Only the very first call waits."""
        key = str(engine.url)
        now = time.monotonic()
        with self.lock:
            known = self.versions.get(key)
            expired = known is not None and now - known[0] >= VERSION_TTL_SECONDS
            start = expired and key not in self.version_refreshing
            if start:
                self.version_refreshing.add(key)
        if known is None:
            return self.version(engine)
        if start:
            def refresh() -> None:
                try:
                    versions = feed_versions(engine)
                    with self.lock:
                        self.versions[key] = (time.monotonic(), versions)
                finally:
                    with self.lock:
                        self.version_refreshing.discard(key)
            threading.Thread(target=refresh, name="homeward-version", daemon=True).start()
        return max(known[1].values(), default=0)

    def feed_versions(self, engine: Engine) -> dict[str, int]:
        """The latest changing run per feed, asked of the store at most once every VERSION_TTL_SECONDS."""
        key = str(engine.url)
        now = time.monotonic()
        with self.lock:
            known = self.versions.get(key)
        if known is not None and now - known[0] < VERSION_TTL_SECONDS:
            return known[1]
        versions = feed_versions(engine)
        with self.lock:
            self.versions[key] = (now, versions)
        return versions

    def version(self, engine: Engine) -> int:
        """The data version: the latest run that may have changed any data."""
        return max(self.feed_versions(engine).values(), default=0)

    def claim(self, keys: Sequence[str]) -> tuple[list[int], list[tuple[int, threading.Event]]]:
        """Split keys into those this caller computes (marked in flight) and those already being computed."""
        mine: list[int] = []
        theirs: list[tuple[int, threading.Event]] = []
        with self.lock:
            for j, key in enumerate(keys):
                running = self.in_flight.get(key)
                if running is None:
                    self.in_flight[key] = threading.Event()
                    mine.append(j)
                else:
                    theirs.append((j, running))
        return mine, theirs

    def release(self, keys: Sequence[str]) -> None:
        with self.lock:
            events = [self.in_flight.pop(key, None) for key in keys]
        for event in events:
            if event is not None:
                event.set()

    def single_flight(self, cache: Cache, key: str, compute: Callable[[], Any], timeout: int | None,
                      *, slotted: bool = True, keep: Callable[[Any], bool] | None = None) -> Any:
        """The cached value, or compute it once: concurrent requests for the same key wait for the first.

        Fifty wall screens refreshing together must not run the same query fifty times. `slotted`
        holds one of the store slots while computing; a whole view is built unslotted, because the
        queries inside it take the slots themselves. A value `keep` refuses is returned but not cached.
        """
        while True:
            hit = cache.get(key)
            if hit is not None:
                return hit
            with self.lock:
                running = self.in_flight.get(key)
                if running is None:
                    done = self.in_flight[key] = threading.Event()
            if running is not None:
                running.wait(timeout=60)
                hit = cache.get(key)
                if hit is not None:
                    return hit
                continue  # the first one failed (or was evicted at once): try ourselves
            try:
                if slotted:
                    with self.slots:
                        value = compute()
                else:
                    value = compute()
                if keep is None or keep(value):
                    cache.set(key, value, timeout=timeout)
                return value
            finally:
                with self.lock:
                    self.in_flight.pop(key, None)
                done.set()


def _current_state() -> _CacheState | None:
    state = flask.current_app.extensions.get(STATE_KEY) if flask.has_app_context() else None
    return state if isinstance(state, _CacheState) else None


def _current_cache() -> Cache | None:
    if not flask.has_app_context():
        return None
    cache = flask.current_app.extensions.get(EXTENSION_KEY)
    return cache if isinstance(cache, Cache) else None


def _source_version(q: MetricQuery, versions: dict[str, int]) -> int:
    """Queries are cached on the version of their own source: a capacity delivery (every few minutes
    nationally) leaves the case and sitrep answers, and the pages built from them, cached."""
    metric = REGISTRY.get(q.metric)
    return source_version(versions, metric.source) if metric is not None else max(versions.values(), default=0)


def _stamped(result: MetricResult, versions: dict[str, int]) -> MetricResult:
    """An answer cached under its source's version is the answer as of the current data version."""
    result.data_version = max(result.data_version, max(versions.values(), default=0))
    return result


def _key(q: MetricQuery, version: int) -> str:
    # The scope is part of every key: an answer is shared only by askers who may see the same HWBs.
    return "q:" + hashlib.sha256(f"{version}|{scope_key()}|{q.cache_key()}".encode()).hexdigest()


def _to_plain(result: MetricResult) -> dict[str, Any]:
    return {"metric": result.metric, "as_of": result.as_of.isoformat(), "data_version": result.data_version,
            "rows": [dict(r) for r in result.rows], "unit": result.unit,
            "window": [result.window[0].isoformat(), result.window[1].isoformat()]}


def _from_plain(data: dict[str, Any], q: MetricQuery) -> MetricResult:
    return MetricResult(metric=data["metric"], as_of=datetime.fromisoformat(data["as_of"]),
                        data_version=int(data["data_version"]), rows=[dict(r) for r in data["rows"]], query=q,
                        window=(date.fromisoformat(data["window"][0]), date.fromisoformat(data["window"][1])),
                        unit=data["unit"])


def cached_query(q: MetricQuery, engine: Engine | None = None) -> MetricResult:
    """run_query through the cache; outside a Flask app it simply runs the query."""
    return cached_queries([q], engine)[0]


def cached_queries(queries: Sequence[MetricQuery], engine: Engine | None = None) -> list[MetricResult]:
    """Several queries through the cache: the ones not cached are answered together by `run_queries`
    (one select per source, periods and split) and each is then cached on its own."""
    engine = engine or get_engine()
    cache, state = _current_cache(), _current_state()
    if cache is None or state is None:
        return run_queries(engine, queries)
    versions = state.feed_versions(engine)
    keys = [_key(q, _source_version(q, versions)) for q in queries]
    plain: list[Any] = list(cache.get_many(*keys)) if keys else []
    missing = [i for i, hit in enumerate(plain) if hit is None]
    if missing:
        # Per query, one computation at a time across requests and sections: fifty walls, or a page's
        # tiles and its chart asking for the same month, run it once. Ours are answered together.
        mine, theirs = state.claim([keys[i] for i in missing])
        try:
            if mine:
                asked = [missing[j] for j in mine]
                results = run_queries(engine, [queries[i] for i in asked], gate=state.slots)
                for i, result in zip(asked, results):
                    plain[i] = _to_plain(result)
                    # "Now" moves on even when no data arrives (waits grow by the minute), so an unpinned
                    # query is kept only briefly; pinned ones until evicted.
                    cache.set(keys[i], plain[i], timeout=60 if queries[i].at is None else None)
        finally:
            state.release([keys[missing[j]] for j in mine])
        for j, done in theirs:
            done.wait(timeout=60)
            i = missing[j]
            plain[i] = cache.get(keys[i])
        late = [i for i in missing if plain[i] is None]  # the other computation failed: ask ourselves
        if late:
            for i, result in zip(late, run_queries(engine, [queries[i] for i in late])):
                plain[i] = _to_plain(result)
    return [_stamped(_from_plain(p, q), versions) for p, q in zip(plain, queries)]


def cached_rows(name: str, params: str, fetch: Callable[[], list[dict[str, Any]]], *, pinned: bool,
                engine: Engine | None = None) -> list[dict[str, Any]]:
    """Rows the models layer returns other than metrics (a table of services, the longest waits),
    cached the same way: plain rows keyed on what was asked and the data version."""
    rows = cached_value(name, params, lambda: [dict(r) for r in fetch()], pinned=pinned, engine=engine)
    return [dict(r) for r in rows]


def cached_value(name: str, params: str, fetch: Callable[[], Any], *, pinned: bool,
                 engine: Engine | None = None, slotted: bool = True, keep: Callable[[Any], bool] | None = None) -> Any:
    """Any plain JSON value built from the models layer, cached like `cached_rows`. `slotted=False` for a
    value whose queries take the store's slots themselves (a whole page); `keep` as in `single_flight`."""
    engine = engine or get_engine()
    cache, state = _current_cache(), _current_state()
    if cache is None or state is None:
        return fetch()
    # A page may hold person-level rows (the longest waits) for a case worker: never served to a viewer.
    key = "rows:" + hashlib.sha256(f"{state.version(engine)}|{view_key()}|{name}|{params}".encode()).hexdigest()
    return state.single_flight(cache, key, fetch, timeout=None if pinned else 60, slotted=slotted, keep=keep)

def shared_view(name: str, params: str, compute: Callable[[], Any], *, pinned: bool,
                engine: Engine | None = None, refresh_seconds: int = 60) -> Any:
    """A whole view's plain JSON (e.g. every panel of a wall screen), computed once and shared by every
    screen showing the same scope.

    Fresh while the data version is unchanged (and, for an unpinned "now" view, within the same
    `refresh_seconds` slice of time: a minute by default).
    When it is no longer fresh the previous answer is still returned at once and one background thread
    recomputes it (stale-while-revalidate), so a request for a view already computed never waits for
    the store — not for the data version, not for a query slot behind analysts' cold pages. Only the
    first request for a scope computes it in line (concurrent ones wait for that one).
    """
    engine = engine or get_engine()
    cache, state = _current_cache(), _current_state()
    if cache is None or state is None:
        return compute()
    key = "view:" + hashlib.sha256(f"{scope_key()}|{name}|{params}".encode()).hexdigest()
    version = state.known_version(engine)
    minute = None if pinned else int(time.time() // refresh_seconds)
    entry = cache.get(key)
    if isinstance(entry, dict) and entry.get("version") == version and entry.get("minute") == minute:
        return entry["value"]

    def build() -> dict[str, Any]:
        return {"version": version, "minute": minute, "value": compute()}

    if isinstance(entry, dict):  # stale: serve it, recompute once in the background
        with state.lock:
            start = key not in state.refreshing
            if start:
                state.refreshing.add(key)
        if start:
            app = flask.current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug's proxy
            principal = access.current()  # the view is recomputed for the same scope it is cached under

            def refresh() -> None:
                try:
                    with app.app_context(), access.using(principal):
                        cache.set(key, build(), timeout=_TIMEOUT_SECONDS)
                except Exception:  # noqa: BLE001 - the next request tries again; the old view stays
                    pass
                finally:
                    with state.lock:
                        state.refreshing.discard(key)
            threading.Thread(target=refresh, name="homeward-view", daemon=True).start()
        return entry["value"]
    # Nothing yet: compute in line; concurrent first requests wait for this one. (The slots are
    # taken by the queries inside, not by the view as a whole.)
    return state.single_flight(cache, key, build, timeout=_TIMEOUT_SECONDS, slotted=False)["value"]
