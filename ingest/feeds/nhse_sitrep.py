"""Readers for NHS England's published Discharge SitRep monthly workbooks.

Two feeds share one layout (spec/feeds.md §3):

- ``nhse_acute_sitrep``: Acute Daily Discharge SitRep (organisation level ``trust``);
- ``nhse_community_sitrep``: Community Discharge SitRep (organisation level ``provider``).

``parse(payload, feed)`` turns the workbook's bytes into ``ParsedSitrep`` (one
``SitrepValue`` per published cell); ``load(conn, parsed, run_id)`` replaces the
covered periods in ``sitrep_value`` inside the caller's transaction and checks
the invariants the published files keep (NCTR = discharged + remaining; the
organisation sums against England).

Nothing here trusts a fixed position: sheets are found by name, header rows by
their content, and the organisation blocks by their ``Region, ... Code, ...
Name`` header rows, because NHS England moves all of these between months
(see ``tests/unit/test_nhse_sitrep.py`` for the quirks of each real file).
Anything the reader does not understand raises ``UnreadableWorkbook`` naming the
sheet and row, so a changed layout fails loudly instead of loading wrong numbers.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import openpyxl
import pyarrow as pa
import sqlalchemy as sa
from openpyxl.utils import get_column_letter

from ingest import bulk
from models.tables import sitrep_value
from models.vocab import ACUTE_SITREP_FEED, COMMUNITY_SITREP_FEED

# feed -> the level name of its organisation block ("Org Code" rows).
ORG_LEVEL: dict[str, str] = {ACUTE_SITREP_FEED: "trust", COMMUNITY_SITREP_FEED: "provider"}
# feed -> a word its Cover Sheet title must contain, so an acute file is never
# loaded as the community feed (or the reverse) by a misconfigured source.
TITLE_WORD: dict[str, str] = {ACUTE_SITREP_FEED: "ACUTE", COMMUNITY_SITREP_FEED: "COMMUNITY"}

ENGLAND_CODE = "ENG"
# NHS England region ODS Y-codes, so the benchmark joins the `region` table.
REGION_CODES: dict[str, str] = {
    "LONDON": "Y56",
    "SOUTH WEST": "Y58",
    "SOUTH EAST": "Y59",
    "MIDLANDS": "Y60",
    "EAST OF ENGLAND": "Y61",
    "NORTH WEST": "Y62",
    "NORTH EAST AND YORKSHIRE": "Y63",
}
DAY_MEASURES: tuple[str, ...] = ("nctr", "discharged", "remaining")

# A monthly workbook covers one calendar month; dates far outside it mean the
# header was misread, so they are refused rather than stored.
_MISSING_TEXT = {"-", "–", "—", ""}
_SLUG_MAX = 120
# The header cells live in the first rows above the ENGLAND row; the label
# column is never far right. Bounds keep a malformed sheet from being scanned forever.
_LABEL_COLUMNS = 8
# Hospice discharges are in England's totals but not in any organisation's row
# (disclosure). The real files show 0..32 a day (acute) and 0..16 (community); allow some growth
# before calling a gap a broken invariant.
_HOSPICE_GAP_MAX = 60.0
_MAX_PROBLEMS_LISTED = 10
_EPS = 1e-6  # the figures are counts; floats only carry them


class UnreadableWorkbook(ValueError):
    """The workbook cannot be understood; the message names the sheet and row."""


@dataclass(frozen=True)
class Reject:
    """One published cell that could not be read as a number (it is not loaded)."""

    row_number: int  # the row in the sheet as Excel numbers it
    field: str  # sheet, cell and what it would have been, e.g. "Table 2!E17 nctr 2023-11-01"
    value: str | None
    reason: str


@dataclass(frozen=True)
class SitrepValue:
    """One published figure, keyed like a ``sitrep_value`` row."""

    sheet: str
    row: int  # Excel row number, for messages
    period_date: dt.date
    period_kind: str  # day | week | month
    level: str  # england | region | icb | trust | provider
    org_code: str
    org_name: str | None
    region_name: str | None
    measure: str
    pathway: str | None
    value: float | None  # None = not submitted ('-' or blank), never 0


@dataclass
class ParsedSitrep:
    feed: str
    edition: str
    period_start: dt.date  # first day the workbook covers (Cover Sheet "Period:")
    period_end: dt.date
    values: list[SitrepValue]
    rejects: list[Reject]
    notes: list[str]  # things worth knowing that are not errors (kept as published)
    cells_read: int  # values read, rejected ones included

    @property
    def month(self) -> dt.date:
        return self.period_start.replace(day=1)

    def series(self, measure: str, level: str = "england", org_code: str = ENGLAND_CODE) -> dict[dt.date, float | None]:
        """period_date -> value of one organisation's measure (what the benchmark plots)."""
        return {
            v.period_date: v.value for v in self.values
            if v.measure == measure and v.level == level and v.org_code == org_code
        }


