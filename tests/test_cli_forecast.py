"""End-to-end: orbitctl forecast as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import ORBITCTL
from sgp4 import exporter

from scheduler.forecast import walker_delta
from scheduler.forecast.timeconv import parse_iso8601

# Every test here runs orbitctl in a process.
pytestmark = pytest.mark.slow

START = "2026-12-01T00:00:00Z"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORBITCTL, *args], capture_output=True, text=True, timeout=120)


def test_contacts_json_contract() -> None:
    result = run("forecast", "contacts", "--hours", "6", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert records, "the default scenario has passes within 6 hours"
    assert set(records[0]) == {"satellite", "station", "aos", "los", "max_elevation_deg"}
    for r in records:
        assert r["aos"].endswith("Z") and r["los"].endswith("Z")
        assert parse_iso8601(r["aos"]) <= parse_iso8601(r["los"])
        assert 10.0 <= r["max_elevation_deg"] <= 90.0
    assert parse_iso8601(records[0]["aos"]) >= parse_iso8601(START)


def test_eclipses_json_contract() -> None:
    result = run("forecast", "eclipses", "--hours", "3", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    keys = {"satellite", "start", "end", "penumbra_start", "penumbra_end"}
    assert records and all(set(r) == keys for r in records)
    for r in records:
        times = [parse_iso8601(r[k]) for k in ("penumbra_start", "start", "end", "penumbra_end")]
        assert times == sorted(times)


def test_tle_file_with_custom_stations_and_mask(tmp_path: Path) -> None:
    epoch = parse_iso8601(START)
    shell = walker_delta(550, 53, 1, 2, 0, epoch)
    lines = []
    for name, satrec in zip(shell.names, shell.satrecs, strict=True):
        l1, l2 = exporter.export_tle(satrec)
        lines += [name, l1, l2]
    tle = tmp_path / "two.tle"
    tle.write_text("\n".join(lines) + "\n")
    args = ["forecast", "contacts", "--tle", str(tle), "--start", START, "--hours", "24"]
    low = run(*args, "--station", "quito=-0.2,-78.5,2850", "--min-elevation", "5", "--json")
    high = run(*args, "--station", "quito=-0.2,-78.5,2850", "--min-elevation", "30", "--json")
    assert low.returncode == 0 and high.returncode == 0, low.stderr + high.stderr
    low_r, high_r = json.loads(low.stdout), json.loads(high.stdout)
    assert {r["station"] for r in low_r} == {"quito"}
    assert {r["satellite"] for r in low_r} <= {"sat-0-0", "sat-0-1"}
    assert len(high_r) < len(low_r)
    assert all(r["max_elevation_deg"] >= 30.0 for r in high_r)
    table = run(*args, "--station", "quito=-0.2,-78.5")
    assert table.returncode == 0 and "max_el_deg" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["forecast", "contacts", "--hours", "-1"], "--hours"),
        (["forecast", "contacts", "--start", "yesterday"], "ISO 8601"),
        (["forecast", "contacts", "--station", "nowhere"], "NAME=LAT,LON"),
        (["forecast", "contacts", "--station", "x=95,0"], "lat_deg"),
        (["forecast", "contacts", "--min-elevation", "abc"], "--min-elevation"),
        (["forecast", "eclipses", "--tle", "/nonexistent.tle"], "cannot read"),
        (["forecast", "eclipses", "--scenario", "/nonexistent.toml"], "cannot read scenario"),
        (["forecast", "eclipses", "--tle", "a", "--scenario", "b"], "not allowed with"),
        (["forecast", "sunsets"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_broken_tle_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tle"
    bad.write_text(
        "SAT\n"
        "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9000\n"
        "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.50125391428597\n"
    )
    result = run("forecast", "eclipses", "--tle", str(bad))
    assert result.returncode == 2
    assert f"{bad}:2: checksum" in result.stderr
