"""/planner in headless Chromium over the browser seed: a plan runs on Leeds pathway 2 with a what-if from the URL,
the summary compares it with "as now", the link carries the plan, and /delays shows the 10-day outlook."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.browser.conftest import ARTIFACTS, wait_ready
from tests.browser.seed import LEEDS


def test_planner_runs_a_what_if_from_the_url(page: Any, server_url: str) -> None:
    page.goto(f"{server_url}/planner?hwb={LEEDS}&pathway=2&dc1=10&weeks=6&target=3")
    page.wait_for_selector("#plan-summary", timeout=60_000)
    wait_ready(page, timeout=60_000)
    assert page.title() == "Planner · Homeward"
    rows = page.locator("#plan-summary tbody tr").all_inner_texts()
    assert len(rows) == 2 and rows[0].startswith("As now") and rows[1].startswith("What-if 1: +10 places")
    assert "smallest capacity" in page.inner_text("#plan-search") or "No capacity" in page.inner_text("#plan-search")
    # the basis names the seed's Leeds P2 services: 24 + 20 places
    assert "Capacity 44 places" in page.inner_text("#plan-basis")
    query = parse_qs(urlparse(page.get_attribute("#plan-share", "href")).query)
    assert query["hwb"] == [LEEDS] and query["dc1"] == ["10"] and query["weeks"] == ["6"] and query["target"] == ["3"]
    assert page.locator(".hw-state--error").count() == 0
    assert page.console_log.errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "planner.png"), full_page=True)


def test_delays_shows_the_ten_day_outlook(page: Any, server_url: str) -> None:
    page.goto(f"{server_url}/delays?icb=QWO")
    wait_ready(page, timeout=60_000)
    words = page.inner_text("#del-outlook-words")
    assert words.startswith("Pathway 1:") and "in 10 days" in words
    assert page.console_log.errors == []
