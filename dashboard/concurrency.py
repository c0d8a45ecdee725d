"""Run a page's independent sections side by side (each waits on the store, not the CPU), and share
the store's query slots between requests, oldest request first (`OldestFirst`).

Each worker runs inside the request's Flask app context, so the query cache
is the app's own; nothing is shared between requests.
"""
from __future__ import annotations

import contextvars
import heapq
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import flask

from models import access

MAX_WORKERS = 6

# When the request being served began (time.monotonic()); the sections of its page inherit it.
REQUEST_STARTED: contextvars.ContextVar[float | None] = contextvars.ContextVar("homeward_request_started", default=None)


def mark_request_started() -> None:
    """Flask before_request: the store's slots go to the requests that began first (`OldestFirst`)."""
    REQUEST_STARTED.set(time.monotonic())


class OldestFirst:
    """A semaphore of the store's slots that, when they are all taken, hands the next free one to the
    waiter whose request began first (work outside a request: when it asked).

    Two cold pages asked a moment apart then finish one after the other, not both at the end: the
    first is not held back by every select of the second. A context manager, for `run_queries`' gate.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._lock = threading.Lock()
        self._waiting: list[tuple[float, int, threading.Event]] = []  # a heap: (request start, arrival, wake)
        self._arrivals = itertools.count()

    def acquire(self) -> None:
        started = REQUEST_STARTED.get()
        with self._lock:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return
            wake = threading.Event()
            heapq.heappush(self._waiting, (time.monotonic() if started is None else started,
                                           next(self._arrivals), wake))
        wake.wait()  # the slot is handed over by `release`, not taken back from the pool

    def release(self) -> None:
        with self._lock:
            if self._waiting:
                heapq.heappop(self._waiting)[2].set()
            else:
                self._free += 1

    def __enter__(self) -> "OldestFirst":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def run_parallel(thunks: Sequence[Callable[[], Any]]) -> list[Any]:
    """Results in the order given; outside a Flask app the thunks simply run one after another."""
    if len(thunks) < 2 or not flask.has_app_context():
        return [t() for t in thunks]
    app = flask.current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug's proxy
    started = REQUEST_STARTED.get()
    principal = access.current()

    def in_context(thunk: Callable[[], Any]) -> Any:
        REQUEST_STARTED.set(started)  # the section is part of the request that asked for it
        with app.app_context(), access.using(principal):  # and is computed for the same principal
            return thunk()

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(thunks)), thread_name_prefix="homeward-section") as pool:
        return list(pool.map(in_context, thunks))
