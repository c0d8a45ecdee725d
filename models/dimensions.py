"""The dimensions a figure or an export row can be split and filtered by, each defined once.

A `Dimension` owns its vocabulary (from `models.vocab`), how a value given in a URL or on the command line
is normalised and checked (a `QueryError` naming the dimension), the value a missing one stands as
(`NOT_RECORDED`), and its column in each source's table. The metrics layer's validation
(`models.query.prepare`), the sources' selects (`models.query.sources`: `tables_for`, `columns_in`) and the
export datasets (`models.datasets`) read it from `DIMENSIONS`; adding a dimension read from a table its
source already joins means adding it here (and to the metrics that have it, `models.metrics`), nothing more.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.selectable import FromClause

from models.errors import QueryError
from models.geography import Geography, get_geography, invalidate_geography
from models.tables import metadata
from models.vocab import (
    AGE_BANDS,
    COMMUNITY_SITREP_FEED,
    DELAY_REASONS,
    IC_OUTCOMES,
    NOT_RECORDED,
    PATHWAYS,
    SERVICE_TYPES,
    SITREP_FEEDS,
    SITREP_LEVELS,
)

Case = Literal["upper", "lower", "keep"]

# A code not drawn from a vocabulary (a service, an acute site, a hub, a sitrep organisation): letters,
# digits and a few separators, so a value that cannot be a code is refused rather than matched to nothing.
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\- ]{0,63}$")

COLLECTIONS: tuple[str, ...] = ("acute", "community")  # the sitrep feeds as a dimension
GEOGRAPHY: tuple[str, ...] = ("icb", "place", "hwb")


def age_band(age: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An age in years as its band (`AGE_BANDS`)."""
    return sa.case((age < 65, "18-64"), (age < 75, "65-74"), (age < 85, "75-84"), else_="85+")


def collection(feed: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A sitrep feed as its collection (`COLLECTIONS`)."""
    return sa.case((feed == COMMUNITY_SITREP_FEED, "community"), else_="acute")


@dataclass(frozen=True)
class Dimension:
    name: str
    # source -> "table.column" it is read from (the case's service type comes through its destination service)
    columns: Mapping[str, str]
    vocabulary: tuple[str, ...] = ()  # the accepted values; () = a code (geography or `CODE`)
    case: Case = "keep"  # how a value given is normalised before it is checked
    missing: str | None = None  # a row without a value has this one (filters and splits alike)
    refused: str = "unknown {name} {value!r}; expected one of {expected}"
    geography: bool = False  # checked against the reference geography (needs the store)
    derived: str | None = None  # "age_band" / "collection": a value computed from the column
    typed_for: Mapping[str, str] = field(default_factory=dict)  # source -> "int" | "P" (pathway's forms)

    def normalise(self, value: str) -> str:
        if self.missing is not None and value.upper() == self.missing:
            return self.missing
        return value.upper() if self.case == "upper" else value.lower() if self.case == "lower" else value

    def check(self, values: Sequence[str]) -> list[str]:
        """The values normalised; the first not allowed raises QueryError (geography: see `known_codes`)."""
        norm = [self.normalise(v) for v in values]
        allowed = self.vocabulary + ((self.missing,) if self.missing else ())
        for given, value in zip(values, norm):
            if self.vocabulary and value not in allowed:
                raise QueryError(self.name, self.refused.format(name=self.name, value=given,
                                                                expected=", ".join(allowed)))
            if not self.vocabulary and not self.geography and not CODE.match(given):
                raise QueryError(self.name, f"{given!r} is not a valid {self.name} value")
        return norm

    def typed(self, values: Sequence[str], source: str) -> list[Any]:
        """Checked values as the source's column holds them (pathway: 1 in the store's tables, P1 in the sitrep)."""
        form = self.typed_for.get(source)
        if form == "int":
            return [int(v) for v in values]
        if form == "P":
            return [f"P{v}" for v in values]
        return list(values)

    def table(self, source: str) -> str | None:
        """The table `source` reads this dimension from (None: `source` does not have it)."""
        ref = self.columns.get(source)
        return ref.split(".")[0] if ref else None

    def read(self, source: str, tables: Mapping[str, FromClause | None]) -> sa.ColumnElement[Any] | None:
        """The value of this dimension in a select of `source` whose tables are `tables` (table name -> the
        table or its alias in that select; None or absent: not joined, so the dimension is not there)."""
        ref = self.columns.get(source)
        if ref is None:
            return None
        table, col = ref.split(".")
        frm = tables.get(table)
        return None if frm is None else self.expression(frm.c[col])

    def column(self, source: str) -> sa.ColumnElement[Any]:
        """The value of this dimension in `source`'s tables (unaliased, as the export datasets read them)."""
        col = self.read(source, metadata.tables)
        if col is None:
            raise KeyError(f"{source} has no {self.name}")
        return col

    def expression(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """The dimension's value from its column: derived values computed, a missing value as `missing`."""
        if self.derived == "age_band":
            return age_band(col)
        if self.derived == "collection":
            return collection(col)
        if self.missing is not None:
            return sa.func.coalesce(col, self.missing)
        return col


_PATHWAY_COLUMNS = {"capacity": "service.pathway", "cases": "hub_case.pathway", "sitrep": "sitrep_value.pathway"}

DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (
    Dimension("icb", {"capacity": "hwb.icb_code", "cases": "hwb.icb_code"}, case="upper", geography=True),
    Dimension("place", {"capacity": "hwb.place_code", "cases": "hwb.place_code"}, geography=True),
    Dimension("hwb", {"capacity": "service.hwb_code", "cases": "hub_case.hwb_code"}, case="upper", geography=True),
    Dimension("pathway", _PATHWAY_COLUMNS, vocabulary=PATHWAYS,
              refused="pathway must be 0, 1, 2 or 3, got {value!r}",
              typed_for={"capacity": "int", "cases": "int", "sitrep": "P"}),
    Dimension("service_type", {"capacity": "service.service_type", "cases": "service.service_type"},
              vocabulary=tuple(SERVICE_TYPES), case="upper"),
    Dimension("service_id", {"capacity": "service.service_id", "cases": "hub_case.destination_service_id"}),
    Dimension("acute_site", {"cases": "hub_case.acute_site_code"}),
    Dimension("age_band", {"cases": "hub_case.age"}, vocabulary=AGE_BANDS, case="lower", derived="age_band"),
    Dimension("delay_reason", {"cases": "hub_case.delay_reason"}, vocabulary=DELAY_REASONS, case="upper",
              missing=NOT_RECORDED),
    Dimension("ic_outcome", {"cases": "hub_case.ic_outcome"}, vocabulary=IC_OUTCOMES, case="lower",
              missing=NOT_RECORDED),
    Dimension("hub", {"cases": "hub_case.hub_id"}),
    Dimension("level", {"sitrep": "sitrep_value.level"}, vocabulary=SITREP_LEVELS, case="lower"),
    Dimension("org", {"sitrep": "sitrep_value.org_code"}),
    Dimension("collection", {"sitrep": "sitrep_value.feed"}, vocabulary=COLLECTIONS, case="lower",
              derived="collection"),
    # Filters of the sitrep export only (a metric chooses its feeds and measure itself).
    Dimension("feed", {"sitrep": "sitrep_value.feed"}, vocabulary=SITREP_FEEDS),
    Dimension("measure", {"sitrep": "sitrep_value.measure"}),
)}


