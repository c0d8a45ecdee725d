"""Every export road is under the request's time limit (models.deadline), not only the store-written DuckDB
files: PostgreSQL's COPY stream, XLSX, Parquet and the rows of `iter_chunks`. Past it before a byte is sent:
504 JSON and no file; once a download has begun, it ends there with one log line. A stream's limit counts
the store's time only, not the time its client takes to read."""
from __future__ import annotations

import glob
import logging
import os
import tempfile
import time
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from dashboard.api.export import build_to_tempfile
from dashboard.export_table import CHUNK_ROWS, ExportTable, open_table
from models import datasets, deadline
from models.tables import hub_case
from tests.integration.api_seed import AT_PARAM, seed

SLOW = {"duckdb": "SELECT sum(a.range * b.range) AS s FROM range(200000) a, range(200000) b",
        "postgresql": "SELECT pg_sleep(20) AS s"}
COPIES = 600  # x 42 seeded cases: 25,200 rows, three chunks and several 1 MB blocks
WINDOW = "from=2024-03-01&to=2024-03-08"


@pytest.fixture(autouse=True)
def _no_deadline_left() -> Iterator[None]:
    yield
    deadline.clear()


def _export_files() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "homeward-export-*")))


def _many_cases(engine: sa.Engine) -> None:
    seed(engine)
    cols = [c.name for c in hub_case.columns]
    picked = ", ".join("case_id || '-' || CAST(g AS VARCHAR)" if c == "case_id" else c for c in cols)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO hub_case ({', '.join(cols)}) SELECT {picked} "
                             f"FROM hub_case, generate_series(1, {COPIES}) AS copies(g) WHERE run_id = 2"))


# --- the budget itself, on both stores -------------------------------------------------------------

def _selects(engine: sa.Engine, limit: deadline.Budget, statements: list[str]) -> Iterator[Any]:
    raw = engine.raw_connection()
    limit.attach(raw)
    try:
        cur = raw.cursor()
        for sql in statements:
            cur.execute(sql)
            yield cur.fetchall()
    finally:
        raw.close()


def test_a_streams_limit_counts_the_stores_time_not_its_readers(store: sa.Engine) -> None:
    deadline.start(0.5)
    limit = deadline.budget()
    deadline.clear()  # as when the request handler has returned
    got = []
    for rows in limit.timed(_selects(store, limit, ["SELECT 1", "SELECT 2", "SELECT 3"])):
        got.append(rows[0][0])
        time.sleep(0.3)  # a slow reader: 0.9 s in all, past the 0.5 s limit, but none of it the store's
    assert got == [1, 2, 3]


def test_a_stream_whose_store_stalls_is_stopped_in_the_store(store: sa.Engine) -> None:
    deadline.start(0.5)
    limit = deadline.budget()
    deadline.clear()
    stream = limit.timed(_selects(store, limit, ["SELECT 1", SLOW[store.dialect.name]]))
    assert next(stream)[0][0] == 1
    t0 = time.monotonic()
    with pytest.raises(deadline.QueryTimeout):
        next(stream)
    assert time.monotonic() - t0 < 3  # unstopped it runs for many seconds
    assert datasets_still_answer(store)


def datasets_still_answer(engine: sa.Engine) -> bool:
    with engine.connect() as conn:  # the pooled connection is usable again
        return conn.execute(sa.text("SELECT 41 + 1")).scalar_one() == 42


# --- over HTTP: 504 before the first byte -----------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx", "parquet"])
def test_every_export_past_the_limit_answers_504_and_leaves_no_file(store: sa.Engine, fmt: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.server import build_app

    seed(store)
    before = _export_files()
    monkeypatch.setenv("HOMEWARD_QUERY_TIMEOUT_SECONDS", "0")
    client = build_app().server.test_client()
    for dataset in ("capacity", "cases"):
        r = client.get(f"/api/export/{dataset}?format={fmt}&at={AT_PARAM}" + (f"&{WINDOW}" if dataset == "cases" else ""))
        assert r.status_code == 504, (dataset, r.get_data(as_text=True)[:300])
        assert "time limit" in r.get_json()["error"]
    assert _export_files() == before


# --- a download already begun: ended with one log line ----------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_stream_whose_client_goes_ends_with_one_log_line(pg_store: sa.Engine, fmt: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL: CSV is the COPY stream, JSON the `iter_chunks` rows; both go out after the handler returns."""
    from dashboard.server import build_app

    _many_cases(pg_store)
    client = build_app().server.test_client()
    url = f"/api/export/cases?format={fmt}&at={AT_PARAM}&{WINDOW}"
    whole = client.get(url).get_data()
    gone = {"now": False}
    with caplog.at_level(logging.WARNING):
        r = client.get(url, environ_base={"waitress.client_disconnected": lambda: gone["now"]})
        assert r.status_code == 200
        blocks = iter(r.response)
        first = next(blocks)
        gone["now"] = True  # the client hangs up after its first block
        rest = b"".join(blocks)
        r.close()
    got = first + rest
    assert 0 < len(got) < len(whole) and whole.startswith(got)
    if fmt == "json":
        assert not got.endswith(b"]}")  # visibly cut short
    stopped = [rec for rec in caplog.records if "stopped" in rec.getMessage()]
    assert len(stopped) == 1 and stopped[0].exc_info is None, [rec.getMessage() for rec in caplog.records]
    assert "client went away" in stopped[0].getMessage()
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR or rec.exc_info]
    assert datasets_still_answer(pg_store)


# --- files written in the request: nothing left when stopped part-way --------------------------------

def _gone_after_first_chunk(table: ExportTable, gone: dict[str, bool]) -> None:
    inner = table.chunks

    def chunks() -> Iterator[list[tuple[Any, ...]]]:
        for chunk in inner:
            yield chunk
            gone["now"] = True
    table.chunks = chunks()


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_a_file_export_stopped_part_way_leaves_no_file(store: sa.Engine, fmt: str) -> None:
    _many_cases(store)
    gone = {"now": False}
    deadline.start(60, lambda: gone["now"])
    q = datasets.parse_dataset_params(store, "cases", {"at": [AT_PARAM], "from": ["2024-03-01"], "to": ["2024-03-08"]})
    table = open_table(store, q, suppress=False)
    _gone_after_first_chunk(table, gone)
    before = _export_files()
    with pytest.raises(deadline.QueryTimeout):
        build_to_tempfile(table, fmt)
    assert _export_files() == before
    assert CHUNK_ROWS <= table.rows < 42 * (COPIES + 1)
    assert datasets_still_answer(store)
