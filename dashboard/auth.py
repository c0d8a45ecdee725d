"""Sign-in, sessions, tokens and the one access policy every request passes (HOMEWARD_AUTH).

`install(server)` adds a before_request hook that decides, for every route, who is asking
(`models.access.Principal`) and whether they may: a route is open only if listed in PUBLIC; every
other route needs a signed-in principal, and those in ROLE_RULES a higher role. Routes added later
are therefore covered without saying so. The principal is then set for the request (a contextvar),
so the metrics layer and the datasets limit every figure to its scope — pages, Dash callbacks, the
API and exports alike.
"""
from __future__ import annotations

import html
import ipaddress
import logging
import os
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

import flask
import sqlalchemy as sa
from flask.sessions import SecureCookieSessionInterface

from models import access, accounts, settings
from models.access import Principal
from models.db import get_engine
from models.tables import audit_event

log = logging.getLogger(__name__)

PUBLIC_PREFIXES = ("/healthz", "/signin", "/signout", "/assets/", "/_dash-component-suites/", "/_favicon.ico",
                   "/favicon.ico")
DASH_INTERNAL = ("/_dash-layout", "/_dash-dependencies", "/_dash-update-component", "/_reload-hash")
# Routes needing more than a viewer, most specific first; every other route needs a signed-in viewer.
ROLE_RULES: tuple[tuple[str, str], ...] = (
    ("/api/export/cases", "case_worker"),
    ("/api/export/", "analyst"),
    ("/api/exports", "admin"),
    ("/api/audit", "admin"),
    ("/api/ingest/", "admin"),
)
WALL_PATHS = ("/wall",) + DASH_INTERNAL  # a wall token's session opens the wall only
NO_SIGN_IN = Principal("local", "admin", (), kind="none")
NO_SIGN_IN_NOTE = "No sign-in: local use only"
FAILED_PER_MINUTE = 5
FAILURE_DELAY_SECONDS = 1.0
_SESSION_RECHECK_SECONDS = 10.0  # a removed account or a revoked wall token is refused within this
_checked: dict[tuple[str, str], tuple[float, Principal | None]] = {}


def required_role(path: str) -> str:
    for prefix, role in ROLE_RULES:
        if path.startswith(prefix):
            return role
    return "viewer"


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def secret_key() -> str:
    """HOMEWARD_SECRET_KEY, else one generated once into the data folder (0600) and shared by every worker."""
    configured = settings.secret_key_raw()
    if configured:
        return configured
    path = settings.data_dir() / "session-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker wrote it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    for _ in range(50):  # the other worker may still be writing it
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty")


def ensure_initial_admin(engine: sa.Engine) -> str | None:
    """First start with local sign-in and no account: create `admin` with a random password, write it to
    <data dir>/initial-admin-password (0600) and return it (the caller prints it once)."""
    if settings.auth_mode() != "local" or accounts.count_accounts(engine) > 0:
        return None
    password = secrets.token_urlsafe(15)
    try:
        accounts.add_account(engine, "admin", "admin", "national", password)
    except (access.ScopeError, sa.exc.IntegrityError):
        return None  # another process created it
    path = settings.data_dir() / "initial-admin-password"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    accounts.record(engine, "account_added", actor_name="system", detail={"account": "admin", "role": "admin",
                                                                          "scope": "national", "initial": True})
    return password


# --- the policy ------------------------------------------------------------------

def _json(status: int, message: str) -> flask.Response:
    import json

    return flask.Response(json.dumps({"error": message, "status": status}), status=status,
                          mimetype="application/json")


def _wants_json(path: str) -> bool:
    return path.startswith("/api/") or path.startswith(DASH_INTERNAL)


def _denied(status: int, message: str) -> flask.Response:
    path = flask.request.path
    if _wants_json(path):
        return _json(status, message)
    if status == 401:
        if settings.auth_mode() == "oidc":  # straight on to the organisation's provider
            return flask.redirect("/signin/oidc?" + urlencode({"next": flask.request.full_path.rstrip("?")}))
        return flask.redirect("/signin?" + urlencode({"next": flask.request.full_path.rstrip("?")}))
    return flask.Response(_page("Not allowed", f"<p>{html.escape(message)}</p><p><a href='/'>Back</a></p>"),
                          status=status, mimetype="text/html")


def _now() -> float:
    return time.time()


def _recheck(kind: str, name: str) -> Principal | None:
    """The session's account or wall token as the store has it now (re-read every few seconds)."""
    key = (kind, name)
    hit = _checked.get(key)
    if hit and time.monotonic() - hit[0] < _SESSION_RECHECK_SECONDS:
        return hit[1]
    engine = get_engine()
    principal = accounts.get_account(engine, name) if kind == "user" else accounts.token_live(engine, name)
    _checked[key] = (time.monotonic(), principal)
    return principal


