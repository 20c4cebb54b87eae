"""Ground-station contacts: AOS/LOS refined to 0.01 s, with the maximum elevation.

Elevations of every (satellite, station) pair are sampled on a 60 s grid from interpolated
SGP4 states (two matrix products per chunk of satellites), then each interval's ends are
bisected and its peak found by golden section on the exact geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from scheduler.forecast.constellation import Constellation
from scheduler.forecast.eclipse import search_times
from scheduler.forecast.propagate import StateGrid
from scheduler.forecast.stations import Station, geodetic_to_ecef_km, local_up, sin_elevation
from scheduler.forecast.tables import concatenate_tables
from scheduler.forecast.windows import find_windows

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_SEARCH_STEP_S = 60.0
# Peaks of sin(elevation) estimated (parabola through three samples) within this of the
# mask are searched between samples. Near the top of a pass, elevation is smooth over the
# two steps the parabola spans; its vertex is good to well under 0.03 (~1.7 deg).
_PEAK_MARGIN = 0.03
_SAT_CHUNK = 200


@dataclass(frozen=True)
class Contact:
    sat: int
    station: int
    aos_s: float
    los_s: float
    max_elevation_deg: float

    @property
    def duration_s(self) -> float:
        return self.los_s - self.aos_s


@dataclass(frozen=True)
class ContactTable:
    """Contacts as parallel arrays (for large constellations), sorted by satellite, then
    station, then AOS."""

    sat: IntArray
    station: IntArray
    aos_s: FloatArray
    los_s: FloatArray
    max_elevation_deg: FloatArray

    def __len__(self) -> int:
        return len(self.sat)

    def to_list(self) -> list[Contact]:
        return [
            Contact(int(s), int(g), float(a), float(b), float(e))
            for s, g, a, b, e in zip(
                self.sat, self.station, self.aos_s, self.los_s, self.max_elevation_deg, strict=True
            )
        ]

    @staticmethod
    def concatenate(tables: Sequence[ContactTable]) -> ContactTable:
        return concatenate_tables(ContactTable, tables)


def contacts_of_samples(
    grid: StateGrid,
    stations: Sequence[Station],
    times_s: FloatArray,
    r_ecef_km: NDArray[np.floating],
    first_sat: int = 0,
) -> ContactTable:
    """Contacts of the satellites of `grid` (Earth-fixed states, StateGrid.to_ecef), whose
    positions `r_ecef_km` (n, n_t, 3) are sampled at `times_s` (uniform)."""
    n_st = len(stations)
    st_pos = geodetic_to_ecef_km(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_m for s in stations]
    )
    st_up = local_up([s.lat_deg for s in stations], [s.lon_deg for s in stations])
    sin_mask = np.sin(np.radians([s.min_elevation_deg for s in stations]))

    # The dense samples only decide signs and brackets: float32 is ample (0.5 m at 7,000 km)
    # and halves the memory traffic; refinement below is float64 on the exact geometry.
    r = r_ecef_km.astype(np.float32, copy=False)  # (n_sat, n_t, 3)
    pos32, up32 = st_pos.astype(np.float32), st_up.astype(np.float32)
    values = r @ up32.T  # (n_sat, n_t, n_st): the height of the satellite above the station
    range_km = r @ (-2.0 * pos32.T)
    range_km += np.sum(r * r, axis=-1)[..., None]
    range_km += np.sum(pos32 * pos32, axis=-1)
    values -= np.sum(pos32 * up32, axis=-1)
    np.sqrt(range_km, out=range_km)
    values /= range_km  # sin(elevation)
    values -= sin_mask.astype(np.float32)
    values = np.ascontiguousarray(values.transpose(0, 2, 1)).reshape(-1, len(times_s))
    del range_km, r

    def margin(rows: IntArray, t: FloatArray) -> FloatArray:
        sat, st = rows // n_st, rows % n_st
        return sin_elevation(grid.positions_at(sat, t), st_pos[st], st_up[st]) - sin_mask[st]

    found = find_windows(times_s, values, margin, peak_margin=_PEAK_MARGIN, peaks=True)
    assert found.peak_value is not None
    station = found.row % n_st
    max_el = np.degrees(np.arcsin(np.clip(found.peak_value + sin_mask[station], -1.0, 1.0)))
    return ContactTable(first_sat + found.row // n_st, station, found.start_s, found.end_s, max_el)


def contact_table(
    constellation: Constellation,
    stations: Sequence[Station],
    start_s: float,
    end_s: float,
    step_s: float = DEFAULT_SEARCH_STEP_S,
) -> ContactTable:
    """Every contact (elevation >= the station's mask) between start_s and end_s, AOS and
    LOS refined to ~0.01 s, sorted by satellite, then station, then AOS. Contacts under way
    at either edge are clipped to the window."""
    if end_s <= start_s:
        raise ValueError("end_s must be after start_s")
    if not stations:
        return ContactTable.concatenate([])
    times = search_times(start_s, end_s, step_s)
    tables = []
    n = len(constellation)
    for lo in range(0, n, _SAT_CHUNK):
        grid = StateGrid.propagate(
            constellation.satrecs[lo : lo + _SAT_CHUNK], start_s, end_s
        ).to_ecef()
        tables.append(
            contacts_of_samples(grid, stations, times, grid.positions_on(times, np.float32), lo)
        )
    return ContactTable.concatenate(tables)


def find_contacts(
    constellation: Constellation,
    stations: Sequence[Station],
    start_s: float,
    end_s: float,
    step_s: float = DEFAULT_SEARCH_STEP_S,
) -> list[Contact]:
    """contact_table(...) as a list of Contact."""
    return contact_table(constellation, stations, start_s, end_s, step_s).to_list()
