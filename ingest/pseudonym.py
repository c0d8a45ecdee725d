"""NHS numbers: the Modulus 11 check and the keyed pseudonym that replaces them.

The clear number must never reach the store, the kept raw copy, the rejects,
the logs or an error message, so everything here either hashes it or masks it.
"""
from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models import settings

# NHS numbers are often written 943 476 5919, 943-476-5919 or 943.476.5919; all are the same number.
_SEPARATORS = re.compile(r"[\s.-]")
# Anything that could be an NHS number inside free text (error messages, unreadable payloads):
# ten digits grouped 3-3-4 (always masked), or ten digits with any single separators between
# them (masked when they pass Modulus 11, so a date and time like 2024-07-01 12:00 stays).
_NHS_LIKE = re.compile(r"(?<![0-9])([0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4}(?![0-9])")
_DIGITS_SPACED = re.compile(r"(?<![0-9])[0-9](?:[ .-]?[0-9]){9}(?![0-9])")
# How people write an NHS number: ten digits, or 3-3-4 with one separator used throughout. An identifier
# field is judged by these alone: a CQC location ID (1-123456789) has ten digits and passes Modulus 11
# one time in eleven, but is no NHS number, and rejecting it would lose the case.
_NHS_WRITTEN = re.compile(r"(?<![0-9])[0-9]{3}([ .-]?)[0-9]{3}\1[0-9]{4}(?![0-9])")
# ...but never an ISO date and hour (2024-07-01 12:00 has ten digits, a tenth of them passing Modulus 11).
_DATE_AND_HOUR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]?[0-9]{2}")
WEIGHTS = tuple(range(10, 1, -1))  # Modulus 11: the weights of the first nine digits

try:  # CPython's own SHA-256: the same digests, and for ten-byte messages cheaper per copy/update/digest
    from _sha256 import sha256 as _sha256  # than OpenSSL's (about 1.1 against 1.5 µs a number, measured)
except ImportError:  # pragma: no cover - other interpreters
    _sha256 = hashlib.sha256


def normalise(value: str) -> str:
    return _SEPARATORS.sub("", value)


def check_digit(first_nine: str) -> int | None:
    """Modulus 11: weights 10..2 on the first nine digits; the check digit is 11 - (sum mod 11),
    11 becomes 0 and 10 means no number starting so can be valid (None)."""
    check = 11 - sum(int(d) * w for d, w in zip(first_nine, WEIGHTS)) % 11
    return None if check == 10 else check % 11


def valid_check_digits(digits: np.ndarray) -> np.ndarray:
    """The same rule over an (n, 10) array of ASCII digit bytes: which rows are valid numbers."""
    total = np.zeros(len(digits), dtype=np.int32)
    for position, weight in enumerate(WEIGHTS):  # column by column: an int64 matrix would cost 80 MB a million
        total += (digits[:, position].astype(np.int32) - 48) * weight
    check = 11 - total % 11
    check[check == 11] = 0
    return (check != 10) & (check == digits[:, 9].astype(np.int32) - 48)


def is_valid_nhs_number(value: str) -> bool:
    digits = normalise(value)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    return check_digit(digits[:9]) == int(digits[9])


def with_check_digit(first_nine: str) -> str | None:
    """The full valid number for nine leading digits, or None when no check digit works (remainder 10)."""
    check = check_digit(first_nine)
    return None if check is None else first_nine + str(check)


def mask(value: str | None) -> str | None:
    """What a person may see of a rejected identifier: the first three characters, then stars."""
    if value is None:
        return None
    return value[:3] + "*" * max(len(value) - 3, 0)


def _checks_as_nhs_number(run: str) -> bool:
    """A run of ten digits with separators (as _DIGITS_SPACED finds) that is an NHS number."""
    return is_valid_nhs_number(run) and _DATE_AND_HOUR.fullmatch(run) is None


def _masked(match: re.Match[str]) -> str:
    return match.group(0)[:3] + "*******"  # as `mask` shows an identifier, separators and all gone


def scrub(text: str) -> str:
    """Mask every NHS-number-like run of digits in free text (error messages, log lines, payloads)."""
    text = _NHS_LIKE.sub(_masked, text)
    return _DIGITS_SPACED.sub(lambda m: _masked(m) if _checks_as_nhs_number(m.group(0)) else m.group(0), text)


def _text_encoding(payload: bytes) -> str:
    """The payload's text encoding as far as it shows: UTF-32 or UTF-16 by byte-order mark or by where
    the NUL bytes of ASCII characters fall, else UTF-8 (or an 8-bit code page, read as Latin-1)."""
    head = payload[:4096]
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if head[0::4].count(0) + head[1::4].count(0) + head[2::4].count(0) > len(head) // 2 or \
                head[1::4].count(0) + head[2::4].count(0) + head[3::4].count(0) > len(head) // 2:
            return "utf-32-le" if head[1::4].count(0) > head[0::4].count(0) else "utf-32-be"
        return "utf-16-le" if odd > even else "utf-16-be"
    try:
        payload.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


def scrub_bytes(payload: bytes) -> bytes:
    """The same for a payload we could not parse: decoded first (whatever its text encoding),
    masked, and kept as UTF-8. We cannot tell which digits are NHS numbers, so every 3-3-4 run is masked."""
    encoding = _text_encoding(payload)
    return scrub(payload.decode(encoding, errors="replace")).encode("utf-8", errors="replace")


def key_path() -> Path:
    return settings.data_dir() / "pseudo.key"


