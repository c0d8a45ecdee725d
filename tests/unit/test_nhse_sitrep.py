"""The NHS England Discharge SitRep readers, on every real workbook in shared/data/nhse.

Quirks each real file has, which these tests pin (found by reading the files):
- all: sheets 'Cover Sheet', 'Contents', 'Table 1'..'Table 5'; the ENGLAND row
  is row 5 (Apr 2022, Nov/Dec 2023 acute) or row 6 (the others) of Table 2, so
  the header rows move; the date header holds datetimes; '-' = not submitted.
- acute Oct 2022: Table 5 row 105 (RWD, United Lincolnshire) is '#DIV/0!' → rejects.
- acute Nov 2023: Table 3 starts 'w/c 30/10/2023' (a week from October) and has 5 weeks.
- acute: England minus the ICBs is the hospice discharges for 'discharged' while
  the trusts count them as 'remaining' (NCTR matches exactly).
- community Nov 2023: an extra 'Table 2 QA' sheet full of '#REF!'.
- community: Table 3 has only 14+ and 21+ day columns; Table 4 has a 'Pathway 0 …
  Pathway 3' group row above the destinations; Table 5 starts in column A (not B);
  Tables 4 and 5 store numbers as text; ICB QHG (Bedfordshire, Luton and
  Milton Keynes) is '-' throughout; providers include non-NHS codes (VNDKN, 506).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Callable

import openpyxl
import pytest
import sqlalchemy as sa

from ingest.feeds import nhse_sitrep
from ingest.feeds.nhse_sitrep import ParsedSitrep, UnreadableWorkbook, check_invariants, load, parse
from models.tables import sitrep_value

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nhse"
ACUTE = "nhse_acute_sitrep"
COMMUNITY = "nhse_community_sitrep"

if not DATA.is_dir():
    pytest.skip(f"real SitRep workbooks not found at {DATA} (../shared/data/nhse beside the repo)",
                allow_module_level=True)

WORKBOOKS: list[tuple[str, Path]] = sorted(
    [(ACUTE, p) for p in (DATA / "acute").glob("*.xlsx")] + [(COMMUNITY, p) for p in (DATA / "community").glob("*.xlsx")],
    key=lambda fp: str(fp[1]),
)
IDS = [f"{p.parent.name}-{p.stem}" for _, p in WORKBOOKS]

_cache: dict[Path, tuple[ParsedSitrep, float]] = {}


def parsed_of(feed: str, path: Path) -> ParsedSitrep:
    """Each workbook is parsed once per test session (the parse is the slow part)."""
    if path not in _cache:
        started = time.perf_counter()
        result = parse(path.read_bytes(), feed)
        _cache[path] = (result, time.perf_counter() - started)
    return _cache[path][0]


def england_from_sheet(path: Path) -> dict[tuple[dt.date, str], float | None]:
    """An independent, simple reading of Table 2's ENGLAND row: the row of
    datetimes gives each day's first column; the three figures follow in the
    published order (checked against the header below the dates)."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = list(wb["Table 2"].iter_rows(values_only=True))
    wb.close()
    date_row = next(r for r in rows if sum(isinstance(v, dt.datetime) for v in r) >= 28)
    header = rows[rows.index(date_row) + 1]
    england = next(r for r in rows if any(isinstance(v, str) and v.startswith("ENGLAND") for v in r))
    out: dict[tuple[dt.date, str], float | None] = {}
    for c, v in enumerate(date_row):
        if isinstance(v, dt.datetime):
            assert "discharged" in header[c + 1] and "remaining" in header[c + 2]
            for k, measure in enumerate(("nctr", "discharged", "remaining")):
                cell = england[c + k]
                out[(v.date(), measure)] = None if cell == "-" else float(cell)
    return out


# --- every real workbook ----------------------------------------------------


@pytest.mark.parametrize(("feed", "path"), WORKBOOKS, ids=IDS)
def test_england_every_day_matches_the_sheet(feed: str, path: Path) -> None:
    parsed = parsed_of(feed, path)
    expected = england_from_sheet(path)
    got = {(v.period_date, v.measure): v.value for v in parsed.values
           if v.level == "england" and v.period_kind == "day"}
    assert len(expected) >= 28 * 3
    assert got == expected
    # The month covers every calendar day, as the Cover Sheet's period says.
    days = {d for d, _ in got}
    assert min(days) == parsed.period_start and max(days) == parsed.period_end
    assert len(days) == (parsed.period_end - parsed.period_start).days + 1


