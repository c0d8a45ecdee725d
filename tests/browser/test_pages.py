"""Every page in a real browser against a real server with known data."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.browser.conftest import ARTIFACTS, wait_ready

pytestmark = pytest.mark.browser

PAGES = [("/", "Overview · Homeward"), ("/capacity", "Capacity · Homeward"), ("/flow", "Flow · Homeward"),
         ("/delays", "Delays · Homeward"), ("/outcomes", "Outcomes · Homeward"), ("/wall", "Wall · Homeward"),
         ("/data", "Data status · Homeward"), ("/definitions", "Definitions · Homeward")]


@pytest.mark.parametrize("path,title", PAGES)
def test_page_loads_without_console_errors(page: Any, server_url: str, path: str, title: str) -> None:
    page.goto(server_url + path)
    wait_ready(page)
    assert page.title() == title
    assert page.console_log.errors == []
    assert page.locator("text=Traceback").count() == 0
    assert page.locator(".hw-state--error").count() == 0, page.locator(".hw-state--error").all_inner_texts()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = path.strip("/") or "overview"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _tile_values(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "[data-metric]", "els => els.map(e => ({metric: e.dataset.metric, value: e.dataset.value, "
                         "where: e.dataset.where || '', text: e.innerText}))")


def test_overview_tiles_equal_the_metrics_layer(page: Any, server_url: str, engine: sa.Engine) -> None:
    from models.periods import london_date_of
    from models.query import MetricQuery, run_query

    at = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
    at_param = at.isoformat().replace("+00:00", "Z")
    page.goto(f"{server_url}/?icb=QWO&at={at_param}")
    wait_ready(page)
    tiles = _tile_values(page)
    assert len(tiles) == 6
    yesterday = london_date_of(at) - timedelta(days=1)
    for tile in tiles:
        where: dict[str, tuple[str, ...]] = {"icb": ("QWO",)}
        if tile["where"]:
            key, value = tile["where"].split("=")
            where[key] = (value,)
        if tile["metric"] == "discharges":
            q = MetricQuery(tile["metric"], at=at, from_=yesterday, to=yesterday + timedelta(days=1), where=where)
        else:
            q = MetricQuery(tile["metric"], at=at, where=where)
        expected = run_query(engine, q).rows[0]["value"]
        assert tile["value"] != "", tile
        assert math.isclose(float(tile["value"]), float(expected)), (tile, expected)
    # the seed has people waiting 21+ days and vacant P1 slots: the check is not vacuous
    by_metric = {(t["metric"], t["where"]): float(t["value"]) for t in tiles}
    assert by_metric[("nctr_over_21d", "")] > 0
    assert by_metric[("vacant_accepting", "pathway=1")] > 0
    assert "no data" not in " ".join(t["text"] for t in tiles)


def _choose(page: Any, dropdown: str, typed: str, in_url: str) -> None:
    """Type into a dropdown and take the first option once it is the one typed (its options may still be
    arriving from the filter bar's callbacks), then wait for the URL to say so."""
    first_option = "document.querySelector('.dash-dropdown-option')"
    for _attempt in range(3):
        page.click(dropdown)
        page.keyboard.type(typed)
        try:
            page.wait_for_function(f"() => {{ const o = {first_option}; return o && o.textContent.includes({typed!r}); }}",
                                   timeout=5_000)
        except Exception:  # noqa: BLE001 - the options were replaced under the typing: type again
            page.keyboard.press("Escape")
            wait_ready(page)
            continue
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        wait_ready(page)
        page.wait_for_function(f"() => window.location.search.includes({in_url!r})")
        return
    raise AssertionError(f"could not choose {typed!r} in {dropdown}")


def test_filtered_url_reopens_the_same_view(page: Any, server_url: str, browser: Any) -> None:
    # A fixed `at`: "bed days lost so far" grows by the minute, and the view must reopen exactly.
    at = datetime.now(ZoneInfo("Europe/London")).replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")
    page.goto(f"{server_url}/delays?at={at}")
    wait_ready(page)
    # Choose an ICB then an HWB with the keyboard-reachable dropdowns; the URL follows.
    _choose(page, "#del-f-icb", "West Yorkshire", "icb=QWO")
    _choose(page, "#del-f-hwb", "Leeds", "hwb=E08000035")
    query = parse_qs(urlparse(page.url).query)
    assert query["icb"] == ["QWO"] and query["hwb"] == ["E08000035"] and query["at"][0].startswith(at)
    heading = page.inner_text(".hw-heading")
    assert "Leeds" in heading
    tiles_before = _tile_values(page)

    # Choosing an ICB narrows the HWBs offered: Leeds is there, Birmingham is not.
    page.click("#del-f-hwb")
    options = page.inner_text("body")
    assert "Birmingham" not in options
    page.keyboard.press("Escape")

    other = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
    other.goto(page.url)
    wait_ready(other)
    assert "Leeds" in other.inner_text(".hw-heading")
    assert [t["value"] for t in _tile_values(other)] == [t["value"] for t in tiles_before]
    assert "Leeds" in other.inner_text(".hw-filters")  # the bar shows the chosen HWB again
    other.context.close()


def test_overview_hwb_table_lists_hwbs_in_scope(page: Any, server_url: str) -> None:
    page.goto(f"{server_url}/?icb=QWO")
    wait_ready(page)
    page.wait_for_selector("#ov-grid-hwb .ag-row")
    text = page.inner_text("#ov-grid-hwb")
    for name in ("Leeds", "Bradford", "Wakefield", "Kirklees", "Calderdale"):
        assert name in text


def test_empty_state_in_plain_words(page: Any, server_url: str) -> None:
    # Kirklees has no services and no cases in the seed.
    page.goto(f"{server_url}/capacity?hwb=E08000034")
    wait_ready(page)
    body = page.inner_text("#main")
    assert "no service in this area reported its capacity in the last 24 hours" in body
    assert page.console_log.errors == []


def test_bad_filter_value_is_explained_not_a_traceback(page: Any, server_url: str) -> None:
    page.goto(f"{server_url}/?icb=NOPE")
    wait_ready(page)
    page.wait_for_selector("text=/unknown icb/i", timeout=20_000)
    body = page.inner_text("#main")
    assert "unknown icb" in body.lower()
    assert "Traceback" not in body


def test_data_page_flags_not_reporting_and_rejects(page: Any, server_url: str) -> None:
    page.goto(f"{server_url}/data")
    wait_ready(page)
    page.wait_for_selector("#data-grid-silent .ag-row")
    assert "Wakefield Residential" in page.inner_text("#data-grid-silent")
    assert "occupied must be a whole number" in page.inner_text("#data-grid-rejects")
    assert "Fresh" in page.inner_text("#data-grid-feeds")


def test_definitions_render_the_registry(page: Any, server_url: str) -> None:
    from models.metrics import REGISTRY

    page.goto(f"{server_url}/definitions")
    wait_ready(page)
    for name in REGISTRY:
        assert page.locator(f"#def-{name}").count() == 1
    assert "Lower is better" in page.inner_text("#main")
    # the shipped thresholds.toml colours West Yorkshire's NCTR tile, so the page says so
    row = page.inner_text("tr:has(#def-nctr_count)")
    assert "QWO (this deployment): Green at or below 80; red at or above 120" in row
