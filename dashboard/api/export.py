"""Exports: a dataset's rows as CSV, XLSX, Parquet or JSON, streamed.

The table datasets (capacity, cases, sitrep) take a fast path where the store
formats the rows itself — DuckDB `COPY … TO` a temporary file for CSV / JSON and
Arrow record batches for Parquet; PostgreSQL `COPY … TO STDOUT` streamed for
CSV (see "fast paths" below). Otherwise rows arrive in chunks
(`models.datasets.iter_chunks`, a server-side cursor), so memory stays flat
however many rows an export holds:

- CSV and JSON are generators that encode one chunk at a time;
- Parquet writes one row group per chunk to a temporary file, then streams it;
- XLSX uses xlsxwriter's constant_memory mode (rows flushed as written) to a
  temporary file, then streams it. A sheet holds at most 1,048,576 rows, so a
  bigger export continues on "data 2", "data 3" … rather than failing.

Store work stays under the request's time limit (models.deadline) however the rows go out: the
fast paths' COPY and Arrow reads as the request runs, and the rows read after its handler has returned
(PostgreSQL's COPY stream, `iter_chunks`) on what was left of it then, counting only the store's time.
Past it before a byte is sent, the request is a 504 and no file is left; once a download has begun, it
ends where it is with one log line (a JSON export then lacks its closing brackets).

Every export states whether small-number suppression was applied: the
`X-Homeward-Suppression` header, the XLSX "about" sheet, the Parquet schema
metadata and the JSON envelope.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import tempfile
from datetime import date, datetime, timezone
from typing import Any, Iterator

from sqlalchemy.engine import Engine

from dashboard.export_table import FORMATS, SUPPRESSED, XLSX_MAX_DATA_ROWS, ExportTable
from models import datasets, deadline
from models.deadline import QueryTimeout

log = logging.getLogger(__name__)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(v: Any) -> Any:
    """Text a spreadsheet would run as a formula, prefixed with ' (shown as text); numbers are left alone."""
    if isinstance(v, str) and v.startswith(FORMULA_STARTS):
        return "'" + v
    return v


def _sql_csv_safe(q: str) -> str:
    """`csv_safe` in SQL (both stores), for the text columns of the fast paths."""
    starts = "'=', '+', '-', '@', chr(9), chr(13)"
    return f"CASE WHEN substr({q}, 1, 1) IN ({starts}) THEN '''' || {q} ELSE {q} END"


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if v is SUPPRESSED:
        return "*"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return csv_safe(v)


def stopped_at_the_limit(body: Iterator[bytes], table: ExportTable, fmt: str) -> Iterator[bytes]:
    """`body`; past the time limit (or with the client gone) before its first block, QueryTimeout goes up
    (the route answers 504); after it, the status has been sent, so the download ends here, logged once."""
    sent = 0
    try:
        for block in body:
            sent += len(block)
            yield block
    except QueryTimeout as exc:
        if not sent:
            raise
        log.warning("stopped the %s export of %s after %d bytes: %s", fmt, table.dataset, sent, exc)


def iter_csv(table: ExportTable) -> Iterator[bytes]:
    """CSV, one encoded chunk at a time (the caller closes the table when the stream ends)."""
    return stopped_at_the_limit(_csv_blocks(table), table, "csv")


def _csv_blocks(table: ExportTable) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.name for c in table.columns])
    yield buf.getvalue().encode("utf-8")
    for chunk in table.counted():
        buf.seek(0)
        buf.truncate()
        writer.writerows([[_csv_cell(v) for v in row] for row in chunk])
        yield buf.getvalue().encode("utf-8")


def _json_cell(v: Any) -> Any:
    if v is SUPPRESSED:
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def iter_json(table: ExportTable) -> Iterator[bytes]:
    """`{"dataset", "as_of", "data_version", "suppression", "filters", "columns", "rows": [{...}]}`, streamed."""
    return stopped_at_the_limit(_json_blocks(table), table, "json")


def _json_blocks(table: ExportTable) -> Iterator[bytes]:
    head = table.about()
    head["columns"] = [{"name": c.name, "type": c.type, "meaning": c.meaning} for c in table.columns]
    yield (json.dumps(head)[:-1] + ', "rows": [').encode("utf-8")
    names = [c.name for c in table.columns]
    first = True
    for chunk in table.counted():
        parts = [json.dumps({n: _json_cell(v) for n, v in zip(names, row)}) for row in chunk]
        if parts:
            yield (("" if first else ",") + ",".join(parts)).encode("utf-8")
            first = False
    yield b"]}"


