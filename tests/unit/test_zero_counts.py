"""Zero shown as 0, "—" only where the source has no data for that row (issue 17)."""
from __future__ import annotations

from dashboard.data import with_zero_counts


def test_a_count_with_no_row_is_zero_where_the_source_has_data_for_that_hwb() -> None:
    # Leeds has cases (3 waiting) but nobody waiting 21+ days: the count query returns no Leeds row.
    # Bradford has no cases at all. Wakefield has a service reporting capacity but no P1 service.
    names = ["nctr_count", "nctr_over_21d", "ic_caseload", "vacant_accepting", "occupied"]
    split = [{"E08000035": 3}, {}, {"E08000035": 40}, {}, {"E08000036": 5}]
    got = with_zero_counts(names, split)
    assert got[0] == {"E08000035": 3}
    assert got[1] == {"E08000035": 0}           # 0, not "—": Leeds has cases, none waiting 21+ days
    assert "E08000032" not in got[1]             # Bradford: no data, stays "—"
    assert got[3] == {}                          # a capacity sum: no row means no service reporting ("—")


def test_a_real_zero_is_kept_and_nothing_is_made_up_without_data() -> None:
    got = with_zero_counts(["nctr_count", "nctr_over_21d"], [{"E08000035": 0}, {}])
    assert got == [{"E08000035": 0}, {"E08000035": 0}]
    assert with_zero_counts(["nctr_count", "nctr_over_21d"], [{}, {}]) == [{}, {}]
