"""`python app.py query` and `python app.py metrics`: the metrics layer on the command line."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from models.errors import QueryError
from models.metrics import REGISTRY
from models.params import RESERVED


def _params(args: argparse.Namespace) -> dict[str, list[str]]:
    """The command line as query-string parameters (`--where KEY=VALUE` a filter), which `MetricQuery.from_params`
    reads with `models.params` as it reads the API's."""
    params: dict[str, list[str]] = {}
    for key, value in zip(RESERVED, (args.at, args.from_, args.to, args.grain, args.by)):
        if value is not None:
            params[key] = [value]
    for item in args.where:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise QueryError("where", f"--where takes KEY=VALUE, got {item!r}")
        params.setdefault(key.strip(), []).append(value.strip())
    return params


def run_query_command(args: argparse.Namespace) -> int:
    from models.db import ensure_store, get_engine
    from models.query import MetricQuery, run_query

    if args.format not in ("json", "csv"):
        print(f"error: --format must be json or csv, got {args.format!r}", file=sys.stderr)
        return 2
    try:
        query = MetricQuery.from_params(args.metric, _params(args))
        ensure_store()
        result = run_query(get_engine(), query)
    except QueryError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(result.to_json(), default=str))
    else:
        rows = result.rows
        fields = list(rows[0]) if rows else ["value", "numerator", "denominator"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0


def run_metrics_command(args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        print(json.dumps([m.catalogue() for m in REGISTRY.values()], indent=2))
        return 0
    width = max(len(name) for name in REGISTRY)
    group = None
    for metric in REGISTRY.values():
        if metric.group != group:
            group = metric.group
            print(f"\n{group}")
        by: Any = ",".join(metric.dimensions)
        print(f"  {metric.name:<{width}}  {metric.kind:<8}  {metric.unit:<13}  {metric.label}  [by: {by}]")
    return 0
