"""Builds the Dash app: pages, assets, the query cache and the HTTP API. (app.py wires it to the scheduler.)

Nothing here opens the store at import time: the engine is created on the
first request, after any server fork.
"""
from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html

from dashboard.cache import make_cache
from dashboard.concurrency import mark_request_started
from models.progress import Stages
from models.settings import PROJECT_DIR

log = logging.getLogger(__name__)

PAGES_DIR = Path(__file__).resolve().parent / "pages"
ASSETS_DIR = PROJECT_DIR / "assets"
NAV_LINK = "hw-nav-link"


def _nav_pages() -> list[dict[str, Any]]:
    """Pages in the navigation, from the page registry (a page opts out with nav=False)."""
    pages = [p for p in dash.page_registry.values() if p.get("nav", True)]
    return sorted(pages, key=lambda p: (p.get("order") if p.get("order") is not None else 99, p["path"]))


def _who() -> html.Div:
    """Who is signed in and their scope ("Scope: Leeds"), or the no-sign-in warning."""
    from dashboard.auth import NO_SIGN_IN_NOTE
    from models import access
    from models.db import get_engine

    p = access.current()
    label = access.scope_label(get_engine(), p)
    if p.kind == "none":
        return html.Div([html.Strong(NO_SIGN_IN_NOTE, className="hw-who__warning"), " · ", label],
                        className="hw-who", id="hw-who")
    return html.Div([html.Span(f"{p.name} ({p.role.replace('_', ' ')})"), " · ", html.Span(label, id="hw-scope"),
                     " · ", html.A("Sign out", href="/signout", className="hw-who__signout")],
                    className="hw-who", id="hw-who")


def _shell() -> html.Div:
    """The frame around every page. The wall hides it with CSS (`body:has(.hw-wall)`), so it has no navigation."""
    links = [html.Li(dcc.Link(p.get("nav_label") or p["name"], href=p["relative_path"],
                              id={"type": NAV_LINK, "path": p["relative_path"]}, className="hw-nav__link"))
             for p in _nav_pages()]
    return html.Div([
        html.A("Skip to main content", href="#main", className="hw-skip"),
        html.Header([
            html.Div([html.Span("NHS", className="hw-brand__logo", **{"aria-hidden": "true"}),
                      html.Span("Homeward", className="hw-brand__name"),
                      html.Span("intermediate care: capacity, flow, delays, outcomes", className="hw-brand__strap")],
                     className="hw-brand"),
            html.Nav(html.Ul(links, className="hw-nav__list"), className="hw-nav", **{"aria-label": "Pages"}),
            _who(),
        ], className="hw-header"),
        html.Main(dash.page_container, id="main", className="hw-main", tabIndex="-1"),
        html.Footer("Homeward: every figure comes from the metrics catalogue; see Definitions and Data status.",
                    className="hw-footer"),
    ], className="hw-shell")


def _register_api(server: Any) -> None:
    """The HTTP API lives in dashboard.api; tolerate its absence while it is being written."""
    try:
        module = importlib.import_module("dashboard.api")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("dashboard.api"):
            log.warning("dashboard.api is not available; the HTTP API is not served")
            return
        raise
    register = getattr(module, "register_api", None)
    if register is None:
        log.warning("dashboard.api has no register_api; the HTTP API is not served")
        return
    register(server)


CALLBACK_ENDPOINT = "/_dash-update-component"


