"""A time limit on the store work of one web request (HOMEWARD_QUERY_TIMEOUT_SECONDS).

The web server sets a deadline as each request begins (and, where the server can tell, a test for
the client having gone); a select run under it is interrupted in the store when either comes, so a
runaway query stops using the machine instead of finishing for nobody. CLI and scheduler work has
no deadline.

One timer thread serves the whole process: a select registers with it for as long as it runs (a
page asks a dozen or more, and a thread started per select cost more than many of the selects).
"""
from __future__ import annotations

import math
import os
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator, TypeVar, cast

POLL_SECONDS = 0.25  # how often a running select checks whether its client has gone

_deadline: ContextVar[tuple[float, Callable[[], bool] | None] | None] = ContextVar("homeward_deadline", default=None)


class QueryTimeout(Exception):
    """The request's store work passed its time limit, or its client went away (HTTP 504)."""


def start(seconds: float, client_gone: Callable[[], bool] | None = None) -> None:
    """From now on in this context, store work must end within `seconds`."""
    _deadline.set((time.monotonic() + seconds, client_gone))


def clear() -> None:
    _deadline.set(None)


def _interrupter(dbapi_conn: Any) -> Callable[[], None]:
    driver = getattr(dbapi_conn, "driver_connection", dbapi_conn)
    for name in ("interrupt", "cancel"):  # DuckDB; psycopg (safe from another thread)
        method = getattr(driver, name, None)
        if callable(method):
            return cast(Callable[[], None], method)
    return lambda: None


class _Watch:
    """One running select: when it must end, how to tell its client has gone, how to stop it."""

    __slots__ = ("end", "gone", "interrupt", "lock", "fired", "over")

    def __init__(self, end: float, gone: Callable[[], bool] | None, interrupt: Callable[[], None]) -> None:
        self.end, self.gone, self.interrupt = end, gone, interrupt
        self.lock = threading.Lock()  # held while stopping it, so a select that has ended is never stopped
        self.fired = False
        self.over = False

    def fire(self) -> None:
        with self.lock:
            if self.over or self.fired:
                return
            self.fired = True
            try:
                self.interrupt()
            except Exception:  # noqa: BLE001 - a connection already gone has nothing left to stop
                pass


class _Timer:
    """The one thread that stops selects whose time is up or whose client has gone."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Also after a fork: a forked worker (gunicorn) has none of its parent's threads; it starts its own."""
        self._cond = threading.Condition()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the thread next looks, were nothing to change

    def add(self, watch: _Watch) -> None:
        now = time.monotonic()
        due = min(watch.end, now + POLL_SECONDS if watch.gone is not None else math.inf)
        with self._cond:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="homeward-deadline", daemon=True)
                self._thread.start()
            elif due < self._wake_at:  # otherwise the sleeping thread wakes in time on its own
                self._cond.notify()

    def remove(self, watch: _Watch) -> None:
        with watch.lock:
            watch.over = True
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        next_poll = 0.0
        while True:
            with self._cond:
                now = time.monotonic()
                live = [w for w in self._watches if not w.fired]
                polled = any(w.gone is not None for w in live)
                wake = min((w.end for w in live), default=math.inf)
                if polled:
                    wake = min(wake, next_poll)
                if wake > now:
                    self._wake_at = wake
                    self._cond.wait(None if wake == math.inf else wake - now)
                    self._wake_at = -math.inf  # awake: no need to be woken
                    continue
            # outside the lock: asking a client and cancelling a PostgreSQL query take a moment
            poll = polled and now >= next_poll
            if poll:
                next_poll = now + POLL_SECONDS
            for w in live:
                if now >= w.end or (poll and w.gone is not None and _has_gone(w.gone)):
                    w.fire()


def _has_gone(gone: Callable[[], bool]) -> bool:
    try:
        return bool(gone())
    except Exception:  # noqa: BLE001 - a server that cannot tell has not said the client went
        return False


_TIMER = _Timer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_TIMER.reset)


@contextmanager
def _watching(end: float, gone: Callable[[], bool] | None, interrupt: Callable[[], None]) -> Iterator[None]:
    if time.monotonic() >= end:
        raise QueryTimeout("the request's time limit passed before the store was asked")
    watch = _Watch(end, gone, interrupt)
    _TIMER.add(watch)
    try:
        yield
    except Exception:
        if watch.fired:
            raise QueryTimeout("the store work of this request took longer than its time limit") from None
        raise
    finally:
        _TIMER.remove(watch)


@contextmanager
def watched(dbapi_conn: Any) -> Iterator[None]:
    """Run a select on `dbapi_conn`, interrupting it at the deadline or when the client goes."""
    limit = _deadline.get()
    if limit is None:
        yield
        return
    end, gone = limit
    with _watching(end, gone, _interrupter(dbapi_conn)):
        yield


_T = TypeVar("_T")
_END = object()


class Budget:
    """What is left of the request's time limit, for store work read out after the request handler has
    returned (an export streamed to its client, or written to a file and then sent).

    Only the time the store spends producing rows counts against it: not the time the client takes to
    read them, nor the export's own writing, so a large export to a slow client is not cut off while a
    store that stalls still is. Taken while the request runs (`budget()`); without a limit it does nothing.
    """

    def __init__(self, left: float | None, gone: Callable[[], bool] | None) -> None:
        self.left, self.gone = left, gone
        self._interrupt: Callable[[], None] = lambda: None

    def attach(self, dbapi_conn: Any) -> None:
        """The connection the rows come from: the one interrupted when the budget runs out."""
        if self.left is not None:
            self._interrupt = _interrupter(dbapi_conn)

    def timed(self, items: Iterator[_T]) -> Iterator[_T]:
        """`items` (whose store work runs as each is asked for), stopped with QueryTimeout when the budget
        is spent or the client has gone."""
        return items if self.left is None else self._timed(items)

    def _timed(self, items: Iterator[_T]) -> Iterator[_T]:
        try:
            while True:
                if self.gone is not None and _has_gone(self.gone):
                    raise QueryTimeout("the client went away")
                began = time.monotonic()
                try:
                    with _watching(began + cast(float, self.left), self.gone, lambda: self._interrupt()):
                        item = next(items, _END)
                finally:
                    self.left = cast(float, self.left) - (time.monotonic() - began)
                if item is _END:
                    return
                yield cast(_T, item)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()


def budget() -> Budget:
    """The running request's time limit (none outside a web request), carried to where its rows are read."""
    limit = _deadline.get()
    if limit is None:
        return Budget(None, None)
    end, gone = limit
    return Budget(end - time.monotonic(), gone)
