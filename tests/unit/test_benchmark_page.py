"""`/benchmark` builds from a store holding the real December 2023 acute sitrep, and shows its numbers.

The England figures for 1 December 2023 were read by hand from the workbook
(Table 2, row "ENGLAND (Type 1 Trusts)"): 25,896 patients no longer meeting
the criteria to reside, 12,907 discharged, 12,989 remaining.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

WORKBOOK = Path("/work/shared/data/nhse/acute/december2023.xlsx")
ENGLAND_1_DEC = {"sitrep_nctr": 25896.0, "sitrep_discharged": 12907.0, "sitrep_remaining": 12989.0}


@pytest.fixture(scope="module")
def page_module() -> dict[str, Any]:
    """The page module's namespace (Dash loads pages outside sys.modules, so reach it through its layout)."""
    import dash

    from dashboard.server import build_app

    build_app()
    return dash.page_registry["pages.benchmark"]["layout"].__globals__


@pytest.fixture
def sitrep_store(duck_store: sa.Engine) -> sa.Engine:
    if not WORKBOOK.exists():
        pytest.skip(f"{WORKBOOK} is not available")
    from ingest.base import run_feed

    summary = run_feed(duck_store, "nhse_acute_sitrep", str(WORKBOOK))
    assert summary.exit_code == 0, summary.to_json()
    return duck_store


def _plain(component: Any) -> Any:
    import plotly

    return json.loads(json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "props" in node:
            yield node["props"]
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _cells(tree: Any) -> list[dict[str, Any]]:
    return [p for p in _walk(tree) if "data-metric" in p]


def _text(tree: Any) -> str:
    out: list[str] = []
    for props in _walk(tree):
        children = props.get("children")
        if isinstance(children, str):
            out.append(children)
        elif isinstance(children, list):
            out.extend(c for c in children if isinstance(c, str))
    return " ".join(out)


def _value(tree: Any, metric: str, where: str) -> float | None:
    hits = [c for c in _cells(tree) if c["data-metric"] == metric and c.get("data-where") == where]
    assert hits, f"no {metric} shown for {where}"
    raw = hits[0]["data-value"]
    return float(raw) if raw != "" else None


def test_one_day_shows_the_hand_checked_england_figures(page_module: dict[str, Any], sitrep_store: sa.Engine) -> None:
    tree = _plain(page_module["layout"](icb="QWO", **{"from": "2023-12-01", "to": "2023-12-02"}))
    for metric, expected in ENGLAND_1_DEC.items():
        assert _value(tree, metric, "level=england,org=ENG") == expected
    # The share is the registry's sitrep_discharged_share (Σ discharged ÷ Σ NCTR), not worked out on the page.
    assert _value(tree, "sitrep_discharged_share", "level=england,org=ENG") == pytest.approx(12907 / 25896)
    assert not [c for c in _cells(tree) if "/" in c["data-metric"]]
    graph = next(p for p in _walk(tree) if p.get("id") == "bm-g-share")
    england = next(t for t in graph["figure"]["data"] if t["name"] == "England")
    assert england["y"][0] == pytest.approx(12907 / 25896)  # the daily share chart, 1 Dec 2023
    text = _text(tree)
    assert "22,909.8" not in text  # the month's mean is not shown for a one-day window
    assert "25,896.0" in text
    assert "NHS England Acute Discharge SitRep, 1 Dec 2023; Open Government Licence v3.0" in text


def test_default_window_is_the_latest_published_month(page_module: dict[str, Any], sitrep_store: sa.Engine) -> None:
    from datetime import date

    from models.query import MetricQuery, run_query

    tree = _plain(page_module["layout"]())  # no ICB: the deployment's own (QWO by default)
    text = _text(tree)
    assert "NHS England Acute Discharge SitRep, December 2023; Open Government Licence v3.0" in text
    assert "West Yorkshire ICB (QWO), North East and Yorkshire region" in text
    expected = run_query(sitrep_store, MetricQuery("sitrep_nctr", from_=date(2023, 12, 1), to=date(2024, 1, 1),
                                                   where={"level": ("icb",), "org": ("QWO",)})).total()
    assert _value(tree, "sitrep_nctr", "level=icb,org=QWO") == pytest.approx(expected)
    # The ICB's six trusts are all ranked.
    grid = next(p for p in _walk(tree) if p.get("id") == "bm-trusts")
    assert {r["org"] for r in grid["rowData"]} == {"RAE", "RCD", "RCF", "RR8", "RWY", "RXF"}
    # Shares in the table, the tiles and the trust ranking are the registry metric's values.
    shares = run_query(sitrep_store, MetricQuery("sitrep_discharged_share", from_=date(2023, 12, 1),
                                                 to=date(2024, 1, 1), by=("level", "org"))).rows
    by_org = {(r["level"], r["org"]): r["value"] for r in shares}
    for r in grid["rowData"]:
        assert r["share"] == pytest.approx(by_org[("trust", r["org"])])
    assert _value(tree, "sitrep_discharged_share", "level=icb,org=QWO") == pytest.approx(by_org[("icb", "QWO")])
    ranked = sorted((v, org) for (level, org), v in by_org.items() if level == "icb" and v is not None)[::-1]
    rank_tile = next(c for c in _cells(tree) if c["data-metric"] == "rank:sitrep_discharged_share")
    assert float(rank_tile["data-value"]) == [org for _, org in ranked].index("QWO") + 1
    # Pathway mix: the ICB beside England, in percent (shares add up to 1).
    graph = next(p for p in _walk(tree) if p.get("id") == "bm-g-pathway")
    for trace in graph["figure"]["data"]:
        assert sum(x for x in trace["x"] if x is not None) == pytest.approx(1.0)


def test_refresh_callback_follows_icb_and_month(page_module: dict[str, Any], sitrep_store: sa.Engine) -> None:
    refresh = page_module["_refresh"]
    out = _plain(refresh("QOQ", "2023-12-01", None))
    assert _value(out, "sitrep_nctr", "level=icb,org=QOQ") is not None
    assert "Humber and North Yorkshire ICB" in _text(out)
    # A custom window from the address survives a change of ICB.
    out = _plain(refresh("QWO", None, ["2023-12-01", "2023-12-02"]))
    assert "West Yorkshire ICB, its region and England, 1 Dec 2023" in _text(out)


def test_empty_store_says_how_to_load_a_sitrep(page_module: dict[str, Any], duck_store: sa.Engine) -> None:
    text = _text(_plain(page_module["layout"](icb="QWO")))
    assert ("No NHS England sitrep loaded yet: ingest one with python app.py ingest nhse_acute_sitrep FILE"
            in text)
