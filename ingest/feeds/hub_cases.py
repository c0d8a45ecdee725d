"""`hub_cases`: care transfer hub cases, the current state of each case, re-sent on change (feeds.md §2).

The NHS number is checked (Modulus 11) and replaced by its keyed pseudonym
while the delivery is read, so the clear number never reaches the checks'
database, the kept raw copy, the store, the rejects or the logs.

Natural key (hub_id, case_id). Every version is kept in hub_case_version
(key hub_id, case_id, updated_at); hub_case holds the version with the latest
updated_at, so an older version delivered late never overwrites a newer one.
The loader keeps both keys itself (no unique index on DuckDB: see models.tables).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ingest import bulk
from ingest.checks import Check, Field, Validation, order_check, rows_among, sql_str
from ingest.feed import FeedContext, Kept, LoadResult
from ingest.feeds.geography_lookup import hwb_codes
from ingest.feeds.vacancy import require_columns
from ingest.formats import KEPT_BLOCK_ROWS, Tabular, delivery_chunks, read_delivery
from ingest.pseudonym import (
    Pseudonymiser,
    holds_nhs_number,
    is_valid_nhs_number,
    mask,
    normalise,
    scrub_bytes,
    scrub_column,
    valid_check_digits,
)
from models.dialects import london_date
from models.tables import CASE_DATES
from models.vocab import DELAY_REASONS, HUB_CASES_FEED, IC_OUTCOMES, STATUS_91D

DEFAULT_HUB_ID = "default"

TIME_FIELDS: tuple[str, ...] = ("admitted_at", "referred_at", "discharge_ready_at", "pathway_decided_at",
                                "discharged_at", "ic_started_at", "ic_ended_at", "readmitted_at", "updated_at")

FIELDS: tuple[Field, ...] = (
    Field("hub_id", default=sql_str(DEFAULT_HUB_ID)),
    Field("case_id", required=True),
    Field("age", "int", required=True, minimum=18, maximum=120),
    Field("hwb_code", "code", required=True),
    Field("acute_site_code", "code"),
    Field("admitted_at", "time"),
    Field("referred_at", "time", required=True),
    Field("discharge_ready_at", "time"),
    Field("pathway", "int", minimum=0, maximum=3),
    Field("pathway_decided_at", "time"),
    Field("delay_reason", "enum", values=DELAY_REASONS),
    Field("discharged_at", "time"),
    Field("destination_service_id"),
    Field("ic_started_at", "time"),
    Field("ic_ended_at", "time"),
    Field("ic_outcome", "enum", values=IC_OUTCOMES),
    Field("readmitted_at", "time"),
    Field("status_91d", "enum", values=STATUS_91D),
    Field("updated_at", "time", required=True),
)
ID_FIELDS = ("hub_id", "case_id", "destination_service_id")  # free-text identifiers: never an NHS number
REQUIRED_COLUMNS = ("case_id", "nhs_number", "age", "hwb_code", "referred_at", "updated_at")
CASE_COLUMNS = ("hub_id", "case_id", "person_id", "age", "hwb_code", "acute_site_code", "admitted_at", "referred_at",
                "discharge_ready_at", "pathway", "pathway_decided_at", "delay_reason", "discharged_at",
                "destination_service_id", "ic_started_at", "ic_ended_at", "ic_outcome", "readmitted_at",
                "status_91d", "updated_at")


_TEN_DIGITS = "must be 10 digits"
_CHECK_DIGIT = "fails the Modulus 11 check digit test"
_PROBLEMS = pa.array([f"nhs_number {_TEN_DIGITS}", f"nhs_number {_CHECK_DIGIT}"], pa.string())
_POWERS = 10 ** np.arange(9, -1, -1, dtype=np.int64)  # a ten-digit number's place values


def _one_nhs_number(raw: str) -> tuple[str | None, int, str | None]:
    """(normalised digits if valid, problem code or -1, masked value) for one number, the slow way."""
    digits = normalise(raw.strip())
    if len(digits) != 10 or not digits.isdigit() or not digits.isascii():
        return None, 0, mask(digits)
    if not is_valid_nhs_number(digits):
        return None, 1, mask(digits)
    return digits, -1, None


def _nhs_numbers(raw: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array, bytes]:
    """(person_no, problem, masked) per row from the clear NHS numbers, and the distinct valid numbers
    (ten ASCII digits each, back to back) that person_no counts into.

    Numbers written as ten digits (spaces and hyphens allowed) are checked with
    Modulus 11 in numpy, each distinct number once; anything else goes through
    the same rules one value at a time."""
    n = len(raw)
    original = raw
    for separator in (" ", "-"):
        if pc.any(pc.greater_equal(pc.find_substring(raw, separator), 0)).as_py():
            raw = pc.replace_substring(raw, separator, "")
    # Exactly ten ASCII digits (cheaper than a regular expression over a million values).
    fast = pc.fill_null(pc.and_(pc.equal(pc.binary_length(raw), 10), pc.ascii_is_decimal(raw)), False)
    fast_rows = np.flatnonzero(fast.to_numpy(zero_copy_only=False))
    numbers = raw.filter(fast).cast(pa.binary())
    offsets = np.frombuffer(numbers.buffers()[1], dtype=np.int32)[numbers.offset:numbers.offset + len(numbers) + 1]
    data = np.frombuffer(numbers.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]] if len(numbers) else \
        np.zeros(0, dtype=np.uint8)
    good = valid_check_digits(data.reshape(-1, 10))

    person_index = np.full(n, -1, dtype=np.int64)  # into the distinct numbers
    problem = np.full(n, -1, dtype=np.int64)  # into _PROBLEMS
    masked_index = np.full(n, -1, dtype=np.int64)  # into `masked_values`
    # Distinct numbers found as integers (cheaper than as ten-byte strings), written back as digits.
    as_int = (data.reshape(-1, 10)[good].astype(np.int64) - 48) @ _POWERS
    encoded = pc.dictionary_encode(pa.array(as_int))
    distinct = encoded.dictionary.to_numpy()
    number_parts = [(distinct[:, None] // _POWERS % 10 + 48).astype(np.uint8).tobytes()]
    del as_int, distinct
    person_index[fast_rows[good]] = encoded.indices.to_numpy()
    bad_rows = fast_rows[~good]
    problem[bad_rows] = 1
    masked_parts = [pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(numbers.cast(pa.string()).filter(pa.array(~good)), 0, 3), "*******", "")]
    masked_index[bad_rows] = np.arange(len(bad_rows))

    # The rest (not ten digits after removing spaces and hyphens), one at a time: few in practice.
    slow = pc.and_(pc.invert(fast), pc.is_valid(raw)).to_numpy(zero_copy_only=False)
    slow_rows = np.flatnonzero(slow)
    if len(slow_rows):
        extra_masked: list[str | None] = []
        next_id, next_mask = len(encoded.dictionary), len(bad_rows)
        for row, value in zip(slow_rows, original.filter(pa.array(slow)).to_pylist()):
            number, code, masked = _one_nhs_number(value)
            if number is not None:
                number_parts.append(number.encode("ascii"))
                person_index[row] = next_id
                next_id += 1
            else:
                problem[row] = code
                extra_masked.append(masked)
                masked_index[row] = next_mask
                next_mask += 1
        masked_parts.append(pa.array(extra_masked, pa.string()))

    def spread(values: pa.Array, index: np.ndarray) -> pa.Array:
        return values.take(pa.array(index, mask=index < 0))

    person_no = pa.array(person_index, mask=person_index < 0)
    return person_no, spread(_PROBLEMS, problem), spread(pa.concat_arrays(masked_parts), masked_index), \
        b"".join(number_parts)


def _nhs_columns(raw: pa.Array, pseudonymiser: Pseudonymiser) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(person_id, problem, masked) per row, from the clear NHS numbers (each distinct one hashed once)."""
    person_no, problem, masked, numbers = _nhs_numbers(raw)
    return pseudonymiser.pseudonym_digits(numbers).take(person_no), problem, masked