@dataclass
class SitrepLoad:
    """What `load` did. A 'row' is one published figure (a cell), the unit the
    store keeps; rows_read counts rejected cells too."""

    rows_read: int
    rows_loaded: int
    rejects: list[Reject]
    problems: list[str]  # broken invariants: the run is 'partial'
    notes: list[str] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)


# --- cell helpers ----------------------------------------------------------

Row = tuple[object, ...]


def _norm(value: object) -> str:
    """Upper-case text with whitespace (incl. NBSP, narrow NBSP, newlines) collapsed."""
    if value is None:
        return ""
    text = str(value).replace("\u00a0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text).strip().upper()


def _clean(value: object) -> str | None:
    """A label as published, whitespace-tidied; None when empty."""
    if value is None:
        return None
    text = re.sub(r"\s+", " ", str(value).replace("\u00a0", " ").replace("\u202f", " ")).strip()
    return text or None


def _cell(row: Row, col: int) -> object:
    if col < 0 or col >= len(row):
        return None
    return row[col]


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _slug(text: str) -> str:
    """Lower snake case, cut at a word boundary: a stable measure name from a header."""
    s = re.sub(r"[^a-z0-9]+", "_", _norm(text).lower().replace("+", "plus")).strip("_")
    if len(s) > _SLUG_MAX:
        s = s[:_SLUG_MAX]
        s = s[: s.rfind("_")] if "_" in s else s
    return s


_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}


def _as_date(value: object) -> dt.date | None:
    """A header date: a datetime cell, an Excel serial, or text such as
    'w/c 30/10/2023 (daily snapshot)', '2023-11-01' or '1 November 2023' (UK day-first)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Excel serial day numbers for 2000..2100 (a header formatted as a number).
        if 36526 <= value <= 73051:
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(value))
        return None
    if not isinstance(value, str):
        return None
    text = _norm(value)
    m = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", text)
    if m:
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    m = re.search(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})\b", text)
    if m:
        year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
        return _safe_date(year, int(m[2]), int(m[1]))
    m = re.search(r"\b(\d{1,2})(?:ST|ND|RD|TH)?[ -]([A-Z]{3})[A-Z]*[ -](\d{2,4})\b", text)
    if m and m[2] in _MONTHS:
        year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
        return _safe_date(year, _MONTHS[m[2]], int(m[1]))
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _as_number(value: object) -> tuple[float | None, str | None]:
    """(value, reject reason). '-' and blanks are 'not submitted' (None), never 0;
    numbers stored as text are numbers."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "a true/false cell where a count is expected"
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.replace("\u00a0", " ").strip()
        if text in _MISSING_TEXT:
            return None, None
        try:
            number = float(text.replace(",", "").replace(" ", ""))
        except ValueError:
            return None, "not a number (expected a count, '-' or blank)"
    elif isinstance(value, (dt.date, dt.datetime, dt.time)):
        return None, "a date where a count is expected"
    else:
        return None, f"unexpected cell type {type(value).__name__}"
    if number != number or number in (float("inf"), float("-inf")):
        return None, "not a finite number"
    if number < 0:
        return None, "negative count"
    return number, None


# --- workbook --------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    rows: list[Row]

    def where(self, row_index: int, col: int | None = None) -> str:
        """'Table 2' row 17 (col E) — Excel numbering for people to find it."""
        if col is None:
            return f"sheet '{self.name}' row {row_index + 1}"
        return f"sheet '{self.name}' row {row_index + 1} column {get_column_letter(col + 1)}"


