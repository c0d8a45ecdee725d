"""The one cache: plain values keyed in one place, one computation per key in flight, and one
invalidation rule — an answer is keyed on the data version of the sources it reads (the latest ingest
run that changed each: `feed_versions`/`source_version`).

A capacity delivery (every few minutes nationally) therefore leaves the case answers cached, and a new
delivery shows at the next refresh: the cache never serves numbers older than the store. Only plain
data is cached (never Plotly figures), so the same entries work in the in-process cache and in Redis.

The mechanism lives here so the models layer (`models.datasets`) can use it; the backend (Flask-Caching,
in-process or Redis) is the web app's and is injected by `install` (dashboard/cache.py). With none
installed, every call simply computes.
"""
from __future__ import annotations

import hashlib
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime
from typing import Any, Callable, Iterable, Protocol, Sequence

from sqlalchemy.engine import Engine

from models import access
from models.access import scope_key, view_key
from models.db import get_engine
from models.metrics import REGISTRY
from models.query import MetricQuery, MetricResult, feed_versions, run_queries, source_version

# How long the data version is trusted before the store is asked again: a page asks for
# dozens of figures, and a cached one should cost no trip to the store at all. A new
# delivery still shows within this long.
VERSION_TTL_SECONDS = 1.0
# Views are kept until evicted (bounded by the backend); a new data version gives them a new key.
VIEW_TIMEOUT_SECONDS = 15 * 60
# "Now" moves on even when no data arrives (waits grow by the minute): unpinned answers are kept briefly.
NOW_TIMEOUT_SECONDS = 60
# How long a caller waits for another's computation of the same key before trying itself.
_WAIT_SECONDS = 60


class Backend(Protocol):
    """What the cache needs of a store of plain values (Flask-Caching's `Cache` is one)."""

    def get(self, key: str) -> Any: ...
    def get_many(self, *keys: str) -> list[Any]: ...
    def set(self, key: str, value: Any, timeout: int | None = None) -> Any: ...


def key(kind: str, *parts: object) -> str:
    """Every cache key. Callers pass who may share the answer (`scope_key()`/`view_key()`) among the parts."""
    return f"{kind}:" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def version_of(versions: dict[str, int], sources: Iterable[str] | None = None) -> int:
    """The invalidation rule: the data version of the given sources (all of them when not known)."""
    if sources is None:
        return max(versions.values(), default=0)
    return max((source_version(versions, s) for s in sources), default=0)