def forget(kind: str, name: str) -> None:
    _checked.pop((kind, name), None)


_api_use_logged: dict[str, float] = {}


def _from_bearer(header: str) -> Principal | flask.Response:
    token = header.split(None, 1)[1].strip() if " " in header else ""
    engine = get_engine()
    checked = accounts.check_token(engine, token, kind="api")
    if checked.principal is None:
        return _json(401, f"API token refused ({checked.reason})")
    last = _api_use_logged.get(checked.principal.name, 0.0)
    if time.monotonic() - last > 60:  # once a minute per token and worker: enough to see who uses what
        _api_use_logged[checked.principal.name] = time.monotonic()
        accounts.record(engine, "token_used", actor=checked.principal, route=flask.request.path,
                        remote_addr=flask.request.remote_addr, detail={"kind": "api"})
    return checked.principal


def _from_wall_token(token: str) -> flask.Response:
    engine = get_engine()
    checked = accounts.check_token(engine, token, kind="wall")
    if checked.principal is None:
        accounts.record(engine, "sign_in_failed", actor_name=None, route="/wall",
                        remote_addr=flask.request.remote_addr, detail={"kind": "wall", "reason": checked.reason})
        return _denied(403, f"this wall token is {checked.reason}: ask an administrator for a new one")
    flask.session.clear()
    flask.session["wall"] = checked.principal.name
    flask.session.permanent = True
    accounts.record(engine, "token_used", actor=checked.principal, route="/wall",
                    remote_addr=flask.request.remote_addr, detail={"kind": "wall"})
    args = {k: v for k, v in flask.request.args.items(multi=True) if k != "token"}
    return flask.redirect("/wall" + (f"?{urlencode(args)}" if args else ""))  # the token leaves the address bar


def _from_session() -> Principal | None:
    sess = flask.session
    if "wall" in sess:
        return _recheck("wall", sess["wall"])
    name = sess.get("user")
    if not name:
        return None
    seen = float(sess.get("seen", 0))
    if _now() - seen > settings.session_hours() * 3600:
        sess.clear()
        return None
    if _now() - seen > 60:  # refreshed once a minute, not on every callback
        sess["seen"] = _now()
    if "oidc_role" in sess:  # signed in at the organisation's provider: role and scope were mapped then
        return Principal(name, sess["oidc_role"], tuple(sess.get("oidc_scope", ())))
    return _recheck("user", name)


def _policy() -> flask.Response | None:
    req = flask.request
    path = req.path
    mode = settings.auth_mode()
    if mode == "none":
        if not is_loopback(req.remote_addr or ""):
            return _denied(403, "HOMEWARD_AUTH=none serves this machine only")
        principal: Principal | None = NO_SIGN_IN
    else:
        if is_public(path):
            return None
        auth = req.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            got = _from_bearer(auth)
            if isinstance(got, flask.Response):
                return got
            principal = got
        elif path == "/wall" and req.args.get("token"):
            return _from_wall_token(req.args["token"])
        else:
            principal = _from_session()
        if principal is None:
            return _denied(401, "sign in first (or send an API token: Authorization: Bearer …)")
        if principal.kind == "wall" and not path.startswith(WALL_PATHS):
            return _denied(403, "a wall screen's session opens /wall only")
    need = required_role(path)
    if not principal.at_least(need):
        return _denied(403, f"{path} needs the {need} role; you are {principal.role}")
    flask.g.homeward_principal_token = access.set_current(principal)
    flask.g.homeward_principal = principal
    return None


def _reset(_exc: BaseException | None) -> None:
    token = flask.g.pop("homeward_principal_token", None)
    if token is not None:
        try:
            access.reset_current(token)
        except ValueError:  # set in another context (a streamed response's teardown): nothing to undo
            pass


def current_principal() -> Principal | None:
    return flask.g.get("homeward_principal") if flask.has_request_context() else None


def security_headers(response: flask.Response) -> flask.Response:
    # Dash's renderer needs inline and eval'd script and inline styles; everything else is this origin.
    response.headers.setdefault("Content-Security-Policy", "; ".join((
        "default-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:", "font-src 'self' data:",
        "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
        f"frame-ancestors {settings.frame_ancestors()}")))
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


# --- sign-in and sign-out --------------------------------------------------------------

def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)} · Homeward"
            f"</title><meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='stylesheet' href='/assets/homeward.css'></head><body><main class='hw-signin'>"
            f"<h1>Homeward</h1><h2>{html.escape(title)}</h2>{body}</main></body></html>")


def _safe_next(raw: str | None) -> str:
    """Only a path on this site (no scheme, no host): an open redirect would help phishing."""
    parts = urlsplit(raw or "/")
    if parts.scheme or parts.netloc or not (raw or "/").startswith("/") or (raw or "").startswith("//"):
        return "/"
    return raw or "/"


