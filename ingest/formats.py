"""Reading a delivery: CSV or JSON (array or newline-delimited) into a table of text columns.

Every value stays text here: the feed's checks decide what a good value is, so
that a bad one becomes a reject with a reason rather than a parser error.
Column names are folded to lower case and stripped, as feeds.md allows.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

BOM = b"\xef\xbb\xbf"


class UnreadableDelivery(Exception):
    """The whole delivery cannot be used: wrong format, broken file, missing required column."""


@dataclass(frozen=True)
class Tabular:
    table: pa.Table  # every column pa.string(), names normalised
    format: str  # "csv" | "json"
    # Rows that could not be split into the header's columns (a short, long or truncated row):
    # (row number, 1 = first data row; reason). They are not in `table`; they are rejected.
    broken: tuple[tuple[int, str], ...] = field(default=())


def normalise_name(name: str) -> str:
    return name.strip().lower()


def sniff_format(payload: bytes) -> str:
    head = payload[:4096].lstrip()
    return "json" if head[:1] in (b"[", b"{") else "csv"


def _not_utf8_text(payload: bytes) -> None:
    """UTF-16 or UTF-32 (with or without a byte-order mark) is not the UTF-8 feeds.md asks for;
    read as UTF-8 it would seem one column of NUL bytes."""
    head = payload[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise UnreadableDelivery("the delivery is not UTF-8 text (it looks like UTF-16 or UTF-32); send UTF-8")


def read_delivery(payload: bytes) -> Tabular:
    _not_utf8_text(payload)
    if payload.startswith(BOM):
        payload = payload[len(BOM):]
    if not payload or payload.isspace():  # (no stripped copy of a large payload)
        raise UnreadableDelivery("the delivery is empty")
    fmt = sniff_format(payload)
    if fmt == "json":
        return Tabular(table=_read_json(payload), format=fmt)
    table, broken = _read_csv(payload)
    return Tabular(table=table, format=fmt, broken=broken)


def _unique_names(names: list[str]) -> list[str]:
    normalised = [normalise_name(n) for n in names]
    seen: set[str] = set()
    for name in normalised:
        if name in seen:
            raise UnreadableDelivery(f"column '{name}' appears more than once")
        seen.add(name)
    return normalised


def _read_csv(payload: bytes) -> tuple[pa.Table, tuple[tuple[int, str], ...]]:
    end = payload.find(b"\n")
    first_line = payload[:end] if end >= 0 else payload  # (not split: that would copy the whole delivery)
    try:
        header_text = first_line.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableDelivery("the delivery is not UTF-8 text") from None
    header = next(csv.reader(io.StringIO(header_text)), [])
    if not header or all(not h.strip() for h in header):
        raise UnreadableDelivery("the CSV has no header row")
    names = _unique_names(header)
    broken: list[tuple[int | None, str]] = []

    def skip_broken(row: pacsv.InvalidRow) -> str:
        # The reason names the counts only: the row's text may hold an NHS number.
        number = None if row.number is None else row.number - 1  # arrow counts the header as row 1
        broken.append((number, f"the row has {row.actual_columns} columns, the header {row.expected_columns}"))
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        return pacsv.read_csv(
            pa.BufferReader(payload),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=16 << 20,
                                           use_threads=use_threads),
            # Every column as text, empty as missing: the checks type them.
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=[""],
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip_broken),
        )

    try:
        table = read(use_threads=True)
        if broken:
            # Arrow numbers the rows only when reading in one thread: read again to say which rows.
            broken.clear()
            table = read(use_threads=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # Invalid UTF-8, say: the file is broken, not just a row. A parse error's message ends
        # with the row's text, which may hold an NHS number, so that part is cut off.
        message = str(exc)
        if "parse error" in message:
            message = ":".join(message.split(":")[:2])
        raise UnreadableDelivery(f"the CSV cannot be read: {message[:300]}") from None
    return table, tuple((int(n) if n is not None else 0, reason) for n, reason in broken)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 5.0 in JSON is the whole number 5
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)  # nested values fail their field's check with a readable reason


def _read_json(payload: bytes) -> pa.Table:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableDelivery("the delivery is not UTF-8 text") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            records = json.loads(stripped)
        else:
            records = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise UnreadableDelivery(f"the JSON cannot be read: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UnreadableDelivery("the JSON must be an array of objects or one object per line")
    columns: dict[str, list[str | None]] = {}
    for index, record in enumerate(records):
        keys = _unique_names(list(record.keys()))
        for key, value in zip(keys, record.values()):
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * index
            column.append(_text(value))
        for column in columns.values():
            if len(column) == index:  # this record lacked the key
                column.append(None)
    return pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})


KEPT_BLOCK_ROWS = 65_536


def delivery_chunks(table: pa.Table, fmt: str, header: bool = True) -> Iterator[bytes]:
    """A table back to bytes in its delivery's format (for the kept, pseudonymised copy), a block of
    rows at a time: a large delivery's copy is written as it is made, never held whole. (`header`:
    the CSV's header line first; not for the blocks that follow one.)"""
    for number, batch in enumerate(table.to_batches(max_chunksize=KEPT_BLOCK_ROWS) or [table]):
        if fmt == "csv":
            sink = io.BytesIO()
            pacsv.write_csv(batch, sink, write_options=pacsv.WriteOptions(include_header=header and number == 0))
            yield sink.getvalue()
        else:
            yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch.to_pylist()).encode("utf-8")
