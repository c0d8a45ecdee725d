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

from dataclasses import dataclass, field as dc_field
from datetime import datetime
from typing import Literal

import duckdb
import pyarrow as pa

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
    """A private in-memory DuckDB holding one delivery while it is checked."""
    fields: tuple[Field, ...]
    fetched_at: datetime
    db: duckdb.DuckDBPyConnection = dc_field(default_factory=lambda: duckdb.connect(":memory:"))

    def __post_init__(self) -> None:
        self.db.execute("SET TimeZone = 'UTC'")

    def add_lookup(self, name: str, table: pa.Table) -> None:
        self.db.register(f"{name}_arrow", table)
        self.db.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
        self.db.unregister(f"{name}_arrow")

    def type_rows(self, source: pa.Table, extra_columns: dict[str, str] | None = None) -> None:
        """Create `typed`: row_no, t_<field> (trimmed text) and <field> (typed) for every field."""
        self.db.register("delivery", source)
        present = set(source.column_names)
        text_cols: list[str] = ["row_no"]
        for f in self.fields:
            base = f"NULLIF(trim(\"{f.name}\"), '')" if f.name in present else "CAST(NULL AS VARCHAR)"
            if f.default is not None:
                base = f"COALESCE({base}, {f.default})"
            text_cols.append(f"{base} AS t_{f.name}")
        for name, expr in (extra_columns or {}).items():
            text_cols.append(f"{expr} AS {name}")
        self.db.execute(
            "CREATE TABLE texts AS SELECT "
            + ", ".join(text_cols)
            + " FROM (SELECT *, CAST(row_number() OVER () AS BIGINT) AS row_no FROM delivery)")
        self.db.unregister("delivery")
        typed = ", ".join(f"{typed_expr(f)} AS {f.name}" for f in self.fields)
        self.db.execute(f"CREATE TABLE typed AS SELECT *, {typed} FROM texts")
        self.db.execute("DROP TABLE texts")

    def field_checks(self) -> list[Check]:
        fetched = f"TIMESTAMP '{self.fetched_at.strftime('%Y-%m-%d %H:%M:%S')}'"
        return [c for f in self.fields for c in _field_checks(f, fetched)]

    def run_checks(self, checks: list[Check], source: str = "typed") -> None:
        """Collect every failure into `errors`, and the first reason per row and field into `rejected`."""
        parts = [f"SELECT row_no, {sql_str(c.field)} AS field, CAST({c.value} AS VARCHAR) AS value, "
                 f"{c.reason} AS reason, {c.priority} AS priority FROM {source} WHERE {c.failed}"
                 for c in checks]
        self.db.execute("CREATE OR REPLACE TABLE errors AS " + " UNION ALL ".join(parts))
        self.db.execute(
            "CREATE OR REPLACE TABLE rejected AS SELECT row_no, field, value, reason FROM errors "
            "QUALIFY row_number() OVER (PARTITION BY row_no, field ORDER BY priority) = 1")

    def finish(self, good_sql: str) -> Checked:
        """`good_sql` selects the rows to load from `good_rows` (typed rows with no reject)."""
        self.db.execute("CREATE TABLE good_rows AS SELECT * FROM typed ANTI JOIN (SELECT DISTINCT row_no FROM rejected) r USING (row_no)")
        rows_read = int(self.db.execute("SELECT count(*) FROM typed").fetchone()[0])  # type: ignore[index]
        rows_rejected = int(self.db.execute("SELECT count(DISTINCT row_no) FROM rejected").fetchone()[0])  # type: ignore[index]
        good = self.db.execute(good_sql).fetch_arrow_table()
        rejects = self.db.execute("SELECT row_no, field, value, reason FROM rejected ORDER BY row_no, field").fetch_arrow_table()
        return Checked(good=good, rejects=rejects, rows_read=rows_read, rows_rejected=rows_rejected)

    def close(self) -> None:
        self.db.close()
