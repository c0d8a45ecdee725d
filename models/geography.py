"""England's reference geography: loading it into the store and reading it back.

The CSVs in `models/reference/` (derived by `models/reference/build.py`, see
its README for provenance) are the only source at run time. Places come from
the deployment's `HOMEWARD_PLACES` TOML, defaulting to one place per HWB.

Other modules read the geography through `get_geography(engine)`, a frozen
snapshot cached per store; `load_reference` drops the cache.
"""
from __future__ import annotations

import csv
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models import settings
from models.tables import hwb, hwb_alias, hwb_icb_split, hwb_population, icb, place, region, trust

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


class PlacesError(ValueError):
    """The places file (HOMEWARD_PLACES) is unreadable or contradicts the geography."""


# --- read model --------------------------------------------------------------

@dataclass(frozen=True)
class Region:
    code: str  # ODS Y-code
    name: str


@dataclass(frozen=True)
class Icb:
    code: str  # ODS Q-code
    ons_code: str  # current E54 code
    name: str
    region: str  # region code


@dataclass(frozen=True)
class Hwb:
    code: str  # ONS code of the upper-tier authority
    name: str
    icb: str
    place: str
    population: int | None = None  # residents (ONS mid-year estimate, `hwb_population`); None: not loaded


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    icb: str
    hwbs: tuple[str, ...]


@dataclass(frozen=True)
class Trust:
    code: str  # ODS code
    name: str
    icb: str | None
    region: str | None


@dataclass(frozen=True)
class Split:
    lad_code: str  # lower-tier district (2022 code) split between ICBs
    hwb: str
    icb: str
    lsoa_count: int