@pytest.mark.parametrize(("feed", "path"), WORKBOOKS, ids=IDS)
def test_parse_is_fast_and_finds_every_block(feed: str, path: Path) -> None:
    parsed = parsed_of(feed, path)
    assert _cache[path][1] < 5.0, "a workbook should parse in a few seconds at most"
    levels = {(v.level, v.period_kind) for v in parsed.values}
    org = nhse_sitrep.ORG_LEVEL[feed]
    for level in ("england", "region", "icb", org):
        for kind in ("day", "week", "month"):
            assert (level, kind) in levels
    regions = {v.org_code for v in parsed.values if v.level == "region"}
    assert regions == set(nhse_sitrep.REGION_CODES.values())
    icbs = {v.org_code for v in parsed.values if v.level == "icb"}
    assert len(icbs) == 42 and all(code.startswith("Q") for code in icbs)
    orgs = {v.org_code for v in parsed.values if v.level == org}
    assert len(orgs) >= 100
    assert parsed.edition.startswith(parsed.month.strftime("%Y-%m") + " published 20")


@pytest.mark.parametrize(("feed", "path"), WORKBOOKS, ids=IDS)
def test_invariants_hold_for_the_real_files(feed: str, path: Path) -> None:
    assert check_invariants(parsed_of(feed, path)) == []


@pytest.mark.parametrize(("feed", "path"), WORKBOOKS, ids=IDS)
def test_dashes_are_null_never_zero(feed: str, path: Path) -> None:
    """Every '-' in the sheets is a NULL value, and every NULL came from a '-' or blank."""
    parsed = parsed_of(feed, path)
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    dashes = 0
    for v in parsed.values:
        if v.value is None:
            dashes += 1
    cells = 0
    for title in ("Table 2", "Table 3", "Table 4", "Table 5"):
        for row in wb[title].iter_rows(values_only=True):
            # Only organisation rows (a code in the code column) count; notes never hold a bare '-'.
            cells += sum(1 for x in row if isinstance(x, str) and x.strip() == "-")
    wb.close()
    assert dashes == cells > 0


# --- values read by hand from the files ------------------------------------

HAND_READ: list[tuple[str, str, str, str, str, str, str, float | None]] = [
    # (feed, file, level, org, measure, period date, kind, value) — read in the sheets by eye.
    (ACUTE, "acute/april2022.xlsx", "england", "ENG", "nctr", "2022-04-01", "day", 24029),
    (ACUTE, "acute/april2022.xlsx", "england", "ENG", "discharged", "2022-04-01", "day", 10801),
    (ACUTE, "acute/april2022.xlsx", "england", "ENG", "remaining", "2022-04-02", "day", 12790),
    (ACUTE, "acute/april2022.xlsx", "region", "Y63", "nctr", "2022-04-01", "day", 4578),
    (ACUTE, "acute/april2022.xlsx", "icb", "QH8", "discharged", "2022-04-01", "day", 0),  # a real zero
    (ACUTE, "acute/april2022.xlsx", "england", "ENG", "discharges_p0_domestic_home_without_reablement_support",
     "2022-04-01", "month", 225218),
    (ACUTE, "acute/april2022.xlsx", "icb", "QUE", "discharges_p2_hospice_short_term_24hr_support",
     "2022-04-01", "month", None),  # '-' in Table 4
    (ACUTE, "acute/april2022.xlsx", "england", "ENG", "bed_days_7plus", "2022-04-01", "week", 105892),
    (ACUTE, "acute/april2022.xlsx", "england", "ENG",
     "delay_reason_awaiting_a_medical_decision_intervention_including_writing_the_discharge_summary",
     "2022-04-01", "month", 411.75),
    (ACUTE, "acute/october2022.xlsx", "england", "ENG", "nctr", "2022-10-31", "day", 22371),
    (ACUTE, "acute/october2022.xlsx", "trust", "RVJ", "nctr", "2022-10-31", "day", 393),
    (ACUTE, "acute/november2023.xlsx", "england", "ENG", "nctr", "2023-11-01", "day", 24642),
    (ACUTE, "acute/november2023.xlsx", "england", "ENG", "remaining", "2023-11-30", "day", 13172),
    (ACUTE, "acute/november2023.xlsx", "england", "ENG", "bed_days_7plus", "2023-10-30", "week", 125023),
    (COMMUNITY, "community/december2023.xlsx", "england", "ENG", "nctr", "2023-12-01", "day", 2214),
    (COMMUNITY, "community/december2023.xlsx", "england", "ENG", "discharged", "2023-12-31", "day", 61),
    (COMMUNITY, "community/december2023.xlsx", "icb", "QHG", "nctr", "2023-12-01", "day", None),
    (COMMUNITY, "community/december2023.xlsx", "provider", "RH5", "discharges_p0_domestic_home_no_new_support_need",
     "2023-12-01", "month", 48),  # stored as the text '48'
    (COMMUNITY, "community/december2023.xlsx", "england", "ENG", "bed_days_14plus", "2023-12-04", "week", 23571),
    (COMMUNITY, "community/november2023.xlsx", "england", "ENG", "nctr", "2023-11-01", "day", 2115),
]


