"""The web app's cache backend: Flask-Caching (Redis when HOMEWARD_CACHE_URL is set, shared by web
workers; else in-process), handed to the one cache mechanism in `models.cache`.

Kept on the app, not in a module global, so two apps never share it.
"""
from __future__ import annotations

from typing import Any, Callable

import flask
from flask_caching import Cache

from dashboard.concurrency import OldestFirst
from models import cache as models_cache
from models import settings

EXTENSION_KEY = "homeward_cache"  # the Flask-Caching backend (bench/dashboard.py clears it between cold runs)
STATE_KEY = "homeward_cache_state"  # the app's `models.cache.Cache`
# Queries running against the store at once, across all requests of this process. The
# store already uses every core for one query; more at once only makes each slower.
MAX_CONCURRENT_QUERIES = 3
# Bounded so a wall left running for days cannot grow the process without limit.
_SIMPLE_THRESHOLD = 4000


def make_cache(server: flask.Flask) -> models_cache.Cache:
    url = settings.cache_url()
    config: dict[str, Any] = {"CACHE_DEFAULT_TIMEOUT": models_cache.VIEW_TIMEOUT_SECONDS}
    if url:
        config |= {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url, "CACHE_KEY_PREFIX": "homeward:"}
    else:
        config |= {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": _SIMPLE_THRESHOLD}
    backend = Cache(config=config)
    backend.init_app(server)

    def carry(work: Callable[[], None]) -> Callable[[], None]:
        def in_app() -> None:
            with server.app_context():
                work()
        return in_app

    cache = models_cache.Cache(backend, slots=OldestFirst(MAX_CONCURRENT_QUERIES), carry=carry)
    server.extensions[EXTENSION_KEY] = backend
    server.extensions[STATE_KEY] = cache
    models_cache.install(_current)
    return cache


def _current() -> models_cache.Cache | None:
    """The cache of the app serving this request (none outside an app context: the CLI, plain tests)."""
    if not flask.has_app_context():
        return None
    cache = flask.current_app.extensions.get(STATE_KEY)
    return cache if isinstance(cache, models_cache.Cache) else None