class Pseudonyms:
    """A delivery's pseudonyms, worked out on a thread of their own while the delivery is checked:
    hashing holds the GIL, the checks are DuckDB's and Arrow's work, which does not, so on two cores
    they overlap. The rows carry `person_no`, a number into the delivery's distinct NHS numbers."""

    def __init__(self, numbers: bytes, pseudonymiser: Pseudonymiser) -> None:
        pool = ThreadPoolExecutor(1, thread_name_prefix="pseudonyms")
        self._hexes = pool.submit(pseudonymiser.pseudonym_digits, numbers)
        pool.shutdown(wait=False)  # the thread ends with its one task

    def of(self, person_no: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        """The pseudonym of each person_no (null where it is null)."""
        return self._hexes.result().take(person_no)


@dataclass(frozen=True)
class CaseDelivery(Tabular):
    """A parsed delivery of cases: no NHS number in `table`, only `person_no` into `pseudonyms`."""
    pseudonyms: Pseudonyms | None = None


class HubCasesFeed:
    name = HUB_CASES_FEED

    def parse(self, payload: bytes, ctx: FeedContext) -> CaseDelivery:
        parsed = read_delivery(payload)
        require_columns(parsed, REQUIRED_COLUMNS)
        table = parsed.table
        person_no, problems, masked, numbers = _nhs_numbers(table.column("nhs_number").combine_chunks())
        pseudonyms = Pseudonyms(numbers, Pseudonymiser())
        del numbers
        index = table.column_names.index("nhs_number")
        table = table.remove_column(index)
        table = table.append_column("person_no", person_no)
        table = table.append_column("nhs_problem", problems)
        table = table.append_column("nhs_masked", masked)
        # An identifier that is itself an NHS number would reach the store in clear: its row is rejected.
        for name in ID_FIELDS:
            found = (holds_nhs_number(table.column(name), written=True) if name in table.column_names
                     else np.zeros(0, bool))
            table = table.append_column(f"nhs_in_{name}", pa.array(found) if found.any()
                                        else pa.nulls(table.num_rows, pa.bool_()))
        return CaseDelivery(table=table, format=parsed.format, broken=parsed.broken, pseudonyms=pseudonyms)

    def kept_copy(self, payload: bytes, parsed: Any | None) -> tuple[Kept, str, bool]:
        if not isinstance(parsed, CaseDelivery) or parsed.pseudonyms is None:
            # Unreadable: we cannot tell which digits are NHS numbers, so every ten-digit run is masked.
            return scrub_bytes(payload), "bin", True
        return _kept_blocks(parsed, parsed.pseudonyms), parsed.format, True

    def load(self, conn: Connection, parsed: CaseDelivery, run_id: int, ctx: FeedContext) -> LoadResult:
        good, rejects, rows_read, rows_rejected = validate(conn, parsed, ctx)
        del parsed  # the delivery's text columns: only the checked rows are needed now
        if good.num_rows:
            good = _make_room(conn, good)
            # Each version appears once by now, and each case at most once among the newest, and the
            # stored rows they replace are gone: the slices are plain appends that never meet.
            with bulk.one_writer_thread(conn):
                for part in bulk.slices(good):
                    with bulk.staged(conn, "stage_case", part):
                        _append(conn, run_id)
        return LoadResult(rows_read=rows_read, rows_loaded=rows_read - rows_rejected,
                          rows_rejected=rows_rejected, rejects=rejects)


def _kept_blocks(parsed: CaseDelivery, pseudonyms: Pseudonyms) -> Iterator[bytes]:
    """The kept copy, made as it is written (nothing is done until the first block is asked for).

    Only the feed's own columns are kept (an unknown one could hold anything), each masked where
    it holds an NHS-number-like run (a case_id that is a number, say), and the person_id: the
    pseudonym, or the masked value where the number was invalid."""
    table = parsed.table
    known = [f.name for f in FIELDS if f.name in table.column_names]
    kept = pa.table({name: scrub_column(table.column(name)) for name in known})
    person_no, masked = table.column("person_no"), table.column("nhs_masked")
    for first in range(0, max(kept.num_rows, 1), KEPT_BLOCK_ROWS):
        ids = pc.coalesce(pseudonyms.of(person_no.slice(first, KEPT_BLOCK_ROWS)), masked.slice(first, KEPT_BLOCK_ROWS))
        block = kept.slice(first, KEPT_BLOCK_ROWS).append_column("person_id", ids)
        yield from delivery_chunks(block, parsed.format, header=first == 0)


def validate(conn: Connection, parsed: CaseDelivery, ctx: FeedContext) -> tuple[pa.Table, pa.Table, int, int]:
    hub_default = sql_str(ctx.hub_id or DEFAULT_HUB_ID)
    fields = tuple(replace(f, default=hub_default) if f.name == "hub_id" else f for f in FIELDS)
    v = Validation(fields, ctx.fetched_at)
    try:
        geo = hwb_codes(conn)
        v.type_rows(parsed.table, broken=parsed.broken, extra_columns=(
            "person_no", "nhs_problem", "nhs_masked", *(f"nhs_in_{name}" for name in ID_FIELDS)))
        v.add_mapped("stored_hwb", "hwb_code", geo.column("code").combine_chunks(),
                     geo.column("hwb_code").combine_chunks())
        checks = v.field_checks() + [
            Check("nhs_number", "person_no IS NULL AND nhs_problem IS NULL",
                  sql_str("nhs_number is required but empty"), "NULL", 0),
            Check("nhs_number", "nhs_problem IS NOT NULL", "nhs_problem", "nhs_masked", 1),
            Check("hwb_code", "hwb_code IS NOT NULL AND stored_hwb IS NULL",
                  "'hwb_code ''' || t_hwb_code || ''' is not an upper-tier local authority (health and wellbeing board) "
                  "in the reference geography'", "t_hwb_code", 2),
            Check("acute_site_code", "acute_site_code IS NOT NULL AND NOT regexp_full_match(acute_site_code, '[A-Z0-9]{3,9}')",
                  "'acute_site_code ''' || t_acute_site_code || ''' is not an ODS code'", "t_acute_site_code", 1),
            *(Check(name, f"nhs_in_{name}", sql_str(f"{name} is an NHS number; send the case's own identifier"),
                    f"left(t_{name}, 3) || '*******'", 0) for name in ID_FIELDS),
            order_check("referred_at", "pathway_decided_at"),
            order_check("discharge_ready_at", "discharged_at"),
            order_check("discharged_at", "ic_started_at"),
            order_check("ic_started_at", "ic_ended_at"),
            order_check("discharged_at", "readmitted_at"),
        ]
        v.run_checks(checks)
        columns = {c: c for c in CASE_COLUMNS} | {"hwb_code": "stored_hwb", "person_id": "person_no"}
        # The same version twice in one delivery: the later row wins.
        result = v.finish(columns, key=("hub_id", "case_id", "updated_at"), sub_key=("hub_id", "case_id"))
        good = _mark_newest(v, result.good, every_case_once=result.sub_key_unique)
        assert parsed.pseudonyms is not None  # made by parse
        person = good.schema.get_field_index("person_id")
        good = good.set_column(person, "person_id", parsed.pseudonyms.of(good.column(person)))
        return good, result.rejects, result.rows_read, result.rows_rejected
    finally:
        v.close()


def _mark_newest(v: Validation, good: pa.Table, every_case_once: bool) -> pa.Table:
    """Add `is_newest`: the row is the newest version of its case in this delivery.

    Versions are unique per (hub_id, case_id, updated_at) by now, so the newest is the one
    with the greatest updated_at; when no case appears twice, every row is."""
    if not good.num_rows or every_case_once:
        return good.append_column("is_newest", pa.array(np.ones(good.num_rows, dtype=bool)))
    v.db.register("versions", good)
    try:
        rows = v.db.execute("SELECT arg_max(row_no, updated_at) FROM versions GROUP BY hub_id, case_id"
                            ).fetch_arrow_table().column(0)
    finally:
        v.db.unregister("versions")
    return good.append_column("is_newest", pa.array(rows_among(good.column("row_no"), rows)))


def _make_room(conn: Connection, good: pa.Table) -> pa.Table:
    """Delete the stored rows this delivery replaces, and add `to_latest` to `good`.

    The natural keys are kept here rather than by a unique index (see models.tables), with
    hash joins on the delivery's keys, once for the whole delivery:
    - history: a re-sent version (same hub_id, case_id, updated_at) is a correction and
      replaces the stored one, so the stored one is deleted;
    - latest state: the delivery's newest version of a case replaces the stored one unless the
      stored one is newer (a stored version with the same updated_at is replaced, as in the
      history). A delivered version older than the stored state goes into the history only,
      so `to_latest` is `is_newest` without those rows.
    All of it runs in the load's one transaction with the appends that follow."""
    keys = good.select(["hub_id", "case_id", "updated_at", "is_newest", "row_no"])
    with bulk.staged(conn, "stage_case_key", keys):
        conn.execute(sa.text("""
            DELETE FROM hub_case_version USING stage_case_key k
            WHERE hub_case_version.hub_id = k.hub_id AND hub_case_version.case_id = k.case_id
              AND hub_case_version.updated_at = k.updated_at
        """))
        older = [r[0] for r in conn.execute(sa.text("""
            SELECT k.row_no FROM stage_case_key k JOIN hub_case c ON c.hub_id = k.hub_id AND c.case_id = k.case_id
            WHERE k.is_newest AND c.updated_at > k.updated_at
        """))]
        conn.execute(sa.text("""
            DELETE FROM hub_case USING stage_case_key k
            WHERE k.is_newest AND hub_case.hub_id = k.hub_id AND hub_case.case_id = k.case_id
              AND hub_case.updated_at <= k.updated_at
        """))
    to_latest = good.column("is_newest")
    if older:
        stale = pc.is_in(good.column("row_no"), value_set=pa.array(older, pa.int64()))
        to_latest = pc.and_(to_latest, pc.invert(stale))
    return good.append_column("to_latest", to_latest)


def _append(conn: Connection, run_id: int) -> None:
    """Append the staged slice: every version to the history, the latest state where `to_latest`."""
    columns = ", ".join(CASE_COLUMNS)
    params = {"run_id": run_id}
    conn.execute(sa.text(f"""
        INSERT INTO hub_case_version ({columns}, run_id) SELECT {columns}, :run_id FROM stage_case
    """), params)
    # with each event's London date (models.tables.CASE_DATES), worked out once here rather than on every read
    dates = ", ".join(CASE_DATES.values())
    days = ", ".join(str(london_date(sa.column(time, sa.DateTime)).compile(dialect=conn.dialect)) for time in CASE_DATES)
    conn.execute(sa.text(f"""
        INSERT INTO hub_case ({columns}, run_id, {dates}) SELECT {columns}, :run_id, {days} FROM stage_case WHERE to_latest
    """), params)


FEED = HubCasesFeed()
