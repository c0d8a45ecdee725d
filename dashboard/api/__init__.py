"""The HTTP API: `register_api(server)` adds the routes of shared/spec/interfaces.md to the Flask server."""
from __future__ import annotations

import flask


def register_api(server: flask.Flask) -> None:
    from dashboard.api import alerts
    from dashboard.api.plan import register_plan_routes
    from dashboard.api.routes import register_routes

    register_routes(server)
    alerts.register(server)
    register_plan_routes(server)
