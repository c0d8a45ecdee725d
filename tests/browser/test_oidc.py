"""OpenID Connect sign-in against a real local provider (oidc-provider-mock, in a thread), in headless Chromium:
/flow sends the browser to the provider; its form signs a subject in; back at /flow with the role and scope
the groups file maps the subject's `groups` claim to. A subject whose group is unmapped is refused (403),
and the refusal is audited."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from tests.browser.conftest import wait_ready

LEEDS = "E08000035"
LEEDS_GROUP = "7f1c2a90-leeds-analysts"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def _give_claims(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    """The provider's own API for a user's claims (its form then signs that subject in)."""
    req = urllib.request.Request(f"{issuer}/users/{sub}", data=json.dumps(claims).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert 200 <= resp.status < 300


def _sign_in_at_provider(page: Any, issuer: str, sub: str) -> None:
    page.wait_for_url(f"{issuer}/**")
    page.fill("input[name=sub]", sub)
    page.click("button[type=submit]:has-text('Authorize')")


@pytest.fixture
def oidc_env(provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    roles = tmp_path / "oidc-roles.toml"
    roles.write_text(f'[groups."{LEEDS_GROUP}"]\nrole = "analyst"\nscope = "hwb:{LEEDS}"\n'
                     '[groups."national-admins"]\nrole = "admin"\nscope = "national"\n')
    for key, value in {"HOMEWARD_AUTH": "oidc", "HOMEWARD_OIDC_ISSUER": provider,
                       "HOMEWARD_OIDC_CLIENT_ID": "homeward-test", "HOMEWARD_OIDC_CLIENT_SECRET": "not-secret",
                       "HOMEWARD_OIDC_ROLES": str(roles)}.items():
        monkeypatch.setenv(key, value)  # the session's server reads the settings per request
    return provider


def test_oidc_sign_in_maps_groups_to_role_and_scope(server_url: str, engine: sa.Engine, page: Any,
                                                     oidc_env: str) -> None:
    _give_claims(oidc_env, "alice@leeds.example", {"groups": [LEEDS_GROUP, "some-other-group"],
                                                    "email": "alice@leeds.example"})
    page.goto(f"{server_url}/flow")
    _sign_in_at_provider(page, oidc_env, "alice@leeds.example")
    page.wait_for_url(f"{server_url}/flow")
    wait_ready(page)
    assert page.inner_text("#hw-scope") == "Scope: Leeds"
    assert page.locator(".hw-tile").count() > 0
    # the analyst role: an aggregate export is allowed, the audit log (admin) is not
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies(server_url))
    for path, status in (("/api/export/metric?name=referrals&by=hwb&format=json", 200), ("/api/audit", 403)):
        req = urllib.request.Request(f"{server_url}{path}", headers={"Cookie": cookies})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                got = resp.status
        except urllib.error.HTTPError as err:
            got = err.code
        assert (path, got) == (path, status)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT actor, detail FROM audit_event WHERE action = 'sign_in' "
                                   "ORDER BY happened_at DESC LIMIT 1")).one()
    assert row[0] == "alice@leeds.example" and "oidc" in str(row[1])
    page.goto(f"{server_url}/signout")
    page.wait_for_selector("text=Sign in with your organisation")
    page.goto(f"{server_url}/flow")
    page.wait_for_url(f"{oidc_env}/**")  # signed out: the provider is asked again


def test_oidc_unmapped_group_is_refused_and_audited(server_url: str, engine: sa.Engine, page: Any,
                                                    oidc_env: str) -> None:
    _give_claims(oidc_env, "bob@elsewhere.example", {"groups": ["unmapped-group"], "email": "bob@elsewhere.example"})
    page.goto(f"{server_url}/flow")
    _sign_in_at_provider(page, oidc_env, "bob@elsewhere.example")
    page.wait_for_selector("text=Not authorised")
    assert "not authorised" in page.inner_text("main").lower()
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT actor, detail FROM audit_event WHERE action = 'sign_in_failed' "
                                   "ORDER BY happened_at DESC LIMIT 1")).one()
    assert row[0] == "bob@elsewhere.example" and "unmapped-group" in str(row[1])
    page.goto(f"{server_url}/flow")  # no session was started
    page.wait_for_url(f"{oidc_env}/**")


def test_several_groups_give_the_highest_role_and_the_union_of_scopes() -> None:
    from dashboard.oidc import Grant, grant_for, load_grants

    grants = load_grants('[groups.a]\nrole = "viewer"\nscope = "hwb:E08000035"\n'
                         '[groups.b]\nrole = "analyst"\nscope = "icb:QWO"\n'
                         '[groups.n]\nrole = "viewer"\nscope = "national"\n')
    assert grant_for(["b", "a", "x"], grants) == Grant("analyst", ("hwb:E08000035", "icb:QWO"))
    assert grant_for(["a", "n"], grants) == Grant("viewer", ())  # national covers the rest
    assert grant_for(["x"], grants) is None
    from models.access import ScopeError

    with pytest.raises(ScopeError):
        load_grants('[groups.a]\nrole = "superuser"\nscope = "national"\n')
