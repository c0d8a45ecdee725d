"""/export in a real browser against a real server: preview, API URL, downloads (the same rows)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import openpyxl
import pytest
import requests
import sqlalchemy as sa

from tests.browser.conftest import wait_ready

pytestmark = pytest.mark.browser


def _grid_row_count(page: Any) -> int:
    return int(page.evaluate(
        "() => document.querySelectorAll('#ex-grid .ag-center-cols-container .ag-row').length"))


def test_export_page_previews_and_downloads_the_api_rows(page: Any, server_url: str, engine: sa.Engine,
                                                        tmp_path: Path) -> None:
    page.goto(f"{server_url}/export?dataset=capacity&icb=QWO")
    wait_ready(page)
    assert "Export" in page.title()
    api = page.locator("#ex-api-url")
    api.wait_for()
    page.wait_for_function("() => document.querySelector('#ex-api-url').textContent.startsWith('/api/export/')")
    url = api.inner_text()
    assert urlparse(url).path == "/api/export/capacity"
    assert parse_qs(urlparse(url).query) == {"icb": ["QWO"], "format": ["csv"]}

    # The API's rows, fetched directly
    direct = requests.get(server_url + url, timeout=30)
    assert direct.status_code == 200
    api_rows = list(csv.DictReader(io.StringIO(direct.text)))
    with engine.connect() as conn:
        services = conn.execute(sa.text("select count(*) from service s join hwb h on h.hwb_code = s.hwb_code "
                                        "where h.icb_code = 'QWO'")).scalar_one()
    assert len(api_rows) == services > 0

    # The preview shows the same rows
    page.wait_for_function("() => document.querySelectorAll('#ex-grid .ag-center-cols-container .ag-row').length > 0")
    assert _grid_row_count(page) == len(api_rows)

    # The CSV button downloads exactly those rows
    with page.expect_download() as info:
        page.click("#ex-download-csv")
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".csv"
    assert list(csv.DictReader(io.StringIO(saved.read_text()))) == api_rows

    # and the XLSX one opens in a spreadsheet reader with the same service ids
    with page.expect_download() as info:
        page.click("#ex-download-xlsx")
    xlsx = tmp_path / info.value.suggested_filename
    info.value.save_as(xlsx)
    book = openpyxl.load_workbook(xlsx)
    ids = [row[0] for row in book["data"].iter_rows(min_row=2, values_only=True)]
    assert ids == [r["service_id"] for r in api_rows]
    assert book.sheetnames[1] == "about"


def test_export_page_state_is_in_the_url(page: Any, server_url: str) -> None:
    page.goto(f"{server_url}/export?dataset=metric&name=referrals&by=hwb&icb=QWO")
    wait_ready(page)
    page.wait_for_function("() => document.querySelector('#ex-api-url').textContent.includes('name=referrals')")
    query = parse_qs(urlparse(page.locator("#ex-api-url").inner_text()).query)
    assert query["name"] == ["referrals"] and query["by"] == ["hwb"] and query["icb"] == ["QWO"]
    # the address bar still holds the view, so it can be bookmarked and shared
    shown = parse_qs(urlparse(page.url).query)
    assert shown["dataset"] == ["metric"] and shown["name"] == ["referrals"] and shown["icb"] == ["QWO"]
    note = page.locator("#ex-note").inner_text()
    assert "suppression applied" in note.lower()
    assert page.console_log.errors == []
