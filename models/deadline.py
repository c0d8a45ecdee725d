"""A time limit on the store work of one web request (HOMEWARD_QUERY_TIMEOUT_SECONDS).

The web server sets a deadline as each request begins (and, where the server can tell, a test for
the client having gone); a select run under it is interrupted in the store when either comes, so a
runaway query stops using the machine instead of finishing for nobody. CLI and scheduler work has
no deadline.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator, cast

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


@contextmanager
def watched(dbapi_conn: Any) -> Iterator[None]:
    """Run a select on `dbapi_conn`, interrupting it at the deadline or when the client goes."""
    limit = _deadline.get()
    if limit is None:
        yield
        return
    end, gone = limit
    if time.monotonic() >= end:
        raise QueryTimeout("the request's time limit passed before the store was asked")
    stop, fired = threading.Event(), threading.Event()
    interrupt = _interrupter(dbapi_conn)

    def watch() -> None:
        while not stop.wait(max(0.0, min(POLL_SECONDS, end - time.monotonic()))):
            if time.monotonic() >= end or (gone is not None and gone()):
                fired.set()
                interrupt()
                return
    watcher = threading.Thread(target=watch, name="homeward-deadline", daemon=True)
    watcher.start()
    try:
        yield
    except Exception:
        if fired.is_set():
            raise QueryTimeout("the store work of this request took longer than its time limit") from None
        raise
    finally:
        stop.set()
