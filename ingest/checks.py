"""Row checks, run as SQL over the whole delivery in a private in-memory DuckDB.

Checking a million rows one at a time in Python is far too slow for the
throughput the feeds need, so each rule is a set-based query: the delivery's
text columns are typed once, every failed rule yields (row, field, value,
reason), and the good rows are those with no reason. Only one reason per row
and field is kept (the first by priority), matching the reject table's key.

Times: ISO 8601. With `Z` or an offset the time is converted to UTC. Without
one it is Europe/London local time. At the clock changes we follow Python's
`fold=0` consistently: a time in the repeated hour of October (01:00-01:59)
is taken as the first occurrence (BST, UTC+1), and a time in the missing hour
of March (01:00-01:59) is read with the offset in force before the change
(GMT), so 2024-03-31 01:30 is 01:30 UTC. Everything is stored as naive UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Literal, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["text", "int", "time", "enum", "code"]

_ISO_NAIVE = r"^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d([.,]\d+)?)?)?$"
_ISO_OFFSET = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d([.,]\d+)?)?\s*(Z|z|[+-]\d\d(:?\d\d)?)$"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind = "text"
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    values: tuple[str, ...] = ()  # enum: the allowed values, canonical spelling
    default: str | None = None  # SQL literal used when the column is empty


@dataclass(frozen=True)
class Check:
    """A feed-specific rule: rows where `failed` holds are rejected on `field` with `reason` (SQL)."""
    field: str
    failed: str
    reason: str
    value: str  # SQL giving the offending value as text
    priority: int = 5


@dataclass
class Checked:
    good: pa.Table
    rejects: pa.Table  # row_no, field, value, reason
    rows_read: int
    rows_rejected: int
    sub_key_unique: bool = False  # see Validation.finish


def rows_among(row_no: pa.Array | pa.ChunkedArray, rows: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per value of `row_no`: is it one of `rows`? Row numbers are small positive integers, so a
    table indexed by number answers a million rows in milliseconds, where a hash set takes tenths."""
    numbers = row_no.to_numpy()
    wanted = rows.to_numpy()
    found = np.zeros(int(max(numbers.max(initial=0), wanted.max(initial=0))) + 1, dtype=bool)
    found[wanted] = True
    return np.asarray(found[numbers], dtype=bool)


def _edge_space(text: pa.ChunkedArray) -> bool:
    """Does any value begin or end with a space? Read from each value's first and last byte through the
    offsets, which is a fraction of comparing a million strings. (A null's bytes, if any, are looked at
    too: at worst a needless trim.)"""
    for chunk in text.chunks:
        if len(chunk) == 0:
            continue
        chunk = chunk.cast(pa.large_binary())  # one offset width (the bytes themselves are not copied)
        if chunk.buffers()[2] is None:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        starts, ends = offsets[:-1], offsets[1:]
        filled = ends > starts
        if filled.any() and ((data[starts[filled]] == 32).any() or (data[ends[filled] - 1] == 32).any()):
            return True
    return False


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quoted(expr: str) -> str:
    return f"'''' || {expr} || ''''"


def london_to_utc(local: str) -> str:
    """SQL: naive London local time -> naive UTC, fold=0 (see the module's note)."""
    icu = f"timezone('UTC', timezone('Europe/London', {local}))"
    # ICU resolves the repeated October hour to its second occurrence (GMT);
    # if the instant an hour earlier shows the same wall time, that earlier one is fold=0.
    earlier = f"({icu} - INTERVAL 1 HOUR)"
    return (f"CASE WHEN timezone('Europe/London', timezone('UTC', {earlier})) = {local} "
            f"THEN {earlier} ELSE {icu} END")


def time_expr(text: str) -> str:
    naive = f"TRY_CAST(replace({text}, ',', '.') AS TIMESTAMP)"
    return (f"CASE WHEN regexp_matches({text}, {sql_str(_ISO_OFFSET)}) "
            f"THEN timezone('UTC', TRY_CAST(replace({text}, ',', '.') AS TIMESTAMPTZ)) "
            f"WHEN regexp_matches({text}, {sql_str(_ISO_NAIVE)}) THEN {london_to_utc(naive)} END")


