"""Exports are under the request's time limit (models.deadline): past it the answer is 504 JSON and no
partial file is left behind."""
from __future__ import annotations

import glob
import os
import tempfile
from typing import Iterator

import pytest
import sqlalchemy as sa

from dashboard.api.export import fast_file
from dashboard.export_table import open_table
from models import datasets, deadline
from tests.integration.api_seed import AT_PARAM, seed


@pytest.fixture(autouse=True)
def _no_deadline_left() -> Iterator[None]:
    yield
    deadline.clear()


def _export_files() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "homeward-export-*")))


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_store_written_export_past_the_limit_stops_and_leaves_no_file(duck_store: sa.Engine, fmt: str) -> None:
    seed(duck_store)
    q = datasets.parse_dataset_params(duck_store, "capacity", {"at": [AT_PARAM]})
    table = open_table(duck_store, q, suppress=True)
    before = _export_files()
    deadline.start(0)
    with pytest.raises(deadline.QueryTimeout):
        fast_file(table, fmt)
    assert _export_files() == before


def test_an_export_past_the_limit_answers_504_json(duck_store: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.server import build_app

    seed(duck_store)
    before = _export_files()
    monkeypatch.setenv("HOMEWARD_QUERY_TIMEOUT_SECONDS", "0")
    r = build_app().server.test_client().get(f"/api/export/capacity?format=csv&at={AT_PARAM}")
    assert r.status_code == 504, r.get_data(as_text=True)
    assert "time limit" in r.get_json()["error"]
    assert _export_files() == before
