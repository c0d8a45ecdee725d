"""Issue 12's ingest reproductions, each as the test's data: large deliveries, broken rows,
NHS numbers on paths the masking used to miss, drop-folder settling, UTF-16 without a BOM."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ingest.base import record_failed, run_feed
from ingest.cli import run_ingest_command
from models import settings
from tests.fixtures.ingest.data import CASE_COLUMNS, VACANCY_COLUMNS, case_row, to_csv, vacancy_row, valid_nhs_numbers
from tests.fixtures.ingest.realistic import write_cases


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def settled(path: Path) -> Path:
    """Backdate a dropped file past the settle time, as if the hub finished writing it a minute ago."""
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


# --- 2: a large delivery with blanks and re-sent versions loads whole ---------------------

@pytest.mark.slow
def test_half_a_million_realistic_case_rows_load(duck_store: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "backload.csv"
    cases = write_cases(path, 500_000)
    assert path.stat().st_size > 16 << 20  # past one read block: the size that used to fail whole
    summary = run_feed(duck_store, "hub_cases", str(path))
    assert (summary.status, summary.rows_read, summary.rows_loaded, summary.rows_rejected) == \
        ("ok", 500_000, 500_000, 0), summary.error
    # Every fourth row is an earlier version of the next row's case: 125,000 re-sent versions.
    assert cases == 375_000
    assert rows(duck_store, "SELECT count(*), count(DISTINCT case_id) FROM hub_case_version") == [(500_000, 375_000)]
    assert rows(duck_store, "SELECT count(*) FROM hub_case") == [(375_000,)]
    # The latest state is the later version (updated on the 28th), blanks stored as missing.
    assert rows(duck_store, "SELECT count(*) FROM hub_case WHERE day(updated_at) <> 28") == [(0,)]
    # Case 6 (stage 0): still in hospital, no pathway yet; case 7 has no acute site (7 % 7 == 0).
    assert rows(duck_store, "SELECT pathway, discharged_at, acute_site_code, hub_id FROM hub_case "
                            "WHERE case_id IN ('C6', 'C7') ORDER BY case_id") == [
        (None, None, "RR801", "default"), (3, None, None, "default")]


# --- 3: a short or truncated row is one reject; the rest load ------------------------------

def test_truncated_last_line_is_one_reject(duck_store: sa.Engine, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    numbers = valid_nhs_numbers(20)
    good = to_csv([case_row(case_id=f"C{i}", nhs_number=n) for i, n in enumerate(numbers)], CASE_COLUMNS)
    truncated = good + b",C99,9434765919,82,E0800"  # the transfer stopped mid-row
    path = tmp_path / "cases.csv"
    path.write_bytes(truncated)
    code = run_ingest_command("hub_cases", str(path), as_json=True)
    out = json.loads(capsys.readouterr().out)
    assert code == 3
    assert (out["status"], out["rows_read"], out["rows_loaded"], out["rows_rejected"]) == ("partial", 21, 20, 1)
    assert rows(duck_store, "SELECT row_number, field, value, reason FROM reject") == [
        (21, "row", None, "the row has 5 columns, the header 20")]
    assert rows(duck_store, "SELECT count(*) FROM hub_case") == [(20,)]


def test_short_row_in_the_middle_keeps_the_row_numbers(duck_store: sa.Engine, tmp_path: Path) -> None:
    lines = to_csv([vacancy_row(service_id=f"S{i}") for i in range(4)], VACANCY_COLUMNS).split(b"\n")
    lines.insert(3, b"S9,Oak House,7")  # a short row between data rows 2 and 3
    path = tmp_path / "v.csv"
    path.write_bytes(b"\n".join(lines))
    summary = run_feed(duck_store, "vacancy", str(path))
    assert (summary.status, summary.rows_read, summary.rows_loaded) == ("partial", 5, 4)
    assert rows(duck_store, "SELECT row_number, reason FROM reject") == [(3, "the row has 3 columns, the header 10")]
    assert rows(duck_store, "SELECT service_id FROM service ORDER BY service_id") == [("S0",), ("S1",), ("S2",), ("S3",)]


# --- 8: UTF-16 without a byte-order mark -------------------------------------------------

def test_utf16_without_bom_says_not_utf8(duck_store: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(to_csv([vacancy_row()], VACANCY_COLUMNS).decode().encode("utf-16-le"))
    summary = run_feed(duck_store, "vacancy", str(path))
    assert summary.status == "failed"
    assert summary.error == "the delivery is not UTF-8 text (it looks like UTF-16 or UTF-32); send UTF-8"


# --- 4: no clear NHS number reaches disk ------------------------------------------------

NUMBER = "9434765919"  # valid (tests/fixtures/ingest/data.py works it by hand)
FORMS = ("9434765919", "943 476 5919", "943-476-5919", "943.476.5919")


def _written_anywhere(tmp_path: Path, engine: sa.Engine) -> list[str]:
    """Which forms of NUMBER appear, in UTF-8 or UTF-16, in any file written under tmp_path
    (data folder with raw copies, the store file, its WAL) outside the drop folder."""
    engine.dispose()
    found = []
    for path in tmp_path.rglob("*"):
        if path.is_file() and "drop" not in path.parts and path.name != "c.csv":  # c.csv: the hub's own file
            blob = path.read_bytes()
            for form in FORMS:
                for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                    if form.encode(encoding) in blob:
                        found.append(f"{path.name}: {form} ({encoding})")
    return found


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_delivery_keeps_no_clear_number(duck_store: sa.Engine, tmp_path: Path, encoding: str) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    text = to_csv([case_row(nhs_number=form, case_id=f"C{i}") for i, form in enumerate(FORMS)], CASE_COLUMNS).decode()
    (drop / "cases.csv").write_bytes(text.encode(encoding))
    settled(drop / "cases.csv")
    summary = run_feed(duck_store, "hub_cases", str(drop))
    assert summary.status == "failed"
    kept = list((settings.data_dir() / "raw" / "hub_cases").rglob("*.bin"))
    assert len(kept) == 1
    assert b"943*******" in kept[0].read_bytes()  # decoded, masked and kept as UTF-8
    assert _written_anywhere(tmp_path, duck_store) == []


def test_extra_column_and_case_id_holding_a_number(duck_store: sa.Engine, tmp_path: Path) -> None:
    columns = (*CASE_COLUMNS, "notes")
    payload = to_csv([case_row(case_id="C1", nhs_number=valid_nhs_numbers(1)[0], notes=f"patient {FORMS[2]}"),
                      case_row(case_id="943 476 5919", nhs_number=valid_nhs_numbers(2)[1])], columns)
    path = tmp_path / "c.csv"
    path.write_bytes(payload)
    summary = run_feed(duck_store, "hub_cases", str(path))
    assert (summary.status, summary.rows_loaded, summary.rows_rejected) == ("partial", 1, 1)
    assert rows(duck_store, "SELECT row_number, field, value, reason FROM reject") == [
        (2, "case_id", "943*******", "case_id is an NHS number; send the case's own identifier")]
    kept = next((settings.data_dir() / "raw" / "hub_cases").rglob("*.csv")).read_text()
    assert kept.splitlines()[0].split(",")[:2] == ['"hub_id"', '"case_id"'] and "notes" not in kept
    assert _written_anywhere(tmp_path, duck_store) == []


@pytest.mark.parametrize("form", ["999.294.2231", "999-294-2231", "999 294 2231", "9992942231"])
def test_unreadable_payload_masks_every_form(duck_store: sa.Engine, tmp_path: Path, form: str) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b'[{"case_id": "C1", "nhs_number": "' + form.encode() + b'", "age": ')  # cut off
    summary = run_feed(duck_store, "hub_cases", str(path))
    assert summary.status == "failed"
    kept = next((settings.data_dir() / "raw" / "hub_cases").rglob("*.bin")).read_bytes()
    assert form.encode() not in kept and b"999*******" in kept


def test_number_in_an_error_never_reaches_the_run_log(duck_store: sa.Engine, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # A file name is quoted in the run log's error; a valid number written with odd spacing in it.
    missing = tmp_path / "94 34 76 59 19.csv"
    summary = record_failed(duck_store, "hub_cases", str(missing), f"no such file: {missing}")
    assert "94 34 76 59 19" not in (summary.error or "") and "94 *******" in (summary.error or "")
    assert "76 59 19" not in caplog.text
    assert rows(duck_store, "SELECT count(*) FROM ingest_run WHERE error LIKE '%76 59 19%'") == [(0,)]


# --- 6: drop folders take only settled files ---------------------------------------------

def test_drop_folder_waits_for_a_file_to_settle(duck_store: sa.Engine, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEWARD_SETTLE_SECONDS", "30")
    drop = tmp_path / "drop"
    drop.mkdir()
    whole = to_csv([vacancy_row(service_id=f"S{i}") for i in range(3)], VACANCY_COLUMNS)
    (drop / "v.csv").write_bytes(whole[:-30])  # still being copied in
    (drop / "w.csv.tmp").write_bytes(whole)
    settled(drop / "w.csv.tmp")
    first = run_feed(duck_store, "vacancy", str(drop))
    assert (first.status, first.parts) == ("unchanged", [])
    (drop / "v.csv").write_bytes(whole)
    settled(drop / "v.csv")
    second = run_feed(duck_store, "vacancy", str(drop))
    assert (second.status, second.rows_loaded) == ("ok", 3)
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == ["w.csv.tmp"]


def test_failed_file_that_changes_is_tried_again(duck_store: sa.Engine, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "v.csv").write_bytes(b"service_id\n")
    settled(drop / "v.csv")
    assert run_feed(duck_store, "vacancy", str(drop)).status == "failed"  # required columns missing
    failed = drop / "failed" / "v.csv"
    assert failed.exists()
    assert run_feed(duck_store, "vacancy", str(drop)).parts == []  # unchanged: not tried again
    failed.write_bytes(to_csv([vacancy_row()], VACANCY_COLUMNS))  # the hub finished writing it
    settled(failed)
    again = run_feed(duck_store, "vacancy", str(drop))
    assert (again.status, again.rows_loaded) == ("ok", 1)
    assert (drop / "processed" / "v.csv").exists() and not failed.exists()


# --- 5 (CLI half): the store held by the running server ----------------------------------

def test_ingest_while_the_server_holds_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    store = tmp_path / "held.duckdb"
    env = {**os.environ, "HOMEWARD_DB_URL": f"duckdb:///{store}", "HOMEWARD_DATA_DIR": str(tmp_path / "data")}
    holder = subprocess.Popen(  # stands in for `app.py serve`: a process with the DuckDB file open
        [sys.executable, "-c", f"import duckdb, sys, time; held = duckdb.connect({str(store)!r}); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        delivery = tmp_path / "v.csv"
        delivery.write_bytes(to_csv([vacancy_row()], VACANCY_COLUMNS))
        done = subprocess.run([sys.executable, "app.py", "ingest", "vacancy", str(delivery), "--json"], cwd=root,
                              env=env, capture_output=True, text=True, timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    assert done.stdout == ""
    # progress says which stage it reached ("ingest: opening the store"); then the one line, no traceback
    assert [line for line in done.stderr.strip().splitlines() if not line.startswith("ingest: ")] == [
        "the store is in use by the running server; deliver with POST /api/ingest/vacancy instead"]


@pytest.mark.parametrize("payload", [
    to_csv([case_row()], CASE_COLUMNS),  # a hub's cases sent to the vacancy feed: unreadable there
    to_csv([vacancy_row(service_name="Elm 943-476-5919")], VACANCY_COLUMNS),  # readable, a number in a name
], ids=["cases-file", "number-in-a-name"])
def test_vacancy_raw_copy_keeps_no_clear_number(duck_store: sa.Engine, tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(payload)
    run_feed(duck_store, "vacancy", str(path))
    kept = next((settings.data_dir() / "raw" / "vacancy").rglob("*.*")).read_bytes()
    assert b"943*******" in kept and not [f for f in FORMS if f.encode() in kept]


def test_a_cqc_location_id_is_not_taken_for_an_nhs_number(duck_store: sa.Engine, tmp_path: Path) -> None:
    """CQC location IDs (1-100000003: ten digits, passing Modulus 11) are services, not people: the case loads.
    The same digits written as an NHS number is (943 476 5919, 9434765919) are still refused."""
    payload = to_csv([case_row(case_id="C1", nhs_number=valid_nhs_numbers(1)[0], destination_service_id="1-100000003"),
                      case_row(case_id="C2", nhs_number=valid_nhs_numbers(2)[1], destination_service_id="9434765919")],
                     CASE_COLUMNS)
    path = tmp_path / "c.csv"
    path.write_bytes(payload)
    summary = run_feed(duck_store, "hub_cases", str(path))
    assert (summary.status, summary.rows_loaded, summary.rows_rejected) == ("partial", 1, 1)
    assert rows(duck_store, "SELECT row_number, field FROM reject") == [(2, "destination_service_id")]
    assert rows(duck_store, "SELECT destination_service_id FROM hub_case") == [("1-100000003",)]