def typed_expr(f: Field) -> str:
    t = f"t_{f.name}"
    if f.kind == "int":
        return f"CASE WHEN regexp_full_match({t}, '[+-]?[0-9]{{1,9}}') THEN CAST({t} AS BIGINT) END"
    if f.kind == "time":
        return time_expr(t)
    if f.kind == "enum":
        folded = f"upper({t})" if f.values and f.values[0].isupper() else f"lower({t})"
        return f"CASE WHEN {folded} IN ({', '.join(sql_str(v) for v in f.values)}) THEN {folded} END"
    if f.kind == "code":
        return f"upper({t})"
    return t


def _field_checks(f: Field, fetched_at_sql: str) -> list[Check]:
    t = f"t_{f.name}"
    checks: list[Check] = []
    if f.required and f.default is None:
        checks.append(Check(f.name, f"{t} IS NULL", sql_str(f"{f.name} is required but empty"), "NULL", 0))
    if f.kind == "int":
        checks.append(Check(f.name, f"{t} IS NOT NULL AND {f.name} IS NULL",
                            f"'{f.name} must be a whole number, got ' || {_quoted(t)}", t, 1))
        if f.minimum is not None and f.maximum is not None:
            bound, limit = f"{f.name} NOT BETWEEN {f.minimum} AND {f.maximum}", f"between {f.minimum} and {f.maximum}"
        elif f.minimum is not None:
            bound, limit = f"{f.name} < {f.minimum}", f"{f.minimum} or more"
        else:
            bound, limit = "", ""
        if bound:
            checks.append(Check(f.name, f"{f.name} IS NOT NULL AND {bound}",
                                f"'{f.name} must be {limit}, got ' || CAST({f.name} AS VARCHAR)", t, 2))
    elif f.kind == "time":
        checks.append(Check(f.name, f"{t} IS NOT NULL AND {f.name} IS NULL",
                            f"'{f.name} is not an ISO 8601 date and time, got ' || {_quoted(t)}", t, 1))
        checks.append(Check(f.name, f"{f.name} > {fetched_at_sql} + INTERVAL 1 HOUR",
                            f"'{f.name} ' || strftime({f.name}, '%Y-%m-%d %H:%M:%S') || ' UTC is more than an hour after the fetch'",
                            t, 3))
    elif f.kind == "enum":
        checks.append(Check(f.name, f"{t} IS NOT NULL AND {f.name} IS NULL",
                            f"'{f.name} ' || {_quoted(t)} || ' is not one of: {', '.join(f.values)}'", t, 1))
    return checks


def order_check(earlier: str, later: str) -> Check:
    """`earlier <= later` when both are given; the later field carries the reject."""
    return Check(later, f"{earlier} IS NOT NULL AND {later} IS NOT NULL AND {later} < {earlier}",
                 f"'{later} (' || strftime({later}, '%Y-%m-%d %H:%M') || ' UTC) is before {earlier} (' "
                 f"|| strftime({earlier}, '%Y-%m-%d %H:%M') || ' UTC)'",
                 f"t_{later}", 4)


