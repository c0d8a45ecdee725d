"""The HTTP API (shared/spec/interfaces.md, "HTTP"): health, metrics, exports, feeds.

Every route asks the metrics layer or `models.datasets`; none computes a figure
itself. Every error is JSON naming what was wrong — bad input is a 400 that
names the parameter, an unknown metric or dataset a 404, an unreadable store
a 503 — and never a traceback.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterator

import flask
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import ClosingIterator

from dashboard.api.export import build_to_tempfile, fast_file, iter_csv, iter_file, iter_json, pg_csv_stream
from dashboard.export_table import FORMATS, ExportTable, open_table
from models import access, accounts, datasets, settings
from models import export_audit as audit
from models.db import get_engine
from models.deadline import QueryTimeout
from models.params import listed
from models.query import MetricQuery, QueryError, UnknownMetric, data_version
from models.tables import ingest_run

log = logging.getLogger(__name__)
bp = flask.Blueprint("homeward_api", __name__)

API_PREFIXES = ("/api/", "/healthz")
FEEDS_DEFAULT_LIMIT = 200
FEEDS_MAX_LIMIT = 5000


class StoreUnavailable(Exception):
    """The store could not be read (HTTP 503)."""


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(payload: Any, status: int = 200) -> flask.Response:
    """JSON with ISO 8601 dates (Flask's default would write HTTP dates)."""
    return flask.Response(json.dumps(payload, default=_default), status=status, mimetype="application/json")


def error_response(status: int, message: str, parameter: str | None = None) -> flask.Response:
    body: dict[str, Any] = {"error": message, "status": status}
    if parameter is not None:
        body["parameter"] = parameter
    return json_response(body, status)


def _args() -> dict[str, list[str]]:
    return flask.request.args.to_dict(flat=False)


# --- routes ------------------------------------------------------------------

@bp.get("/healthz")
def healthz() -> flask.Response:
    from models.freshness import feed_freshness

    engine = get_engine()
    store: dict[str, Any] = {"dialect": engine.dialect.name}
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(ingest_run)).scalar_one()
        store["readable"] = True
        store["data_version"] = data_version(engine)
        feeds = {name: f.to_json() for name, f in feed_freshness(engine).items()}
    except (DBAPIError, OperationalError, OSError) as exc:
        log.warning("healthz: store unreadable: %s", exc.__class__.__name__)
        store.update(readable=False, error=exc.__class__.__name__)
        return json_response({"status": "unavailable", "store": store, "feeds": {}}, 503)
    if settings.auth_mode() != "none":  # open to anyone: status and feed freshness only
        return json_response({"status": "ok", "feeds": feeds})
    return json_response({"status": "ok", "store": store, "feeds": feeds})


@bp.get("/api/metrics")
def metrics_catalogue() -> flask.Response:
    from models.metrics import REGISTRY

    return json_response([m.catalogue() for m in REGISTRY.values()])


@bp.get("/api/metrics/<name>")
def metric(name: str) -> flask.Response:
    from models.cache import cached_query

    q = MetricQuery.from_params(name, _args())  # QueryError → 400, UnknownMetric → 404
    return json_response(cached_query(q, get_engine()).to_json())


@bp.get("/api/datasets")
def dataset_list() -> flask.Response:
    """The export datasets, their filters and columns (what the /export page offers)."""
    out = []
    for name, description in datasets.DATASETS.items():
        entry: dict[str, Any] = {"name": name, "description": description,
                                 "filters": list(datasets.DATASET_FILTERS[name]),
                                 "window": datasets.DATASET_WINDOWS[name], "formats": list(FORMATS)}
        if name != "metric":
            entry["columns"] = [{"name": c.name, "type": c.type, "meaning": c.meaning}
                                for c in datasets.table_columns(name)]
        out.append(entry)
    return json_response(out)


