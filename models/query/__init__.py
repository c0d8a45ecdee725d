"""The query builder: metric + (at, window, grain, by, filters) → one select → rows.

Pages, the HTTP API, exports and the CLI all come through `run_query`, so the
same question gives the same number everywhere. Strings from URLs and the
command line enter through `MetricQuery.from_params`, which validates every
value (a `QueryError` names the parameter) before any SQL is built; filter
values are always bound parameters.

By stage: `api` (types, errors, parsers, data version) → `prepare` (validation, periods) →
`compile` (the select: `sources` gives its FROM and dimension columns, `cases` the case joins, the
measure (models.measures) its condition and aggregates; `intervals` for Open / Overlap over many
periods) → `plan` (statement cache, parameters) → `execute` (one query) / `batching` (several) →
`shape` (rows).
"""
from models.errors import QueryError, UnknownMetric
from models.query.api import (
    RESERVED,
    MetricQuery,
    MetricResult,
    check_bounds,
    data_version,
    get_metric,
    parse_day,
    parse_time,
)
from models.query.batching import run_queries
from models.query.execute import _execute, _fetch, compiled_select, run_query
from models.query.prepare import _known_codes
from models.query.shape import empty_value
from models.query.sources import FEED_SOURCE, feed_versions, source_version

__all__ = [
    "FEED_SOURCE",
    "RESERVED",
    "MetricQuery",
    "MetricResult",
    "QueryError",
    "UnknownMetric",
    "_execute",
    "_fetch",
    "_known_codes",
    "check_bounds",
    "compiled_select",
    "data_version",
    "empty_value",
    "feed_versions",
    "get_metric",
    "parse_day",
    "parse_time",
    "run_queries",
    "run_query",
    "source_version",
]
