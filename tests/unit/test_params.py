"""One parser for the shared parameters, one registry of dimensions, one place ICB / place / HWB become HWBs
(issue 13): the API, the exports and the pages read a URL alike."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dashboard import data
from dashboard.state import FilterState
from models import access, datasets
from models.dimensions import DIMENSIONS
from models.query import MetricQuery, QueryError
from models.query.prepare import _prepare

# The reference geography: QWO (West Yorkshire) covers E08000032-36; each HWB is also its own place.
URLS = [
    {"icb": "QWO", "place": "E08000035"},  # a place inside the ICB: that place
    {"icb": "QWO", "place": ["E08000035", "E06000001"]},  # one inside, one outside: the one inside
    {"icb": "QWO", "place": "E06000001"},  # a place outside the ICB: nothing (not the place's HWBs)
    {"icb": "qwo", "hwb": "E08000032,E06000002"},  # an HWB filter too, comma-separated, a lower-case ICB
    {"place": "E08000035", "hwb": "E08000035"},
    {"icb": "QWO"},
    {"hwb": "E06000053"},  # an alias, resolved to the HWB it reports into
]


@pytest.mark.parametrize("url", URLS)
def test_a_page_lists_the_hwbs_the_metrics_layer_filters_on(duck_store: sa.Engine, url: dict[str, object]) -> None:
    state = FilterState.from_args(url)
    page = data.scope_hwbs(state, data.geography())
    prepared = _prepare(duck_store, MetricQuery.from_params("nctr_count", {k: [str(v)] if isinstance(v, str) else v
                                                                            for k, v in url.items()}))
    assert page == prepared.where["hwb"]


def test_both_rules_intersect_within_the_principal_scope(duck_store: sa.Engine) -> None:
    state = FilterState.from_args({"icb": "QWO", "place": ["E08000035", "E06000001"]})
    with access.using(access.Principal("two", "viewer", ("hwb:E08000032", "hwb:E08000035", "hwb:E06000001"))):
        assert data.scope_hwbs(state) == ["E08000035"]
        assert data.scope_hwbs(FilterState.from_args({"icb": "QWO"})) == ["E08000032", "E08000035"]
        assert _prepare(duck_store, MetricQuery("nctr_count", where=state.where(("icb", "place")))).where["hwb"] \
            == ["E08000035"]
    assert data.scope_hwbs(FilterState.from_args({})) is None  # no geography filter: everything


@pytest.mark.parametrize(("param", "value", "message"), [
    ("pathway", "5", "pathway must be 0, 1, 2 or 3, got '5'"),
    ("age_band", "90+", "unknown age_band '90+'; expected one of 18-64, 65-74, 75-84, 85+"),
    ("from", "03/01/2024", "`from` must be a date YYYY-MM-DD, got '03/01/2024'"),
    ("at", "soon", "`at` must be an ISO 8601 time, got 'soon'"),
    ("hwb", "NOPE", "unknown hwb 'NOPE'; expected an HWB ONS code (e.g. E08000035) from the reference geography"),
    ("delay_reason", "bored", "unknown delay_reason 'bored'; expected one of " + ", ".join(
        DIMENSIONS["delay_reason"].vocabulary + ("NOT_RECORDED",))),
])
def test_the_api_and_the_exports_refuse_a_value_in_the_same_words(duck_store: sa.Engine, param: str, value: str,
                                                                  message: str) -> None:
    errors = []
    for ask in (lambda: _prepare(duck_store, MetricQuery.from_params("discharges", {param: [value]})),
                lambda: datasets.parse_dataset_params(duck_store, "cases", {param: [value]})):
        with pytest.raises(QueryError) as exc:
            ask()
        errors.append((exc.value.param, exc.value.message))
    assert errors == [(param, message)] * 2


def test_a_page_drops_what_the_api_refuses() -> None:
    state = FilterState.from_args({"pathway": "1,5", "from": "03/01/2024", "at": "soon", "service_type": "p1_rehab"})
    assert (state.pathway, state.from_, state.at, state.service_type) == (("1",), None, None, ("P1_REHAB",))


def test_not_recorded_means_no_value_in_exports_as_in_metrics(duck_store: sa.Engine) -> None:
    q = datasets.parse_dataset_params(duck_store, "cases", {"ic_outcome": ["not_recorded"], "delay_reason": ["medical"]})
    assert q.where == {"delay_reason": ("MEDICAL",), "ic_outcome": ("NOT_RECORDED",)}
    sql = str(datasets.cases_select(q).compile(compile_kwargs={"literal_binds": True}))
    assert "coalesce(hub_case.ic_outcome, 'NOT_RECORDED') IN ('NOT_RECORDED')" in sql


def test_every_filter_is_a_dimension_defined_once() -> None:
    from models.metrics import REGISTRY

    names = {d for m in REGISTRY.values() for d in m.dimensions} | {f for fs in datasets.DATASET_FILTERS.values()
                                                                    for f in fs}
    assert names <= set(DIMENSIONS)
