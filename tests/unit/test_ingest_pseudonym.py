"""NHS number checks, pseudonyms, masking and the generated key."""
from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from ingest.formats import UnreadableDelivery, read_delivery
from ingest.pseudonym import Pseudonymiser, is_valid_nhs_number, load_key, mask, scrub, with_check_digit


def test_modulus_11_hand_checked() -> None:
    assert is_valid_nhs_number("9434765919") and is_valid_nhs_number("943 476 5919")
    assert is_valid_nhs_number("4010232137")
    assert not is_valid_nhs_number("9434765918")  # check digit should be 9
    assert not is_valid_nhs_number("943476591")
    # 1000000010? weights: 1*10 + 1*2 = 12; 12 mod 11 = 1; 11-1 = 10 -> no valid check digit
    assert with_check_digit("100000001") is None
    assert with_check_digit("943476591") == "9434765919"


def test_pseudonym_is_keyed_hmac_sha256_of_the_digits() -> None:
    p = Pseudonymiser(b"k")
    assert p.pseudonym("943 476 5919") == hmac.new(b"k", b"9434765919", hashlib.sha256).hexdigest()
    assert p.pseudonym("9434765919") != Pseudonymiser(b"other").pseudonym("9434765919")


def test_mask_and_scrub() -> None:
    assert mask("9434765919") == "943*******"
    assert scrub("row 4: 9434765919 and 943 476 5919, id 12345") == "row 4: 943******* and 943*******, id 12345"


def test_key_generated_once_with_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOMEWARD_PSEUDO_KEY")
    first = load_key()
    path = tmp_path / "data" / "pseudo.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key() == first and len(first) == 64


def test_formats_bom_case_and_whitespace_in_names() -> None:
    table = read_delivery(b"\xef\xbb\xbf Service_ID ,CAPACITY\n1-100, 3\n").table
    assert table.column_names == ["service_id", "capacity"]
    assert table.to_pylist() == [{"service_id": "1-100", "capacity": " 3"}]
    ndjson = read_delivery(b'{"A": 1}\n{"a": 2.0, "b": null}\n').table
    assert ndjson.to_pylist() == [{"a": "1", "b": None}, {"a": "2", "b": None}]
    with pytest.raises(UnreadableDelivery, match="appears more than once"):
        read_delivery(b"a,A\n1,2\n")


def test_vectorised_nhs_columns_agree_with_the_one_at_a_time_rules() -> None:
    import pyarrow as pa

    from ingest.feeds.hub_cases import _nhs_columns, _one_nhs_number

    p = Pseudonymiser(b"k")
    values = [None, "9434765919", "943 476 5919", "943-476-5919", " 9434765919 ", "\t9434765919\n", "9434765918",
              "4010232137", "12345", "", "  ", "-\t12", "943476591X", "١٢٣٤٥٦٧٨٩٠", "94347659190", "1000000010",
              "9434765919", "4010232137"]
    person, problem, masked = _nhs_columns(pa.array(values, pa.string()), p)
    for value, got in zip(values, zip(person.to_pylist(), problem.to_pylist(), masked.to_pylist())):
        if value is None:
            assert got == (None, None, None)
            continue
        number, code, mask_value = _one_nhs_number(value)
        want_problem = None if code < 0 else ["nhs_number must be 10 digits",
                                              "nhs_number fails the Modulus 11 check digit test"][code]
        assert got == (None if number is None else p.pseudonym(number), want_problem, mask_value), value
    assert p.pseudonyms(["9434765919"]) == [p.pseudonym("9434765919")]


def test_scrub_every_written_form_in_any_encoding() -> None:
    from ingest.pseudonym import scrub_bytes

    # 943 476 5919 is valid (worked by hand in tests/fixtures/ingest/data.py); 3-3-4 runs are always masked,
    # other groupings when they pass Modulus 11; an ISO date and hour never (2024-01-03 10 would pass).
    assert scrub("a 943.476.5919 b 943-476-5919 c 94 34 76 59 19 d 2024-01-03 10:30 e 94 34 76 59 18") == \
        "a 943******* b 943******* c 94 ******* d 2024-01-03 10:30 e 94 34 76 59 18"
    text = "case_id,nhs_number\nC1,943 476 5919\n"
    for encoding in ("utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252"):
        assert scrub_bytes(text.encode(encoding)) == b"case_id,nhs_number\nC1,943*******\n", encoding