def _bad_callback(body: Any, callbacks: dict[str, Any]) -> str | None:
    """Why a callback request's body is not one Dash could have sent, or None."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("output"), str) or body["output"] not in callbacks:
        return "unknown output"
    if not isinstance(body.get("outputs"), (dict, list)):
        return "outputs is missing or not an object or list"
    for key in ("inputs", "changedPropIds"):
        if not isinstance(body.get(key), list):
            return f"{key} is missing or not a list"
    if not isinstance(body.get("state", []), list):
        return "state is not a list"
    return None


def _guard_callbacks(app: dash.Dash) -> None:
    """Garbage posted to Dash's callback route is a 400 and one log line, never a 500 with a traceback:
    the body's shape is checked first, and what Dash still cannot use (inputs that do not match the
    callback's) is refused the same way."""
    import flask

    view = app.server.view_functions[CALLBACK_ENDPOINT]

    def guarded(*args: Any, **kwargs: Any) -> Any:
        def refuse(reason: str) -> flask.Response:
            log.warning("refused a callback request from %s: %s", flask.request.remote_addr, reason[:200])
            return flask.Response('{"error": "bad callback request", "status": 400}', status=400,
                                  mimetype="application/json")
        body = flask.request.get_json(silent=True)
        reason = _bad_callback(body, app.callback_map)
        if reason:
            return refuse(reason)
        try:
            return view(*args, **kwargs)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError,
                dash.exceptions.DashException) as exc:
            # the shape passed but the contents do not fit the callback; page sections catch their own errors
            return refuse(f"{type(exc).__name__}: {exc}".replace("\n", " "))
    app.server.view_functions[CALLBACK_ENDPOINT] = guarded


def _start_deadline() -> None:
    """Each request's store work is limited in time, and stopped when its client goes (waitress tells)."""
    import flask

    from models import deadline, settings

    deadline.start(settings.query_timeout_seconds(), flask.request.environ.get("waitress.client_disconnected"))


def _end_deadline(exc: BaseException | None) -> None:
    """The limit is the request's: work later in the same thread (a pooled server thread, the CLI, a test)
    must not inherit an expired one."""
    from models import deadline

    deadline.clear()


def build_app() -> dash.Dash:
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PAGES_DIR),
        assets_folder=str(ASSETS_DIR),
        title="Homeward",
        update_title=None,  # no "Updating..." flicker in the tab title on the wall
        # Page layouts are built per load with query args; validating against
        # every page's layout at first request would query the store needlessly.
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    # The page's language, for screen readers and WCAG 3.1.1 (Dash's own template has none).
    app.index_string = app.index_string.replace("<html>", '<html lang="en-GB">', 1)
    app.layout = _shell
    app.clientside_callback(
        """
        function(pathname, ids) {
            return ids.map(function(id) {
                var here = (pathname || "/") === id.path;
                return here ? "hw-nav__link hw-nav__link--current" : "hw-nav__link";
            });
        }
        """,
        Output({"type": NAV_LINK, "path": ALL}, "className"),
        Input("_pages_location", "pathname"),
        State({"type": NAV_LINK, "path": ALL}, "id"),
    )
    make_cache(app.server)
    _guard_callbacks(app)
    from models import settings

    # No body larger than a delivery (POST /api/ingest) is read, under either server.
    app.server.config["MAX_CONTENT_LENGTH"] = settings.ingest_max_bytes() + 1024 * 1024
    app.server.before_request(mark_request_started)
    from dashboard import oidc
    from dashboard.auth import install as install_access

    install_access(app.server)  # before the API: its before_request hook is the one policy for every route
    oidc.install(app.server)  # single sign-on's routes, beside the password sign-in
    app.server.before_request(_start_deadline)
    app.server.teardown_request(_end_deadline)
    _register_api(app.server)
    return app


def warm_up(app: dash.Dash, paths: tuple[str, ...] = ("/wall", "/")) -> threading.Thread:
    """Render the wall and the home page once, in the background, as the server starts: the store
    loads its catalogue and first column blocks (~0.4 s on the national store) and the "now" views are
    cached before the first screen asks, not while it waits."""
    def run() -> None:
        with app.server.app_context(), Stages("warm-up", len(paths)) as progress:
            for path in paths:
                progress.stage(f"rendering {path}")
                page = next((p for p in dash.page_registry.values() if p["path"] == path), None)
                try:
                    if page is not None and callable(page.get("layout")):
                        page["layout"]()
                except Exception:  # noqa: BLE001 - only a head start; the first request tries again
                    if not threading.main_thread().is_alive():
                        return  # the server stopped or never started (e.g. its port in use): nothing to warm
                    log.warning("warming %s failed", path, exc_info=True)
    thread = threading.Thread(target=run, name="homeward-warm-up", daemon=True)
    thread.start()
    return thread