def tables_for(source: str, names: Iterable[str]) -> set[str]:
    """The tables `source` reads these dimensions from (the joins its select needs for them)."""
    return {t for name in names if name in DIMENSIONS and (t := DIMENSIONS[name].table(source)) is not None}


def columns_in(source: str, tables: Mapping[str, FromClause | None]) -> dict[str, sa.ColumnElement[Any]]:
    """Every dimension of `source` whose table a select has (`Dimension.read`), as its value there."""
    return {name: col for name, dim in DIMENSIONS.items() if (col := dim.read(source, tables)) is not None}


def check_values(engine: Engine, name: str, values: Sequence[str]) -> list[str]:
    """One filter's values, normalised and checked (geography codes against the reference geography)."""
    dim = DIMENSIONS[name]
    return known_codes(engine, name, values) if dim.geography else dim.check(values)


def check_filters(engine: Engine, where: Mapping[str, Sequence[str]], source: str) -> dict[str, list[Any]]:
    """Every filter's values checked and typed as `source` holds them (what the metrics layer binds)."""
    return {key: DIMENSIONS[key].typed(check_values(engine, key, vals), source) if key in DIMENSIONS else list(vals)
            for key, vals in where.items()}


def known_codes(engine: Engine, key: str, vals: Sequence[str]) -> list[str]:
    """The values as the store's codes, checked against the reference geography (read once per store
    and kept until it is reloaded: a page runs a dozen queries, and asking the store each time cost
    ~1.8 ms a query). A code not found is looked for again in a fresh read, so geography loaded by
    another process is never refused."""
    def check(geo: Geography) -> tuple[list[str], list[str]]:
        known: Mapping[str, Any]
        if key == "icb":
            norm, known = [v.upper() for v in vals], geo.icbs
        elif key == "place":
            norm, known = list(vals), geo.places
        else:
            norm, known = [geo.aliases.get(v.upper(), v.upper()) for v in vals], geo.hwbs
        return norm, [v for v, n in zip(vals, norm) if n not in known]

    norm, bad = check(get_geography(engine))
    if bad:
        invalidate_geography(engine)
        norm, bad = check(get_geography(engine))
    if bad:
        what = {"icb": "ICB ODS code (e.g. QWO)", "hwb": "HWB ONS code (e.g. E08000035)", "place": "place code"}[key]
        raise QueryError(key, f"unknown {key} {bad[0]!r}; expected an {what} from the reference geography")
    return norm