@pytest.mark.parametrize("case", HAND_READ, ids=[f"{c[1]}-{c[3]}-{c[4][:30]}-{c[5]}" for c in HAND_READ])
def test_hand_read_values(case: tuple[str, str, str, str, str, str, str, float | None]) -> None:
    feed, file, level, org, measure, day, kind, value = case
    parsed = parsed_of(feed, DATA / file)
    found = [v for v in parsed.values if (v.level, v.org_code, v.measure, v.period_date.isoformat(), v.period_kind)
             == (level, org, measure, day, kind)]
    assert len(found) == 1
    assert found[0].value == value


def test_pathways_and_the_edition_label() -> None:
    parsed = parsed_of(ACUTE, DATA / "acute/april2022.xlsx")
    pathways = {v.pathway for v in parsed.values if v.measure.startswith("discharges_")}
    assert pathways == {"P0", "P1", "P2", "P3", "P3b"}
    assert parsed.edition == "2022-04 published 2022-05-11 revised 2023-12-14"
    assert parse_edition(COMMUNITY, "community/november2023.xlsx") == "2023-11 published 2023-12-14"


def parse_edition(feed: str, file: str) -> str:
    return parsed_of(feed, DATA / file).edition


def test_div0_cells_are_rejected_with_sheet_and_row() -> None:
    parsed = parsed_of(ACUTE, DATA / "acute/october2022.xlsx")
    assert parsed.rejects, "October 2022 Table 5 has #DIV/0! cells"
    assert {r.value for r in parsed.rejects} == {"#DIV/0!"}
    assert {r.row_number for r in parsed.rejects} == {105}
    assert all(r.field.startswith("Table 5!") and "RWD" in r.reason for r in parsed.rejects)
    # A rejected cell is not stored at all (NULL would claim 'not submitted').
    rejected_measures = {r.field.split()[1] for r in parsed.rejects}
    assert not [v for v in parsed.values if v.org_code == "RWD" and v.measure in rejected_measures]


def test_broken_sums_are_reported() -> None:
    """The checks can fail: one changed figure breaks NCTR = D + R and the England sums."""
    parsed = parsed_of(ACUTE, DATA / "acute/january2023.xlsx")
    values = list(parsed.values)
    i = next(k for k, v in enumerate(values) if v.level == "trust" and v.measure == "remaining" and v.value)
    values[i] = dataclasses.replace(values[i], value=values[i].value + 100)  # type: ignore[operator]  # picked for its value
    broken = dataclasses.replace(parsed, values=values)
    problems = check_invariants(broken)
    assert any(p.startswith("NCTR = discharged + remaining fails 1 time") and values[i].org_code in p for p in problems)
    assert any("sum of ICBs = sum of trust rows" in p for p in problems)
    # Community: England minus providers must stay in the hospice range.
    cparsed = parsed_of(COMMUNITY, DATA / "community/november2023.xlsx")
    cvalues = [dataclasses.replace(v, value=v.value + 500) if v.level == "england" and v.measure == "discharged"
               and v.period_date == dt.date(2023, 11, 5) and v.value is not None else v for v in cparsed.values]
    cproblems = check_invariants(dataclasses.replace(cparsed, values=cvalues))
    assert any("hospice" in p and "2023-11-05" in p for p in cproblems)