def _frozen(d: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(d)


@dataclass(frozen=True)
class Geography:
    """A snapshot of the reference tables. Mappings are read-only views."""

    regions: Mapping[str, Region]
    icbs: Mapping[str, Icb]
    hwbs: Mapping[str, Hwb]
    places: Mapping[str, Place]
    trusts: Mapping[str, Trust]
    aliases: Mapping[str, str]  # code accepted in feeds -> the HWB it reports into
    splits: tuple[Split, ...] = field(default=())

    def hwbs_in_icb(self, icb_code: str) -> list[str]:
        return sorted(c for c, h in self.hwbs.items() if h.icb == icb_code.upper())

    def hwbs_in_place(self, place_code: str) -> list[str]:
        p = self.places.get(place_code)
        return list(p.hwbs) if p else []

    def places_in_icb(self, icb_code: str) -> list[str]:
        return sorted(c for c, p in self.places.items() if p.icb == icb_code.upper())

    def icbs_in_region(self, region_code: str) -> list[str]:
        return sorted(c for c, i in self.icbs.items() if i.region == region_code.upper())

    def trusts_in_icb(self, icb_code: str) -> list[str]:
        return sorted(c for c, t in self.trusts.items() if t.icb == icb_code.upper())

    def icb_of_hwb(self, hwb_code: str) -> str | None:
        code = resolve_hwb_code(hwb_code, self)
        return self.hwbs[code].icb if code else None


def resolve_hwb_code(code: str, geo: Geography) -> str | None:
    """The HWB a code reports into: aliases applied, case-insensitive; None if not an HWB.

    Lower-tier districts (E07) are not accepted: they are not HWBs, and a few
    of them straddle two ICBs, so guessing would misattribute.
    """
    if not isinstance(code, str):
        return None
    key = code.strip().upper()
    key = geo.aliases.get(key, key)
    return key if key in geo.hwbs else None


# --- shipped CSVs -------------------------------------------------------------

def _read(name: str) -> list[dict[str, str]]:
    with (REFERENCE_DIR / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class _Reference:
    regions: list[dict[str, Any]]
    icbs: list[dict[str, Any]]
    hwbs: list[dict[str, Any]]  # without place_code
    aliases: list[dict[str, Any]]
    splits: list[dict[str, Any]]
    trusts: list[dict[str, Any]]
    populations: list[dict[str, Any]]


def _read_reference() -> _Reference:
    # Only the table's columns are kept: the CSVs carry extra human-readable
    # columns (e.g. lad_name) that the schema does not store.
    return _Reference(
        regions=[{"region_code": r["region_code"], "name": r["name"]} for r in _read("regions.csv")],
        icbs=[{"icb_code": r["icb_code"], "icb_ons_code": r["icb_ons_code"], "name": r["name"],
               "region_code": r["region_code"]} for r in _read("icbs.csv")],
        hwbs=[{"hwb_code": r["hwb_code"], "name": r["name"], "icb_code": r["icb_code"]} for r in _read("hwbs.csv")],
        aliases=[{"code": r["code"], "hwb_code": r["hwb_code"]} for r in _read("hwb_aliases.csv")],
        splits=[{"lad_code": r["lad_code"], "hwb_code": r["hwb_code"], "icb_code": r["icb_code"],
                 "lsoa_count": int(r["lsoa_count"])} for r in _read("hwb_icb_splits.csv")],
        trusts=[{"trust_code": r["trust_code"], "name": r["name"], "icb_code": r["icb_code"] or None,
                 "region_code": r["region_code"] or None} for r in _read("trusts.csv")],
        populations=[{"hwb_code": r["hwb_code"], "population": int(r["population"]), "year": int(r["year"])}
                     for r in _read("hwb_population.csv")],
    )


# --- places ---------------------------------------------------------------------

def _configured_places(path: Path, hwb_rows: list[dict[str, Any]],
                       aliases: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(place code, name, HWB codes) from the places TOML, validated against the HWBs."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise PlacesError(f"HOMEWARD_PLACES: {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlacesError(f"HOMEWARD_PLACES: {path} is not valid TOML: {exc}") from exc

    table = doc.get("places")
    if not isinstance(table, dict):
        raise PlacesError(f"{path}: expected a [places.CODE] table")
    icb_of = {h["hwb_code"]: h["icb_code"] for h in hwb_rows}
    owner: dict[str, str] = {}
    out: list[tuple[str, str, list[str]]] = []
    for raw_code, spec in table.items():
        code = str(raw_code).strip()
        if not code or not isinstance(spec, dict):
            raise PlacesError(f"{path}: [places.{raw_code}] must be a table with name and hwbs")
        name = spec.get("name")
        members = spec.get("hwbs")
        if not isinstance(name, str) or not name.strip():
            raise PlacesError(f"{path}: place {code} needs a name")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise PlacesError(f"{path}: place {code} needs hwbs = [\"E…\", …]")
        codes: list[str] = []
        for m in members:
            key = m.strip().upper()
            key = aliases.get(key, key)
            if key not in icb_of:
                raise PlacesError(f"{path}: place {code}: {m} is not a health and wellbeing board")
            if key in owner and owner[key] != code or key in codes:
                raise PlacesError(f"{path}: HWB {key} is in more than one place ({owner.get(key, code)}, {code})")
            owner[key] = code
            codes.append(key)
        icbs = sorted({icb_of[c] for c in codes})
        if len(icbs) != 1:
            raise PlacesError(f"{path}: place {code} spans ICBs {', '.join(icbs)}; a place lies inside one ICB")
        out.append((code, name.strip(), codes))

    # A place code equal to an HWB code left out of it would collide with that HWB's default place.
    unnamed = set(icb_of) - set(owner)
    for code, _name, _codes in out:
        if code in unnamed:
            raise PlacesError(f"{path}: place code {code} is the code of an HWB not in it")
    return out


def _places(hwb_rows: list[dict[str, Any]], aliases: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Place rows and HWB -> place code; HWBs no configured place names get one of their own."""
    configured = _configured_places(path, hwb_rows, aliases) if (path := settings.places_file()) else []
    by_hwb = {h["hwb_code"]: h for h in hwb_rows}
    rows: list[dict[str, Any]] = []
    place_of: dict[str, str] = {}
    for code, name, members in configured:
        rows.append({"place_code": code, "name": name, "icb_code": by_hwb[members[0]]["icb_code"]})
        place_of.update({m: code for m in members})
    for h in hwb_rows:
        if h["hwb_code"] not in place_of:
            rows.append({"place_code": h["hwb_code"], "name": h["name"], "icb_code": h["icb_code"]})
            place_of[h["hwb_code"]] = h["hwb_code"]
    return rows, place_of


# --- loading --------------------------------------------------------------------

def load_reference(engine: Engine) -> None:
    """Replace the reference tables' contents with the shipped CSVs and the configured places.

    Idempotent, and all-or-nothing: one transaction, so readers never see a
    half-loaded geography and a bad places file leaves the store as it was.
    """
    ref = _read_reference()
    aliases = {a["code"]: a["hwb_code"] for a in ref.aliases}
    place_rows, place_of = _places(ref.hwbs, aliases)  # validate before touching the store
    hwb_rows = [{**h, "place_code": place_of[h["hwb_code"]]} for h in ref.hwbs]

    with engine.begin() as conn:
        for table, rows in (
            (region, ref.regions), (icb, ref.icbs), (place, place_rows), (hwb, hwb_rows),
            (hwb_alias, ref.aliases), (hwb_icb_split, ref.splits), (trust, ref.trusts),
            (hwb_population, ref.populations),
        ):
            conn.execute(table.delete())
            conn.execute(table.insert(), rows)
    invalidate_geography(engine)


# --- cached read model ------------------------------------------------------------

_cache: dict[str, Geography] = {}
_cache_lock = threading.Lock()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _read_geography(conn: Connection) -> Geography:
    regions = {r.region_code: Region(r.region_code, r.name) for r in conn.execute(sa.select(region))}
    icbs = {r.icb_code: Icb(r.icb_code, r.icb_ons_code, r.name, r.region_code) for r in conn.execute(sa.select(icb))}
    population = {r.hwb_code: int(r.population) for r in conn.execute(sa.select(hwb_population))}
    hwbs = {r.hwb_code: Hwb(r.hwb_code, r.name, r.icb_code, r.place_code, population.get(r.hwb_code))
            for r in conn.execute(sa.select(hwb).order_by(hwb.c.hwb_code))}
    members: dict[str, list[str]] = {}
    for h in hwbs.values():
        members.setdefault(h.place, []).append(h.code)
    places = {r.place_code: Place(r.place_code, r.name, r.icb_code, tuple(members.get(r.place_code, [])))
              for r in conn.execute(sa.select(place))}
    trusts = {r.trust_code: Trust(r.trust_code, r.name, r.icb_code, r.region_code) for r in conn.execute(sa.select(trust))}
    aliases = {r.code: r.hwb_code for r in conn.execute(sa.select(hwb_alias))}
    splits = tuple(Split(r.lad_code, r.hwb_code, r.icb_code, int(r.lsoa_count)) for r in conn.execute(
        sa.select(hwb_icb_split).order_by(hwb_icb_split.c.lad_code, hwb_icb_split.c.icb_code)))
    return Geography(
        regions=_frozen(regions), icbs=_frozen(icbs), hwbs=_frozen(hwbs), places=_frozen(places),
        trusts=_frozen(trusts), aliases=_frozen(aliases), splits=splits,
    )


def get_geography(engine: Engine) -> Geography:
    """The store's geography, read once per store URL and kept until invalidated."""
    key = _key(engine)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    with engine.connect() as conn:
        geo = _read_geography(conn)
    with _cache_lock:
        _cache[key] = geo
    return geo


def invalidate_geography(engine: Engine | None = None) -> None:
    """Forget the cached geography of one store, or of all stores."""
    with _cache_lock:
        if engine is None:
            _cache.clear()
        else:
            _cache.pop(_key(engine), None)
