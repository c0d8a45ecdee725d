"""Who is asking and what they may see: the Principal, its role and its scope.

This is the one place a scope becomes HWBs and is enforced (`restrict`; `as_hwbs` also turns ICB and place
filters into the HWBs they cover, for the metrics layer and the pages alike). The web server sets the principal of each
request (`using`); the metrics layer (`models.query`) and the datasets (`models.datasets`) call
`restrict` on every filter they run, so a figure, a row or a filter option never covers an HWB outside
the principal's scope, whichever route asked (a page, a Dash callback posted by hand, the API, an export).
The command line and the scheduler run without a request: as SYSTEM (admin, national).
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from sqlalchemy.engine import Engine

from models.errors import QueryError

ROLES: tuple[str, ...] = ("viewer", "analyst", "case_worker", "admin")  # each may do what those before it may
SCOPE_KINDS: tuple[str, ...] = ("icb", "place", "hwb")
NATIONAL = "national"


class ScopeError(ValueError):
    """A scope or role that cannot be read (CLI exit 2)."""


class OutOfScope(QueryError):
    """A code asked for explicitly lies outside the principal's scope (HTTP 403; a plain message on a page)."""


class Forbidden(Exception):
    """The principal's role does not allow this (HTTP 403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    scope: tuple[str, ...]  # () = national; else "icb:QWO", "place:…", "hwb:E08000035"
    kind: str = "account"  # account | api (token) | wall (token) | none (HOMEWARD_AUTH=none) | system

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def national(self) -> bool:
        return not self.scope

    @property
    def scope_text(self) -> str:
        return format_scope(self.scope)


SYSTEM = Principal("system", "admin", (), kind="system")
_CURRENT: contextvars.ContextVar[Principal] = contextvars.ContextVar("homeward_principal", default=SYSTEM)


def current() -> Principal:
    return _CURRENT.get()


@contextmanager
def using(principal: Principal) -> Iterator[Principal]:
    token = _CURRENT.set(principal)
    try:
        yield principal
    finally:
        _CURRENT.reset(token)


def set_current(principal: Principal) -> contextvars.Token[Principal]:
    return _CURRENT.set(principal)


def reset_current(token: contextvars.Token[Principal]) -> None:
    _CURRENT.reset(token)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ScopeError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")


def parse_scope(text: str, engine: Engine | None = None) -> tuple[str, ...]:
    """`national` or `icb:QWO,place:LEEDS,hwb:E08000035` → the scope's parts (checked against the geography
    when an engine is given)."""
    text = (text or "").strip()
    if not text:
        raise ScopeError("scope is empty; use 'national' or a list like icb:QWO,hwb:E08000035")
    if text.lower() == NATIONAL:
        return ()
    parts: list[str] = []
    for raw in text.split(","):
        kind, sep, code = raw.strip().partition(":")
        kind = kind.strip().lower()
        code = code.strip()
        if not sep or kind not in SCOPE_KINDS or not code:
            raise ScopeError(f"bad scope part {raw.strip()!r}; expected icb:CODE, place:CODE or hwb:CODE")
        parts.append(f"{kind}:{code.upper() if kind != 'place' else code}")
    parts = sorted(set(parts))
    if engine is not None:
        from models.geography import get_geography

        geo = get_geography(engine)
        for part in parts:
            kind, code = part.split(":", 1)
            known = {"icb": geo.icbs, "place": geo.places, "hwb": geo.hwbs}[kind]
            if code not in known:
                raise ScopeError(f"unknown {kind} code {code!r} in scope")
    return tuple(parts)


def format_scope(scope: Iterable[str]) -> str:
    parts = list(scope)
    return ",".join(parts) if parts else NATIONAL


def scope_hwbs(engine: Engine, scope: tuple[str, ...]) -> frozenset[str] | None:
    """The HWBs a scope covers; None for national."""
    if not scope:
        return None
    from models.geography import get_geography

    return hwbs_covered(get_geography(engine), scope)


def hwbs_covered(geo: Any, scope: tuple[str, ...]) -> frozenset[str]:
    """The HWBs a (non-national) scope covers, in a loaded geography."""
    out: set[str] = set()
    for part in scope:
        kind, code = part.split(":", 1)
        if kind == "icb":
            out.update(geo.hwbs_in_icb(code))
        elif kind == "place":
            out.update(geo.hwbs_in_place(code))
        elif code in geo.hwbs:
            out.add(code)
    return frozenset(out)


def allowed_hwbs(geo: Any) -> frozenset[str] | None:
    """The current principal's HWBs in a loaded geography (None: national) — for filter options."""
    p = current()
    return None if p.national else hwbs_covered(geo, p.scope)