# --- damaged copies -----------------------------------------------------------


def _edited_copy(path: Path, tmp_path: Path, edit: Callable[[openpyxl.Workbook], None]) -> bytes:
    """A damaged copy of a real workbook, saved under tmp_path (kept for a failing test's post-mortem)."""
    wb = openpyxl.load_workbook(path, data_only=True)
    edit(wb)
    out = tmp_path / f"damaged-{path.name}"
    wb.save(out)
    return out.read_bytes()


APRIL_2023 = DATA / "acute/april2023.xlsx"


def test_missing_table2_sheet(tmp_path: Path) -> None:
    payload = _edited_copy(APRIL_2023, tmp_path, lambda wb: wb.remove(wb["Table 2"]))
    with pytest.raises(UnreadableWorkbook, match=r"sheet 'Table 2' not found"):
        parse(payload, ACUTE)


def test_table2_header_row_removed(tmp_path: Path) -> None:
    def drop_header(wb: openpyxl.Workbook) -> None:
        ws = wb["Table 2"]
        row = next(r for r in range(1, 20) if ws.cell(r, 6).value == "Number of patients discharged")
        ws.delete_rows(row)

    with pytest.raises(UnreadableWorkbook, match=r"sheet 'Table 2'.*row \d+") as err:
        parse(_edited_copy(APRIL_2023, tmp_path, drop_header), ACUTE)
    assert "criteria to reside" in str(err.value)


def test_unknown_column_heading_names_sheet_row_and_column(tmp_path: Path) -> None:
    def rename(wb: openpyxl.Workbook) -> None:
        ws = wb["Table 2"]
        row = next(r for r in range(1, 20) if ws.cell(r, 6).value == "Number of patients discharged")
        ws.cell(row, 9).value = "Number of beds"

    with pytest.raises(UnreadableWorkbook, match=r"sheet 'Table 2' row 5 column I: heading 'Number of beds'"):
        parse(_edited_copy(APRIL_2023, tmp_path, rename), ACUTE)


@pytest.mark.parametrize("payload", [b"", b"PK\x03\x04 not really a zip", bytes(range(256)) * 40])
def test_garbage_bytes(payload: bytes) -> None:
    with pytest.raises(UnreadableWorkbook, match=r"\.xlsx"):
        parse(payload, ACUTE)


def test_wrong_feed_is_refused() -> None:
    with pytest.raises(UnreadableWorkbook, match=r"Cover Sheet.*not a community"):
        parse(APRIL_2023.read_bytes(), COMMUNITY)


def test_layout_shifts_text_dates_and_text_numbers_read_the_same(tmp_path: Path) -> None:
    """The quirks the spec lists, made worse on purpose: a lookup sheet before the
    cover, Table 2 pushed down two rows, dates as 'dd/mm/yyyy' text, figures as text,
    a blank where England's NCTR should be, and a day of zeros (no collection)."""
    day_zero = dt.date(2023, 4, 9)

    def shake(wb: openpyxl.Workbook) -> None:
        lookup = wb.create_sheet("Lookup", 0)
        lookup.append(["code", "name"])
        lookup.append(["ENGLAND", "not a table"])
        ws = wb["Table 2"]
        ws.insert_rows(1, 2)
        date_row = next(r for r in range(1, 20) if isinstance(ws.cell(r, 5).value, dt.datetime))
        eng_row = next(r for r in range(1, 20) if str(ws.cell(r, 4).value).startswith("ENGLAND"))
        for c in range(5, ws.max_column + 1):
            v = ws.cell(date_row, c).value
            if isinstance(v, dt.datetime):
                ws.cell(date_row, c).value = v.strftime("%d/%m/%Y")
                if v.date() == day_zero:
                    for k in range(3):
                        ws.cell(eng_row, c + k).value = 0
            cell = ws.cell(eng_row, c)
            if isinstance(cell.value, (int, float)):
                cell.value = f" {cell.value} "
        ws.cell(eng_row, 5).value = None  # England NCTR on 1 April: blank = missing

    parsed = parse(_edited_copy(APRIL_2023, tmp_path, shake), ACUTE)
    original = parsed_of(ACUTE, APRIL_2023)
    expected = original.series("nctr")
    expected[dt.date(2023, 4, 1)] = None
    expected[day_zero] = 0.0
    assert parsed.series("nctr") == expected
    assert parsed.series("remaining")[dt.date(2023, 4, 30)] == original.series("remaining")[dt.date(2023, 4, 30)] == 12382
    assert any("2023-04-09 is all zeros for England" in n for n in parsed.notes)


