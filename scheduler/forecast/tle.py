"""CelesTrak TLE text (2-line and 3-line formats) to satellites, with strict checks.

Every error names the source, the line number and the field; a file with any error loads
nothing (the caller gets an exception, not a partial list).
"""

from __future__ import annotations

from dataclasses import dataclass

from sgp4.api import Satrec

TLE_LINE_LENGTH = 69


class TleError(ValueError):
    """A TLE that cannot be used; the message reads 'source:line: field: what is wrong'."""


@dataclass(frozen=True)
class TleRecord:
    name: str
    line1: str
    line2: str
    satrec: Satrec


# (name, first column, last column), 1-based inclusive as in the CelesTrak format document.
_LINE1_FIELDS = (
    ("epoch year", 19, 20),
    ("epoch day", 21, 32),
    ("mean motion first derivative", 34, 43),
    ("element set number", 65, 68),
)
_LINE1_EXP_FIELDS = (("mean motion second derivative", 45, 52), ("bstar drag term", 54, 61))
_LINE2_FIELDS = (
    ("inclination", 9, 16),
    ("right ascension of the ascending node", 18, 25),
    ("eccentricity", 27, 33),
    ("argument of perigee", 35, 42),
    ("mean anomaly", 44, 51),
    ("mean motion", 53, 63),
    ("revolution number", 64, 68),
)


def tle_checksum(line: str) -> int:
    """Modulo-10 sum of the digits of the first 68 columns, '-' counting as 1."""
    total = 0
    for char in line[:68]:
        if char.isdigit():
            total += int(char)
        elif char == "-":
            total += 1
    return total % 10


def _field(line: str, first: int, last: int) -> str:
    return line[first - 1 : last]


def _check_number(text: str, where: str, name: str, implied_exponent: bool = False) -> None:
    value = text.strip()
    if implied_exponent:
        # e.g. ' 12345-3' or '-11606-4' means +/-0.12345e-3
        value = value.replace(" ", "")
        if value in ("", "0", "00000-0", "00000+0", "-00000-0", "+00000-0"):
            return
        mantissa, exponent = value[:-2], value[-2:]
        if exponent[0] not in "+-" or not exponent[1].isdigit():
            raise TleError(f"{where}: {name}: expected an implied-exponent number, got {text!r}")
        value = mantissa
    try:
        float(value.replace(" ", "") or "x")
    except ValueError:
        raise TleError(f"{where}: {name}: not a number: {text!r}") from None


def _check_line(line: str, number: int, source: str, lineno: int) -> None:
    where = f"{source}:{lineno}"
    if len(line) != TLE_LINE_LENGTH:
        raise TleError(
            f"{where}: line length: expected {TLE_LINE_LENGTH} characters, got {len(line)}"
        )
    if line[0] != str(number) or line[1] != " ":
        raise TleError(f"{where}: line number: expected line to start with '{number} '")
    if not line[68].isdigit():
        raise TleError(f"{where}: checksum: column 69 must be a digit, got {line[68]!r}")
    if int(line[68]) != tle_checksum(line):
        raise TleError(
            f"{where}: checksum: column 69 says {line[68]}, the line sums to {tle_checksum(line)}"
        )
    catalog = _field(line, 3, 7).strip()
    if not catalog or not (catalog.isdigit() or (catalog[0].isalpha() and catalog[1:].isdigit())):
        raise TleError(f"{where}: catalogue number: not a number: {catalog!r}")
    fields = _LINE1_FIELDS if number == 1 else _LINE2_FIELDS
    for name, first, last in fields:
        text = _field(line, first, last)
        if name == "eccentricity":
            text = "." + text  # implied leading decimal point
        _check_number(text, where, name)
    if number == 1:
        for name, first, last in _LINE1_EXP_FIELDS:
            _check_number(_field(line, first, last), where, name, implied_exponent=True)


def parse_tle_records(text: str, source: str = "<string>") -> list[TleRecord]:
    """Parse TLE text. Blank lines are ignored; a name line (3-line format, optionally
    starting with '0 ') may precede each element set."""
    lines = [(i + 1, raw.rstrip("\r\n").rstrip()) for i, raw in enumerate(text.splitlines())]
    lines = [(n, line) for n, line in lines if line.strip()]
    records: list[TleRecord] = []
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        name = ""
        if not line.startswith("1 "):
            if line.startswith("2 "):
                raise TleError(f"{source}:{lineno}: line order: line 2 without a line 1 before it")
            name = line[2:].strip() if line.startswith("0 ") else line.strip()
            i += 1
            if i >= len(lines):
                raise TleError(f"{source}:{lineno}: format: name line {name!r} without elements")
            lineno, line = lines[i]
            if not line.startswith("1 "):
                raise TleError(
                    f"{source}:{lineno}: format: expected line 1 of {name!r}, got {line[:20]!r}"
                )
        if i + 1 >= len(lines):
            raise TleError(f"{source}:{lineno}: format: line 1 without a line 2")
        line1 = line
        lineno2, line2 = lines[i + 1]
        _check_line(line1, 1, source, lineno)
        _check_line(line2, 2, source, lineno2)
        if _field(line1, 3, 7) != _field(line2, 3, 7):
            raise TleError(
                f"{source}:{lineno2}: catalogue number: line 2 has {_field(line2, 3, 7)!r}, "
                f"line 1 has {_field(line1, 3, 7)!r}"
            )
        satrec = Satrec.twoline2rv(line1, line2)
        if satrec.error:
            raise TleError(f"{source}:{lineno}: elements: SGP4 rejects them (error {satrec.error})")
        if satrec.no_kozai <= 0:
            raise TleError(f"{source}:{lineno2}: mean motion: must be positive")
        records.append(TleRecord(name or _field(line1, 3, 7).strip(), line1, line2, satrec))
        i += 2
    if not records:
        raise TleError(f"{source}: format: no TLE element sets found")
    names = [r.name for r in records]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TleError(f"{source}: names: duplicate satellite name(s) {', '.join(duplicates)}")
    return records
