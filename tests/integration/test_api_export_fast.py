"""The fast export paths (the store writes the rows) give the same bytes as the Python writers."""
from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.api import export as ex
from dashboard.export_table import open_table
from models import datasets
from tests.integration.api_seed import AT_PARAM, seed


@pytest.mark.parametrize(("dataset", "params"), [
    ("cases", {"at": [AT_PARAM]}),
    ("capacity", {"at": [AT_PARAM]}),
    ("sitrep", {}),
    ("cases", {"at": [AT_PARAM], "hwb": ["E08000035", "E08000036"], "limit": ["7"]}),
    ("cases", {"at": [AT_PARAM], "icb": ["QHM"]}),  # no rows: the header alone
])
def test_fast_paths_match_the_python_writers(store: sa.Engine, dataset: str, params: dict[str, Any]) -> None:
    seed(store)
    q = datasets.parse_dataset_params(store, dataset, params)
    q = datasets.DatasetQuery(**{**q.__dict__, "limit": q.limit or 100_000})  # ordered on every path
    slow = b"".join(ex.iter_csv(open_table(store, q, suppress=True)))
    table = open_table(store, q, suppress=True)
    if store.dialect.name == "duckdb":
        path, before, after = ex.fast_file(table, "csv")  # type: ignore[misc]  # a DuckDB table always gets a file
        fast = b"".join(ex.iter_file(path))
        slow_json = json.loads(b"".join(ex.iter_json(open_table(store, q, suppress=True))))
        jtable = open_table(store, q, suppress=True)
        path, before, after = ex.fast_file(jtable, "json")  # type: ignore[misc]  # as above
        assert json.loads(before + b"".join(ex.iter_file(path)) + after) == slow_json
        assert jtable.rows == len(slow_json["rows"])
    else:
        stream = ex.pg_csv_stream(table)
        assert stream is not None
        fast = b"".join(stream)
    assert fast == slow
    assert table.rows == slow.count(b"\r\n") - 1


def test_crlf_leaves_line_breaks_inside_quoted_cells() -> None:
    blocks = [b'a,b\nx,"one\ntw', b'o"\ny,"""q"""\n']
    assert b"".join(ex._crlf(iter(blocks))) == b'a,b\r\nx,"one\ntwo"\r\ny,"""q"""\r\n'
