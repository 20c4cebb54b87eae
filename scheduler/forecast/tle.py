"""CelesTrak TLE text (2-line and 3-line formats) to satellites, with strict checks.

Every error names the source, the line number and the field; a file with any error loads
nothing (the caller gets an exception, not a partial list).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

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

    @property
    def catalog(self) -> str:
        """The catalogue number as written in columns 3-7 (may be Alpha-5, e.g. 'A1234')."""
        return _field(self.line1, 3, 7).strip()


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


def parse_tle_records(
    text: str, source: str = "<string>", warn: Callable[[str], None] | None = None
) -> list[TleRecord]:
    """Parse TLE text. Blank lines are ignored; a name line (3-line format, optionally
    starting with '0 ') may precede each element set.

    Names shared by several element sets (real catalogues have them: OTTER, debris called
    'OBJECT A', ...) are made unique by appending the catalogue number in brackets to
    every one of them, 'OTTER [58987]'; `warn` gets one line saying so. The same name with
    the same catalogue number twice is an error."""
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
    return _unique_names(records, source, warn)


def _unique_names(
    records: list[TleRecord], source: str, warn: Callable[[str], None] | None
) -> list[TleRecord]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r.name] = counts.get(r.name, 0) + 1
    shared = {n for n, k in counts.items() if k > 1}
    if not shared:
        return records
    out = [replace(r, name=f"{r.name} [{r.catalog}]") if r.name in shared else r for r in records]
    new_counts: dict[str, int] = {}
    for r in out:
        new_counts[r.name] = new_counts.get(r.name, 0) + 1
    clashes = sorted(n for n, k in new_counts.items() if k > 1)
    if clashes:
        raise TleError(
            f"{source}: names: duplicate satellite(s), same name and catalogue number: "
            f"{', '.join(clashes[:5])}{', ...' if len(clashes) > 5 else ''}"
        )
    if warn is not None:
        renamed = sum(counts[n] for n in shared)
        sample = ", ".join(sorted(shared)[:3]) + (", ..." if len(shared) > 3 else "")
        example = next(new for old, new in zip(records, out, strict=True) if old is not new)
        warn(
            f"{source}: {renamed} element sets share {len(shared)} name(s) ({sample}); made "
            "unique by appending the catalogue number, e.g. "
            f"{example.name!r}"
        )
    return out