@bp.get("/api/export/<dataset>")
def export(dataset: str) -> flask.Response:
    args = _args()
    fmt_values = [v for v in args.get("format", []) if v]
    fmt = (fmt_values[0] if fmt_values else "csv").lower()
    if len(fmt_values) > 1 or fmt not in FORMATS:
        raise QueryError("format", f"format must be one of {', '.join(FORMATS)}")
    engine = get_engine()
    principal = access.current()
    # The central policy let analysts in; person-level rows need a case worker.
    if dataset == "cases":
        access.require("case_worker", "the cases export (person-level)")
    q = datasets.parse_dataset_params(engine, dataset, args)  # a code outside the scope: OutOfScope → 403
    # Case workers give direct care: small numbers are not suppressed for them.
    suppress = settings.suppression_enabled() and not access.sees_small_numbers(principal)
    table = open_table(engine, q, suppress=suppress)
    remote = flask.request.remote_addr
    done = _Finisher(engine, table, fmt, remote, principal, flask.request.path)
    headers = {
        "Content-Disposition": f'attachment; filename="{table.filename(fmt)}"',
        "X-Homeward-Suppression": "applied" if table.suppression_applied else "not-applied",
        "X-Homeward-Data-Version": str(table.data_version),
        "X-Homeward-As-Of": table.as_of.isoformat().replace("+00:00", "Z"),
        "Cache-Control": "no-store",
    }
    mimetype = FORMATS[fmt][0]
    fast = fast_file(table, fmt)  # DuckDB writes the file itself (dashboard.api.export, "fast paths")
    if fast is not None:
        path, before, after = fast
        done()
        headers["X-Homeward-Rows"] = str(table.rows)
        headers["Content-Length"] = str(len(before) + os.path.getsize(path) + len(after))
        return flask.Response(ClosingIterator(_framed(before, iter_file(path), after), []), headers=headers,
                              content_type=mimetype, direct_passthrough=True)
    stream = pg_csv_stream(table) if fmt == "csv" else None  # PostgreSQL's COPY … TO STDOUT
    if stream is not None:
        first = next(stream, b"")  # a failing query becomes an error response, not a cut-off download
        body = _then(_framed(first, stream, b""), done)
        return flask.Response(ClosingIterator(body, [stream.close, done]), headers=headers, content_type=mimetype,
                              direct_passthrough=True)
    if fmt in ("csv", "json"):
        table.prime()  # a failing query becomes an error response, not a cut-off download
        body = _then((iter_csv if fmt == "csv" else iter_json)(table), done)
        # ClosingIterator: the audit row is written even when the client hangs up mid-download.
        return flask.Response(ClosingIterator(body, [done]), headers=headers, content_type=mimetype,
                              direct_passthrough=True)
    path = build_to_tempfile(table, fmt)
    done()
    headers["X-Homeward-Rows"] = str(table.rows)
    headers["Content-Length"] = str(os.path.getsize(path))
    return flask.Response(ClosingIterator(iter_file(path), []), headers=headers, content_type=mimetype,
                          direct_passthrough=True)


def _framed(before: bytes, body: Iterator[bytes], after: bytes) -> Iterator[bytes]:
    if before:
        yield before
    try:
        yield from body
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    if after:
        yield after


def _then(body: Iterator[bytes], finish: Callable[[], None]) -> Iterator[bytes]:
    """The body, then `finish` as soon as the last byte is produced (not only when the server closes it)."""
    yield from body
    finish()


class _Finisher:
    """Closes the export's cursor and writes its audit row once, however the download ends."""

    def __init__(self, engine: sa.Engine, table: ExportTable, fmt: str, remote_addr: str | None,
                 principal: access.Principal, route: str) -> None:
        self.engine, self.table, self.fmt, self.remote_addr = engine, table, fmt, remote_addr
        self.principal, self.route = principal, route
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        self.table.close()
        try:
            audit.record_export(self.engine, remote_addr=self.remote_addr, dataset=self.table.dataset,
                                filters=self.table.filters, fmt=self.fmt, rows=self.table.rows,
                                suppressed=self.table.suppression_applied)
            accounts.record(self.engine, "export", actor=self.principal, route=self.route,
                            remote_addr=self.remote_addr,
                            detail={"dataset": self.table.dataset, "format": self.fmt, "params": self.table.filters,
                                    "rows": self.table.rows, "scope": self.principal.scope_text,
                                    "suppression": "on" if self.table.suppression_applied else "off"})
        except Exception:  # an audit failure must not break a download already sent; it is logged loudly
            log.exception("could not record export audit row")


@bp.get("/api/exports")
def exports_log() -> flask.Response:
    """The latest exports from the audit trail (what the /data page shows)."""
    limit = _limit(_args(), 50, 1000)
    return json_response([r.to_json() for r in audit.recent_exports(get_engine(), limit)])


def _limit(args: dict[str, list[str]], default: int, maximum: int) -> int:
    raw = [v for v in args.get("limit", []) if v]
    if not raw:
        return default
    if len(raw) > 1 or not raw[0].isdigit() or not 1 <= int(raw[0]) <= maximum:
        raise QueryError("limit", f"limit must be a whole number from 1 to {maximum}")
    return int(raw[0])


@bp.post("/api/ingest/<feed>")
def ingest(feed: str) -> flask.Response:
    """A delivery posted as the body, run down the scheduler's road; the answer is the run summary
    (as `app.py ingest --json`): 200 for ok, unchanged and partial (see `status`), 400 for failed.
    In the embedded form the server holds the store, so this is how deliveries arrive while it runs."""
    from ingest.base import FeedContext, run_delivery, utc_now
    from ingest.feeds import FEEDS as DELIVERED_FEEDS
    from ingest.feeds import get_feed

    access.require("admin", "delivering a feed")  # the central policy (ROLE_RULES) says so too: a second wall
    if feed not in DELIVERED_FEEDS:
        raise QueryError("feed", f"unknown feed {feed!r}; one of {', '.join(DELIVERED_FEEDS)}")
    limit = settings.ingest_max_bytes()
    if flask.request.content_length is not None and flask.request.content_length > limit:
        return error_response(413, f"the delivery is larger than {limit // (1024 * 1024)} MiB", "body")
    payload = flask.request.stream.read(limit + 1)
    if len(payload) > limit:
        return error_response(413, f"the delivery is larger than {limit // (1024 * 1024)} MiB", "body")
    if not payload:
        raise QueryError("body", "the body is empty; post the delivery file's bytes")
    from models import deadline

    deadline.clear()  # a delivery takes as long as it takes; the time limit is for queries
    source = f"http upload by {access.current().name} from {flask.request.remote_addr}"
    ctx = FeedContext(feed=feed, source=source, fetched_at=utc_now())
    summary = run_delivery(get_engine(), get_feed(feed), payload, ctx)
    return json_response(summary.to_json(), 400 if summary.status == "failed" else 200)