def _arrow_schema(table: ExportTable) -> Any:
    import pyarrow as pa

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(),
             "datetime": pa.timestamp("us", tz="UTC"), "date": pa.date32(), "bool": pa.bool_()}
    fields = [pa.field(c.name, types[c.type], metadata={"meaning": c.meaning}) for c in table.columns]
    about = table.about()
    return pa.schema(fields, metadata={
        "homeward": json.dumps(about),
        "homeward.suppression": about["suppression"],
    })


def write_parquet(table: ExportTable, path: str) -> None:
    """One row group per chunk; the file, not memory, grows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(table)
    try:
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for chunk in table.counted():
                cols = list(zip(*chunk)) if chunk else [() for _ in table.columns]
                arrays = [
                    pa.array([None if v is SUPPRESSED else v for v in col], type=schema.field(i).type)
                    for i, col in enumerate(cols)
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            if table.rows == 0:
                writer.write_table(schema.empty_table())
    finally:  # stopped part-way (the time limit): the cursor goes back at once, and the caller drops the file
        table.close()


def write_xlsx(table: ExportTable, path: str) -> None:
    """Typed cells in constant_memory mode, a header row, and an "about" sheet."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False,
                                      "strings_to_formulas": False, "strings_to_urls": False})
    try:
        bold = book.add_format({"bold": True})
        dt_fmt = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        d_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
        names = [c.name for c in table.columns]
        types = [c.type for c in table.columns]

        def new_sheet(n: int) -> Any:
            ws = book.add_worksheet("data" if n == 1 else f"data {n}")
            ws.write_row(0, 0, names, bold)
            ws.freeze_panes(1, 0)
            return ws

        sheet_no = 1
        ws = new_sheet(sheet_no)
        about_ws = book.add_worksheet("about")  # the second sheet, filled in once the rows are counted
        r = 0
        for chunk in table.counted():
            for row in chunk:
                if r == XLSX_MAX_DATA_ROWS:
                    sheet_no += 1
                    ws = new_sheet(sheet_no)
                    r = 0
                r += 1
                for col, (v, t) in enumerate(zip(row, types)):
                    if v is None or v is SUPPRESSED:
                        continue
                    if t == "datetime":
                        ws.write_datetime(r, col, v, dt_fmt)
                    elif t == "date":
                        ws.write_datetime(r, col, datetime(v.year, v.month, v.day), d_fmt)
                    elif t == "bool":
                        ws.write_boolean(r, col, bool(v))
                    elif t in ("int", "float"):
                        ws.write_number(r, col, v)
                    else:
                        ws.write_string(r, col, csv_safe(str(v)))
        about = table.about()
        info: list[tuple[str, Any]] = [
            ("dataset", about["dataset"]),
            *([("metric", about["metric"])] if "metric" in about else []),
            ("as at", about["as_of"]),
            ("data version", about["data_version"]),
            ("suppression", about["suppression"] + (
                " (NHS small-number suppression: counts 1-7 withheld, others rounded to the nearest 5)"
                if table.suppression_applied else "")),
            ("filters", json.dumps(about["filters"], sort_keys=True)),
            ("rows", table.rows),
            ("times", "UTC"),
        ]
        for i, (k, v) in enumerate(info):
            about_ws.write_string(i, 0, k, bold)
            if isinstance(v, int):
                about_ws.write_number(i, 1, v)
            else:
                about_ws.write_string(i, 1, str(v))
        start = len(info) + 1
        about_ws.write_row(start, 0, ["column", "type", "meaning"], bold)
        for i, c in enumerate(table.columns, start=start + 1):
            about_ws.write_row(i, 0, [c.name, c.type, c.meaning])
    finally:
        book.close()
        table.close()


def iter_file(path: str, block: int = 1 << 20) -> Iterator[bytes]:
    """Stream a temporary file and delete it, however the stream ends."""
    try:
        with open(path, "rb") as fh:
            while data := fh.read(block):
                yield data
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def build_to_tempfile(table: ExportTable, fmt: str) -> str:
    fd, path = tempfile.mkstemp(prefix="homeward-export-", suffix=f".{FORMATS[fmt][1]}")
    os.close(fd)
    try:
        (write_parquet if fmt == "parquet" else write_xlsx)(table, path)
    except BaseException:
        os.unlink(path)
        raise
    return path


