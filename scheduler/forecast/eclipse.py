"""Conical Earth shadow: sunlit fraction and eclipse intervals.

Seen from the satellite, the Sun is a disk of angular radius asin(R_sun / d_sun) and the
Earth (a sphere of equatorial radius) one of asin(R_earth / |r|), theta apart. The sunlit
fraction is one minus the share of the solar disk the Earth covers (flat-disk overlap). An
eclipse is when the centre of the Sun is hidden (theta < Earth radius); the penumbra
brackets it, from first to last contact of the two disks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.constants import EARTH_EQUATORIAL_RADIUS_KM, SUN_RADIUS_KM
from scheduler.forecast.constellation import Constellation
from scheduler.forecast.propagate import StateGrid, propagate_teme
from scheduler.forecast.sun import sun_position_km
from scheduler.forecast.windows import find_windows

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_SEARCH_STEP_S = 60.0
_SAT_CHUNK = 1000


@dataclass(frozen=True)
class Eclipse:
    sat: int
    start_s: float
    end_s: float
    penumbra_start_s: float
    penumbra_end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def shadow_angles(r_sat_km: ArrayLike, r_sun_km: ArrayLike) -> tuple[FloatArray, ...]:
    """(separation, Earth radius, Sun radius) as seen from the satellite, radians."""
    r_sat = np.asarray(r_sat_km, dtype=np.float64)
    to_sun = np.asarray(r_sun_km, dtype=np.float64) - r_sat
    to_earth = -r_sat
    d_sun = np.linalg.norm(to_sun, axis=-1)
    d_earth = np.linalg.norm(to_earth, axis=-1)
    cross = np.linalg.norm(np.cross(to_sun, to_earth), axis=-1)
    dot = np.sum(to_sun * to_earth, axis=-1)
    separation = np.arctan2(cross, dot)
    earth = np.arcsin(np.clip(EARTH_EQUATORIAL_RADIUS_KM / d_earth, -1.0, 1.0))
    sun = np.arcsin(SUN_RADIUS_KM / d_sun)
    return separation, earth, sun


def disk_overlap_fraction(
    separation: ArrayLike, r_cover: ArrayLike, r_disk: ArrayLike
) -> FloatArray:
    """Share of a disk of radius r_disk covered by one of radius r_cover at the given centre
    separation (plane geometry, all angles in the same unit)."""
    d = np.asarray(separation, dtype=np.float64)
    r1 = np.asarray(r_cover, dtype=np.float64)
    r2 = np.asarray(r_disk, dtype=np.float64)
    d, r1, r2 = np.broadcast_arrays(d, r1, r2)
    out = np.zeros(d.shape)
    disjoint = d >= r1 + r2
    nested = d <= np.abs(r1 - r2)
    out[nested] = np.minimum(1.0, (np.minimum(r1, r2)[nested] / r2[nested]) ** 2)
    partial = ~(disjoint | nested)
    dp, a, b = d[partial], r1[partial], r2[partial]
    x1 = (dp**2 + a**2 - b**2) / (2 * dp)
    x2 = dp - x1
    lens = (
        a**2 * np.arccos(np.clip(x1 / a, -1, 1))
        - x1 * np.sqrt(np.maximum(a**2 - x1**2, 0))
        + b**2 * np.arccos(np.clip(x2 / b, -1, 1))
        - x2 * np.sqrt(np.maximum(b**2 - x2**2, 0))
    )
    out[partial] = lens / (np.pi * b**2)
    return out


def sunlit_fraction_at(r_sat_km: ArrayLike, r_sun_km: ArrayLike) -> FloatArray:
    separation, earth, sun = shadow_angles(r_sat_km, r_sun_km)
    return np.clip(1.0 - disk_overlap_fraction(separation, earth, sun), 0.0, 1.0)


def sunlit_fraction(constellation: Constellation, times_s: ArrayLike) -> FloatArray:
    """Sunlit fraction in [0, 1] per satellite and time: (n_sat, n_t)."""
    t = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
    r, _, _ = propagate_teme(constellation.satrecs, t)
    return sunlit_fraction_at(r, sun_position_km(t)[None, :, :])


def altitude_km(constellation: Constellation, times_s: ArrayLike) -> FloatArray:
    """Height above the equatorial-radius sphere per satellite and time: (n_sat, n_t)."""
    r, _, _ = propagate_teme(constellation.satrecs, np.atleast_1d(times_s))
    return np.asarray(np.linalg.norm(r, axis=-1) - EARTH_EQUATORIAL_RADIUS_KM)


def _eclipses_of_grid(
    grid: StateGrid, start_s: float, end_s: float, step_s: float, first_sat: int
) -> list[Eclipse]:
    times = np.append(np.arange(start_s, end_s, step_s), end_s)
    r = grid.positions_on(times)
    sun = sun_position_km(times)[None, :, :]
    separation, earth, sun_r = shadow_angles(r, sun)

    def umbra(rows: IntArray, t: FloatArray) -> FloatArray:
        s, e, _ = shadow_angles(grid.positions_at(rows, t), sun_position_km(t))
        return e - s

    def penumbra(rows: IntArray, t: FloatArray) -> FloatArray:
        s, e, sr = shadow_angles(grid.positions_at(rows, t), sun_position_km(t))
        return e + sr - s

    # The shadow functions change by at most ~0.07 deg/s (orbital rate); a margin of a few
    # steps' worth of that catches grazing eclipses shorter than a step.
    margin = float(np.radians(0.1) * step_s)
    centre = find_windows(times, earth - separation, umbra, peak_margin=margin)
    partial = find_windows(times, earth + sun_r - separation, penumbra, peak_margin=margin)
    # Match each eclipse to the penumbra interval that contains it.
    key_span = (end_s - start_s) + 10 * step_s
    p_key = partial.row * key_span + (partial.start_s - start_s)
    c_key = centre.row * key_span + (centre.start_s - start_s)
    j = np.clip(np.searchsorted(p_key, c_key, side="right") - 1, 0, max(len(partial) - 1, 0))
    out: list[Eclipse] = []
    for i in range(len(centre)):
        row = int(centre.row[i])
        ok = len(partial) > 0 and partial.row[j[i]] == row
        out.append(
            Eclipse(
                first_sat + row,
                float(centre.start_s[i]),
                float(centre.end_s[i]),
                float(partial.start_s[j[i]]) if ok else float(centre.start_s[i]),
                float(partial.end_s[j[i]]) if ok else float(centre.end_s[i]),
            )
        )
    return out


def find_eclipses(
    constellation: Constellation,
    start_s: float,
    end_s: float,
    step_s: float = DEFAULT_SEARCH_STEP_S,
    grid: StateGrid | None = None,
) -> list[Eclipse]:
    """Every eclipse between start_s and end_s, boundaries refined to 0.01 s, sorted by
    satellite then time. Intervals under way at either edge are clipped to the window."""
    if end_s <= start_s:
        raise ValueError("end_s must be after start_s")
    out: list[Eclipse] = []
    n = len(constellation)
    for lo in range(0, n, _SAT_CHUNK):
        hi = min(n, lo + _SAT_CHUNK)
        chunk_grid = (
            StateGrid(grid.start_s, grid.step_s, grid.r_km[lo:hi], grid.v_km_s[lo:hi])
            if grid is not None
            else StateGrid.propagate(constellation.satrecs[lo:hi], start_s, end_s)
        )
        out.extend(_eclipses_of_grid(chunk_grid, start_s, end_s, step_s, lo))
    return out
