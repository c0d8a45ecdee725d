"""`python app.py plan SCENARIO.json`: the result JSON on stdout; exit 2 with one line for an invalid scenario."""
from __future__ import annotations

import json
import sys

from planner.engine import simulate
from planner.scenario import ScenarioError, parse_scenario


def run_plan_command(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
    except OSError as e:
        print(f"cannot read {path}: {e.strerror}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as e:
        print(f"{path} is not JSON: {e.msg} at line {e.lineno}", file=sys.stderr)
        return 2
    try:
        scenario = parse_scenario(body)
    except ScenarioError as e:
        print(f"invalid scenario: {e}", file=sys.stderr)
        return 2
    json.dump(simulate(scenario), sys.stdout)
    sys.stdout.write("\n")
    return 0
