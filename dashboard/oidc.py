"""OpenID Connect sign-in (HOMEWARD_AUTH=oidc), e.g. Microsoft Entra ID.

Authorization code flow through authlib's Flask client: the provider's endpoints and keys come from
`<issuer>/.well-known/openid-configuration`; authlib keeps state and nonce in the session and checks the
ID token (signature, issuer, audience, expiry, nonce). The person's groups (HOMEWARD_OIDC_GROUPS_CLAIM)
are mapped to a role and scope by the HOMEWARD_OIDC_ROLES file; the session is then the one a local
sign-in starts (`auth.start_session`), holding the mapped role and scope.
"""
from __future__ import annotations

import html
import tomllib
from dataclasses import dataclass
from typing import Any

import flask
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth

from dashboard.auth import _page, _safe_next, start_session
from models import access, accounts, settings
from models.access import Principal
from models.db import get_engine

CALLBACK = "/signin/oidc/callback"
_oauth = OAuth()
_registered: dict[tuple[str, str, str], str] = {}  # (issuer, client id, secret) -> client name


@dataclass(frozen=True)
class Grant:
    role: str
    scope: tuple[str, ...]  # () = national


def load_grants(text: str) -> dict[str, Grant]:
    """`[groups."<group id>"] role = "analyst", scope = "icb:QWO"` → group id → Grant (roles and scopes checked)."""
    grants: dict[str, Grant] = {}
    for group, entry in tomllib.loads(text).get("groups", {}).items():
        role = str(entry.get("role", ""))
        access.check_role(role)
        grants[group] = Grant(role, access.parse_scope(str(entry.get("scope", ""))))
    return grants


def grant_for(groups: list[str], grants: dict[str, Grant]) -> Grant | None:
    """Several mapped groups: the highest role and the union of their scopes (national if any is); none: None."""
    mapped = [grants[g] for g in groups if g in grants]
    if not mapped:
        return None
    role = max((g.role for g in mapped), key=access.ROLES.index)
    if any(not g.scope for g in mapped):
        return Grant(role, ())
    return Grant(role, tuple(sorted({part for g in mapped for part in g.scope})))


def _client() -> Any:
    issuer, client_id = settings.oidc_issuer(), settings.oidc_client_id()
    if not issuer or not client_id:
        raise RuntimeError("HOMEWARD_AUTH=oidc needs HOMEWARD_OIDC_ISSUER and HOMEWARD_OIDC_CLIENT_ID")
    key = (issuer, client_id, settings.oidc_client_secret() or "")
    if key not in _registered:  # settings are read per request; one client per provider registration
        name = f"homeward{len(_registered)}"
        _oauth.register(name, client_id=client_id, client_secret=key[2],
                        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
                        client_kwargs={"scope": "openid profile email"})
        _registered[key] = name
    return _oauth.create_client(_registered[key])


def _refused(reason: str, who: str | None, detail: dict[str, Any]) -> flask.Response:
    accounts.record(get_engine(), "sign_in_failed", actor_name=who, route=CALLBACK,
                    remote_addr=flask.request.remote_addr, detail={"method": "oidc", "reason": reason, **detail})
    return flask.Response(_page("Not authorised", f"<p>You are not authorised to use Homeward: "
                                                  f"{html.escape(reason)}.</p><p><a href='/signin'>Back</a></p>"),
                          status=403, mimetype="text/html")


def start() -> Any:
    if settings.auth_mode() != "oidc":
        return flask.redirect("/signin")
    flask.session["oidc_next"] = _safe_next(flask.request.args.get("next"))
    return _client().authorize_redirect(flask.request.host_url.rstrip("/") + CALLBACK)


def callback() -> Any:
    if settings.auth_mode() != "oidc":
        return flask.redirect("/signin")
    next_path = flask.session.get("oidc_next", "/")
    try:
        token = _client().authorize_access_token()  # checks state, swaps the code, validates the ID token
    except OAuthError as exc:
        return _refused(f"the provider's answer was refused ({exc.error})", None, {})
    claims = token.get("userinfo") or {}
    who = str(claims.get("preferred_username") or claims.get("email") or claims.get("sub") or "")[:64]
    raw = claims.get(settings.oidc_groups_claim()) or []
    groups = [raw] if isinstance(raw, str) else [str(g) for g in raw]
    grants = load_grants(settings.oidc_roles_file().read_text())
    grant = grant_for(groups, grants)
    if grant is None or not who:
        return _refused("none of your groups is given a role here", who or None, {"groups": groups[:20]})
    principal = Principal(who, grant.role, grant.scope)
    start_session(principal, "oidc")
    flask.session["oidc_role"] = grant.role
    flask.session["oidc_scope"] = list(grant.scope)
    return flask.redirect(next_path)


def install(server: flask.Flask) -> None:
    _oauth.init_app(server)
    server.add_url_rule("/signin/oidc", "homeward_signin_oidc", start, methods=["GET"])
    server.add_url_rule(CALLBACK, "homeward_signin_oidc_callback", callback, methods=["GET"])
