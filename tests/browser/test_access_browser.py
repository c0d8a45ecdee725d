"""Sign-in through the form in headless Chromium, under the Content-Security-Policy: the page renders with
its figures and the scope label, and the browser reports no policy violation."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.browser.conftest import wait_ready

LEEDS = "E08000035"


def test_sign_in_then_the_page_renders_under_the_csp(server_url: str, engine: sa.Engine, page: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import auth
    from models import accounts

    monkeypatch.setenv("HOMEWARD_AUTH", "local")  # the session's server reads the setting per request
    if accounts.get_account(engine, "browser_leeds") is None:
        accounts.add_account(engine, "browser_leeds", "viewer", f"hwb:{LEEDS}", "a long enough password")
    auth._checked.clear()
    page.goto(f"{server_url}/flow")
    page.wait_for_selector("form[action='/signin']")
    assert "/signin" in page.url
    page.fill("#username", "browser_leeds")
    page.fill("#password", "a long enough password")
    page.click("button[type=submit]")
    wait_ready(page)
    assert page.url.endswith("/flow")
    assert page.inner_text("#hw-scope") == "Scope: Leeds"
    assert page.locator(".hw-tile").count() > 0  # the tiles came from callbacks the policy let through
    violations = [e for e in page.console_log.errors if "Content Security Policy" in e or "Refused to" in e]
    assert violations == []
    page.goto(f"{server_url}/signout")
    page.wait_for_selector("form[action='/signin']")
