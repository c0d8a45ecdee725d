"""Builds the Dash app: pages, assets, the query cache, the HTTP API and (optionally) the scheduler.

Nothing here opens the store at import time: the engine is created on the
first request (or when the scheduler starts), after any server fork.
"""
from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, ALL, dcc, html

from dashboard.cache import make_cache
from dashboard.concurrency import mark_request_started
from models.settings import PROJECT_DIR

log = logging.getLogger(__name__)

PAGES_DIR = Path(__file__).resolve().parent / "pages"
ASSETS_DIR = PROJECT_DIR / "assets"
NAV_LINK = "hw-nav-link"


def _nav_pages() -> list[dict[str, Any]]:
    """Pages in the navigation, from the page registry (a page opts out with nav=False)."""
    pages = [p for p in dash.page_registry.values() if p.get("nav", True)]
    return sorted(pages, key=lambda p: (p.get("order") if p.get("order") is not None else 99, p["path"]))


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


def _start_scheduler() -> None:
    from ingest.scheduler import build_scheduler
    from models.db import get_engine

    build_scheduler(get_engine()).start()


def build_app(start_scheduler: bool = False) -> dash.Dash:
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
    app.server.before_request(mark_request_started)
    _register_api(app.server)
    if start_scheduler:
        _start_scheduler()
    return app


def warm_up(app: dash.Dash, paths: tuple[str, ...] = ("/wall", "/")) -> threading.Thread:
    """Render the wall and the home page once, in the background, as the server starts: the store
    loads its catalogue and first column blocks (~0.4 s on the national store) and the "now" views are
    cached before the first screen asks, not while it waits."""
    def run() -> None:
        with app.server.app_context():
            for path in paths:
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