# --- loading ----------------------------------------------------------------


def _stored(engine: sa.Engine, feed: str) -> dict[tuple[dt.date, str, str, str], float | None]:
    t = sitrep_value
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.period_date, t.c.level, t.c.org_code, t.c.measure, t.c.value)
                            .where(t.c.feed == feed)).all()
    return {(r[0], r[1], r[2], r[3]): r[4] for r in rows}


def test_load_into_both_stores(store: sa.Engine) -> None:
    parsed = parsed_of(COMMUNITY, DATA / "community/december2023.xlsx")
    with store.begin() as conn:
        result = load(conn, parsed, run_id=7)
    assert result.problems == []
    assert result.rows_loaded == len(parsed.values) == result.rows_read
    stored = _stored(store, COMMUNITY)
    assert len(stored) == len(parsed.values)
    assert stored[(dt.date(2023, 12, 1), "england", "ENG", "nctr")] == 2214
    assert stored[(dt.date(2023, 12, 1), "icb", "QHG", "nctr")] is None  # '-' is NULL, not 0
    with store.connect() as conn:
        nulls = conn.execute(sa.select(sa.func.count()).select_from(sitrep_value)
                             .where(sitrep_value.c.value.is_(None))).scalar_one()
        editions = conn.execute(sa.select(sitrep_value.c.edition).distinct()).scalars().all()
    assert nulls == sum(v.value is None for v in parsed.values) > 0
    assert editions == ["2023-12 published 2024-01-11"]


def test_loading_twice_replaces_and_never_duplicates(duck_store: sa.Engine) -> None:
    nov = parsed_of(ACUTE, DATA / "acute/november2023.xlsx")
    dec = parsed_of(ACUTE, DATA / "acute/december2023.xlsx")
    with duck_store.begin() as conn:
        load(conn, nov, run_id=1)
        load(conn, dec, run_id=2)
    first = _stored(duck_store, ACUTE)
    assert len(first) == len(nov.values) + len(dec.values)

    # A revised November edition: one figure changed, one trust row gone.
    key_day = dt.date(2023, 11, 15)
    revised_values = [dataclasses.replace(v, value=999.0) if (v.level, v.measure, v.period_date) ==
                      ("england", "nctr", key_day) else v
                      for v in nov.values if v.org_code != "RVJ"]
    revised = dataclasses.replace(nov, values=revised_values, edition="2023-11 published 2023-12-14 revised 2024-02-08")
    with duck_store.begin() as conn:
        again = load(conn, revised, run_id=3)
    assert again.rows_loaded == len(revised_values)
    second = _stored(duck_store, ACUTE)
    assert len(second) == len(revised_values) + len(dec.values)
    assert second[(key_day, "england", "ENG", "nctr")] == 999.0
    assert not [k for k in second if k[2] == "RVJ" and k[0].month == 11 and k[0] >= dt.date(2023, 11, 1)]
    # December (and its weeks) untouched; the week of 30/10 shared with October stays November's.
    assert [k for k in second if k[2] == "RVJ" and k[0].month == 12]
    with duck_store.connect() as conn:
        runs = dict(conn.execute(sa.select(sitrep_value.c.run_id, sa.func.count()).group_by(sitrep_value.c.run_id)).all())
    assert runs == {2: len(dec.values), 3: len(revised_values)}

    # The same file again: same rows, no duplicates.
    with duck_store.begin() as conn:
        load(conn, revised, run_id=4)
    assert _stored(duck_store, ACUTE) == second
