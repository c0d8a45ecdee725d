"""`GET /api/alerts`: every alert instance and its state, from the store (alerts.states).

    {"alerts": [{"rule", "scope", "state", "value", "threshold", "since", "last_notified_at"}]}

`?state=firing` (repeatable) keeps those states; `?icb=`, `?place=`, `?hwb=` keep the instances in that
geography (national and feed alerts always stay).
"""
from __future__ import annotations

from typing import Any

import flask

from alerts.states import STATES, instances_in_scope, load_instances
from dashboard.api.routes import error_response, json_response
from models.db import get_engine
from models.geography import get_geography

bp = flask.Blueprint("homeward_alerts_api", __name__)


def hwbs_of(args: dict[str, list[str]], geo: Any) -> set[str] | None:
    """The HWBs an ICB / place / HWB filter covers (None: no filter)."""
    if not any(args.get(k) for k in ("icb", "place", "hwb")):
        return None
    out: set[str] = set()
    for code in args.get("icb", []):
        out.update(geo.hwbs_in_icb(code.upper()))
    for code in args.get("place", []):
        out.update(geo.hwbs_in_place(code.upper()))
    out.update(c.upper() for c in args.get("hwb", []))
    return out


@bp.get("/api/alerts")
def api_alerts() -> flask.Response:
    args = flask.request.args.to_dict(flat=False)
    wanted = args.get("state", [])
    for state in wanted:
        if state not in STATES:
            return error_response(400, f"unknown state {state!r}; expected one of {', '.join(STATES)}", "state")
    geo = get_geography(get_engine())
    instances = instances_in_scope(load_instances(get_engine()).values(), hwbs_of(args, geo), geo)
    order = {s: i for i, s in enumerate(("firing", "pending", "no_data", "resolved", "ok"))}
    rows = [{"rule": i.rule, "scope": i.scope, "state": i.state, "value": i.value, "threshold": i.threshold,
             "since": i.since, "last_notified_at": i.last_notified_at}
            for i in sorted(instances, key=lambda i: (order[i.state], i.rule, i.scope))
            if not wanted or i.state in wanted]
    return json_response({"alerts": rows})


def register(server: flask.Flask) -> None:
    server.register_blueprint(bp)