def _open(payload: bytes) -> openpyxl.Workbook:
    if not payload:
        raise UnreadableWorkbook("payload is empty, not an .xlsx workbook")
    try:
        # read_only streams the sheets (seconds → a fraction of a second);
        # data_only takes the cached values of formulas as NHS England saved them.
        return openpyxl.load_workbook(io.BytesIO(payload), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException, XML errors ...
        raise UnreadableWorkbook(f"payload is not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc


def _find_sheet(wb: openpyxl.Workbook, number: int | None = None, name: str | None = None) -> str | None:
    """The sheet called 'Table <n>' (or `name`), ignoring case and spacing, so that
    'Table 2 QA' or extra lookup sheets are never mistaken for it."""
    for title in wb.sheetnames:
        t = _norm(title)
        if number is not None and re.fullmatch(rf"TABLE ?{number}", t):
            return title
        if name is not None and t == _norm(name):
            return title
    return None


def _read_sheet(wb: openpyxl.Workbook, title: str) -> _Sheet:
    ws = wb[title]
    # The stored <dimension> is sometimes wrong in published files; forget it
    # and read every row that is really there.
    ws.reset_dimensions()
    try:
        rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
    except Exception as exc:
        raise UnreadableWorkbook(f"sheet '{title}' cannot be read ({type(exc).__name__}: {exc})") from exc
    return _Sheet(title, rows)


@dataclass(frozen=True)
class _Cover:
    title: str | None
    period_start: dt.date | None
    period_end: dt.date | None
    published: dt.date | None
    revised: dt.date | None
    status: str | None


def _read_cover(sheet: _Sheet) -> _Cover:
    fields: dict[str, tuple[int, list[object]]] = {}
    for i, row in enumerate(sheet.rows):
        cells = [v for v in row if not _is_blank(v)]
        for j, v in enumerate(cells):
            if isinstance(v, str) and _norm(v).endswith(":"):
                fields.setdefault(_norm(v).rstrip(":").strip(), (i, cells[j + 1:]))
                break
    title = _clean(fields["TITLE"][1][0]) if fields.get("TITLE", (0, []))[1] else None
    start = end = None
    if "PERIOD" in fields:
        i, rest = fields["PERIOD"]
        dates: list[dt.date] = []
        for v in rest:
            if isinstance(v, str):  # '1 November 2023 - 30 November 2023' in one cell
                dates += [d for d in (_as_date(p) for p in re.split(r"\s+(?:-|–|to)\s+", v)) if d]
            else:
                d = _as_date(v)
                if d:
                    dates.append(d)
        if len(dates) >= 2:
            start, end = dates[0], dates[-1]
        elif len(dates) == 1:
            start = dates[0]
        if start is None or (end is not None and end < start):
            raise UnreadableWorkbook(f"{sheet.where(i)}: 'Period:' {rest!r} is not a date range")

    def one_date(key: str) -> dt.date | None:
        rest = fields.get(key, (0, []))[1]
        return _as_date(rest[0]) if rest else None

    status = _clean(fields["STATUS"][1][0]) if fields.get("STATUS", (0, []))[1] else None
    return _Cover(title, start, end, one_date("PUBLISHED"), one_date("REVISED"), status)


# --- table bodies ----------------------------------------------------------


@dataclass(frozen=True)
class _OrgRow:
    index: int  # 0-based row in the sheet
    level: str
    code: str
    name: str | None
    region: str | None
    cells: Row


def _find_england_row(sheet: _Sheet) -> tuple[int, int]:
    """(row index, label column) of the ENGLAND row, e.g. 'ENGLAND (Type 1 Trusts)'."""
    for i, row in enumerate(sheet.rows):
        for c in range(min(len(row), _LABEL_COLUMNS)):
            if re.match(r"ENGLAND\b", _norm(row[c])):
                return i, c
    raise UnreadableWorkbook(
        f"sheet '{sheet.name}': no ENGLAND row found in its {len(sheet.rows)} rows "
        f"(looked in columns A-{get_column_letter(_LABEL_COLUMNS)})")


def _code_text(code: object) -> str:
    """An organisation code as text; councils' codes (e.g. 506) may be numeric cells."""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    return str(code).strip().upper()


def _has_values(row: Row, first_value_col: int) -> bool:
    return any(not _is_blank(v) for v in row[first_value_col:])


def _region_code(name: str, notes: list[str], where: str) -> str:
    key = _norm(name).replace("&", "AND")
    if key in REGION_CODES:
        return REGION_CODES[key]
    # A renamed or new region still loads under a readable stable code; say so.
    code = re.sub(r"[^A-Z0-9]+", "_", key).strip("_")
    notes.append(f"{where}: region '{name}' has no known Y-code; stored as '{code}'")
    return code


def _read_orgs(sheet: _Sheet, feed: str, notes: list[str]) -> tuple[int, list[_OrgRow]]:
    """The label column and every organisation row: England, the regions under it,
    then blocks headed 'Region | ICB Code | ICB Name' (ICBs) and
    'Region | Org Code | Org Name' (trusts / providers)."""
    eng_i, label = _find_england_row(sheet)
    first_value = label + 1
    eng_row = sheet.rows[eng_i]
    orgs = [_OrgRow(eng_i, "england", ENGLAND_CODE, _clean(eng_row[label]), None, eng_row)]
    block = "region"
    for i in range(eng_i + 1, len(sheet.rows)):
        row = sheet.rows[i]
        name, code, region = _cell(row, label), _cell(row, label - 1), _cell(row, label - 2)
        if _norm(region) == "REGION" and "CODE" in _norm(code):
            code_header = _norm(code)
            if any(w in code_header for w in ("ICB", "ICS", "STP")):
                block = "icb"
            elif any(w in code_header for w in ("ORG", "TRUST", "PROVIDER")):
                block = ORG_LEVEL[feed]
            else:
                raise UnreadableWorkbook(f"{sheet.where(i, label - 1)}: block header '{code}' is neither an ICB nor an organisation code")
            continue
        values = _has_values(row, first_value)
        if block == "region":
            if _is_blank(name) and _is_blank(code) and not values:
                continue
            if _is_blank(name) or not _is_blank(code):
                raise UnreadableWorkbook(
                    f"{sheet.where(i)}: expected a region row (name in column {get_column_letter(label + 1)}) "
                    f"or a 'Region, ... Code, ... Name' header, found {[v for v in row[:first_value + 1]]!r}")
            region_name = _clean(name) or ""
            orgs.append(_OrgRow(i, "region", _region_code(region_name, notes, sheet.where(i)), region_name, region_name, row))
            continue
        if _is_blank(code):
            if values:
                raise UnreadableWorkbook(f"{sheet.where(i)}: figures without an organisation code in column {get_column_letter(label)}")
            continue  # blank line or footnote under the table
        orgs.append(_OrgRow(i, block, _code_text(code), _clean(name), _clean(region), row))
    levels = {o.level for o in orgs}
    for needed in ("region", "icb", ORG_LEVEL[feed]):
        if needed not in levels:
            raise UnreadableWorkbook(
                f"sheet '{sheet.name}': no {needed} rows found below the ENGLAND row (row {eng_i + 1}); "
                "the 'Region, ... Code, ... Name' block headers may be missing")
    return label, orgs


def _header_row_above(sheet: _Sheet, below: int, first_value: int, accept: "re.Pattern[str]") -> int | None:
    """The nearest row above `below` with a cell right of the labels matching `accept`."""
    for i in range(below - 1, -1, -1):
        if any(accept.search(_norm(v)) for v in sheet.rows[i][first_value:] if isinstance(v, str)):
            return i
    return None


def _date_columns(sheet: _Sheet, row_index: int, first_value: int, last_col: int) -> dict[int, dt.date]:
    """Column -> the date heading it. A date heads its own column and those to its
    right up to the next date (the header cells are merged across a day's figures)."""
    row = sheet.rows[row_index]
    out: dict[int, dt.date] = {}
    current: dt.date | None = None
    for c in range(first_value, last_col + 1):
        v = _cell(row, c)
        if not _is_blank(v):
            d = _as_date(v)
            if d is None:
                raise UnreadableWorkbook(f"{sheet.where(row_index, c)}: date heading {v!r} is not a date")
            current = d
        if current is not None:
            out[c] = current
    return out


def _values_for(
    sheet: _Sheet, orgs: Sequence[_OrgRow], columns: dict[int, tuple[dt.date, str, str | None]],
    first_value: int, period_kind: str, rejects: list[Reject],
) -> tuple[list[SitrepValue], int]:
    out: list[SitrepValue] = []
    read = 0
    for org in orgs:
        for c in range(first_value, len(org.cells)):
            if c not in columns and not _is_blank(org.cells[c]):
                raise UnreadableWorkbook(f"{sheet.where(org.index, c)}: figure {org.cells[c]!r} under no column heading")
        for c, (period, measure, pathway) in columns.items():
            raw = _cell(org.cells, c)
            read += 1
            value, reason = _as_number(raw)
            if reason is not None:
                rejects.append(Reject(
                    row_number=org.index + 1,
                    field=f"{sheet.name}!{get_column_letter(c + 1)}{org.index + 1} {measure} {period.isoformat()}",
                    value=None if raw is None else str(raw)[:200],
                    reason=f"{org.level} {org.code}: {reason}",
                ))
                continue
            out.append(SitrepValue(
                sheet.name, org.index + 1, period, period_kind, org.level, org.code, org.name,
                org.region, measure, pathway, value,
            ))
    return out, read


def _day_measure(header: str) -> str | None:
    h = _norm(header)
    if "REMAINING" in h:
        return "remaining"
    if "DISCHARGED" in h:
        return "discharged"
    if "NO LONGER MEET" in h or "CRITERIA TO RESIDE" in h:
        return "nctr"
    return None


_NCTR_HEADER = re.compile(r"NO LONGER MEET|CRITERIA TO RESIDE")


def _read_table2(sheet: _Sheet, feed: str, rejects: list[Reject], notes: list[str]) -> list[SitrepValue]:
    label, orgs = _read_orgs(sheet, feed, notes)
    first_value = label + 1
    eng_i = orgs[0].index
    measure_i = _header_row_above(sheet, eng_i, first_value, _NCTR_HEADER)
    if measure_i is None:
        raise UnreadableWorkbook(
            f"sheet '{sheet.name}': no header row naming 'Number of patients who no longer meet the criteria to reside' "
            f"above the ENGLAND row (row {eng_i + 1})")
    date_i = next((i for i in range(measure_i - 1, -1, -1)
                   if any(_as_date(v) for v in sheet.rows[i][first_value:])), None)
    if date_i is None:
        raise UnreadableWorkbook(f"sheet '{sheet.name}': no row of dates above the measure header (row {measure_i + 1})")
    header = sheet.rows[measure_i]
    dates = _date_columns(sheet, date_i, first_value, len(header) - 1)
    columns: dict[int, tuple[dt.date, str, str | None]] = {}
    seen: dict[dt.date, list[str]] = defaultdict(list)
    for c in range(first_value, len(header)):
        if _is_blank(header[c]):
            continue
        measure = _day_measure(str(header[c]))
        if measure is None:
            raise UnreadableWorkbook(f"{sheet.where(measure_i, c)}: heading {str(header[c])[:80]!r} is not one of the three daily figures")
        if c not in dates:
            raise UnreadableWorkbook(f"{sheet.where(date_i, c)}: no date heads the column of {measure!r}")
        columns[c] = (dates[c], measure, None)
        seen[dates[c]].append(measure)
    for day, measures in seen.items():
        if sorted(measures) != sorted(DAY_MEASURES):
            raise UnreadableWorkbook(f"{sheet.where(date_i)}: {day.isoformat()} has columns {measures}, expected {list(DAY_MEASURES)} once each")
    values, _ = _values_for(sheet, orgs, columns, first_value, "day", rejects)
    return values


_WEEK_MEASURE = re.compile(r"(\d+) ?\+ ?DAYS")


def _read_table3(sheet: _Sheet, feed: str, rejects: list[Reject], notes: list[str]) -> list[SitrepValue]:
    label, orgs = _read_orgs(sheet, feed, notes)
    first_value = label + 1
    eng_i = orgs[0].index
    measure_i = _header_row_above(sheet, eng_i, first_value, re.compile(r"LENGTH OF STAY"))
    if measure_i is None:
        raise UnreadableWorkbook(f"sheet '{sheet.name}': no 'length of stay of N+ days' header row above the ENGLAND row (row {eng_i + 1})")
    week_i = next((i for i in range(measure_i - 1, -1, -1)
                   if any(_as_date(v) for v in sheet.rows[i][first_value:])), None)
    if week_i is None:
        raise UnreadableWorkbook(f"sheet '{sheet.name}': no 'w/c dd/mm/yyyy' week row above the header (row {measure_i + 1})")
    header = sheet.rows[measure_i]
    weeks = _date_columns(sheet, week_i, first_value, len(header) - 1)
    columns: dict[int, tuple[dt.date, str, str | None]] = {}
    for c in range(first_value, len(header)):
        if _is_blank(header[c]):
            continue
        m = _WEEK_MEASURE.search(_norm(header[c]))
        if m is None or c not in weeks:
            raise UnreadableWorkbook(f"{sheet.where(measure_i, c)}: heading {str(header[c])[:80]!r} is not 'length of stay of N+ days' under a week")
        columns[c] = (weeks[c], f"bed_days_{m[1]}plus", None)
    if len({(d, m) for d, m, _ in columns.values()}) != len(columns):
        raise UnreadableWorkbook(f"{sheet.where(measure_i)}: a week has the same length-of-stay column twice")
    values, _ = _values_for(sheet, orgs, columns, first_value, "week", rejects)
    return values


_PATHWAY = re.compile(r"^P(\d)(B?)\b")


def _read_monthly(sheet: _Sheet, feed: str, month: dt.date, prefix: str, with_pathway: bool,
                  rejects: list[Reject], notes: list[str]) -> list[SitrepValue]:
    """Table 4 (discharges by destination) and Table 5 (delay reasons): one column
    per category, one figure per organisation for the month."""
    label, orgs = _read_orgs(sheet, feed, notes)
    first_value = label + 1
    eng_i = orgs[0].index
    header_i = next((i for i in range(eng_i - 1, -1, -1)
                     if sum(isinstance(v, str) and not _is_blank(v) for v in sheet.rows[i][first_value:]) >= 2), None)
    if header_i is None:
        raise UnreadableWorkbook(f"sheet '{sheet.name}': no row of category headings above the ENGLAND row (row {eng_i + 1})")
    header = sheet.rows[header_i]
    columns: dict[int, tuple[dt.date, str, str | None]] = {}
    names: dict[str, int] = {}
    for c in range(first_value, len(header)):
        if _is_blank(header[c]):
            continue
        if not isinstance(header[c], str):
            raise UnreadableWorkbook(f"{sheet.where(header_i, c)}: category heading {header[c]!r} is not text")
        measure = f"{prefix}{_slug(header[c])}"
        if measure in names:
            raise UnreadableWorkbook(
                f"{sheet.where(header_i, c)}: heading {str(header[c])[:80]!r} gives the same measure {measure!r} "
                f"as column {get_column_letter(names[measure] + 1)}")
        names[measure] = c
        pathway: str | None = None
        if with_pathway:
            m = _PATHWAY.match(_norm(header[c]))
            pathway = f"P{m[1]}{m[2].lower()}" if m else "other"
        columns[c] = (month, measure, pathway)
    values, _ = _values_for(sheet, orgs, columns, first_value, "month", rejects)
    return values


# --- public interface ------------------------------------------------------


def parse(payload: bytes, feed: str) -> ParsedSitrep:
    """Read one monthly workbook. Raises UnreadableWorkbook when it cannot be understood."""
    if feed not in ORG_LEVEL:
        raise ValueError(f"unknown sitrep feed {feed!r}; expected one of {sorted(ORG_LEVEL)}")
    wb = _open(payload)
    try:
        return _parse_workbook(wb, payload, feed)
    finally:
        wb.close()  # read_only keeps the archive open until closed


def _parse_workbook(wb: openpyxl.Workbook, payload: bytes, feed: str) -> ParsedSitrep:
    notes: list[str] = []
    rejects: list[Reject] = []
    cover_title = _find_sheet(wb, name="Cover Sheet")
    cover = _read_cover(_read_sheet(wb, cover_title)) if cover_title else None
    if cover is None:
        notes.append("no 'Cover Sheet': edition and period taken from the file itself")
    elif cover.title and TITLE_WORD[feed] not in _norm(cover.title):
        raise UnreadableWorkbook(
            f"sheet '{cover_title}': title {cover.title!r} is not a {TITLE_WORD[feed].lower()} discharge sitrep (feed {feed})")

    t2_title = _find_sheet(wb, 2)
    if t2_title is None:
        raise UnreadableWorkbook(f"sheet 'Table 2' not found (sheets: {', '.join(wb.sheetnames)})")
    days = _read_table2(_read_sheet(wb, t2_title), feed, rejects, notes)
    day_dates = sorted({v.period_date for v in days})
    if not day_dates:
        raise UnreadableWorkbook(f"sheet '{t2_title}': no daily columns")

    start = cover.period_start if cover and cover.period_start else day_dates[0].replace(day=1)
    end = cover.period_end if cover and cover.period_end else day_dates[-1]
    outside = [d for d in day_dates if not start <= d <= end]
    if outside:
        raise UnreadableWorkbook(
            f"sheet '{t2_title}': dates {outside[0].isoformat()}.. lie outside the period {start}..{end} on the Cover Sheet")
    if start.replace(day=1) != end.replace(day=1):
        raise UnreadableWorkbook(f"sheet '{cover_title}': period {start}..{end} is not one calendar month")
    expected_days = (end - start).days + 1
    if len(day_dates) != expected_days:
        notes.append(f"sheet '{t2_title}': {len(day_dates)} of the {expected_days} days of {start}..{end} are published")
    _note_empty_days(days, t2_title, notes)

    values = list(days)
    t4_title = _find_sheet(wb, 4)
    if t4_title is None:
        raise UnreadableWorkbook(f"sheet 'Table 4' not found (sheets: {', '.join(wb.sheetnames)})")
    month = start.replace(day=1)
    values += _read_monthly(_read_sheet(wb, t4_title), feed, month, "discharges_", True, rejects, notes)
    t3_title = _find_sheet(wb, 3)
    if t3_title is not None:
        values += _read_table3(_read_sheet(wb, t3_title), feed, rejects, notes)
    else:
        notes.append("no 'Table 3' (bed days by length of stay); skipped")
    t5_title = _find_sheet(wb, 5)
    if t5_title is not None:
        # Table 5 is the month's average of the weekly snapshots, so it is monthly.
        values += _read_monthly(_read_sheet(wb, t5_title), feed, month, "delay_reason_", False, rejects, notes)
    else:
        notes.append("no 'Table 5' (delay reasons); skipped")

    values = _drop_duplicates(values, rejects, notes)
    return ParsedSitrep(
        feed=feed, edition=_edition(cover, start, payload), period_start=start, period_end=end,
        values=values, rejects=rejects, notes=notes, cells_read=len(values) + len(rejects),
    )


def _edition(cover: _Cover | None, start: dt.date, payload: bytes) -> str:
    """'2023-11 published 2023-12-14' (+ ' revised …'): tells a revised workbook
    from the first one; without a cover, the payload's hash identifies the file."""
    if cover is None or cover.published is None:
        return f"{start:%Y-%m} sha256:{hashlib.sha256(payload).hexdigest()[:12]}"
    label = f"{start:%Y-%m} published {cover.published.isoformat()}"
    if cover.revised is not None:
        label += f" revised {cover.revised.isoformat()}"
    return label


def _note_empty_days(days: Iterable[SitrepValue], sheet: str, notes: list[str]) -> None:
    """A day with no collection is published as zeros for England: keep it as
    published (that is what NHS England says) but tell the operator."""
    england: dict[dt.date, list[float | None]] = defaultdict(list)
    for v in days:
        if v.level == "england":
            england[v.period_date].append(v.value)
    for day in sorted(england):
        figures = england[day]
        if all(f == 0 for f in figures):
            notes.append(f"sheet '{sheet}': {day.isoformat()} is all zeros for England (no collection that day); kept as published")
        elif all(f is None for f in figures):
            notes.append(f"sheet '{sheet}': {day.isoformat()} has no England figures")


def _drop_duplicates(values: list[SitrepValue], rejects: list[Reject], notes: list[str]) -> list[SitrepValue]:
    """An organisation listed twice in one block would break the store's key: keep
    the first; a second copy with other figures is rejected, not guessed between."""
    first: dict[tuple[dt.date, str, str, str], SitrepValue] = {}
    out: list[SitrepValue] = []
    for v in values:
        key = (v.period_date, v.level, v.org_code, v.measure)
        kept = first.get(key)
        if kept is None:
            first[key] = v
            out.append(v)
        elif kept.value != v.value:
            rejects.append(Reject(v.row, f"{v.sheet} row {v.row} {v.measure} {v.period_date.isoformat()}",
                                  None if v.value is None else f"{v.value:g}",
                                  f"{v.level} {v.org_code} appears again (row {kept.row}) with a different figure"))
        else:
            notes.append(f"sheet '{v.sheet}' row {v.row}: {v.level} {v.org_code} repeats row {kept.row}; kept once")
    return out


# --- checks ----------------------------------------------------------------


def check_invariants(parsed: ParsedSitrep) -> list[str]:
    """The sums the published files keep; each broken one is a problem (run 'partial').

    What holds in every real workbook (checked on all of shared/data/nhse):
    - every row and day with all three figures: NCTR = discharged + remaining;
    - England = the sum of the 7 regions, every figure, exactly;
    - the sum of the ICBs = the sum of the trusts / providers, every figure, exactly;
    - England against the ICBs (and so the trusts) differs by the hospice
      discharges h = England.discharged - sum.discharged, which organisation rows
      leave out for disclosure (0..32 a day acute, 0..16 community):
      acute: NCTR matches exactly and the trusts count those patients as
      remaining (England.remaining = sum.remaining - h); community: 'remaining'
      matches exactly and NCTR carries the gap (England.nctr = sum.nctr + h).
      The spec's "England = sum of ICBs" holds only for acute NCTR.
    Sums skip '-' cells; a '-' in the total itself skips that comparison.
    """
    org_level = ORG_LEVEL[parsed.feed]
    day_values = [v for v in parsed.values if v.period_kind == "day"]
    by_org: dict[tuple[str, str, dt.date], dict[str, float | None]] = defaultdict(dict)
    sums: dict[tuple[str, dt.date, str], float] = defaultdict(float)
    england: dict[tuple[dt.date, str], float | None] = {}
    for v in day_values:
        by_org[(v.level, v.org_code, v.period_date)][v.measure] = v.value
        if v.level == "england":
            england[(v.period_date, v.measure)] = v.value
        elif v.value is not None:
            sums[(v.level, v.period_date, v.measure)] += v.value

    problems: list[str] = []
    broken: list[str] = []
    for (level, code, day), m in sorted(by_org.items()):
        n, d, r = m.get("nctr"), m.get("discharged"), m.get("remaining")
        if n is not None and d is not None and r is not None and abs(n - (d + r)) > _EPS:
            broken.append(f"{level} {code} {day.isoformat()}: nctr {n:g} != discharged {d:g} + remaining {r:g}")
    problems += _summarise("NCTR = discharged + remaining", broken)

    def equal_sums(rule: str, left: Callable[[dt.date, str], float | None], right_level: str) -> None:
        bad = []
        for (day, measure) in sorted(england):
            total = left(day, measure)
            if total is None:
                continue
            other = sums.get((right_level, day, measure), 0.0)
            if abs(total - other) > _EPS:
                bad.append(f"{day.isoformat()} {measure}: {total:g} vs {other:g}")
        problems.extend(_summarise(rule, bad))

    equal_sums("England = sum of regions", lambda d, m: england[(d, m)], "region")
    equal_sums(f"sum of ICBs = sum of {org_level} rows", lambda d, m: sums.get(("icb", d, m), 0.0), org_level)

    bad = []
    days = sorted({d for d, _ in england})
    for day in days:
        e = {m: england.get((day, m)) for m in DAY_MEASURES}
        if any(x is None for x in e.values()):
            continue
        s = {m: sums.get(("icb", day, m), 0.0) for m in DAY_MEASURES}
        hospice = e["discharged"] - s["discharged"]  # type: ignore[operator]  # no None in e (skipped above)
        if parsed.feed == ACUTE_SITREP_FEED:
            ok = abs(e["nctr"] - s["nctr"]) <= _EPS and abs(e["remaining"] - (s["remaining"] - hospice)) <= _EPS  # type: ignore[operator]  # as above
        else:
            ok = abs(e["remaining"] - s["remaining"]) <= _EPS and abs(e["nctr"] - (s["nctr"] + hospice)) <= _EPS  # type: ignore[operator]  # as above
        ok = ok and -_EPS <= hospice <= _HOSPICE_GAP_MAX
        if not ok:
            bad.append(f"{day.isoformat()}: England {[e[m] for m in DAY_MEASURES]} vs ICBs {[s[m] for m in DAY_MEASURES]}")
    rule = ("England = sum of ICBs, but for hospice discharges (0.."
            f"{_HOSPICE_GAP_MAX:g} a day; " + ("acute: NCTR exact, trusts count them as remaining)"
                                             if parsed.feed == ACUTE_SITREP_FEED else "community: remaining exact)"))
    problems += _summarise(rule, bad)
    return problems


def _summarise(rule: str, broken: list[str]) -> list[str]:
    if not broken:
        return []
    shown = "; ".join(broken[:_MAX_PROBLEMS_LISTED])
    more = f" (and {len(broken) - _MAX_PROBLEMS_LISTED} more)" if len(broken) > _MAX_PROBLEMS_LISTED else ""
    return [f"{rule} fails {len(broken)} time(s): {shown}{more}"]


# --- load ------------------------------------------------------------------

_STAGE = "stage_sitrep_value"
_COLUMNS = ("feed", "period_date", "period_kind", "level", "org_code", "org_name", "region_name",
            "measure", "pathway", "value", "edition", "run_id")


def _insert(conn: sa.Connection, parsed: ParsedSitrep, run_id: int) -> None:
    """Insert every value through the shared bulk path (Arrow scan on DuckDB, COPY
    on PostgreSQL): ~25,000 values a month take seconds as row INSERTs, not ms."""
    vs = parsed.values
    n = len(vs)
    table = pa.table({
        "feed": pa.array([parsed.feed] * n, pa.string()),
        "period_date": pa.array([v.period_date for v in vs], pa.date32()),
        "period_kind": pa.array([v.period_kind for v in vs], pa.string()),
        "level": pa.array([v.level for v in vs], pa.string()),
        "org_code": pa.array([v.org_code for v in vs], pa.string()),
        "org_name": pa.array([v.org_name for v in vs], pa.string()),
        "region_name": pa.array([v.region_name for v in vs], pa.string()),
        "measure": pa.array([v.measure for v in vs], pa.string()),
        "pathway": pa.array([v.pathway for v in vs], pa.string()),
        "value": pa.array([v.value for v in vs], pa.float64()),
        "edition": pa.array([parsed.edition] * n, pa.string()),
        "run_id": pa.array([run_id] * n, pa.int64()),
    })
    bulk.stage(conn, _STAGE, table)
    names = ", ".join(_COLUMNS)
    # The stage has no DATE type on PostgreSQL (COPY'd as text): cast on the way in.
    select = ", ".join("CAST(period_date AS DATE)" if c == "period_date" else c for c in _COLUMNS)
    conn.execute(sa.text(f"INSERT INTO sitrep_value ({names}) SELECT {select} FROM {_STAGE}"))
    bulk.drop_stage(conn, _STAGE)


def load(conn: sa.Connection, parsed: ParsedSitrep, run_id: int) -> SitrepLoad:
    """Replace the periods this workbook covers for its feed, inside the caller's
    transaction: the month's days, its weeks (Table 3 'w/c' dates) and its month
    row. A re-delivered or revised edition therefore never duplicates."""
    t = sitrep_value
    feed = parsed.feed
    weeks = sorted({v.period_date for v in parsed.values if v.period_kind == "week"})
    covered = sa.or_(
        sa.and_(t.c.period_kind == "day", t.c.period_date >= parsed.period_start, t.c.period_date <= parsed.period_end),
        sa.and_(t.c.period_kind == "month", t.c.period_date == parsed.month),
        sa.and_(t.c.period_kind == "week", t.c.period_date.in_(weeks)) if weeks else sa.false(),
    )
    conn.execute(t.delete().where(t.c.feed == feed, covered))
    _insert(conn, parsed, run_id)
    problems = check_invariants(parsed)
    # Check the load against the file: the covered periods now hold exactly what was read.
    stored = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.feed == feed, covered)).scalar_one()
    if stored != len(parsed.values):
        problems.append(f"store holds {stored} values for {parsed.month:%Y-%m} after the load, expected {len(parsed.values)}")
    return SitrepLoad(rows_read=parsed.cells_read, rows_loaded=len(parsed.values), rejects=list(parsed.rejects),
                      problems=problems, notes=list(parsed.notes))
