"""`/data`: is the data fresh? Feed runs, rows loaded and rejected, rejected rows, services not reporting,
and who has exported what (the export audit trail)."""
from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard.components.common import grid, guarded, number_col, page_heading
from dashboard.concurrency import run_parallel
from dashboard.data import geography
from dashboard.labels import FEED_LABELS, SERVICE_TYPE_LABELS
from dashboard.state import FilterState
from models.cache import cached_rows, cached_value
from models.datasets import services_not_reporting
from models.db import get_engine
from models.export_audit import recent_exports
from models.formatting import format_age, format_time
from models.freshness import feed_run_summary, freshness_from_summary, log_version, recent_rejects, recent_runs

dash.register_page(__name__, path="/data", name="Data status", title="Data status · Homeward", order=8,
                   description="Feed freshness, ingest runs and rejected rows.")

PREFIX = "data"

# The run log, rejected rows and export audit sections are cached on `log_version` (and the data
# version), never on `at`: they show the logs as they are now. Unpinned, so kept a minute at most.


def _log_version(version: str | None) -> str:
    return log_version(get_engine()) if version is None else version


def _feeds(version: str | None = None) -> html.Div:
    summary = cached_value("data_feed_runs", _log_version(version), lambda: feed_run_summary(get_engine()),
                           pinned=False)
    feeds = freshness_from_summary(summary)  # ages at this moment, from the cached run times
    rows = [{"feed": FEED_LABELS.get(f.feed, f.feed), "code": f.feed,
             "state": "STALE" if f.stale else "Fresh",
             "last_success": format_time(f.last_success_at),
             "age": format_age(f.age_seconds) if f.age_seconds is not None else "never loaded",
             "limit": format_age(f.max_age_seconds), "status": f.last_status or "no run yet",
             "loaded": f.rows_loaded, "rejected": f.rows_rejected} for f in feeds.values()]
    stale = [r["feed"] for r in rows if r["state"] == "STALE"]
    banner = (html.Div(f"Stale: {', '.join(stale)}. Figures from these feeds may be out of date.",
                       className="hw-banner hw-banner--stale", role="alert", id=f"{PREFIX}-stale")
              if stale else html.Div("All feeds are within their expected age.", className="hw-state", role="status"))
    return html.Div([
        html.H2("Feeds", className="hw-panel__title"), banner,
        grid(f"{PREFIX}-grid-feeds", rows, [
            {"field": "feed", "headerName": "Feed", "minWidth": 220, "pinned": "left"},
            {"field": "state", "headerName": "Freshness", "cellClassRules": {"hw-cell--bad": "params.value === 'STALE'"}},
            {"field": "last_success", "headerName": "Last success", "minWidth": 190},
            {"field": "age", "headerName": "Age"}, {"field": "limit", "headerName": "Stale after"},
            {"field": "status", "headerName": "Last run status"},
            number_col("loaded", "Rows loaded (last run)"), number_col("rejected", "Rows rejected (last run)"),
        ], empty="no feed has run yet."),
    ], className="hw-section")


def _runs(version: str | None = None) -> html.Div:
    def fetch() -> list[dict[str, Any]]:
        return [{**r, "feed": FEED_LABELS.get(r["feed"], r["feed"]), "finished": format_time(r["finished_at"]),
                 "error": r["error"] or ""} for r in recent_runs(get_engine(), limit=20)]

    rows = cached_rows("data_recent_runs", f"{_log_version(version)}|20", fetch, pinned=False)
    return html.Div([html.H2("Recent ingest runs", className="hw-panel__title"),
                     grid(f"{PREFIX}-grid-runs", rows, [
                         {"field": "run_id", "headerName": "Run", "maxWidth": 90},
                         {"field": "feed", "headerName": "Feed", "minWidth": 200},
                         {"field": "finished", "headerName": "Finished", "minWidth": 190},
                         {"field": "status", "headerName": "Status"},
                         number_col("rows_read", "Read"), number_col("rows_loaded", "Loaded"),
                         number_col("rows_rejected", "Rejected"),
                         {"field": "error", "headerName": "Error", "minWidth": 240, "wrapText": True, "autoHeight": True},
                     ], empty="no ingest run is recorded yet.")], className="hw-section")


def _rejects(version: str | None = None) -> html.Div:
    def fetch() -> list[dict[str, Any]]:
        return [{"feed": FEED_LABELS.get(r["feed"], r["feed"]), "run": r["run_id"], "when": format_time(r["started_at"]),
                 "row": r["row_number"], "field": r["field"], "value": r["value"] or "", "reason": r["reason"]}
                for r in recent_rejects(get_engine(), limit=50)]

    rows = cached_rows("data_recent_rejects", f"{_log_version(version)}|50", fetch, pinned=False)
    return html.Div([html.H2("Recently rejected rows", className="hw-panel__title"),
                     html.P("Values that could identify a person are masked.", className="hw-hint"),
                     grid(f"{PREFIX}-grid-rejects", rows, [
                         {"field": "feed", "headerName": "Feed", "minWidth": 180},
                         {"field": "when", "headerName": "Delivered", "minWidth": 190},
                         {"field": "row", "headerName": "Row", "maxWidth": 90, "type": "rightAligned"},
                         {"field": "field", "headerName": "Field"}, {"field": "value", "headerName": "Value"},
                         {"field": "reason", "headerName": "Reason", "minWidth": 320, "wrapText": True,
                          "autoHeight": True},
                     ], empty="no rows have been rejected.")], className="hw-section")


