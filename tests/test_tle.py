"""TLE parsing: both formats, and errors that name file, line and field."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.forecast import TleError, parse_tle
from scheduler.forecast.tle import tle_checksum

ISS = (
    "ISS (ZARYA)\n"
    "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9005\n"
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.50125391428597\n"
)
HUBBLE_2LINE = (
    "1 20580U 90037B   24001.00000000  .00001000  00000-0  50000-4 0  9994\n"
    "2 20580  28.4700 100.0000 0002500  90.0000 270.0000 15.10000000    06\n"
)


def fix_checksum(line: str) -> str:
    return line[:68] + str(tle_checksum(line))


def test_three_line_and_two_line_formats() -> None:
    iss_lines = [fix_checksum(x) if x.startswith(("1 ", "2 ")) else x for x in ISS.splitlines()]
    hst = [fix_checksum(x) for x in HUBBLE_2LINE.splitlines()]
    c = parse_tle("\n".join(iss_lines + hst) + "\n", "mixed.tle")
    assert c.names == ("ISS (ZARYA)", "20580")
    assert abs(c.mean_altitude_km()[0] - 420) < 20  # the ISS flies at ~420 km


def test_celestrak_zero_prefixed_name_line() -> None:
    lines = [fix_checksum(x) if x.startswith(("1 ", "2 ")) else x for x in ISS.splitlines()]
    lines[0] = "0 ISS (ZARYA)"
    assert parse_tle("\n".join(lines), "x").names == ("ISS (ZARYA)",)


def _iss_lines() -> list[str]:
    return [fix_checksum(x) if x.startswith(("1 ", "2 ")) else x for x in ISS.splitlines()]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda ls: [ls[0], ls[1][:68] + str((int(ls[1][68]) + 1) % 10), ls[2]],
            "x.tle:2: checksum",
        ),
        (lambda ls: [ls[0], ls[1][:60], ls[2]], "x.tle:2: line length"),
        (
            lambda ls: [ls[0], fix_checksum(ls[1][:20] + "abcdefghijkl" + ls[1][32:]), ls[2]],
            "x.tle:2: epoch day",
        ),
        (
            lambda ls: [ls[0], ls[1], fix_checksum(ls[2][:8] + " 5x.6416" + ls[2][16:])],
            "x.tle:3: inclination",
        ),
        (
            lambda ls: [ls[0], ls[1], fix_checksum(ls[2][:52] + "  fast     " + ls[2][63:])],
            "x.tle:3: mean motion",
        ),
        (
            lambda ls: [ls[0], ls[1], fix_checksum("2 25545" + ls[2][7:])],
            "x.tle:3: catalogue number",
        ),
        (lambda ls: [ls[0], ls[2], ls[1]], "x.tle:2: format: expected line 1"),
        (lambda ls: [ls[0], ls[1]], "line 1 without a line 2"),
        (lambda ls: ["just some text"], "without elements"),
        (lambda ls: [], "no TLE element sets"),
    ],
)
def test_errors_name_file_line_and_field(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(mutate(_iss_lines()))
    with pytest.raises(TleError, match=expected.replace("(", r"\(")):
        parse_tle(text, "x.tle")


def test_nothing_is_half_loaded() -> None:
    good = _iss_lines()
    broken = [x for x in HUBBLE_2LINE.splitlines()]  # wrong checksums
    with pytest.raises(TleError, match=r"x\.tle:4: checksum"):
        parse_tle("\n".join(good + broken), "x.tle")


def test_duplicate_names_rejected() -> None:
    lines = _iss_lines()
    with pytest.raises(TleError, match="duplicate"):
        parse_tle("\n".join(lines + lines), "x.tle")


@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_otherwise(text: str) -> None:
    with contextlib.suppress(TleError):
        parse_tle(text, "fuzz.tle")
