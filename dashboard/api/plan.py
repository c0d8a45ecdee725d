"""Planner routes (issue 15): `POST /api/plan` runs a scenario; `GET /api/plan/inputs` fills one in from live data.

Any signed-in role may plan. The engine is pure (`planner/`); the live inputs come from
`models.planning_inputs`, which asks the metrics layer.
"""
from __future__ import annotations

import flask

from dashboard.api.routes import error_response, json_response
from models.query import QueryError, parse_time
from planner.engine import simulate
from planner.scenario import ScenarioError, parse_scenario

bp = flask.Blueprint("homeward_plan_api", __name__)


@bp.post("/api/plan")
def plan() -> flask.Response:
    body = flask.request.get_json(silent=True)
    if body is None:
        return error_response(400, "the body must be a scenario as JSON (Content-Type: application/json)")
    try:
        scenario = parse_scenario(body)
    except ScenarioError as e:
        return error_response(400, f"invalid scenario: {e}")
    return json_response(simulate(scenario))


@bp.get("/api/plan/inputs")
def plan_inputs() -> flask.Response:
    from models.planning_inputs import PATHWAYS, planning_inputs

    hwb = flask.request.args.get("hwb", "")
    pathway = flask.request.args.get("pathway", "")
    if not hwb:
        return error_response(400, "hwb is required (an HWB code)", "hwb")
    if pathway not in PATHWAYS:
        return error_response(400, "pathway must be 1, 2 or 3", "pathway")
    at_text = flask.request.args.get("at")
    inputs = planning_inputs(hwb, int(pathway), at=parse_time("at", at_text) if at_text else None)
    if inputs is None:
        return error_response(404, f"unknown HWB {hwb!r}", "hwb")
    return json_response(inputs)


@bp.errorhandler(QueryError)
def _query_error(exc: QueryError) -> flask.Response:
    from models.access import OutOfScope

    return error_response(403 if isinstance(exc, OutOfScope) else 400, exc.message, exc.param)


def register_plan_routes(server: flask.Flask) -> None:
    server.register_blueprint(bp)