def load_key() -> bytes:
    """HOMEWARD_PSEUDO_KEY, else the key generated once into the data folder (0600).

    Losing the generated key breaks the link between old and new pseudonyms,
    which is why it lives beside the store and is never regenerated."""
    configured = settings.pseudo_key_raw()
    if configured:
        return configured.encode("utf-8")
    path = key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode("ascii"))
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    return path.read_bytes().strip()


class Pseudonymiser:
    """Keyed HMAC-SHA256 (hex) of the normalised ten digits."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else load_key()

    def pseudonym(self, nhs_number: str) -> str:
        return hmac.digest(self._key, normalise(nhs_number).encode("ascii"), hashlib.sha256).hex()

    def pseudonyms(self, nhs_numbers: Iterable[str]) -> list[str]:
        return [d.hex() for d in self._digests(n.encode("ascii") for n in nhs_numbers)]

    def pseudonym_digits(self, data: bytes) -> pa.Array:
        """Pseudonyms (hex strings) of ten-digit numbers written back to back as ASCII digits."""
        count = len(data) // 10
        if len(data) != 10 * count:
            raise ValueError("pseudonym_digits expects ten digits a number")
        view = memoryview(data)
        # In blocks, straight into the result's buffer: a million 32-byte digests held as Python
        # bytes objects would cost about 70 MB more at the peak.
        hexed = bytearray(64 * count)
        block = 65_536
        for first in range(0, count, block):
            last = min(first + block, count)
            digests = self._digests(view[i:i + 10] for i in range(10 * first, 10 * last, 10))
            hexed[64 * first:64 * last] = binascii.hexlify(b"".join(digests))
            del digests
        del view
        return pa.StringArray.from_buffers(
            count, pa.py_buffer(np.arange(0, 64 * (count + 1), 64, dtype=np.int32)), pa.py_buffer(hexed))

    def _digests(self, messages: Iterable[bytes | memoryview]) -> list[bytes]:
        # HMAC by hand (RFC 2104) from SHA-256 states primed with the padded key once: the same
        # result as hmac.digest, without re-deriving the key pads for every number (about 3x faster).
        key = self._key if len(self._key) <= 64 else hashlib.sha256(self._key).digest()
        key = key.ljust(64, b"\0")
        inner = _sha256(bytes(b ^ 0x36 for b in key)).copy
        outer = _sha256(bytes(b ^ 0x5C for b in key)).copy
        out: list[bytes] = []
        append = out.append
        for message in messages:
            i = inner()
            i.update(message)
            o = outer()
            o.update(i.digest())
            append(o.digest())
        return out


_NHS_LIKE_RE2 = r"[0-9](?:[ .-]?[0-9]){9}"  # the same runs as _DIGITS_SPACED, for Arrow's matcher


def _holds(text: str, or_3_3_4: bool, written: bool = False) -> bool:
    if written:
        return any(_checks_as_nhs_number(m.group(0)) for m in _NHS_WRITTEN.finditer(text))
    return any(_checks_as_nhs_number(m.group(0)) for m in _DIGITS_SPACED.finditer(text)) or \
        (or_3_3_4 and _NHS_LIKE.search(text) is not None)


def _holds_each(values: pa.Array, or_3_3_4: bool, written: bool = False) -> np.ndarray:
    candidates = pc.fill_null(pc.match_substring_regex(values, _NHS_LIKE_RE2), False)
    found = np.asarray(candidates.to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(found)
    if len(rows):
        verdicts: dict[str, bool] = {}
        for row, text in zip(rows, values.filter(candidates).to_pylist()):
            verdict = verdicts.get(text)
            if verdict is None:
                verdict = verdicts[text] = _holds(text, or_3_3_4, written)
            found[row] = verdict
    return found


def holds_nhs_number(values: pa.Array | pa.ChunkedArray, *, or_3_3_4: bool = False,
                     written: bool = False) -> np.ndarray:
    """Per value: does it hold a number that checks as an NHS number (Modulus 11, any separators)?
    (`or_3_3_4`: or any ten digits grouped 3-3-4, as `scrub` masks.) Arrow's matcher finds the
    candidates (times such as 2024-07-01 10:30 among them), each checked in Python; a column of
    few distinct values (times, codes) is checked once per distinct value. `written`: only the forms
    people write an NHS number in (ten digits, or 3-3-4 with one separator), for identifier fields."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    # Every form found holds ten digits, so a column of shorter values (identifiers, codes, counts)
    # holds none: its length is one cheap pass, where the matcher would read every value.
    longest = pc.max(pc.binary_length(values)).as_py()
    if longest is None or longest < 10:
        return np.zeros(len(values), dtype=bool)
    encoded = pc.dictionary_encode(values)
    if 4 * len(encoded.dictionary) > len(values):
        return _holds_each(values, or_3_3_4, written)
    verdicts = pa.array(_holds_each(encoded.dictionary, or_3_3_4, written))
    return np.asarray(pc.fill_null(verdicts.take(encoded.indices), False).to_numpy(zero_copy_only=False), dtype=bool)


def scrub_column(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`values` with every NHS-number-like run masked (as `scrub`), for a kept copy's text columns."""
    found = holds_nhs_number(values, or_3_3_4=True)
    if not found.any():
        return values
    texts = values.to_pylist()
    for row in np.flatnonzero(found):
        texts[row] = scrub(texts[row])
    return pa.array(texts, pa.string())
