"""NHS small-number suppression, at its edges, worked by hand."""
from __future__ import annotations

import pytest

from models.metrics import REGISTRY
from models.suppression import MetricShape, applies_to, shape_of, suppress_count, suppress_metric_row

COUNT = MetricShape(value_is_count=True, is_ratio=False)
RATIO = MetricShape(value_is_count=False, is_ratio=True)
SUMMARY = MetricShape(value_is_count=False, is_ratio=False)


@pytest.mark.parametrize(("raw", "shown", "suppressed"), [
    (0, 0, False), (1, None, True), (7, None, True), (8, 10, False), (12, 10, False), (13, 15, False),
    (17, 15, False), (18, 20, False), (22, 20, False), (23, 25, False), (None, None, False),
])
def test_counts_are_suppressed_or_rounded_to_5(raw: int | None, shown: int | None, suppressed: bool) -> None:
    assert suppress_count(raw) == (shown, suppressed)


def test_count_row_value_suppressed_and_flagged() -> None:
    assert suppress_metric_row({"hwb": "X", "value": 7, "numerator": None, "denominator": None}, COUNT) == \
        {"hwb": "X", "value": None, "numerator": None, "denominator": None, "suppressed": True}
    assert suppress_metric_row({"value": 13, "numerator": None, "denominator": None}, COUNT)["value"] == 15


def test_ratio_is_recomputed_from_rounded_counts() -> None:
    # 9 of 12: published as 10 of 10 → 1.0, so 0.75 × a rounded 10 cannot give back 9 (and 12 − 9 = 3 stays hidden).
    out = suppress_metric_row({"value": 0.75, "numerator": 9, "denominator": 12}, RATIO)
    assert out == {"value": 1.0, "numerator": 10, "denominator": 10, "suppressed": False}


def test_ratio_with_small_numerator_or_denominator_is_withheld() -> None:
    assert suppress_metric_row({"value": 0.25, "numerator": 3, "denominator": 12}, RATIO) == \
        {"value": None, "numerator": None, "denominator": 10, "suppressed": True}
    assert suppress_metric_row({"value": 0.0, "numerator": 0, "denominator": 5}, RATIO) == \
        {"value": None, "numerator": 0, "denominator": None, "suppressed": True}


def test_ratio_with_zero_denominator_stays_missing() -> None:
    assert suppress_metric_row({"value": None, "numerator": 0, "denominator": 0}, RATIO) == \
        {"value": None, "numerator": 0, "denominator": 0, "suppressed": False}


def test_summary_over_few_records_is_withheld_but_otherwise_exact() -> None:
    assert suppress_metric_row({"value": 4.5, "numerator": None, "denominator": 3}, SUMMARY)["value"] is None
    assert suppress_metric_row({"value": 4.5, "numerator": None, "denominator": 30}, SUMMARY)["value"] == 4.5
    assert suppress_metric_row({"value": 4.5, "numerator": None, "denominator": None}, SUMMARY)["value"] == 4.5


@pytest.mark.parametrize(("name", "shape"), [
    ("nctr_count", COUNT), ("referrals", COUNT), ("vacant_accepting", COUNT), ("services_not_reporting", COUNT),
    ("occupancy_rate", RATIO), ("pathway_share", RATIO), ("readmission_30d_rate", RATIO),
    ("mean_delay_days", SUMMARY), ("nctr_days_total", SUMMARY), ("hub_decision_hours", SUMMARY),
])
def test_registry_metrics_are_classified_by_measure(name: str, shape: MetricShape) -> None:
    assert shape_of(REGISTRY[name]) == shape


def test_published_sitrep_metrics_are_not_resuppressed() -> None:
    assert applies_to(REGISTRY["nctr_count"]) and applies_to(REGISTRY["occupancy_rate"])
    assert not applies_to(REGISTRY["sitrep_nctr"])
