"""NHS small-number suppression for aggregate exports below national level.

The rule (NHS England / NHS Digital statistical disclosure control for
aggregate counts): a count of 1 to 7 is suppressed, every other count is
rounded to the nearest 5, and 0 stays 0 (a true zero discloses nobody).
Rounding 8 → 10 and 12 → 10 also stops a suppressed cell being recovered by
subtracting the other cells from a published total.

Only count-like values are touched. For a ratio the numerator and the
denominator are counts and are suppressed / rounded; the ratio itself is then
*recomputed from the rounded figures* (and suppressed when either side is), so
that the three published numbers agree with each other and the exact ratio
cannot be multiplied back by the rounded denominator to recover the exact
numerator. Summaries that are not counts (medians, means, percentiles, bed
days) are shown as they are unless the row's denominator — the number of
people they summarise — is 1 to 7, in which case they are suppressed too:
a "median of one person" is that person's figure.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.metrics import Metric

SUPPRESS_MAX = 7  # counts 1..SUPPRESS_MAX are withheld
ROUND_TO = 5

# Units the metrics registry gives plain counts of people, beds / slots or
# services (models.metrics: people | beds or slots | services | rate | days |
# hours | bed days). Bed days and hours are measurements, not counts.
COUNT_UNITS = frozenset({"people", "beds or slots", "services"})


def suppress_count(value: float | int | None) -> tuple[int | None, bool]:
    """One count → (published value, was it suppressed).

    0 → 0; 1..7 → None (suppressed); otherwise the nearest multiple of 5,
    halves rounded up (13 → 15, 12 → 10) — `round()` would round halves to
    even, which is not what the NHS rule says.
    """
    if value is None:
        return None, False
    n = int(round(float(value)))
    if n == 0:
        return 0, False
    if 1 <= abs(n) <= SUPPRESS_MAX:
        return None, True
    sign = -1 if n < 0 else 1
    return sign * ((abs(n) + ROUND_TO // 2) // ROUND_TO) * ROUND_TO, False


@dataclass(frozen=True)
class MetricShape:
    """What suppression needs to know about a metric."""

    value_is_count: bool  # the value itself is a count (nctr_count, referrals …)
    is_ratio: bool  # value = numerator ÷ denominator


def shape_of(metric: Metric) -> MetricShape:
    """Classify a registry metric by its measure: a count, a ratio, or another summary.

    Read from the metric's measure (models.measures) and unit, so a metric added to the
    registry is classified without touching this module: a count of rows is a count; a sum
    is one when its unit counts things (beds or slots), not when it measures (bed days).
    """
    measure = metric.measure
    value_is_count = measure.counts_rows or (measure.summed and metric.unit in COUNT_UNITS)
    return MetricShape(value_is_count=value_is_count, is_ratio=measure.is_ratio)


def applies_to(metric: Metric) -> bool:
    """Local aggregates (hub cases, capacity) are below national level and are suppressed.

    The published NHS England sitrep figures are already public under NHS
    England's own disclosure control, so re-suppressing them would only make
    Homeward disagree with the publication.
    """
    return metric.source in ("cases", "capacity")


def suppress_metric_row(row: Mapping[str, Any], shape: MetricShape) -> dict[str, Any]:
    """A metrics-layer row → the row as published, with a `suppressed` flag.

    `suppressed` is true when any figure in the row was withheld.
    """
    out = dict(row)
    value = row.get("value")
    numerator, denominator = row.get("numerator"), row.get("denominator")
    num_out, num_sup = suppress_count(numerator)
    den_out, den_sup = suppress_count(denominator)
    out["numerator"], out["denominator"] = num_out, den_out
    suppressed = num_sup or den_sup
    if shape.value_is_count:
        out["value"], value_sup = suppress_count(value)
        suppressed = suppressed or value_sup
    elif shape.is_ratio:
        if suppressed or value is None:
            out["value"] = None
        else:
            # Recomputed from the published figures (see module docstring);
            # a zero denominator stays missing, as the metrics layer has it.
            out["value"] = (num_out / den_out) if (num_out is not None and den_out) else None
    else:
        # A median / mean / percentile / bed-day sum over a small group is
        # that group's own figure: withhold it with its denominator.
        if den_sup:
            out["value"] = None
    out["suppressed"] = bool(suppressed)
    return out
