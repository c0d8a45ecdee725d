"""Each metric's compiled SQL for DuckDB and PostgreSQL, kept as files under tests/snapshots/sql/ and compared,
so a change to the generated SQL shows in review.

One fixed query shape per metric: a snapshot metric at a fixed instant, a period metric over a fixed 28-day
window by day; both split by HWB (a sitrep metric, which has no HWB, by level). No filter values, so compiling
needs no store: the real dialects (duckdb_engine, psycopg) compile without a server.

After an intended change, regenerate and review the diff:
    HOMEWARD_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_sql_snapshots.py
"""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.metrics import REGISTRY
from models.query import MetricQuery, compiled_select
from tests.capacity_selects import bucketed_select

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots" / "sql"
UPDATE = os.environ.get("HOMEWARD_UPDATE_SNAPSHOTS") == "1"
REGENERATE = "HOMEWARD_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_sql_snapshots.py"
ENGINES = {"duckdb": "duckdb:///:memory:", "postgresql": "postgresql+psycopg://"}  # no connection is made

AT = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
FROM, TO = date(2026, 2, 1), date(2026, 3, 1)  # 28 days


def shape(name: str) -> MetricQuery:
    """The one query kept for a metric."""
    metric = REGISTRY[name]
    by = ("hwb",) if "hwb" in metric.dimensions else (metric.dimensions[0],)
    if metric.kind == "snapshot":
        return MetricQuery(name, at=AT, by=by)
    return MetricQuery(name, at=AT, from_=FROM, to=TO, grain="day", by=by)


def shapes(name: str) -> list[tuple[MetricQuery, bool]]:
    """The queries kept for a metric, each with whether to compile it as a long series: `shape`, and for a
    capacity metric also a week's series by day twice, as a short series (one aggregate per period's window)
    and as a long one (the reports bucketed once; shown for a week so the file stays readable). See
    models.query.sources.Capacity."""
    if REGISTRY[name].source != "capacity":
        return [(shape(name), False)]
    week = MetricQuery(name, at=AT, from_=TO - timedelta(days=7), to=TO, grain="day", by=("hwb",))
    return [(shape(name), False), (week, False), (week, True)]


# Line breaks for a readable diff only (the text compared is the SQL with whitespace added at these points).
_BREAKS = re.compile(r"(?<!OUTER) (?=(?:FROM|WHERE|GROUP BY|ORDER BY|HAVING|UNION ALL|(?:LEFT OUTER |FULL OUTER )?JOIN) )")
_COLUMN_END = re.compile(r"(\bAS \w+), ")


def render(engine: sa.Engine, q: MetricQuery, long: bool = False) -> str:
    """The snapshot text: the query, the SQL, then the bound parameters fixed at compile time (name = value,
    sorted) and, for a positional dialect, the parameters' names in order."""
    with bucketed_select() if long else nullcontext():
        compiled = compiled_select(engine, q)
    sql = "\n".join(line.rstrip() for line in str(compiled).splitlines())
    sql = _COLUMN_END.sub(r"\1,\n  ", _BREAKS.sub("\n", sql))
    lines = [f"-- {q.metric} ({REGISTRY[q.metric].kind}): at={q.at.isoformat() if q.at else None} "
             f"from={q.from_} to={q.to} grain={q.grain} by={','.join(q.by)}"
             + (" (compiled as a long series)" if long else ""), sql, ""]
    fixed = sorted((k, v) for k, v in compiled.params.items() if v is not None)
    lines += ["-- fixed parameters:"] + [f"--   {k} = {v!r}" for k, v in fixed]
    if compiled.positiontup:
        # $N numbers each name once, in order of first use; IN lists (POSTCOMPILE) are numbered when expanded
        expanded = {compiled.bind_names[b] for b in compiled.post_compile_params}
        names = list(dict.fromkeys(n for n in compiled.positiontup if n not in expanded))
        assert {int(n) for n in re.findall(r"\$(\d+)", sql)} == set(range(1, len(names) + 1))
        lines += ["-- positional parameters:"] + [f"--   ${i} {n}" for i, n in enumerate(names, 1)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, sa.Engine]]:
    made = {name: sa.create_engine(url) for name, url in ENGINES.items()}
    yield made
    for engine in made.values():
        engine.dispose()


@pytest.mark.parametrize("engine_name", list(ENGINES))
@pytest.mark.parametrize("metric", list(REGISTRY))
def test_compiled_sql_matches_snapshot(engines: dict[str, sa.Engine], engine_name: str, metric: str) -> None:
    got = "\n".join(render(engines[engine_name], q, long) for q, long in shapes(metric))
    path = SNAPSHOTS / engine_name / f"{metric}.sql"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got)
        return
    assert path.exists(), f"no snapshot {path.relative_to(SNAPSHOTS.parents[2])}; make it with:\n    {REGENERATE}"
    kept = path.read_text()
    if got != kept:
        diff = "".join(difflib.unified_diff(kept.splitlines(keepends=True), got.splitlines(keepends=True),
                                            fromfile=f"kept {engine_name}/{metric}.sql",
                                            tofile=f"compiled {engine_name}/{metric}.sql"))
        pytest.fail(f"the compiled SQL of {metric} on {engine_name} changed:\n{diff}\n"
                    f"If the change is intended, regenerate and commit the files:\n    {REGENERATE}", pytrace=False)


def test_every_snapshot_is_of_a_metric() -> None:
    """A snapshot left from a removed or renamed metric is an error, not dead weight."""
    stale = [p for p in sorted(SNAPSHOTS.glob("*/*.sql")) if p.parent.name not in ENGINES or p.stem not in REGISTRY]
    if UPDATE:
        for p in stale:
            p.unlink()
        return
    assert stale == [], f"snapshots of no metric: {[str(p) for p in stale]}; remove them with:\n    {REGENERATE}"
