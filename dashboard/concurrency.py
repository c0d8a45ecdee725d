"""Run a page's independent sections side by side (each waits on the store, not the CPU).

Each worker runs inside the request's Flask app context, so the query cache
is the app's own; nothing is shared between requests.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import flask

MAX_WORKERS = 6


def run_parallel(thunks: Sequence[Callable[[], Any]]) -> list[Any]:
    """Results in the order given; outside a Flask app the thunks simply run one after another."""
    if len(thunks) < 2 or not flask.has_app_context():
        return [t() for t in thunks]
    app = flask.current_app._get_current_object()  # type: ignore[attr-defined]

    def in_context(thunk: Callable[[], Any]) -> Any:
        with app.app_context():
            return thunk()

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(thunks)), thread_name_prefix="homeward-section") as pool:
        return list(pool.map(in_context, thunks))