def _recent_failures(engine: sa.Engine, name: str, addr: str | None) -> int:
    """Failed sign-ins in the last minute for this account or from this address (counted in the store,
    so every worker sees them)."""
    since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=1)
    a = audit_event.c
    who = sa.or_(a.actor == name, a.remote_addr == addr) if addr else a.actor == name
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_event)
                                .where(a.action == "sign_in_failed", a.happened_at >= since, who)).scalar_one())


def _signin_form(message: str = "", next_path: str = "/") -> str:
    note = f"<p class='hw-signin__error' role='alert'>{html.escape(message)}</p>" if message else ""
    return _page("Sign in", f"""{note}<form method='post' action='/signin'>
<input type='hidden' name='next' value='{html.escape(next_path)}'>
<p><label for='username'>Account</label><br><input id='username' name='username' autocomplete='username' required></p>
<p><label for='password'>Password</label><br><input id='password' name='password' type='password'
 autocomplete='current-password' required></p>
<p><button type='submit'>Sign in</button></p></form>""")


def signin() -> Any:
    if settings.auth_mode() == "none":
        return flask.redirect("/")
    next_path = _safe_next(flask.request.values.get("next"))
    if settings.auth_mode() == "oidc":
        link = "/signin/oidc?" + urlencode({"next": next_path})
        return flask.Response(_page("Sign in", f"<p><a class='hw-signin__oidc' href='{html.escape(link)}'>"
                                               "Sign in with your organisation</a></p>"), mimetype="text/html")
    if flask.request.method == "GET":
        return flask.Response(_signin_form(next_path=next_path), mimetype="text/html")
    engine = get_engine()
    name = (flask.request.form.get("username") or "").strip()[:64]
    password = flask.request.form.get("password") or ""
    addr = flask.request.remote_addr
    if _recent_failures(engine, name, addr) >= FAILED_PER_MINUTE:
        accounts.record(engine, "sign_in_failed", actor_name=name, route="/signin", remote_addr=addr,
                        detail={"reason": "throttled"})
        return flask.Response(_signin_form("Too many failed sign-ins: wait a minute and try again.", next_path),
                              status=429, mimetype="text/html")
    principal = accounts.verify_password(engine, name, password) if name and password else None
    if principal is None:
        accounts.record(engine, "sign_in_failed", actor_name=name, route="/signin", remote_addr=addr,
                        detail={"reason": "wrong account or password"})
        time.sleep(FAILURE_DELAY_SECONDS)  # slows guessing; the count above stops it
        return flask.Response(_signin_form("That account and password do not match.", next_path),
                              status=401, mimetype="text/html")
    start_session(principal, "local")
    return flask.redirect(next_path)


def start_session(principal: Principal, method: str) -> None:
    """A person's new session (local or OIDC sign-in), audited as `sign_in`."""
    flask.session.clear()
    flask.session["user"] = principal.name
    flask.session["seen"] = _now()
    flask.session.permanent = True
    forget("user", principal.name)
    accounts.record(get_engine(), "sign_in", actor=principal, route=flask.request.path,
                    remote_addr=flask.request.remote_addr, detail={"method": method})


def signout() -> Any:
    name = flask.session.get("user") or flask.session.get("wall")
    if name:
        accounts.record(get_engine(), "sign_out", actor_name=name, route="/signout",
                        remote_addr=flask.request.remote_addr, detail={})
    flask.session.clear()
    return flask.redirect("/signin")  # under oidc: the provider's session stays; /signin offers it again


class _Sessions(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: flask.Flask) -> bool:
        """Secure whenever the request came over HTTPS (directly, or through a proxy that says so)."""
        req = flask.request
        return bool(req.is_secure or req.headers.get("X-Forwarded-Proto", "").lower() == "https")


def install(server: flask.Flask) -> None:
    """The policy, the session settings, the security headers and the sign-in routes."""
    server.secret_key = secret_key()
    server.config.update(
        SESSION_COOKIE_NAME="homeward_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        # A wall's session lasts until its token is revoked (checked on every request); a person's idle
        # timeout is checked against the session's last-seen time (`_from_session`).
        PERMANENT_SESSION_LIFETIME=timedelta(days=400),
        # The cookie is re-sent only when the session changes (its last-seen time, once a minute), not
        # signed again on every callback (measured: 12 -> 6 ms a request on a loaded 2-core machine).
        SESSION_REFRESH_EACH_REQUEST=False,
    )

    server.session_interface = _Sessions()
    server.before_request(_policy)
    server.teardown_request(_reset)
    server.after_request(security_headers)
    server.add_url_rule("/signin", "homeward_signin", signin, methods=["GET", "POST"])
    server.add_url_rule("/signout", "homeward_signout", signout, methods=["GET", "POST"])