def _not_reporting(state: FilterState) -> html.Div:
    at = state.resolved_at()
    geo = geography()

    def silent() -> list[dict[str, Any]]:
        # The capacity dataset's rows with `reporting` false, found without every service's latest report.
        return [{"service": r["service_name"], "id": r["service_id"],
                 "type": SERVICE_TYPE_LABELS.get(r["service_type"], r["service_type"]),
                 "hwb": geo.hwbs[r["hwb_code"]].name if r["hwb_code"] in geo.hwbs else r["hwb_code"],
                 "last": format_time(r["reported_at"]) if r["reported_at"] else "never"}
                for r in services_not_reporting(get_engine(), at)]

    rows = cached_rows("services_not_reporting", at.isoformat(), silent, pinned=state.at is not None)
    return html.Div([html.H2("Services not reporting", className="hw-panel__title"),
                     grid(f"{PREFIX}-grid-silent", rows, [
                         {"field": "service", "headerName": "Service", "minWidth": 220},
                         {"field": "id", "headerName": "Service ID"}, {"field": "type", "headerName": "Type"},
                         {"field": "hwb", "headerName": "HWB"}, {"field": "last", "headerName": "Last report"},
                     ], empty="every known service has reported in the staleness window.")], className="hw-section")


def _filters_text(filters: dict[str, Any]) -> str:
    """`{"hwb": ["A", "B"], "at": null}` → `hwb=A,B` (unset filters left out)."""
    parts = []
    for key, value in sorted(filters.items()):
        if value is None or value == [] or value == "":
            continue
        parts.append(f"{key}={','.join(str(v) for v in value) if isinstance(value, list) else value}")
    return "; ".join(parts) or "none"


def _exports(version: str | None = None) -> html.Div:
    def fetch() -> list[dict[str, Any]]:
        return [{"when": format_time(e.exported_at), "who": e.remote_addr or "unknown", "dataset": e.dataset,
                 "filters": _filters_text(e.filters), "rows": e.rows, "format": e.format.upper(),
                 "suppressed": "Yes" if e.suppressed else "No"} for e in recent_exports(get_engine(), limit=20)]

    rows = cached_rows("data_recent_exports", f"{_log_version(version)}|20", fetch, pinned=False)
    return html.Div([html.H2("Recent exports", className="hw-panel__title"),
                     html.P("Every download from /export or the export API is recorded: who (remote address), when, "
                            "which rows and whether small-number suppression was applied.", className="hw-hint"),
                     grid(f"{PREFIX}-grid-exports", rows, [
                         {"field": "when", "headerName": "When", "minWidth": 190},
                         {"field": "who", "headerName": "Who (address)", "minWidth": 150},
                         {"field": "dataset", "headerName": "Dataset"},
                         {"field": "filters", "headerName": "Filters", "minWidth": 280, "wrapText": True,
                          "autoHeight": True},
                         number_col("rows", "Rows"), {"field": "format", "headerName": "Format", "maxWidth": 110},
                         {"field": "suppressed", "headerName": "Suppressed", "maxWidth": 130},
                     ], empty="nothing has been exported yet.")], className="hw-section")


def _audit() -> html.Div:
    """Admins: the latest audit events (sign-ins, tokens, exports, person-level views, account changes)."""
    from models.accounts import audit_events

    rows = [{"when": format_time(e["happened_at"]), "who": e["actor"] or "unknown", "role": e["role"] or "",
             "action": e["action"].replace("_", " "), "route": e["route"] or "", "address": e["remote_addr"] or "",
             "detail": _filters_text(e["detail"])} for e in audit_events(get_engine(), limit=50)]
    return html.Div([html.H2("Audit trail", className="hw-panel__title"),
                     html.P(["Who signed in, used a token, exported or viewed person-level rows, and every change to "
                             "accounts. The whole trail: ", html.A("CSV", href="/api/audit?format=csv&limit=100000"),
                             " or ", html.A("JSON", href="/api/audit"), "."], className="hw-hint"),
                     grid(f"{PREFIX}-grid-audit", rows, [
                         {"field": "when", "headerName": "When", "minWidth": 190},
                         {"field": "who", "headerName": "Who"}, {"field": "role", "headerName": "Role"},
                         {"field": "action", "headerName": "Action"}, {"field": "route", "headerName": "Route"},
                         {"field": "address", "headerName": "Address"},
                         {"field": "detail", "headerName": "Detail", "minWidth": 320, "wrapText": True,
                          "autoHeight": True},
                     ], empty="nothing recorded yet.")], className="hw-section", id=f"{PREFIX}-audit")


def layout(**query_args: Any) -> html.Div:
    from models import access

    admin = access.current().at_least("admin")
    state = FilterState.from_args(query_args)
    try:
        version: str | None = log_version(get_engine())  # once for the sections that read the logs
    except Exception:  # noqa: BLE001 - each section then asks itself, and shows its own error if it must
        version = None
    return html.Div([
        page_heading("Data status", "Is the data fresh? When each feed last loaded, what was rejected and why, and "
                     "which services have gone quiet.", None, format_time(state.resolved_at())),
        *run_parallel([lambda: guarded(lambda: _feeds(version), "Feed status"),
                       lambda: guarded(lambda: _not_reporting(state), "Services not reporting"),
                       lambda: guarded(lambda: _rejects(version), "Rejected rows"),
                       lambda: guarded(lambda: _runs(version), "Ingest runs"),
                       # who exported what, and the audit trail, are for admins
                       *([lambda: guarded(lambda: _exports(version), "Recent exports"),
                          lambda: guarded(_audit, "Audit trail")] if admin else [])]),
    ], className="hw-page")
