"""`/benchmark` in a real browser: the real December 2023 acute sitrep loaded into the session's store."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from tests.browser.conftest import ARTIFACTS, wait_ready

pytestmark = pytest.mark.browser

WORKBOOK = Path("/work/shared/data/nhse/acute/december2023.xlsx")


@pytest.fixture(scope="module")
def sitrep_loaded(engine: sa.Engine) -> sa.Engine:
    if not WORKBOOK.exists():
        pytest.skip(f"{WORKBOOK} is not available")
    from ingest.base import run_feed

    summary = run_feed(engine, "nhse_acute_sitrep", str(WORKBOOK))
    assert summary.exit_code == 0, summary.to_json()
    return engine


def test_benchmark_page_shows_the_metrics_layer(page: Any, server_url: str, sitrep_loaded: sa.Engine) -> None:
    from models.query import MetricQuery, run_query

    page.goto(f"{server_url}/benchmark?icb=QWO")
    wait_ready(page)
    page.wait_for_selector("#bm-tiles [data-metric='sitrep_nctr']", timeout=20_000)
    page.wait_for_selector("#bm-g-share .main-svg", timeout=20_000)
    assert page.title() == "Benchmark · Homeward"
    assert page.console_log.errors == []
    assert page.locator(".hw-state--error").count() == 0, page.locator(".hw-state--error").all_inner_texts()
    text = page.inner_text("#main")
    assert "NHS England Acute Discharge SitRep, December 2023; Open Government Licence v3.0" in text
    assert "West Yorkshire ICB" in text and "North East and Yorkshire" in text

    window = dict(from_=date(2023, 12, 1), to=date(2024, 1, 1))
    tile = page.locator("#bm-tiles [data-metric='sitrep_nctr']")
    expected = run_query(sitrep_loaded, MetricQuery("sitrep_nctr", where={"level": ("icb",), "org": ("QWO",)},
                                                    **window)).total()
    assert float(tile.get_attribute("data-value")) == pytest.approx(expected)
    assert tile.get_attribute("data-where") == "level=icb,org=QWO"
    assert f"{expected:,.1f}" in tile.inner_text()

    # England in the comparison table: the same figure as run_query without a level or org filter.
    england = page.locator("#bm-compare [data-metric='sitrep_nctr'][data-where='level=england,org=ENG']")
    eng_value = run_query(sitrep_loaded, MetricQuery("sitrep_nctr", **window)).total()
    assert float(england.get_attribute("data-value")) == pytest.approx(eng_value)

    # Every chart drew (share, index, two trust rankings, pathway mix).
    for graph in ("share", "index", "trust-remaining", "trust-share", "pathway"):
        assert page.locator(f"#bm-g-{graph} .main-svg").count() >= 1, graph

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "benchmark.png"))
    page.screenshot(path=str(ARTIFACTS / "benchmark-full.png"), full_page=True)


def test_choosing_another_icb_updates_page_and_address(page: Any, server_url: str, sitrep_loaded: sa.Engine) -> None:
    page.goto(f"{server_url}/benchmark?icb=QWO")
    wait_ready(page)
    page.click("#bm-icb")
    page.get_by_placeholder("Search").fill("Humber")
    page.get_by_text("Humber and North Yorkshire ICB (QOQ)").click()
    page.wait_for_function("() => document.querySelector('#bm-tiles [data-where=\"level=icb,org=QOQ\"]')",
                           timeout=20_000)
    query = parse_qs(urlparse(page.url).query)
    assert query["icb"] == ["QOQ"]
    assert query["from"] == ["2023-12-01"] and query["to"] == ["2024-01-01"]
    assert page.console_log.errors == []
