"""A dimension's column is named once, in `models.dimensions`: every source's select offers exactly the
dimensions the registry gives it a column in, and a new dimension read from a table its source can join is
one entry there, nothing in the query package."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from models.dimensions import DIMENSIONS, Dimension
from models.metrics import REGISTRY
from models.query.sources import SOURCES, periods


def _offered(source: str, needed: set[str], n: int = 1) -> dict[str, sa.ColumnElement[object]]:
    metric = next(m for m in REGISTRY.values() if m.source == source)
    return dict(SOURCES[metric.source].select_from(periods(n), needed, [metric], None).dims)


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("source", list(SOURCES))
def test_every_source_offers_its_registry_dimensions(source: str, n: int) -> None:
    named = {name for name, dim in DIMENSIONS.items() if source in dim.columns}
    assert set(_offered(source, named, n)) == named


def test_a_new_dimension_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    # One on the case's own table, one on a table the case select joins only when asked (the destination service).
    monkeypatch.setitem(DIMENSIONS, "referred_by", Dimension("referred_by", {"cases": "hub_case.person_id"}))
    monkeypatch.setitem(DIMENSIONS, "provider", Dimension("provider", {"cases": "service.provider_name"}))
    dims = _offered("cases", {"referred_by", "provider"})
    assert str(dims["referred_by"]) == "c.person_id"
    assert str(dims["provider"]) == "svc.provider_name"
    assert "service_type" in dims  # the service join, needed by `provider`, brings its other dimensions too
    assert "provider" not in _offered("cases", {"referred_by"})  # not joined when not needed
