"""Accessibility: axe-core's WCAG 2.0-2.2 A and AA rules on every page, and the filter bar and the export
used by keyboard alone (NHS services must meet WCAG 2.2 AA).

axe-core comes from npm (tests/browser/axe/package.json; `make test` installs it) and is injected into
the real page in headless Chromium.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, wait_ready

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ("/", "/capacity", "/flow", "/delays", "/outcomes", "/benchmark", "/data", "/definitions", "/export", "/wall")
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical violations of the WCAG A/AA rules on the page as it stands."""
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed: run `make test` (or npm ci in {AXE.parents[2]})")
    page.add_script_tag(path=str(AXE))
    # label-content-name-mismatch (WCAG 2.5.3) is "experimental" in axe and off unless asked for
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, "
                           "rules: {'label-content-name-mismatch': {enabled: true}}})", WCAG_TAGS)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_serious_or_critical_wcag_violations(page: Any, server_url: str, path: str) -> None:
    page.goto(f"{server_url}{path}")
    wait_ready(page)
    assert page.get_attribute("html", "lang") == "en-GB"
    assert axe_violations(page) == []


def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` (or one inside it) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => { const a = document.activeElement; return !!a && !!a.closest(s); }", selector):
            return
    raise AssertionError(f"{selector} never took the focus by Tab")


def test_filter_bar_and_export_work_by_keyboard_alone(page: Any, server_url: str) -> None:
    """Choose an ICB in the filter bar with the keyboard, and download an export without the mouse."""
    page.goto(f"{server_url}/export")
    wait_ready(page)
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.classList.contains('hw-skip')")
    _tab_to(page, "#ex-f-icb")
    page.keyboard.type("West York")
    page.keyboard.press("Enter")
    wait_ready(page)
    assert "West Yorkshire" in page.inner_text("#ex-f-icb")
    page.keyboard.press("Escape")
    _tab_to(page, "#ex-download-csv")
    focused = page.evaluate("document.activeElement.outerHTML.slice(0, 200)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export-keyboard.png"))
    with page.expect_download(timeout=30_000) as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename, focused
