"""The query cache: plain rows keyed on the query and the store's data version.

Keying on `data_version(engine)` (the latest ingest run that changed data)
means a new delivery shows at the next refresh and the cache never serves
numbers older than the store. Only plain data is cached (never Plotly
figures), so the same entries work in the in-process cache and in Redis.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import flask
from flask_caching import Cache
from sqlalchemy.engine import Engine

from models import settings
from models.db import get_engine
from models.query import MetricQuery, MetricResult, data_version, run_query

EXTENSION_KEY = "homeward_cache"
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
    return cache


def _current_cache() -> Cache | None:
    if not flask.has_app_context():
        return None
    cache = flask.current_app.extensions.get(EXTENSION_KEY)
    return cache if isinstance(cache, Cache) else None


def _key(q: MetricQuery, version: int) -> str:
    return "q:" + hashlib.sha256(f"{version}|{q.cache_key()}".encode()).hexdigest()


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
    engine = engine or get_engine()
    cache = _current_cache()
    if cache is None:
        return run_query(engine, q)
    key = _key(q, data_version(engine))
    hit = cache.get(key)
    if isinstance(hit, dict):
        return _from_plain(hit, q)
    result = run_query(engine, q)
    # "Now" moves on even when no data arrives (waits grow by the minute), so
    # an unpinned query is kept only briefly; pinned ones until evicted.
    cache.set(key, _to_plain(result), timeout=60 if q.at is None else None)
    return result
