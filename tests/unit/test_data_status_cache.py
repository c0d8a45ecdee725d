"""`/data` keeps what it reads from the run log, rejected rows and export audit in the query cache,
yet a run starting or finishing (whatever its status: failed and unchanged runs leave the data
version alone) or a new export shows at the very next render."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import plotly
import sqlalchemy as sa

from ingest.base import RunSummary, finish_run, record_unchanged, start_run
from models.export_audit import record_export
from models.tables import reject


def _grids(tree: Any) -> dict[str, list[dict[str, Any]]]:
    """rowData of every grid in a rendered layout, by id (an empty grid is an empty state: absent)."""
    out: dict[str, list[dict[str, Any]]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and "rowData" in props and isinstance(props.get("id"), str):
                out[props["id"]] = props["rowData"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return out


def test_new_runs_rejects_and_exports_show_at_once(duck_store: sa.Engine) -> None:
    import dash

    from dashboard.server import build_app

    app = build_app()
    layout = dash.page_registry["pages.data_status"]["layout"]

    def render() -> dict[str, list[dict[str, Any]]]:
        with app.server.test_request_context("/data"):
            return _grids(json.loads(json.dumps(layout(), cls=plotly.utils.PlotlyJSONEncoder)))

    first = render()
    assert not {"data-grid-runs", "data-grid-exports", "data-grid-rejects"} & set(first)
    assert render() == first  # from the cache now

    run_id = start_run(duck_store, "vacancy", "vacancy.csv", None)
    record_export(duck_store, remote_addr="10.0.0.9", dataset="capacity", fmt="csv", rows=3, suppressed=False,
                  filters={"at": None}, exported_at=datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc))
    second = render()
    assert [(r["run_id"], r["status"]) for r in second["data-grid-runs"]] == [(run_id, "running")]
    assert [(e["who"], e["dataset"], e["rows"]) for e in second["data-grid-exports"]] == [("10.0.0.9", "capacity", 3)]

    # The run finishes with a rejected row, written in the same transaction (as ingest does).
    with duck_store.begin() as conn:
        conn.execute(reject.insert().values(run_id=run_id, feed="vacancy", row_number=7, field="capacity",
                                            value="-1", reason="capacity must not be negative"))
        finish_run(conn, RunSummary(feed="vacancy", source="vacancy.csv", status="partial", rows_read=8,
                                    rows_loaded=7, rows_rejected=1, run_id=run_id))
    third = render()
    assert [(r["run_id"], r["status"], r["rows_rejected"]) for r in third["data-grid-runs"]] == [(run_id, "partial", 1)]
    assert [(r["run"], r["row"], r["field"]) for r in third["data-grid-rejects"]] == [(run_id, 7, "capacity")]
    feeds = {r["code"]: r for r in third["data-grid-feeds"]}
    assert feeds["vacancy"]["status"] == "partial" and feeds["vacancy"]["state"] == "Fresh"

    # An unchanged delivery changes no data, but the run log shows it.
    unchanged = record_unchanged(duck_store, "vacancy", "vacancy.csv", None)
    fourth = render()
    assert fourth["data-grid-runs"][0]["run_id"] == unchanged.run_id
    assert {r["code"]: r for r in fourth["data-grid-feeds"]}["vacancy"]["status"] == "unchanged"
