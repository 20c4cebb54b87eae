"""The real catalogues and ground stations in ../shared/data (relative to the project root;
see its README). Never copied into the project: tests skip with a clear message without them."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
STARLINK = "tle/starlink_celestrak-gp_2026-02-23.txt"
ACTIVE = "tle/active_celestrak-gp_2026-03-19.txt"
STATIONS_TLE = "tle/stations_celestrak-gp_2025-11-01.txt"
GROUND_STATIONS = "groundstations/ground_stations_brahe.csv"


def real_file(relative: str) -> Path:
    """The path of a real data file, or skip the test saying which file is missing."""
    path = DATA_DIR / relative
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (the shared data folder is not here)")
    return path