@bp.get("/api/audit")
def audit_log() -> flask.Response:
    """The audit trail, newest first (admin: the central policy's ROLE_RULES); `format=csv`, `action=`, `limit=`."""
    args = _args()
    for key in args:
        if key not in ("limit", "action", "format"):
            raise QueryError(key, f"/api/audit takes limit=, action= and format=, not {key!r}")
    action = (args.get("action") or [None])[0]
    if action is not None and action not in accounts.ACTIONS:
        raise QueryError("action", f"action must be one of {', '.join(accounts.ACTIONS)}")
    fmt = (args.get("format") or ["json"])[0]
    if fmt not in ("json", "csv"):
        raise QueryError("format", "format must be json or csv")
    events = accounts.audit_events(get_engine(), _limit(args, 200, 100_000), action)
    if fmt == "json":
        return json_response(events)
    from dashboard.api.export import csv_safe

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(accounts.AUDIT_COLUMNS)
    for e in events:
        writer.writerow([csv_safe(_default(v) if isinstance(v, datetime) else
                                  (json.dumps(v, sort_keys=True) if isinstance(v, dict) else v))
                         for v in (e[c] for c in accounts.AUDIT_COLUMNS)])
    return flask.Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="homeward-audit.csv"', "Cache-Control": "no-store"})


@bp.get("/api/feeds")
def feeds() -> flask.Response:
    """The ingest run log, newest first (`feed=` to pick feeds, `limit=`)."""
    args = _args()
    for key in args:
        if key not in ("feed", "limit"):
            raise QueryError(key, f"/api/feeds takes feed= and limit=, not {key!r}")
    limit = _limit(args, FEEDS_DEFAULT_LIMIT, FEEDS_MAX_LIMIT)
    r = ingest_run.c
    stmt = sa.select(ingest_run).order_by(r.started_at.desc(), r.run_id.desc()).limit(limit)
    wanted = listed(args.get("feed"))
    if wanted:
        stmt = stmt.where(r.feed.in_(wanted))
    with get_engine().connect() as conn:
        rows = [dict(row) for row in conn.execute(stmt).mappings()]
    return json_response(rows)


@bp.route("/api/", defaults={"rest": ""})
@bp.route("/api/<path:rest>")
def api_not_found(rest: str) -> flask.Response:
    # Without this, Dash's page catch-all would answer unknown API paths with HTML.
    return error_response(404, f"no API route /api/{rest}")


# --- errors --------------------------------------------------------------------

@bp.errorhandler(access.Forbidden)
def _forbidden(exc: access.Forbidden) -> flask.Response:
    return error_response(403, exc.message)


@bp.errorhandler(QueryError)
def _query_error(exc: QueryError) -> flask.Response:
    if isinstance(exc, access.OutOfScope):
        return error_response(403, exc.message, exc.param)
    status = 404 if isinstance(exc, (UnknownMetric, datasets.UnknownDataset)) else 400
    return error_response(status, exc.message, exc.param)


@bp.errorhandler(QueryTimeout)
def _timeout(exc: QueryTimeout) -> flask.Response:
    log.warning("stopped the store work of %s: %s", flask.request.path, exc)
    return error_response(504, f"{exc}; ask for a shorter window or a longer grain")


@bp.errorhandler(DBAPIError)
def _store_error(exc: DBAPIError) -> flask.Response:
    log.warning("store error on %s: %s", flask.request.path, exc.__class__.__name__)
    return error_response(503, "the store could not be read; try again shortly")


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> flask.Response:
    return error_response(exc.code or 500, exc.description or exc.name)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> flask.Response:
    log.exception("unexpected error on %s", flask.request.path)
    return error_response(500, "internal error; it has been logged")


def _app_http_error(exc: HTTPException) -> Any:
    """App-wide: API paths get JSON for routing errors (405 …); pages keep Flask's default."""
    if flask.request.path.startswith(API_PREFIXES):
        return error_response(exc.code or 500, exc.description or exc.name)
    return exc


def register_routes(server: flask.Flask) -> None:
    server.register_blueprint(bp)
    server.register_error_handler(HTTPException, _app_http_error)

