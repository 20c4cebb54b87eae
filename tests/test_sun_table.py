"""The generated Sun table matches its generator (DE421 through Skyfield)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from scheduler.forecast.sun import analytic_sun_position_km, sun_position_km
from scheduler.forecast.timeconv import parse_iso8601

REPO = Path(__file__).resolve().parent.parent
ONE_ARCSEC_RAD = np.radians(1.0 / 3600.0)


def test_generated_table_has_not_drifted() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_sun_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_table_and_analytic_sun_agree_to_their_precision() -> None:
    """Inside the table's years the analytic Sun is within 0.01 deg of it (its stated
    accuracy); outside them the analytic one is what is used."""
    times = parse_iso8601("2021-01-01T00:00:00Z") + np.linspace(0, 19 * 365.25 * 86400, 500)
    a, b = sun_position_km(times), analytic_sun_position_km(times)
    cos = np.sum(a * b, axis=-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.012
    before = parse_iso8601("2019-06-01T00:00:00Z")
    assert np.allclose(sun_position_km(before), analytic_sun_position_km(before))


def test_segment_edges_are_continuous() -> None:
    from scheduler.forecast import sun_table

    edges = sun_table.START_S + sun_table.SEGMENT_S * np.arange(1, 200)
    left, right = sun_position_km(edges - 1e-3), sun_position_km(edges)
    step_rad = np.linalg.norm(left - right, axis=-1) / np.linalg.norm(right, axis=-1)
    assert step_rad.max() < 0.05 * ONE_ARCSEC_RAD


def test_drift_check_ignores_last_digit_rounding_but_not_a_real_change() -> None:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import gen_sun_table
    finally:
        sys.path.remove(str(REPO / "tools"))
    text = (REPO / "scheduler" / "forecast" / "sun_table.py").read_text()
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("    "))
    first = lines[row].strip(" ,").split(",")[0]

    def with_first(value: float) -> str:
        changed = list(lines)
        changed[row] = changed[row].replace(first, f"{value:.10e}", 1)
        return "\n".join(changed)

    assert gen_sun_table.same_table(text, with_first(float(first) + 1e-5))
    assert not gen_sun_table.same_table(text, with_first(float(first) + 0.01))