# --- fast paths: the database writes the rows ---------------------------------
#
# Python row streaming runs at ~10,000 rows/s. For the table datasets (capacity,
# cases, sitrep: never suppressed) the store formats the rows itself:
#
# - DuckDB: `COPY (<the dataset's select, parameters bound>) TO '<tmp file>'` for
#   CSV and JSON (same cell formats as the Python writers: ISO times, true/false,
#   empty for missing, CRLF), and Arrow record batches (`fetch_record_batch`) cast to
#   the export's schema for Parquet; the temporary file is then streamed.
# - PostgreSQL: `COPY (…) TO STDOUT WITH CSV HEADER` through psycopg's `cursor.copy`,
#   streamed block by block (cells formatted in SQL to match).
#
# The metric dataset is small and suppressed cell by cell, so it keeps the Python path.

_DUCK_COPY_ROWS = 100_000  # Arrow batch / Parquet row group size


def _compiled(engine: Engine, stmt: Any) -> tuple[str, Any]:
    compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    if engine.dialect.positional:
        return compiled.string, [compiled.params[k] for k in compiled.positiontup]
    return compiled.string, dict(compiled.params)


def _fast_select(table: ExportTable) -> Any:
    assert table.query is not None and table.engine is not None
    # Same ordering rule as `datasets.iter_chunks`: a whole-table DuckDB export comes unsorted.
    ordered = not (table.engine.dialect.name == "duckdb" and table.query.limit is None)
    return datasets.dataset_select(table.query, ordered=ordered)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _duck_cursor(conn: Any) -> Any:
    """A DuckDB cursor on the pooled connection's database, without the console progress bar
    (a long COPY would otherwise draw one on the server's stderr)."""
    driver = conn.connection.driver_connection
    cursor = getattr(driver, "_ConnectionWrapper__c", driver).cursor()
    cursor.execute("SET enable_progress_bar = false")
    return cursor


def _duck_json_select(table: ExportTable, sql: str) -> str:
    """Times as `_json_cell` writes them: ISO 8601 with +00:00 (fraction only when there is one)."""
    cols = []
    for c in table.columns:
        q = _quote_ident(c.name)
        if c.type == "datetime":
            cols.append(f"CASE WHEN epoch_us({q}) % 1000000 = 0 THEN strftime({q}, '%Y-%m-%dT%H:%M:%S+00:00') "
                        f"ELSE strftime({q}, '%Y-%m-%dT%H:%M:%S.%f+00:00') END AS {q}")
        else:
            cols.append(q)
    return f"SELECT {', '.join(cols)} FROM ({sql}) AS export_rows"