def scope_label(engine: Engine, principal: Principal | None = None) -> str:
    """"Scope: Leeds" — names of the scope's ICBs, places and HWBs; "Scope: national"."""
    p = principal or current()
    if p.national:
        return "Scope: national"
    from models.geography import get_geography

    geo = get_geography(engine)
    names = []
    for part in p.scope:
        kind, code = part.split(":", 1)
        table: Mapping[str, Any] = {"icb": geo.icbs, "place": geo.places, "hwb": geo.hwbs}[kind]
        names.append(table[code].name if code in table else code)
    return "Scope: " + ", ".join(names)


def scope_key() -> str:
    """What a cached answer depends on about the asker: answers are shared only within one scope."""
    return format_scope(current().scope)


def view_key() -> str:
    """`scope_key` and whether person-level rows are shown: what a cached page or table depends on."""
    return scope_key() + ("|person-level" if current().at_least("case_worker") else "")


def restrict(engine: Engine | None, where: Mapping[str, Any], *, has_hwb: bool = True) -> dict[str, Any]:
    """`where` (icb / place / hwb codes already checked against the geography) limited to the current
    principal's HWBs: an explicit code outside the scope raises OutOfScope; otherwise the HWB filter
    becomes the scope's HWBs (intersected with any asked). A source without an HWB (the published sitrep)
    is public and passes unchanged."""
    out = dict(where)
    if current().national or not has_hwb:
        return out
    if engine is None:
        from models.db import get_engine

        engine = get_engine()
    allowed = scope_hwbs(engine, current().scope)
    assert allowed is not None
    from models.geography import get_geography

    geo = get_geography(engine)
    for key in SCOPE_KINDS:
        for code in out.get(key, ()):
            covered = geo.hwbs_in_icb(code) if key == "icb" else geo.hwbs_in_place(code) if key == "place" else [code]
            if not allowed.intersection(covered):
                raise OutOfScope(key, f"{key} {code!r} is outside your scope ({current().scope_text})")
    asked = set(out["hwb"]) if "hwb" in out else set(allowed)
    out["hwb"] = sorted(asked & allowed)
    return out


def as_hwbs(engine: Engine, where: Mapping[str, Any], *, has_hwb: bool = True) -> dict[str, Any]:
    """`where` within the principal's scope (`restrict`) and, for a source with an HWB, its ICB and place
    filters as the HWBs they cover: with an HWB filter too, the HWBs in all of them (the intersection).
    The metrics layer filters on this; a page lists the HWBs of its filters from it (`dashboard.data`).

    The same rows as filtering on the HWB table's ICB or place, but the store tests the case's or
    service's own HWB code in the scan instead of joining every row to the HWB table first
    (NCTR by delay reason in one ICB: 26 -> 18 ms)."""
    out = restrict(engine, where, has_hwb=has_hwb)
    if not has_hwb or not out.keys() & {"icb", "place"}:
        return out
    from models.geography import get_geography

    geo = get_geography(engine)
    covered: list[set[str]] = [set(out["hwb"])] if "hwb" in out else []
    if "icb" in out:
        covered.append({h for code in out["icb"] for h in geo.hwbs_in_icb(code)})
    if "place" in out:
        covered.append({h for code in out["place"] for h in geo.hwbs_in_place(code)})
    return {**{k: v for k, v in out.items() if k not in ("icb", "place")}, "hwb": sorted(set.intersection(*covered))}


def sees_small_numbers(p: Principal | None = None) -> bool:
    """Case workers (and admins) give direct care: aggregate exports are not suppressed for them. Without
    sign-in (HOMEWARD_AUTH=none, a demo) HOMEWARD_SUPPRESSION alone decides, as it did before sign-in."""
    p = p or current()
    return p.at_least("case_worker") and p.kind != "none"


def require(role: str, what: str) -> None:
    """Raise Forbidden unless the current principal has at least `role`."""
    p = current()
    if not p.at_least(role):
        raise Forbidden(f"{what} needs the {role} role; you are {p.role}")
