"""Real CelesTrak catalogues: shared names, SGP4 failures and old elements are reported on
stderr and do not stop a forecast (files from ../shared/data, skipped where absent)."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from conftest import ORBITCTL
from hypothesis import given
from hypothesis import strategies as st
from realdata import ACTIVE, STARLINK, real_file
from sgp4 import exporter
from sgp4.api import WGS72, Satrec

from scheduler.forecast import TleError, parse_tle, walker_delta
from scheduler.forecast.screening import (
    DIVERGED,
    REENTERED,
    element_ages_s,
    element_epoch_s,
    propagation_failures,
)
from scheduler.forecast.timeconv import julian_date, parse_iso8601
from scheduler.scenario import load_scenario, screen, stale_elements_line

EPOCH = parse_iso8601("2026-12-01T00:00:00Z")
# A week after the Starlink file's epochs: three of its element sets fail in SGP4 by then
# (the data README lists them: 45738 and 60369 eccentricity, 63892 decayed).
STARLINK_LATE = "2026-03-02T00:00:00Z"


def _tle(name: str, satrec: Satrec) -> list[str]:
    l1, l2 = exporter.export_tle(satrec)
    return [name, l1, l2]


def _shell_tle(names: list[str]) -> str:
    shell = walker_delta(550, 53, 1, len(names), 0, EPOCH)
    return "\n".join(line for n, s in zip(names, shell.satrecs, strict=True) for line in _tle(n, s))


def _decaying_satrec(satnum: int) -> Satrec:
    """A 200 km orbit with a huge drag term: SGP4 reports it decayed within hours."""
    s = Satrec()
    s.sgp4init(
        WGS72, "i", satnum, float(julian_date(EPOCH)) - 2433281.5, 0.9, 0.0, 0.0, 1e-4, 0.0,
        0.9, 0.0, 16.4 * 2 * 3.141592653589793 / 1440.0, 0.0,
    )  # fmt: skip
    return s


def test_shared_names_get_the_catalogue_number_with_one_warning() -> None:
    text = _shell_tle(["OTTER", "OTTER", "LONE"])
    lines: list[str] = []
    c = parse_tle(text, "x.tle", warn=lines.append)
    assert c.names == ("OTTER [90000]", "OTTER [90001]", "LONE")
    assert len(lines) == 1 and "2 element sets share 1 name(s) (OTTER)" in lines[0]
    assert "catalogue number" in lines[0]


def test_same_satellite_twice_is_still_an_error() -> None:
    text = _shell_tle(["A", "B"])
    with pytest.raises(TleError, match="duplicate satellite"):
        parse_tle(text + "\n" + "\n".join(text.splitlines()[:3]), "x.tle")


def test_propagation_failure_found_where_sgp4_itself_fails() -> None:
    shell = walker_delta(550, 53, 1, 2, 0, EPOCH)
    text = "\n".join([*_tle("good", shell.satrecs[0]), *_tle("falling", _decaying_satrec(12345))])
    c = parse_tle(text, "x.tle")
    failures = propagation_failures(c, EPOCH, EPOCH + 2 * 86400.0)
    assert [f.name for f in failures] == ["falling"]
    f = failures[0]

    # The oracle: sgp4's scalar call agrees there is an error (or a position below 100 km)
    # at that time, and neither 600 s (one grid step) before it.
    def state(t_s: float) -> tuple[int, float]:
        error, r, _ = c.satrecs[1].sgp4(float(julian_date(t_s)), 0.0)
        return error, math.dist(r, (0, 0, 0)) - c.satrecs[1].radiusearthkm if not error else 0.0

    error, altitude = state(f.time_s)
    if f.code == REENTERED:
        assert error == 0 and altitude < 100.0
    else:
        assert error == f.code > 0
    if f.time_s > EPOCH:
        assert state(f.time_s - 600.0)[0] == 0 and state(f.time_s - 600.0)[1] >= 100.0
    lines: list[str] = []
    kept = screen(c, EPOCH, EPOCH + 2 * 86400.0, 3 * 86400.0, lines.append)
    assert kept.names == ("good",)
    assert len(lines) == 1 and "falling (catalogue 12345)" in lines[0] and "skipped" in lines[0]


@given(st.floats(min_value=-30, max_value=30))
def test_element_age_is_start_minus_epoch(days: float) -> None:
    c = walker_delta(550, 53, 1, 1, 0, EPOCH)
    assert abs(element_epoch_s(c.satrecs[0]) - EPOCH) < 1e-3
    at = EPOCH + days * 86400.0
    assert abs(element_ages_s(c, at)[0] - days * 86400.0) < 1e-3
    line = stale_elements_line(c, at, 3 * 86400.0)
    assert (line is not None) == (days * 86400.0 > 3 * 86400.0 + 1e-3) or abs(days - 3) < 1e-6


def test_real_starlink_file_loads_whole() -> None:
    lines: list[str] = []
    c = parse_tle(real_file(STARLINK).read_text(), "starlink", warn=lines.append)
    assert len(c) == 9543 and lines == []


def test_real_active_file_names_made_unique() -> None:
    lines: list[str] = []
    c = parse_tle(real_file(ACTIVE).read_text(), "active", warn=lines.append)
    assert len(c) == 14710 and len(set(c.names)) == 14710
    assert len(lines) == 1
    otters = [n for n in c.names if n.startswith("OTTER [")]
    assert len(otters) >= 2


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORBITCTL, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_skips_failing_satellites_and_still_forecasts() -> None:
    path = real_file(STARLINK)
    result = run(
        "forecast", "eclipses", "--tle", str(path), "--start", STARLINK_LATE, "--hours", "1",
        "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    failed = [ln for ln in result.stderr.splitlines() if "SGP4 fails" in ln]
    failed_names = {ln.split("warning: ", 1)[1].split(" (catalogue")[0] for ln in failed}
    assert {"STARLINK-1474", "STARLINK-32266", "STARLINK-34128"} <= failed_names
    assert any("decayed" in ln for ln in failed) and any("eccentricity" in ln for ln in failed)
    assert sum("older than 3 days" in ln for ln in result.stderr.splitlines()) == 1
    records = json.loads(result.stdout)
    assert records, "the other ~9,500 satellites have eclipses within an hour"
    assert not failed_names & {r["satellite"] for r in records}


@pytest.mark.slow
def test_cli_max_element_age_silences_the_age_line() -> None:
    path = real_file(ACTIVE)
    result = run(
        "forecast", "eclipses", "--tle", str(path), "--start", "2026-03-19T12:00:00Z",
        "--hours", "2", "--max-element-age", "60",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "older than" not in result.stderr
    assert "made unique by appending the catalogue number" in result.stderr
    assert "OTTER [" in result.stdout


@pytest.mark.slow
def test_tle_scenario_is_screened_too(tmp_path: Path) -> None:
    path = real_file(STARLINK)
    scenario = tmp_path / "real.toml"
    scenario.write_text(
        f'epoch = "{STARLINK_LATE}"\n[constellation]\nkind = "tle"\ntle_file = "{path}"\n'
        '[[stations]]\nname = "graz"\nlat_deg = 47.07\nlon_deg = 15.49\n'
    )
    lines: list[str] = []
    sc = load_scenario(scenario, warn=lines.append)
    assert len(sc.constellation) < 9543
    assert "STARLINK-34128" not in sc.constellation.names
    assert any("STARLINK-34128" in ln and "decayed" in ln for ln in lines)
    assert any("older than 3 days" in ln for ln in lines)


@pytest.mark.slow
def test_diverged_sgp4_is_skipped_and_contacts_still_found() -> None:
    """A month past its epoch one Starlink element set makes SGP4 put the satellite at
    ~51,000 km, jumping ~1,000 km per step, with no error code; the contact search used to
    crash on it ("interval starts and ends do not pair up")."""
    path = real_file(STARLINK)
    c = parse_tle(path.read_text(), "starlink")
    start = parse_iso8601("2026-03-26T00:00:00Z")
    failures = {f.name: f for f in propagation_failures(c, start, start + 3600.0)}
    assert failures["STARLINK-35036"].code == DIVERGED
    result = run(
        "forecast", "contacts", "--tle", str(path), "--start", "2026-03-26T00:00:00Z",
        "--hours", "12", "--station", "wallops=37.94,-75.46,10", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if "STARLINK-35036 (catalogue" in ln]
    assert len(lines) == 1 and "SGP4 diverged" in lines[0] and "skipped" in lines[0]
    assert json.loads(result.stdout)
