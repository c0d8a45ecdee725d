"""Bulk staging: put a validated Arrow table into a temporary table inside the load's transaction.

Row-by-row INSERTs cannot reach the throughput the feeds need, so each store
gets its fastest bulk path — DuckDB scans the Arrow table directly, PostgreSQL
takes a COPY — and the upserts that follow are plain SQL shared by both.
"""
from __future__ import annotations

import io
import threading
from contextlib import contextmanager
from typing import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.db import is_duckdb


def _pg_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE PRECISION"
    return "TEXT"


def stage(conn: Connection, name: str, table: pa.Table) -> None:
    """Create temporary table `name` holding `table`, in `conn`'s current transaction."""
    drop_stage(conn, name)
    if is_duckdb(conn):
        raw = conn.connection.driver_connection
        view = f"{name}_arrow"
        raw.register(view, table)
        try:
            raw.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {view}")
        finally:
            raw.unregister(view)
        return
    columns = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in table.schema)
    conn.execute(sa.text(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP"))
    if table.num_rows == 0:
        return
    # Microsecond timestamps print as PostgreSQL reads them; unquoted empty is NULL in COPY csv.
    casts = [pc_cast_us(col) for col in table.columns]
    table = pa.table(casts, names=table.column_names)
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{n}"' for n in table.column_names)
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {name} ({names}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(sink.getvalue())


# Large deliveries are written in slices of this many rows, one statement each, all in the one
# transaction: each statement's working memory stays bounded without giving up atomicity.
SLICE_ROWS = 250_000


def slices(table: pa.Table, rows: int = SLICE_ROWS) -> Iterator[pa.Table]:
    """Zero-copy slices of `table`, in order (the whole table when it is small)."""
    for offset in range(0, max(table.num_rows, 1), rows):
        yield table.slice(offset, rows)


@contextmanager
def staged(conn: Connection, name: str, table: pa.Table) -> Iterator[None]:
    """`table` readable as `name` for the statements inside the block, in `conn`'s transaction.

    DuckDB reads the Arrow table in place (a view registered on the connection, removed
    on the way out, so nothing is copied); PostgreSQL gets a COPY into a temporary table."""
    if not is_duckdb(conn):
        stage(conn, name, table)  # ON COMMIT DROP: gone with the transaction whatever happens
        yield
        drop_stage(conn, name)
        return
    raw = conn.connection.driver_connection
    raw.register(name, table)
    try:
        yield
    finally:
        raw.unregister(name)


def pc_cast_us(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type) and column.type.unit != "us":
        return column.cast(pa.timestamp("us"))
    return column


def drop_stage(conn: Connection, name: str) -> None:
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))


# DuckDB `threads` is a setting of the whole database, so the loads that narrow it share the change.
_threads_lock = threading.Lock()
_threads_held: dict[str, tuple[int, str]] = {}  # store URL -> (loads inside, setting to restore)


@contextmanager
def one_writer_thread(conn: Connection) -> Iterator[None]:
    """DuckDB: run the bulk appends inside the block on one thread (a no-op on PostgreSQL).

    Measured on a million 21-column rows into two tables: a parallel append costs about twice
    the CPU of a serial one and leaves the commit to rewrite what it wrote (4-5 s against
    0.1 s), for no gain in elapsed time. Queries running meanwhile on the same store (the
    dashboard) get one thread too, for those few seconds; the setting is put back after."""
    if not is_duckdb(conn):
        yield
        return
    raw = conn.connection.driver_connection
    url = str(conn.engine.url)
    with _threads_lock:
        inside, before = _threads_held.get(url, (0, ""))
        if inside == 0:
            before = str(raw.execute("SELECT current_setting('threads')").fetchone()[0])  # type: ignore[union-attr]  # DuckDB has a driver connection
            raw.execute("SET threads = 1")
        _threads_held[url] = (inside + 1, before)
    try:
        yield
    finally:
        with _threads_lock:
            inside, before = _threads_held.pop(url)
            if inside > 1:
                _threads_held[url] = (inside - 1, before)
            else:
                raw.execute(f"SET threads = {int(before)}")