class Flights:
    """Work in flight, per key: the single flight every part of the cache uses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}

    def claim(self, keys: Sequence[str]) -> tuple[list[int], list[tuple[int, threading.Event]]]:
        """Split keys into those this caller computes (now in flight) and those another is computing."""
        mine: list[int] = []
        theirs: list[tuple[int, threading.Event]] = []
        with self._lock:
            for j, k in enumerate(keys):
                running = self._running.get(k)
                if running is None:
                    self._running[k] = threading.Event()
                    mine.append(j)
                else:
                    theirs.append((j, running))
        return mine, theirs

    def release(self, keys: Sequence[str]) -> None:
        with self._lock:
            events = [self._running.pop(k, None) for k in keys]
        for event in events:
            if event is not None:
                event.set()

    def in_background(self, k: str, work: Callable[[], None], name: str) -> None:
        """Run `work` on a thread unless the same key is already being worked on (stale-while-revalidate)."""
        if not self.claim([k])[0]:
            return

        def run() -> None:
            try:
                work()
            except Exception:  # noqa: BLE001 - the next request tries again; the old value stays
                pass
            finally:
                self.release([k])
        threading.Thread(target=run, name=name, daemon=True).start()


class Cache:
    """One app's cache: its backend, the work in flight, the data versions (briefly remembered) and the
    store's query slots. `carry` wraps a function to run on another thread in the caller's app context."""

    def __init__(self, backend: Backend, slots: AbstractContextManager[Any] | None = None,
                 carry: Callable[[Callable[[], None]], Callable[[], None]] = lambda f: f) -> None:
        self.backend = backend
        self.slots = slots
        self.carry = carry
        self.flights = Flights()
        self._lock = threading.Lock()
        self._versions: dict[str, tuple[float, dict[str, int]]] = {}  # per store: (when asked, feed → run)

    def feed_versions(self, engine: Engine) -> dict[str, int]:
        """The latest changing run per feed, asked of the store at most once every VERSION_TTL_SECONDS."""
        store, now = str(engine.url), time.monotonic()
        with self._lock:
            known = self._versions.get(store)
        if known is not None and now - known[0] < VERSION_TTL_SECONDS:
            return known[1]
        versions = feed_versions(engine)
        with self._lock:
            self._versions[store] = (now, versions)
        return versions

    def known_feed_versions(self, engine: Engine) -> dict[str, int]:
        """The data versions without waiting on the store when some are known: when older than
        VERSION_TTL_SECONDS a background thread asks again and this answer uses the last ones (a new
        delivery shows a moment later). Only the very first call waits."""
        store = str(engine.url)
        with self._lock:
            known = self._versions.get(store)
        if known is None:
            return self.feed_versions(engine)
        if time.monotonic() - known[0] >= VERSION_TTL_SECONDS:
            def refresh() -> None:
                versions = feed_versions(engine)
                with self._lock:
                    self._versions[store] = (time.monotonic(), versions)
            self.flights.in_background("version:" + store, refresh, "homeward-version")
        return known[1]

    def single_flight(self, k: str, compute: Callable[[], Any], timeout: int | None, *,
                      slotted: bool = True, keep: Callable[[Any], bool] | None = None) -> Any:
        """The cached value, or compute it once: concurrent requests for the same key wait for the first.

        Fifty wall screens refreshing together must not run the same query fifty times. `slotted`
        holds one of the store slots while computing; a whole view is built unslotted, because the
        queries inside it take the slots themselves. A value `keep` refuses is returned but not cached.
        """
        while True:
            hit = self.backend.get(k)
            if hit is not None:
                return hit
            _, theirs = self.flights.claim([k])
            if theirs:
                theirs[0][1].wait(timeout=_WAIT_SECONDS)
                hit = self.backend.get(k)
                if hit is not None:
                    return hit
                continue  # the first one failed (or was evicted at once): try ourselves
            try:
                with (self.slots if slotted and self.slots is not None else nullcontext()):
                    value = compute()
                if keep is None or keep(value):
                    self.backend.set(k, value, timeout=timeout)
                return value
            finally:
                self.flights.release([k])


def _no_cache() -> Cache | None:
    return None


_current: Callable[[], Cache | None] = _no_cache  # outside a web request: no cache


def install(current: Callable[[], Cache | None]) -> None:
    """The web app tells the models layer how to find the cache of the app serving this request."""
    global _current
    _current = current


def current() -> Cache | None:
    return _current()


# --- metric answers -----------------------------------------------------------------------------

def _source_version(q: MetricQuery, versions: dict[str, int]) -> int:
    metric = REGISTRY.get(q.metric)
    return version_of(versions, None if metric is None else [metric.source])


def _stamped(result: MetricResult, versions: dict[str, int]) -> MetricResult:
    """An answer cached under its source's version is the answer as of the current data version."""
    result.data_version = max(result.data_version, version_of(versions))
    return result


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
    """run_query through the cache; with no cache installed it simply runs the query."""
    return cached_queries([q], engine)[0]


