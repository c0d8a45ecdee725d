"""Accounts, tokens and the audit trail, kept in the store.

Passwords are hashed with argon2id (argon2-cffi) and never logged. Tokens are 256 random bits shown
once; the store keeps their SHA-256 (a token is not guessable, so a slow hash adds nothing). The audit
trail is append-only: `record` inserts, nothing here updates or deletes an event.
"""
from __future__ import annotations

import functools
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from models.access import Principal, ScopeError, check_role, format_scope, parse_scope
from models.db import next_id
from models.tables import access_token, account, audit_event, audit_id_seq

UTC = timezone.utc
TOKEN_KINDS = ("wall", "api")
ACTIONS = ("sign_in", "sign_in_failed", "sign_out", "token_created", "token_used", "token_revoked",
           "export", "person_view", "account_added", "account_removed", "thresholds_changed",
           "alert_silenced")
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong name costs as long as a wrong password
    (made on first use: a hash costs about a second here, which no command should pay on import)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- accounts ------------------------------------------------------------------

def add_account(engine: Engine, name: str, role: str, scope: str, password: str | None) -> Principal:
    name = name.strip()
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "._@-" for ch in name):
        raise ScopeError(f"bad account name {name!r}: letters, digits and . _ @ - only")
    check_role(role)
    parts = parse_scope(scope, engine)
    with engine.begin() as conn:
        if conn.execute(sa.select(account.c.name).where(account.c.name == name)).first():
            raise ScopeError(f"account {name!r} exists already")
        conn.execute(account.insert().values(name=name, role=role, scope=format_scope(parts),
                                             password_hash=_HASHER.hash(password) if password else None,
                                             created_at=_now()))
    return Principal(name, role, parts)


def remove_account(engine: Engine, name: str) -> bool:
    # (asked first: DuckDB does not report the rows a statement changed)
    with engine.begin() as conn:
        if not conn.execute(sa.select(account.c.name).where(account.c.name == name)).first():
            return False
        conn.execute(account.delete().where(account.c.name == name))
        return True


def list_accounts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(account.c.name, account.c.role, account.c.scope, account.c.created_at)
                            .order_by(account.c.name)).mappings().all()
    return [dict(r) for r in rows]


def count_accounts(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(account)).scalar_one())


def get_account(engine: Engine, name: str) -> Principal | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(account).where(account.c.name == name)).mappings().first()
    return Principal(row["name"], row["role"], parse_scope(row["scope"])) if row else None


def verify_password(engine: Engine, name: str, password: str) -> Principal | None:
    """The account if `password` is its password; None otherwise (same cost either way)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(account).where(account.c.name == name)).mappings().first()
    stored = row["password_hash"] if row else None
    try:
        ok = _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    return Principal(row["name"], row["role"], parse_scope(row["scope"])) if ok and row else None


def upsert_oidc_account(engine: Engine, name: str, role: str, scope: tuple[str, ...]) -> Principal:
    """An OIDC user's account as its groups say now (no password: it signs in through the provider)."""
    with engine.begin() as conn:
        conn.execute(account.delete().where(account.c.name == name, account.c.password_hash.is_(None)))
        if not conn.execute(sa.select(account.c.name).where(account.c.name == name)).first():
            conn.execute(account.insert().values(name=name, role=role, scope=format_scope(scope),
                                                 password_hash=None, created_at=_now()))
    return Principal(name, role, scope)


# --- tokens --------------------------------------------------------------------

def create_token(engine: Engine, name: str, kind: str, role: str, scope: str,
                 expires_days: int | None = None) -> str:
    """A new token (returned once; only its hash is kept)."""
    if kind not in TOKEN_KINDS:
        raise ScopeError(f"unknown token kind {kind!r}; expected wall or api")
    check_role(role)
    if kind == "wall" and role != "viewer":
        raise ScopeError("a wall token is read-only: its role is viewer")
    if expires_days is not None and expires_days < 1:
        raise ScopeError("--expires takes a whole number of days, 1 or more")
    parts = parse_scope(scope, engine)
    if not name.strip():
        raise ScopeError("token name is empty")
    token = f"hw_{kind}_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        if conn.execute(sa.select(access_token.c.name).where(access_token.c.name == name)).first():
            raise ScopeError(f"token {name!r} exists already")
        conn.execute(access_token.insert().values(
            name=name, kind=kind, role=role, scope=format_scope(parts), token_hash=hash_token(token),
            created_at=_now(), expires_at=_now() + timedelta(days=expires_days) if expires_days else None,
            revoked_at=None))
    return token


def revoke_token(engine: Engine, name: str) -> bool:
    live = sa.and_(access_token.c.name == name, access_token.c.revoked_at.is_(None))
    with engine.begin() as conn:
        if not conn.execute(sa.select(access_token.c.name).where(live)).first():
            return False
        conn.execute(access_token.update().where(live).values(revoked_at=_now()))
        return True


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    t = access_token.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.name, t.kind, t.role, t.scope, t.created_at, t.expires_at, t.revoked_at)
                            .order_by(t.name)).mappings().all()
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class TokenCheck:
    principal: Principal | None
    reason: str  # "ok", "unknown", "revoked", "expired"


def check_token(engine: Engine, token: str, *, kind: str | None = None) -> TokenCheck:
    with engine.connect() as conn:
        row = conn.execute(sa.select(access_token).where(access_token.c.token_hash == hash_token(token))
                           ).mappings().first()
    if row is None or (kind is not None and row["kind"] != kind):
        return TokenCheck(None, "unknown")
    if row["revoked_at"] is not None:
        return TokenCheck(None, "revoked")
    if row["expires_at"] is not None and row["expires_at"] <= _now():
        return TokenCheck(None, "expired")
    return TokenCheck(Principal(row["name"], row["role"], parse_scope(row["scope"]), kind=row["kind"]), "ok")


def token_live(engine: Engine, name: str) -> Principal | None:
    """A wall session's token, if it is still neither revoked nor expired."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(access_token).where(access_token.c.name == name)).mappings().first()
    if row is None or row["revoked_at"] is not None or (row["expires_at"] is not None and row["expires_at"] <= _now()):
        return None
    return Principal(row["name"], row["role"], parse_scope(row["scope"]), kind=row["kind"])


# --- audit ---------------------------------------------------------------------

def record(engine: Engine, action: str, *, actor: Principal | None = None, actor_name: str | None = None,
           route: str | None = None, remote_addr: str | None = None, detail: Mapping[str, Any] | None = None) -> int:
    """Append one event. `detail` must hold no password and no clear NHS number (callers pass filters,
    row counts and names only)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    with engine.begin() as conn:
        event_id = next_id(conn, audit_id_seq)
        conn.execute(audit_event.insert().values(
            event_id=event_id, happened_at=_now(), actor=actor.name if actor else actor_name,
            role=actor.role if actor else None, action=action, route=route, remote_addr=remote_addr,
            detail=json.dumps(dict(detail or {}), sort_keys=True, default=str)))
    return event_id


AUDIT_COLUMNS = ("event_id", "happened_at", "actor", "role", "action", "route", "remote_addr", "detail")


def audit_events(engine: Engine, limit: int = 200, action: str | None = None) -> list[dict[str, Any]]:
    """The latest events, newest first."""
    a = audit_event.c
    stmt = sa.select(audit_event).order_by(a.happened_at.desc(), a.event_id.desc()).limit(max(0, int(limit)))
    if action:
        stmt = stmt.where(a.action == action)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [{**dict(r), "happened_at": r["happened_at"].replace(tzinfo=UTC), "detail": json.loads(r["detail"])} for r in rows]
