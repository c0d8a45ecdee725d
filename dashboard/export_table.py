"""The table an export writes: its columns, its description and its rows (lazy), with small-number
suppression applied to the metric dataset. Shared by the HTTP API (dashboard/api/export.py writes it out)
and the /export page (a preview of the same rows)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Iterator

from sqlalchemy.engine import Engine

from models import datasets, suppression
from models.datasets import ColumnSpec, DatasetQuery
from models.query import data_version

FORMATS: dict[str, tuple[str, str]] = {  # format → (media type, file extension)
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "json": ("application/json", "json"),
}
CHUNK_ROWS = 10_000
XLSX_MAX_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header


class _Suppressed:
    """Marks a cell withheld by suppression: "*" in CSV, null elsewhere."""

    def __repr__(self) -> str:
        return "SUPPRESSED"


SUPPRESSED = _Suppressed()


@dataclass
class ExportTable:
    """An export about to be written: its columns, its description and its rows (lazy)."""

    dataset: str
    columns: list[ColumnSpec]
    chunks: Iterator[list[tuple[Any, ...]]]
    as_of: datetime
    data_version: int
    suppression_applied: bool
    filters: dict[str, Any]
    rows: int = 0  # counted as chunks pass through `counted()`
    name: str | None = None  # the metric, for the metric dataset
    query: DatasetQuery | None = None  # a table dataset's query (the fast paths compile it)
    engine: Engine | None = None
    _first: list[list[tuple[Any, ...]]] = field(default_factory=list)

    def prime(self) -> None:
        """Run the query now, so that a failing query is an HTTP error, not a truncated download."""
        try:
            self._first.append(next(self.chunks))
        except StopIteration:
            pass

    def counted(self) -> Iterator[list[tuple[Any, ...]]]:
        while self._first:
            chunk = self._first.pop(0)
            self.rows += len(chunk)
            yield chunk
        for chunk in self.chunks:
            self.rows += len(chunk)
            yield chunk

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close:
            close()

    def about(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            **({"metric": self.name} if self.name else {}),
            "as_of": self.as_of.isoformat(),
            "data_version": self.data_version,
            "suppression": "applied" if self.suppression_applied else "not-applied",
            "filters": self.filters,
        }

    def filename(self, fmt: str) -> str:
        stem = f"homeward-{self.dataset}" + (f"-{self.name}" if self.name else "")
        return f"{stem}-{self.as_of.strftime('%Y%m%dT%H%MZ')}.{FORMATS[fmt][1]}"


# --- building the table -------------------------------------------------------

def _infer_type(values: Iterable[Any], default: datasets.ColumnType) -> datasets.ColumnType:
    kinds: set[datasets.ColumnType] = set()
    for v in values:
        if v is None or v is SUPPRESSED:
            continue
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int")
        elif isinstance(v, float):
            kinds.add("float")
        elif isinstance(v, datetime):
            kinds.add("datetime")
        elif isinstance(v, date):
            kinds.add("date")
        else:
            kinds.add("str")
    if not kinds:
        return default
    if kinds <= {"int", "float"}:
        return "float" if "float" in kinds else "int"
    return kinds.pop() if len(kinds) == 1 else "str"


_FIGURES = ("value", "numerator", "denominator")
_FIGURE_MEANING = {
    "value": "The metric's value for the row (see the metric's definition on /definitions).",
    "numerator": "For a ratio: the count on top; otherwise as the metrics layer gives it.",
    "denominator": "For a ratio: the count underneath; for a summary: the number of records it summarises.",
}


def metric_table(engine: Engine, q: DatasetQuery, *, suppress: bool) -> ExportTable:
    """The metric dataset: the metrics layer's rows, suppressed (local metrics only) when asked."""
    from models.metrics import REGISTRY

    result = datasets.run_metric(engine, q)
    payload = result.to_json()
    raw_rows: list[dict[str, Any]] = [dict(r) for r in result.rows]
    metric = REGISTRY[result.metric]
    shape = suppression.shape_of(metric)
    applied = suppress and suppression.applies_to(metric)
    rows: list[dict[str, Any]] = []
    for row in raw_rows:
        if applied:
            out = suppression.suppress_metric_row(row, shape)
            for key in _FIGURES:  # withheld = had a figure, published without one
                if row.get(key) is not None and out.get(key) is None:
                    out[key] = SUPPRESSED
            rows.append(out)
        else:
            rows.append(row)
    dims: list[str] = []
    for row in raw_rows[:1]:
        dims = [k for k in row if k not in (*_FIGURES, "suppressed")]
    if not raw_rows:
        mq = q.metric_query
        dims = (["period"] if getattr(mq, "grain", None) else []) + list(getattr(mq, "by", ()) or ())
    names = [*dims, *_FIGURES, *(["suppressed"] if applied else [])]
    columns = [
        ColumnSpec(
            name,
            "bool" if name == "suppressed" else _infer_type((r.get(name) for r in rows), "float" if name in _FIGURES else "str"),
            "True when a figure in the row was withheld or the row's counts were rounded to the nearest 5 "
            "(NHS small-number suppression)." if name == "suppressed"
            else _FIGURE_MEANING.get(name, f"Dimension: {name}" + (" (the day, week or month the row starts on)" if name == "period" else "")),
        )
        for name in names
    ]
    tuples = [tuple(r.get(c.name, False if c.name == "suppressed" else None) for c in columns) for r in rows]
    as_of = _parse_iso(payload.get("as_of")) or q.at
    return ExportTable(
        dataset="metric", columns=columns, chunks=iter([tuples]) if tuples else iter([]),
        as_of=as_of, data_version=int(payload.get("data_version", 0) or 0),
        suppression_applied=applied, filters=q.filters(), name=result.metric,
    )


def _parse_iso(raw: Any) -> datetime | None:
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def open_table(engine: Engine, q: DatasetQuery, *, suppress: bool) -> ExportTable:
    """An export for a validated query. Suppression applies to the metric dataset only:
    capacity is per-service bed counts, cases is person-level for permitted roles
    (pseudonymised instead), and the sitrep is already published by NHS England."""
    if q.dataset == "metric":
        return metric_table(engine, q, suppress=suppress)
    return ExportTable(
        dataset=q.dataset, columns=list(datasets.table_columns(q.dataset)),
        chunks=datasets.iter_chunks(engine, q, CHUNK_ROWS), as_of=q.at,
        data_version=data_version(engine), suppression_applied=False, filters=q.filters(),
        query=q, engine=engine,
    )


# --- writers -------------------------------------------------------------------

# OWASP "CSV injection": a text cell starting with one of these is run as a formula by a spreadsheet.