def cached_queries(queries: Sequence[MetricQuery], engine: Engine | None = None) -> list[MetricResult]:
    """Several queries through the cache: the ones not cached are answered together by `run_queries`
    (one select per source, periods and split) and each is then cached on its own."""
    engine = engine or get_engine()
    cache = current()
    if cache is None:
        return run_queries(engine, queries)
    versions = cache.feed_versions(engine)
    # The scope is part of every key: an answer is shared only by askers who may see the same HWBs.
    keys = [key("q", _source_version(q, versions), scope_key(), q.cache_key()) for q in queries]
    plain: list[Any] = list(cache.backend.get_many(*keys)) if keys else []
    missing = [i for i, hit in enumerate(plain) if hit is None]
    if missing:
        # Per query, one computation at a time across requests and sections: fifty walls, or a page's
        # tiles and its chart asking for the same month, run it once. Ours are answered together.
        mine, theirs = cache.flights.claim([keys[i] for i in missing])
        try:
            if mine:
                asked = [missing[j] for j in mine]
                results = run_queries(engine, [queries[i] for i in asked], gate=cache.slots)
                for i, result in zip(asked, results):
                    plain[i] = _to_plain(result)
                    cache.backend.set(keys[i], plain[i],
                                      timeout=NOW_TIMEOUT_SECONDS if queries[i].at is None else None)
        finally:
            cache.flights.release([keys[missing[j]] for j in mine])
        for j, done in theirs:
            done.wait(timeout=_WAIT_SECONDS)
            plain[missing[j]] = cache.backend.get(keys[missing[j]])
        late = [i for i in missing if plain[i] is None]  # the other computation failed: ask ourselves
        if late:
            for i, result in zip(late, run_queries(engine, [queries[i] for i in late])):
                plain[i] = _to_plain(result)
    return [_stamped(_from_plain(p, q), versions) for p, q in zip(plain, queries)]


# --- other values: rows, pages, shared views ------------------------------------------------------

def cached_rows(name: str, params: str, fetch: Callable[[], list[dict[str, Any]]], *, pinned: bool,
                engine: Engine | None = None, sources: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Rows the models layer returns other than metrics (a table of services, the longest waits),
    cached the same way: plain rows keyed on what was asked and the data version."""
    rows = cached_value(name, params, lambda: [dict(r) for r in fetch()], pinned=pinned, engine=engine,
                        sources=sources)
    return [dict(r) for r in rows]


def cached_value(name: str, params: str, fetch: Callable[[], Any], *, pinned: bool,
                 engine: Engine | None = None, slotted: bool = True, keep: Callable[[Any], bool] | None = None,
                 sources: Iterable[str] | None = None) -> Any:
    """Any plain JSON value built from the models layer, keyed on the version of `sources` (all when not
    given). `slotted=False` for a value whose queries take the store's slots themselves (a whole page);
    `keep` as in `Cache.single_flight`."""
    engine = engine or get_engine()
    cache = current()
    if cache is None:
        return fetch()
    # A page may hold person-level rows (the longest waits) for a case worker: never served to a viewer.
    k = key("rows", version_of(cache.feed_versions(engine), sources), view_key(), name, params)
    return cache.single_flight(k, fetch, timeout=None if pinned else NOW_TIMEOUT_SECONDS, slotted=slotted, keep=keep)


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
    cache = current()
    if cache is None:
        return compute()
    k = key("view", scope_key(), name, params)
    version = version_of(cache.known_feed_versions(engine))
    minute = None if pinned else int(time.time() // refresh_seconds)
    entry = cache.backend.get(k)
    if isinstance(entry, dict) and entry.get("version") == version and entry.get("minute") == minute:
        return entry["value"]

    def build() -> dict[str, Any]:
        return {"version": version, "minute": minute, "value": compute()}

    if isinstance(entry, dict):  # stale: serve it, recompute once in the background
        principal = access.current()  # the view is recomputed for the same scope it is cached under

        def refresh() -> None:
            with access.using(principal):
                cache.backend.set(k, build(), timeout=VIEW_TIMEOUT_SECONDS)
        cache.flights.in_background("refresh:" + k, cache.carry(refresh), "homeward-view")
        return entry["value"]
    # Nothing yet: compute in line; concurrent first requests wait for this one. (The slots are
    # taken by the queries inside, not by the view as a whole.)
    return cache.single_flight(k, build, timeout=VIEW_TIMEOUT_SECONDS, slotted=False)["value"]
