"""`/data` lists recent exports from the audit trail: who (remote address), when, dataset, filters, rows, format."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from models.export_audit import record_export


def test_recent_exports_section(duck_store: sa.Engine) -> None:
    import dash

    from dashboard.server import build_app

    app = build_app()
    module = dash.page_registry["pages.data_status"]["layout"].__globals__
    record_export(duck_store, remote_addr="10.1.2.3", dataset="cases", fmt="csv", rows=1234, suppressed=False,
                  filters={"at": None, "hwb": ["E08000035", "E08000036"], "from": "2024-03-01"},
                  exported_at=datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc))
    record_export(duck_store, remote_addr=None, dataset="metric", fmt="xlsx", rows=5, suppressed=True,
                  filters={"name": "referrals", "by": ["hwb"]}, exported_at=datetime(2024, 3, 11, 9, 30, tzinfo=timezone.utc))
    with app.server.test_request_context("/data"):
        section: Any = json.loads(json.dumps(module["_exports"](), cls=__import__("plotly").utils.PlotlyJSONEncoder))
    grid = section["props"]["children"][2]["props"]["children"]["props"]
    assert grid["id"] == "data-grid-exports"
    assert grid["rowData"] == [
        {"when": "09:30 on Mon 11 Mar 2024", "who": "unknown", "dataset": "metric", "filters": "by=hwb; name=referrals",
         "rows": 5, "format": "XLSX", "suppressed": "Yes"},
        {"when": "12:00 on Sun 10 Mar 2024", "who": "10.1.2.3", "dataset": "cases",
         "filters": "from=2024-03-01; hwb=E08000035,E08000036", "rows": 1234, "format": "CSV", "suppressed": "No"},
    ]
