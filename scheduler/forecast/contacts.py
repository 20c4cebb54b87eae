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
from scheduler.forecast.propagate import StateGrid
from scheduler.forecast.stations import Station, geodetic_to_ecef_km, local_up, sin_elevation
from scheduler.forecast.tables import concatenate_tables
from scheduler.forecast.windows import find_windows_in_segments, search_times

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


# Slack on the elevation mask for pruning: the geodetic and geocentric verticals differ by
# up to 0.19 deg.
_PRUNE_SLACK_RAD = np.radians(0.5)


def _candidate_intervals(
    r_nodes_km: NDArray[np.floating],
    node_step_s: float,
    rate_rad_s: float,
    st_pos: FloatArray,
    stations: Sequence[Station],
) -> tuple[IntArray, IntArray, IntArray]:
    """(sat, node interval, station) triples where the satellite may rise above the mask,
    from Earth-fixed positions at nodes node_step_s apart.

    Elsewhere it cannot: the Earth-central angle between the sub-satellite point and the
    station changes no faster than the ground track moves (rate_rad_s), so over an interval
    of h it stays above (a_j + a_{j+1}) / 2 - rate h / 2, and a satellite at radius r is
    above elevation e only within arccos(R cos e / r) - e of the station."""
    r_norm = np.linalg.norm(r_nodes_km, axis=-1)  # (n, n_nodes)
    st_norm = np.linalg.norm(st_pos, axis=-1)
    cos_angle = r_nodes_km @ (st_pos / st_norm[:, None]).T.astype(r_nodes_km.dtype)
    cos_angle /= r_norm[..., None]
    angle = np.arccos(np.clip(cos_angle, -1.0, 1.0))
    mask = np.radians([s.min_elevation_deg for s in stations]) - _PRUNE_SLACK_RAD
    reach = np.arccos(np.clip(st_norm * np.cos(mask) / float(r_norm.max()), -1, 1)) - mask
    closest = 0.5 * (angle[:, :-1] + angle[:, 1:]) - 0.5 * rate_rad_s * node_step_s
    sat, interval, station = np.nonzero(closest <= reach)
    return sat, interval, station


# Passes are pruned on nodes about this far apart (a whole number of samples).
_PRUNE_STEP_S = 300.0


def _sampled_elevations(
    grid: StateGrid,
    st_pos: FloatArray,
    st_up: FloatArray,
    stations: Sequence[Station],
    times_s: FloatArray,
    r_ecef_km: NDArray[np.floating],
) -> tuple[IntArray, IntArray, NDArray[np.float32]]:
    """sin(elevation) where a satellite may be in view of a station, as segments for
    find_windows_in_segments: (row = sat * n_st + station, first own sample, values).
    float32 is ample for signs and brackets (0.5 m at 7,000 km); the refinement is float64
    on the exact geometry."""
    n_t, n_st = len(times_s), len(stations)
    step_s = float(times_s[1] - times_s[0]) if n_t > 1 else _PRUNE_STEP_S
    p = max(1, round(_PRUNE_STEP_S / step_s))
    node_k = np.arange(0, n_t, p)
    if node_k[-1] != n_t - 1:  # a last, shorter interval up to the final sample
        node_k = np.append(node_k, n_t - 1)
    # The fastest the ground track can move, with margin for the interpolation.
    rate_rad_s = 1.05 * float(
        np.max(np.linalg.norm(grid.v_km_s, axis=-1) / np.linalg.norm(grid.r_km, axis=-1))
    )
    sat, interval, station = _candidate_intervals(
        r_ecef_km[:, node_k], p * step_s, rate_rad_s, st_pos, stations
    )
    first = interval * p
    width = p
    k = np.clip(first[:, None] + np.arange(-1, width + 1), 0, n_t - 1)
    los = r_ecef_km[sat[:, None], k].astype(np.float32)
    los -= st_pos[station][:, None, :].astype(np.float32)
    height = np.einsum("mkc,mc->mk", los, st_up[station].astype(np.float32))
    height /= np.linalg.norm(los, axis=-1)
    return sat * n_st + station, first, height


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

    seg_row, seg_first, seg_values = _sampled_elevations(
        grid, st_pos, st_up, stations, times_s, r_ecef_km
    )
    seg_values -= sin_mask.astype(np.float32)[seg_row % n_st][:, None]

    def margin(rows: IntArray, t: FloatArray) -> FloatArray:
        sat, st = rows // n_st, rows % n_st
        return sin_elevation(grid.positions_at(sat, t), st_pos[st], st_up[st]) - sin_mask[st]

    found = find_windows_in_segments(
        times_s, seg_row, seg_first, seg_values, margin, peak_margin=_PEAK_MARGIN, peaks=True
    )
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
