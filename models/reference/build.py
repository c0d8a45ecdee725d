"""Derive the shipped reference CSVs from the published source files.

Run once by a maintainer when the sources change; the CSVs it writes (next to
this file) are committed, and at run time Homeward reads only those — the
source folder is not on a deployed machine.

    .venv/bin/python -m models.reference.build [SOURCE_DIR] [--sitrep DIR] [--out DIR]

SOURCE_DIR defaults to ../shared/data/reference (relative to the repo); the
acute SitRep workbooks (used to tell acute trusts from the rest of the ODS
register and to check trust -> ICB attribution) default to SOURCE_DIR/../nhse/acute.
Every derivation is checked (counts, ties, sums) and the script stops on the
first surprise rather than writing a doubtful file.
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "reference"

LAD_ICB_FILE = "ons_lad22_to_icb22_lookup_derived.csv"
SICBL_ICB_FILE = "ons_sicbl24_icb24_lookup_derived.csv"
LA_FILE = "mysociety_uk_local_authorities_current.csv"
ODS_FILE = "brc_ods_nhs_trusts_etr_2021.csv"

# NHS England's seven regions. The ODS file only carries the Y-codes, so the
# names are written here as NHS England publishes them (the SitRep workbooks
# print the same names in capitals, which `_check_regions` verifies).
REGIONS: dict[str, str] = {
    "Y56": "London",
    "Y58": "South West",
    "Y59": "South East",
    "Y60": "Midlands",
    "Y61": "East of England",
    "Y62": "North West",
    "Y63": "North East and Yorkshire",
}

# Upper-tier types in mySociety's register. The City of London is its own
# type (`CC`, "City corporation"), not `LBO`; it is upper-tier for HWB
# purposes, so it is included here and then aliased to Hackney.
UPPER_TIER_TYPES = frozenset({"CTY", "UA", "MD", "LBO", "CC"})

# Authorities that report inside another HWB (NHS HWB reporting convention).
HWB_ALIASES: dict[str, str] = {
    "E09000001": "E09000012",  # City of London -> Hackney
    "E06000053": "E06000052",  # Isles of Scilly -> Cornwall
}

# The ODS register (March 2021) gives each trust its then ICS. NHS England's
# SitRep attributes Harrogate and District (RCD) to West Yorkshire, not to
# Humber and North Yorkshire: RCD is a member of the West Yorkshire
# Association of Acute Trusts. `_check_trust_sums` proves the override: with
# it, trusts sum to their ICB rows in every workbook and column; without it,
# QOQ and QWO are off by exactly RCD's numbers.
TRUST_ICB_OVERRIDES: dict[str, str] = {"RCD": "QWO"}

_SMALL_WORDS = frozenset({"AND", "OF", "THE", "ON", "UPON", "IN", "FOR", "AT", "WITH"})
_UPPER_WORDS = frozenset({"NHS"})


class BuildError(RuntimeError):
    """A source file did not say what the derivation expects."""


@dataclass(frozen=True)
class Authority:
    code: str  # mySociety three-letter code
    gss: str
    name: str
    kind: str  # local-authority-type
    county: str  # county-la (three-letter) for districts
    replaced_by: str
    current: bool
    nation: str


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise BuildError(message)


def title_case(name: str) -> str:
    """ODS names are in capitals; print them the way trusts write their own names."""
    def word(w: str, first: bool) -> str:
        parts = w.split("-")
        out = []
        for i, part in enumerate(parts):
            if part in _UPPER_WORDS:
                out.append(part)
            elif part in _SMALL_WORDS and not (first and i == 0):
                out.append(part.lower())
            else:
                out.append(part.capitalize())
        return "-".join(out)

    words = name.split()
    return " ".join(word(w, i == 0) for i, w in enumerate(words))


# --- ICBs and regions ------------------------------------------------------

def build_icbs(source: Path, ods_rows: list[dict[str, str]]) -> list[tuple[str, str, str, str]]:
    """(ODS code, current E54 code, name, region) for the 42 ICBs.

    Codes and names come from the 2024 lookup (current vintage: Surrey
    Heartlands E54000063, Sussex E54000064). The region comes from the ODS
    trust register, whose open trusts all sit in one region per ICS.
    """
    current: dict[str, tuple[str, str]] = {}
    for r in _read_csv(source / SICBL_ICB_FILE):
        key = r["icb24_code_nhs"]
        value = (r["icb24_code"], r["icb24_name"])
        _expect(current.setdefault(key, value) == value, f"ICB {key} has two codes/names in the 2024 lookup")
    _expect(len(current) == 42, f"expected 42 ICBs in the 2024 lookup, found {len(current)}")

    # The 2022 lookup must hold the same ICBs by ODS code (E54 codes differ for two).
    older = {r["icb22_code_h"]: r["icb22_code"] for r in _read_csv(source / LAD_ICB_FILE)}
    _expect(set(older) == set(current), "2022 and 2024 lookups disagree on the set of ICB ODS codes")

    regions: dict[str, set[str]] = defaultdict(set)
    for r in ods_rows:
        if r["status"] == "open" and r["high_level_health_geography"] in current:
            regions[r["high_level_health_geography"]].add(r["national_grouping"])
    rows = []
    for ods, (e54, name) in sorted(current.items()):
        found = regions.get(ods, set())
        _expect(len(found) == 1, f"ICB {ods}: open trusts give regions {sorted(found)}, expected exactly one")
        region = next(iter(found))
        _expect(region in REGIONS, f"ICB {ods}: unknown region {region}")
        rows.append((ods, e54, name, region))
    return rows


# --- HWBs (upper-tier authorities) -----------------------------------------

def load_authorities(source: Path) -> dict[str, Authority]:
    out: dict[str, Authority] = {}
    for r in _read_csv(source / LA_FILE):
        out[r["local-authority-code"]] = Authority(
            code=r["local-authority-code"], gss=r["gss-code"], name=r["nice-name"],
            kind=r["local-authority-type"], county=r["county-la"], replaced_by=r["replaced-by"],
            current=r["current-authority"] == "True", nation=r["nation"],
        )
    return out


def upper_tier_of(lad_gss: str, by_gss: dict[str, Authority], by_code: dict[str, Authority]) -> str:
    """The current upper-tier authority (GSS code) a 2022 district or unitary lies in.

    Abolished districts (e.g. the Cumbrian and North Yorkshire districts in
    2023) follow `replaced-by` to their successor; current two-tier districts
    follow `county-la` to their county.
    """
    auth = by_gss.get(lad_gss)
    _expect(auth is not None, f"{lad_gss} is not in the mySociety register")
    assert auth is not None
    for _ in range(5):  # replacement chains are short (Taunton Deane -> SWT -> Somerset)
        if auth.current:
            break
        successors = [c for c in auth.replaced_by.split(",") if c]
        _expect(len(successors) == 1, f"{auth.gss} {auth.name}: not current and replaced by {successors}")
        auth = by_code[successors[0]]
    _expect(auth.current, f"{lad_gss}: no current successor")
    if auth.kind == "NMD":
        county = by_code.get(auth.county)
        _expect(county is not None and county.current and county.kind == "CTY",
                f"{auth.gss} {auth.name}: county-la {auth.county!r} is not a current county")
        assert county is not None
        return county.gss
    _expect(auth.kind in UPPER_TIER_TYPES, f"{auth.gss} {auth.name}: type {auth.kind} is not upper-tier")
    return auth.gss


@dataclass(frozen=True)
class HwbBuild:
    hwbs: list[tuple[str, str, str]]  # hwb_code, name, icb_code
    aliases: list[tuple[str, str, str]]  # code, hwb_code, name of the aliased authority
    splits: list[tuple[str, str, str, str, int]]  # lad_code, lad_name, hwb_code, icb_code, lsoa_count
    spanning: dict[str, dict[str, int]]  # HWBs whose districts lie in more than one ICB


def build_hwbs(source: Path, icb_codes: set[str]) -> HwbBuild:
    authorities = load_authorities(source)
    by_gss = {a.gss: a for a in authorities.values() if a.gss}
    upper = {a.gss: a for a in authorities.values()
             if a.nation == "England" and a.current and a.kind in UPPER_TIER_TYPES}
    _expect(len(upper) == 153, f"expected 153 current English upper-tier authorities, found {len(upper)}")
    for alias, target in HWB_ALIASES.items():
        _expect(alias in upper and target in upper, f"alias {alias} -> {target}: not both upper-tier")

    lookup = _read_csv(source / LAD_ICB_FILE)
    weight: dict[str, Counter[str]] = defaultdict(Counter)  # hwb -> icb -> lsoa count
    lad_rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in lookup:
        _expect(r["icb22_code_h"] in icb_codes, f"{r['ltla22_code']}: unknown ICB {r['icb22_code_h']}")
        hwb = upper_tier_of(r["ltla22_code"], by_gss, authorities)
        hwb = HWB_ALIASES.get(hwb, hwb)
        weight[hwb][r["icb22_code_h"]] += int(r["lsoa11_count"])
        lad_rows[r["ltla22_code"]].append(r)

    expected = set(upper) - set(HWB_ALIASES)
    _expect(set(weight) == expected,
            f"HWBs reached from the lookup differ from the register: "
            f"missing {sorted(expected - set(weight))}, extra {sorted(set(weight) - expected)}")

    hwbs = []
    spanning: dict[str, dict[str, int]] = {}
    for code in sorted(expected):
        ranked = weight[code].most_common()
        # A tie would make "the ICB holding most of it" meaningless; none exists today.
        _expect(len(ranked) == 1 or ranked[0][1] > ranked[1][1], f"HWB {code}: tie between ICBs {ranked}")
        hwbs.append((code, upper[code].name, ranked[0][0]))
        if len(ranked) > 1:
            spanning[code] = dict(ranked)

    splits = []
    for lad, rows in sorted(lad_rows.items()):
        if len(rows) < 2:
            continue
        hwb = upper_tier_of(lad, by_gss, authorities)
        hwb = HWB_ALIASES.get(hwb, hwb)
        for r in sorted(rows, key=lambda x: x["icb22_code_h"]):
            splits.append((lad, r["ltla22_name"], hwb, r["icb22_code_h"], int(r["lsoa11_count"])))
    _expect(len({s[0] for s in splits}) == 12, f"expected 12 split districts, found {len({s[0] for s in splits})}")

    aliases = [(a, t, upper[a].name) for a, t in sorted(HWB_ALIASES.items())]
    return HwbBuild(hwbs=hwbs, aliases=aliases, splits=splits, spanning=spanning)


# --- population -------------------------------------------------------------

# mySociety's `pop-2020`: ONS mid-2020 population estimates per authority (the 2023 unitaries carry the sum
# of the districts they replaced). An aliased authority's residents are counted in the HWB it reports into,
# as its cases are: the rate's numerator and denominator cover the same people.
POPULATION_COLUMN, POPULATION_YEAR = "pop-2020", 2020


def build_population(source: Path, hwbs: list[tuple[str, str, str]]) -> list[tuple[str, int, int]]:
    """(hwb_code, population, year) for every HWB, aliased authorities folded into their HWB."""
    by_gss: dict[str, int] = {}
    for r in _read_csv(source / LA_FILE):
        if r["nation"] == "England" and r["current-authority"] == "True" and r[POPULATION_COLUMN]:
            by_gss[r["gss-code"]] = round(float(r[POPULATION_COLUMN]))
    total: Counter[str] = Counter()
    for gss in [h[0] for h in hwbs] + list(HWB_ALIASES):
        _expect(gss in by_gss, f"HWB {gss}: no population in the mySociety register")
        total[HWB_ALIASES.get(gss, gss)] += by_gss[gss]
    england = sum(total.values())
    # ONS mid-2020 estimate for England: 56,550,138; a different sum means rows were lost or counted twice
    _expect(england == 56_550_138, f"HWB populations sum to {england:,}, not England's 56,550,138")
    return [(code, total[code], POPULATION_YEAR) for code, _name, _icb in hwbs]


# --- acute trusts -----------------------------------------------------------

@dataclass(frozen=True)
class SitrepTable:
    month: datetime
    regions_by_icb: dict[str, str]
    icb_values: dict[str, list[object]]
    trust_values: dict[str, list[object]]
    trust_names: dict[str, str]


def read_sitrep(path: Path) -> SitrepTable:
    """Table 2 of an Acute Discharge SitRep workbook: the ICB and trust blocks."""
    import openpyxl  # build-time only; the running app never opens these workbooks

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    section: str | None = None
    regions: dict[str, str] = {}
    icbs: dict[str, list[object]] = {}
    trusts: dict[str, list[object]] = {}
    names: dict[str, str] = {}
    for row in wb["Table 2"].iter_rows(values_only=True):
        if len(row) > 3 and row[1] == "Region":
            section = str(row[2])
            continue
        if len(row) < 4 or not row[2]:
            continue
        if section == "ICB Code":
            regions[str(row[2])] = str(row[1])
            icbs[str(row[2])] = list(row[4:])
        elif section == "Org Code":
            trusts[str(row[2])] = list(row[4:])
            names[str(row[2])] = str(row[3])
    wb.close()
    month = datetime.strptime(path.stem, "%B%Y")
    _expect(len(icbs) == 42 and len(trusts) > 100, f"{path.name}: unexpected Table 2 layout")
    return SitrepTable(month, regions, icbs, trusts, names)


def _check_regions(icbs: list[tuple[str, str, str, str]], tables: list[SitrepTable]) -> None:
    for t in tables:
        for ods, _e54, _name, region in icbs:
            _expect(t.regions_by_icb.get(ods, "").upper() == REGIONS[region].upper(),
                    f"{t.month:%b %Y}: ICB {ods} is in {t.regions_by_icb.get(ods)!r}, ODS says {REGIONS[region]}")


def _check_trust_sums(trust_icb: dict[str, str], tables: list[SitrepTable]) -> None:
    """Σ trusts = ICB row, in every workbook and every numeric column of Table 2."""
    for t in tables:
        for icb, values in t.icb_values.items():
            for col, icb_value in enumerate(values):
                if not isinstance(icb_value, (int, float)):
                    continue
                cells = [v[col] for code, v in t.trust_values.items() if trust_icb[code] == icb and col < len(v)]
                total = sum(x for x in cells if isinstance(x, (int, float)))
                _expect(total == icb_value, f"{t.month:%b %Y} column {col}: trusts in {icb} sum to {total}, ICB row {icb_value}")


def build_trusts(ods_rows: list[dict[str, str]], icbs: list[tuple[str, str, str, str]],
                 sitrep_dir: Path) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """Acute trusts: every trust NHS England reports in the Acute SitRep, with its ICB and region.

    The ODS register lists all NHS trusts (mental health, ambulance, community
    too) without a type, so "acute" means "appears in the Acute Discharge
    SitRep" (type 1 acute trusts). ICB and region come from the ODS register;
    the name is the one in the most recent workbook the trust appears in,
    because several trusts were renamed after the March 2021 register.
    """
    ods = {r["org_code"]: r for r in ods_rows}
    icb_codes = {i[0] for i in icbs}
    tables = sorted((read_sitrep(p) for p in sitrep_dir.glob("*.xlsx")), key=lambda t: t.month)
    _expect(bool(tables), f"no SitRep workbooks in {sitrep_dir}")
    _check_regions(icbs, tables)

    notes: list[str] = []
    latest_name: dict[str, str] = {}
    for t in tables:  # oldest first, so the newest name wins
        latest_name.update(t.trust_names)
    trust_icb: dict[str, str] = {}
    for code in sorted(latest_name):
        row = ods.get(code)
        _expect(row is not None, f"SitRep trust {code} is not in the ODS register")
        assert row is not None
        icb = TRUST_ICB_OVERRIDES.get(code, row["high_level_health_geography"])
        _expect(icb in icb_codes, f"trust {code}: ICS {icb} is not one of the 42 ICBs")
        if icb != row["high_level_health_geography"]:
            notes.append(f"{code}: ICB {icb} (ODS 2021 says {row['high_level_health_geography']}; SitRep sums say {icb})")
        trust_icb[code] = icb
    _check_trust_sums(trust_icb, tables)

    region_of = {i[0]: i[3] for i in icbs}
    rows = []
    for code, icb in sorted(trust_icb.items()):
        _expect(ods[code]["national_grouping"] == region_of[icb], f"trust {code}: region differs from its ICB's")
        rows.append((code, title_case(latest_name[code]), icb, region_of[icb]))
    return rows, notes


def ods_ics_report(ods_rows: list[dict[str, str]], icb_codes: set[str]) -> list[str]:
    """ODS ICS codes that are not one of the 42 ICBs, and what the trusts behind them are."""
    out = []
    for r in ods_rows:
        ics = r["high_level_health_geography"]
        if ics not in icb_codes:
            _expect(r["status"] == "closed" or r["national_grouping"] == "W00",
                    f"open English trust {r['org_code']} has ICS {ics}, not a current ICB")
            out.append(f"{r['org_code']} {r['name']} ({r['status']}, {r['national_grouping']}, {ics})")
    return out


# --- main -------------------------------------------------------------------

def build(source: Path, sitrep_dir: Path, out: Path) -> list[str]:
    """Write the CSVs into `out`; return lines worth reading (counts, notes)."""
    ods_rows = _read_csv(source / ODS_FILE)
    icbs = build_icbs(source, ods_rows)
    icb_codes = {i[0] for i in icbs}
    hwb = build_hwbs(source, icb_codes)
    trusts, notes = build_trusts(ods_rows, icbs, sitrep_dir)

    report = [
        f"regions: {_write_csv(out / 'regions.csv', ['region_code', 'name'], sorted(REGIONS.items()))}",
        f"icbs: {_write_csv(out / 'icbs.csv', ['icb_code', 'icb_ons_code', 'name', 'region_code'], icbs)}",
        f"hwbs: {_write_csv(out / 'hwbs.csv', ['hwb_code', 'name', 'icb_code'], hwb.hwbs)}",
        f"hwb aliases: {_write_csv(out / 'hwb_aliases.csv', ['code', 'hwb_code', 'name'], hwb.aliases)}",
        f"split rows: {_write_csv(out / 'hwb_icb_splits.csv', ['lad_code', 'lad_name', 'hwb_code', 'icb_code', 'lsoa_count'], hwb.splits)}",
        f"hwb populations: {_write_csv(out / 'hwb_population.csv', ['hwb_code', 'population', 'year'], build_population(source, hwb.hwbs))}",
        f"acute trusts: {_write_csv(out / 'trusts.csv', ['trust_code', 'name', 'icb_code', 'region_code'], trusts)}",
    ]
    report += [f"trust override: {n}" for n in notes]
    report += [f"ODS ICS not a current ICB (left out): {n}" for n in ods_ics_report(ods_rows, icb_codes)]
    report += [f"HWB spanning ICBs (attributed to the first): {code} {weights}" for code, weights in hwb.spanning.items()]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="shared/data/reference folder")
    parser.add_argument("--sitrep", type=Path, default=None, help="Acute SitRep workbooks (default SOURCE/../nhse/acute)")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the CSVs (default: this folder)")
    args = parser.parse_args(argv)
    sitrep = args.sitrep or args.source.parent / "nhse" / "acute"
    for folder in (args.source, sitrep):
        if not folder.is_dir():
            print(f"build failed: {folder} is not a folder", file=sys.stderr)
            return 1
    try:
        for line in build(args.source, sitrep, args.out):
            print(line)
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