@dataclass
class Validation:
    """A private in-memory DuckDB holding one delivery while it is checked.

    The delivery's rows live in Arrow (`typed`), registered in the database as a
    view, so nothing is copied into tables. Each field is typed once per
    distinct value (a million rows of report times are usually a few hundred
    distinct strings), with the same SQL rules as before, and the result is
    spread back to the rows with an Arrow `take`.
    """
    fields: tuple[Field, ...]
    fetched_at: datetime
    db: duckdb.DuckDBPyConnection = dc_field(default_factory=lambda: duckdb.connect(":memory:"))
    typed: pa.Table | None = None
    broken: tuple[tuple[int, str], ...] = ()  # rows the reader could not split (formats.Tabular.broken)

    def __post_init__(self) -> None:
        self.db.execute("SET TimeZone = 'UTC'")

    def add_lookup(self, name: str, table: pa.Table) -> None:
        self.db.register(f"{name}_arrow", table)
        self.db.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
        self.db.unregister(f"{name}_arrow")

    def _default_value(self, f: Field) -> str | None:
        if f.default is None:
            return None
        value = self.db.execute(f"SELECT CAST({f.default} AS VARCHAR)").fetchone()[0]  # type: ignore[index]  # one row
        return None if value is None else str(value)

    def _text_column(self, f: Field, raw: pa.ChunkedArray | None, n: int) -> pa.ChunkedArray:
        """t_<field>: trimmed of spaces (as SQL trim), empty as missing, then the field's default."""
        default = self._default_value(f)
        if raw is None:
            return pa.chunked_array([pa.nulls(n, pa.string()) if default is None
                                     else pa.repeat(pa.scalar(default, pa.string()), n)])
        needs_trim = _edge_space(raw)
        text = pc.utf8_trim(raw, characters=" ") if needs_trim else raw
        if pc.min(pc.binary_length(text)).as_py() == 0:  # (lengths come from the offsets: no string is read)
            text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        if default is not None and text.null_count:
            text = pc.fill_null(text, default)
        return text

    def _typed_by_distinct(self, f: Field, text: pa.ChunkedArray) -> pa.ChunkedArray:
        """The field's typed value, computed once per distinct text with `typed_expr`."""
        # Missing values stay null indices (not a null dictionary entry): Arrow cannot unify
        # dictionaries holding nulls across read blocks, and every typed_expr of NULL is NULL anyway.
        encoded = pc.dictionary_encode(text, null_encoding="mask").unify_dictionaries()
        dictionary = encoded.chunk(0).dictionary if encoded.num_chunks else pa.array([], pa.string())
        distinct = pa.table({"i": pa.array(np.arange(len(dictionary), dtype=np.int64)), f"t_{f.name}": dictionary})
        self.db.register("distinct_values", distinct)
        try:
            values = self.db.execute(
                f"SELECT {typed_expr(f)} AS v FROM distinct_values ORDER BY i").fetch_arrow_table().column(0)
        finally:
            self.db.unregister("distinct_values")
        values = values.combine_chunks()
        if values.null_count == len(values):  # an empty or absent column: no need for a full buffer
            return pa.chunked_array([pa.nulls(len(text), values.type)])
        return pa.chunked_array([values.take(chunk.indices) for chunk in encoded.chunks], type=values.type)

    def type_rows(self, source: pa.Table, extra_columns: Sequence[str] = (),
                  broken: tuple[tuple[int, str], ...] = ()) -> None:
        """Build `typed`: row_no, t_<field> (trimmed text) and <field> (typed) for every field,
        plus `extra_columns` of the source as they are. `broken` rows are not in `source`:
        row_no skips their numbers, and each becomes a reject of its own."""
        n = source.num_rows
        self.broken = broken
        present = set(source.column_names)
        texts: dict[str, pa.ChunkedArray] = {}
        values: dict[str, pa.ChunkedArray] = {}
        for f in self.fields:
            raw = source.column(f.name) if f.name in present else None
            text = self._text_column(f, raw, n)
            texts[f"t_{f.name}"] = text
            if f.kind == "text":
                values[f.name] = text
            elif f.kind == "code":
                values[f.name] = pc.utf8_upper(text)
            else:
                values[f.name] = self._typed_by_distinct(f, text)
        row_no = np.arange(1, n + 1, dtype=np.int64)
        if broken:
            row_no = np.delete(np.arange(1, n + len(broken) + 1, dtype=np.int64), [b - 1 for b, _ in broken])
        columns: dict[str, pa.Array | pa.ChunkedArray] = {"row_no": pa.array(row_no)}
        columns.update(texts)
        for name in extra_columns:
            columns[name] = source.column(name)
        columns.update(values)
        self._set_typed(pa.table(columns))

    def _set_typed(self, table: pa.Table) -> None:
        self.typed = table
        self.db.register("typed", table)

    def add_mapped(self, name: str, column: str, keys: pa.Array, values: pa.Array) -> None:
        """Add column `name` to `typed`: `column` looked up in `keys`, giving the matching `values` (or NULL)."""
        assert self.typed is not None
        index = pc.index_in(self.typed.column(column), value_set=keys)
        self._set_typed(self.typed.append_column(name, values.take(index)))

    def field_checks(self) -> list[Check]:
        fetched = f"TIMESTAMP '{self.fetched_at.strftime('%Y-%m-%d %H:%M:%S')}'"
        return [c for f in self.fields for c in _field_checks(f, fetched)]

    def run_checks(self, checks: list[Check], source: str = "typed") -> None:
        """Collect every failure into `errors`, and the first reason per row and field into `rejected`."""
        # One pass over the delivery finds the rows that fail anything (few, in a good delivery);
        # each rule's reasons are then worked out over those rows alone, not over every row again.
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE failing AS SELECT * FROM {source} WHERE "
                        + (" OR ".join(f"({c.failed})" for c in checks) or "false"))
        parts = [f"SELECT row_no, {sql_str(c.field)} AS field, CAST({c.value} AS VARCHAR) AS value, "
                 f"{c.reason} AS reason, {c.priority} AS priority FROM failing WHERE {c.failed}"
                 for c in checks]
        if self.broken:
            self.db.register("broken_rows", pa.table({"row_no": [b for b, _ in self.broken],
                                                     "reason": [r for _, r in self.broken]}))
            parts.append("SELECT row_no, 'row' AS field, NULL AS value, reason, 0 AS priority FROM broken_rows")
        self.db.execute("CREATE OR REPLACE TABLE errors AS " + " UNION ALL ".join(parts))
        self.db.execute(
            "CREATE OR REPLACE TABLE rejected AS SELECT row_no, field, value, reason FROM errors "
            "QUALIFY row_number() OVER (PARTITION BY row_no, field ORDER BY priority) = 1")
        self.db.execute("DROP TABLE failing")

    def finish(self, columns: dict[str, str], key: Sequence[str], sub_key: Sequence[str] = ()) -> Checked:
        """The good rows (typed rows with no reject) as `columns` (output name -> typed column),
        keeping only the last row of each `key` when the delivery repeats one.

        `sub_key`, part of `key`, is checked first: when no two good rows share it, the key
        cannot repeat either (and `Checked.sub_key_unique` tells the caller so)."""
        assert self.typed is not None
        rows_read = self.typed.num_rows + len(self.broken)
        bad = self.db.execute("SELECT DISTINCT row_no FROM rejected").fetch_arrow_table().column(0)
        rows_rejected = len(bad)
        good = self.typed
        if rows_rejected:
            good = good.filter(pa.array(~rows_among(good.column("row_no"), bad)))
        good = good.select(list(dict.fromkeys([*columns.values(), *key, "row_no"])))
        self.db.register("good_rows", good)
        keys = ", ".join(key)

        def repeats(columns: str) -> bool:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM good_rows GROUP BY {columns} HAVING count(*) > 1)"
            return bool(self.db.execute(sql).fetchone()[0])  # type: ignore[index]  # count(*): one row

        sub_key_unique = bool(sub_key) and not repeats(", ".join(sub_key))
        if not sub_key_unique and repeats(keys):
            # The same key twice in one delivery: the later row is the correction.
            last = self.db.execute(f"SELECT max(row_no) FROM good_rows GROUP BY {keys}").fetch_arrow_table().column(0)
            good = good.filter(pa.array(rows_among(good.column("row_no"), last)))
        self.db.unregister("good_rows")
        good = pa.table([good.column(c) for c in columns.values()] + [good.column("row_no")],
                        names=[*columns, "row_no"])
        rejects = self.db.execute("SELECT row_no, field, value, reason FROM rejected ORDER BY row_no, field").fetch_arrow_table()
        return Checked(good=good, rejects=rejects, rows_read=rows_read, rows_rejected=rows_rejected,
                       sub_key_unique=sub_key_unique)

    def close(self) -> None:
        self.typed = None
        self.db.close()