def _duck_copy(table: ExportTable, fmt: str, path: str) -> None:
    assert table.engine is not None
    sql, params = _compiled(table.engine, _fast_select(table))
    target = path.replace("'", "''")
    if fmt == "csv":
        copy = (f"COPY ({_duck_csv_select(table, sql)}) TO '{target}' (FORMAT CSV, HEADER, NEW_LINE '\r\n', "
                "TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%S', DATEFORMAT '%Y-%m-%d')")
    else:
        copy = f"COPY ({_duck_json_select(table, sql)}) TO '{target}' (FORMAT JSON, ARRAY true)"
    with table.engine.connect() as conn:
        raw = _duck_cursor(conn)
        try:
            with deadline.watched(raw):  # the request's time limit; a stopped COPY's file is removed
                row = raw.execute(copy, params).fetchone()
        finally:
            raw.close()
    table.rows = int(row[0]) if row else 0
    if fmt == "csv" and table.rows == 0:  # DuckDB ends a lone header with LF; the CSV writer uses CRLF
        with open(path, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\r\n").writerow([c.name for c in table.columns])


def _duck_parquet(table: ExportTable, path: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert table.engine is not None
    sql, params = _compiled(table.engine, _fast_select(table))
    schema = _arrow_schema(table)
    with table.engine.connect() as conn:
        raw = _duck_cursor(conn)
        try:
            with deadline.watched(raw), pq.ParquetWriter(path, schema, compression="zstd") as writer:
                raw.execute(sql, params)
                for batch in raw.fetch_record_batch(_DUCK_COPY_ROWS):
                    if batch.num_rows == 0:
                        continue
                    part = pa.Table.from_batches([batch]).rename_columns(schema.names).cast(schema)
                    writer.write_table(part)
                    table.rows += batch.num_rows
                if table.rows == 0:
                    writer.write_table(schema.empty_table())
        finally:
            raw.close()


def fast_file(table: ExportTable, fmt: str) -> tuple[str, bytes, bytes] | None:
    """For a DuckDB table dataset: (temporary file, bytes before it, bytes after it), rows counted.

    None when this export takes the Python path (the metric dataset, XLSX, PostgreSQL).
    """
    if table.query is None or table.engine is None or table.engine.dialect.name != "duckdb":
        return None
    if fmt not in ("csv", "json", "parquet"):
        return None
    fd, path = tempfile.mkstemp(prefix="homeward-export-", suffix=f".{FORMATS[fmt][1]}")
    os.close(fd)
    try:
        if fmt == "parquet":
            _duck_parquet(table, path)
        else:
            _duck_copy(table, fmt, path)
    except BaseException:
        os.unlink(path)
        raise
    if fmt != "json":
        return path, b"", b""
    head = table.about()
    head["columns"] = [{"name": c.name, "type": c.type, "meaning": c.meaning} for c in table.columns]
    # The file is `[ {...}, ... ]`: the envelope goes round it.
    return path, (json.dumps(head)[:-1] + ', "rows": ').encode("utf-8"), b"}"


def _pg_csv_select(table: ExportTable, sql: str) -> str:
    """Cells as `_csv_cell` writes them (PostgreSQL's own text forms differ: t/f, 300 for 300.0, a space in times)."""
    cols = []
    for c in table.columns:
        q = _quote_ident(c.name)
        if c.type == "datetime":
            cols.append(f"to_char({q}, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS {q}")
        elif c.type == "date":
            cols.append(f"to_char({q}, 'YYYY-MM-DD') AS {q}")
        elif c.type == "bool":
            cols.append(f"CASE WHEN {q} THEN 'true' WHEN NOT {q} THEN 'false' END AS {q}")
        elif c.type == "float":
            cols.append(f"CASE WHEN {q} = trunc({q}) AND abs({q}) < 1e16 "
                        f"THEN trunc({q})::bigint::text || '.0' ELSE {q}::text END AS {q}")
        elif c.type == "str":
            cols.append(f"{_sql_csv_safe(q)} AS {q}")
        else:
            cols.append(q)
    return f"SELECT {', '.join(cols)} FROM ({sql}) AS export_rows"


def _duck_csv_select(table: ExportTable, sql: str) -> str:
    cols = [f"{_sql_csv_safe(_quote_ident(c.name))} AS {_quote_ident(c.name)}" if c.type == "str"
            else _quote_ident(c.name) for c in table.columns]
    return f"SELECT {', '.join(cols)} FROM ({sql}) AS export_rows"


def _crlf(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """LF record ends → CRLF, leaving line breaks inside quoted cells as they are."""
    in_quotes = False
    for block in blocks:
        if not in_quotes and b'"' not in block:
            yield block.replace(b"\n", b"\r\n")
            continue
        out = bytearray()
        for i, part in enumerate(block.split(b"\n")):
            if i:
                out += b"\n" if in_quotes else b"\r\n"
            out += part
            if part.count(b'"') % 2:
                in_quotes = not in_quotes
        yield bytes(out)


def pg_csv_stream(table: ExportTable) -> Iterator[bytes] | None:
    """For a PostgreSQL table dataset: the CSV as `COPY … TO STDOUT` produces it (started, not yet read).

    The COPY runs when the generator is first advanced (the route primes it, so a
    failing query is an HTTP error); the rows are counted from the COPY's status. It is
    read under what is left of the request's time limit (`deadline.Budget`).
    """
    if table.query is None or table.engine is None or table.engine.dialect.name != "postgresql":
        return None
    sql, params = _compiled(table.engine, _fast_select(table))
    copy_sql = f"COPY ({_pg_csv_select(table, sql)}) TO STDOUT WITH (FORMAT csv, HEADER true)"
    engine = table.engine
    limit = deadline.budget()  # taken now: the COPY is read after the route has returned

    def blocks() -> Iterator[bytes]:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            limit.attach(raw)
            with raw.cursor() as cur:
                with cur.copy(copy_sql, params) as copy:
                    for data in copy:
                        yield bytes(data)
                table.rows = max(0, int(cur.rowcount or 0))
            conn.rollback()

    # Timed a ~1 MB block at a time: COPY hands over a row at a time.
    return stopped_at_the_limit(_crlf(limit.timed(_rebuffer(blocks()))), table, "csv")


def _rebuffer(blocks: Iterator[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """COPY hands over a row at a time; the response goes out in ~1 MB blocks."""
    buf = bytearray()
    for data in blocks:
        buf += data
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)
