"""Conical Earth shadow: sunlit fraction and eclipse intervals.

Seen from the satellite, the Sun is a disk of angular radius asin(R_sun / d_sun) and the
Earth (a sphere of equatorial radius) one of asin(R_earth / |r|), theta apart. The sunlit
fraction is one minus the share of the solar disk the Earth covers (flat-disk overlap). An
eclipse is when the centre of the Sun is hidden (theta < Earth radius); the penumbra
brackets it, from first to last contact of the two disks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.constants import EARTH_EQUATORIAL_RADIUS_KM, SUN_RADIUS_KM
from scheduler.forecast.constellation import Constellation
from scheduler.forecast.propagate import StateGrid, propagate_teme
from scheduler.forecast.sun import sun_position_km
from scheduler.forecast.tables import concatenate_tables
from scheduler.forecast.windows import find_windows, search_times

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

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


def sunlit_fraction_point(
    r_sat_km: tuple[float, float, float], r_sun_km: tuple[float, float, float]
) -> float:
    """sunlit_fraction_at for one position, in scalar arithmetic (a hundred times cheaper
    than the array version on one sample: the scheduler checks telemetry one at a time)."""
    x, y, z = r_sat_km
    sx, sy, sz = r_sun_km[0] - x, r_sun_km[1] - y, r_sun_km[2] - z
    d_earth = math.sqrt(x * x + y * y + z * z)
    d_sun = math.sqrt(sx * sx + sy * sy + sz * sz)
    cx, cy, cz = sy * -z - sz * -y, sz * -x - sx * -z, sx * -y - sy * -x
    d = math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), -(sx * x + sy * y + sz * z))
    r1 = math.asin(min(EARTH_EQUATORIAL_RADIUS_KM / d_earth, 1.0))
    r2 = math.asin(SUN_RADIUS_KM / d_sun)
    if d >= r1 + r2:
        return 1.0
    if d <= abs(r1 - r2):
        return 1.0 - min(1.0, (min(r1, r2) / r2) ** 2)
    x1 = (d * d + r1 * r1 - r2 * r2) / (2 * d)
    x2 = d - x1
    lens = (
        r1 * r1 * math.acos(min(max(x1 / r1, -1.0), 1.0))
        - x1 * math.sqrt(max(r1 * r1 - x1 * x1, 0.0))
        + r2 * r2 * math.acos(min(max(x2 / r2, -1.0), 1.0))
        - x2 * math.sqrt(max(r2 * r2 - x2 * x2, 0.0))
    )
    return min(max(1.0 - lens / (math.pi * r2 * r2), 0.0), 1.0)


def sunlit_fraction(constellation: Constellation, times_s: ArrayLike) -> FloatArray:
    """Sunlit fraction in [0, 1] per satellite and time: (n_sat, n_t)."""
    t = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
    r, _, _ = propagate_teme(constellation.satrecs, t)
    return sunlit_fraction_at(r, sun_position_km(t)[None, :, :])


def altitude_km(constellation: Constellation, times_s: ArrayLike) -> FloatArray:
    """Height above the equatorial-radius sphere per satellite and time: (n_sat, n_t)."""
    r, _, _ = propagate_teme(constellation.satrecs, np.atleast_1d(times_s))
    return np.asarray(np.linalg.norm(r, axis=-1) - EARTH_EQUATORIAL_RADIUS_KM)


# Positions for sampled sunlight come from a StateGrid about this far apart (a whole number
# of sample steps; ~1 m from SGP4 itself), not from SGP4 at every sample: at 10,000
# satellites x 2,160 samples SGP4 alone took 16 s of the solver's forecast book.
_SAMPLED_GRID_STEP_S = 300.0
_SAMPLED_SAT_CHUNK = 500


def _sunlit_and_radius(r_km: FloatArray, r_sun_km: FloatArray) -> tuple[FloatArray, FloatArray]:
    """sunlit_fraction_at and |r| for positions (n, n_t, 3) against the Sun (n_t, 3), with
    dot products instead of cross products (the separation is needed near the Earth's
    limb, ~60-70 deg, where arccos is as good as arctan2)."""
    d_earth = np.sqrt(np.einsum("stk,stk->st", r_km, r_km))
    to_sun = r_sun_km[None] - r_km
    d_sun = np.sqrt(np.einsum("stk,stk->st", to_sun, to_sun))
    cos_sep = -np.einsum("stk,stk->st", to_sun, r_km) / (d_sun * d_earth)
    separation = np.arccos(np.clip(cos_sep, -1.0, 1.0))
    earth = np.arcsin(np.minimum(EARTH_EQUATORIAL_RADIUS_KM / d_earth, 1.0))
    sun = np.arcsin(SUN_RADIUS_KM / d_sun)
    out = np.ones_like(separation)
    shaded = separation < earth + sun
    out[shaded] = np.clip(
        1.0 - disk_overlap_fraction(separation[shaded], earth[shaded], sun[shaded]), 0.0, 1.0
    )
    return out, d_earth


def sampled_sunlight(
    constellation: Constellation, first_s: float, step_s: float, n_t: int
) -> tuple[FloatArray, FloatArray]:
    """(sunlit fraction, altitude_km) per satellite at first_s + step_s * j, j < n_t:
    (n_sat, n_t) each, as sunlit_fraction and altitude_km give them, from positions
    interpolated on a StateGrid (SGP4 every ~300 s) in chunks of satellites."""
    n = len(constellation)
    sunlit, alt = np.empty((n, n_t)), np.empty((n, n_t))
    if n == 0 or n_t == 0:
        return sunlit, alt
    times = first_s + step_s * np.arange(n_t)
    sun = sun_position_km(times)
    grid_step_s = step_s * max(1, round(_SAMPLED_GRID_STEP_S / step_s))
    last_s = float(times[-1])
    for lo in range(0, n, _SAMPLED_SAT_CHUNK):
        sats = constellation.satrecs[lo : lo + _SAMPLED_SAT_CHUNK]
        grid = StateGrid.propagate(sats, first_s, max(last_s, first_s + grid_step_s), grid_step_s)
        r = grid.positions_on(times) if n_t > 1 else grid.r_km[:, :1]
        frac, radius = _sunlit_and_radius(r, sun)
        sunlit[lo : lo + len(sats)] = frac
        alt[lo : lo + len(sats)] = radius - EARTH_EQUATORIAL_RADIUS_KM
    return sunlit, alt


@dataclass(frozen=True)
class EclipseTable:
    """Eclipses as parallel arrays (for large constellations), sorted by satellite then
    time."""

    sat: IntArray
    start_s: FloatArray
    end_s: FloatArray
    penumbra_start_s: FloatArray
    penumbra_end_s: FloatArray

    def __len__(self) -> int:
        return len(self.sat)

    def to_list(self) -> list[Eclipse]:
        return [
            Eclipse(int(s), float(a), float(b), float(pa), float(pb))
            for s, a, b, pa, pb in zip(
                self.sat,
                self.start_s,
                self.end_s,
                self.penumbra_start_s,
                self.penumbra_end_s,
                strict=True,
            )
        ]

    @staticmethod
    def concatenate(tables: Sequence[EclipseTable]) -> EclipseTable:
        return concatenate_tables(EclipseTable, tables)


def _peak_margin_rad(step_s: float) -> float:
    """Shadow functions (radians) peak smoothly, like sqrt(b^2 + (w t)^2): t seconds from
    the peak of a grazing eclipse they are ~(w t)^2 / 2b lower (w ~ 1.1e-3 rad/s, b ~ 1.1
    rad): 0.002 rad at 60 s, 0.05 at 300 s. A parabola's vertex within that of zero (plus
    0.01) is worth a search."""
    return 0.01 + 6e-7 * step_s**2


def eclipses_of_samples(
    grid: StateGrid, times_s: FloatArray, r_teme_km: NDArray[np.floating], first_sat: int = 0
) -> EclipseTable:
    """Eclipses of the satellites of `grid`, whose TEME positions `r_teme_km` (n, n_t, 3)
    are sampled at `times_s` (uniform; float32 is fine: they only bracket the edges)."""

    # Between samples the Sun is interpolated linearly: over 300 s it turns 0.0035 deg and
    # the chord departs from the arc by ~1e-9 rad.
    sun_samples = sun_position_km(times_s)
    separation, earth, sun_r = shadow_angles(r_teme_km, sun_samples[None].astype(r_teme_km.dtype))

    def sun_at(t: FloatArray) -> FloatArray:
        return np.stack([np.interp(t, times_s, sun_samples[:, i]) for i in range(3)], axis=-1)

    def umbra(rows: IntArray, t: FloatArray) -> FloatArray:
        s, e, _ = shadow_angles(grid.positions_at(rows, t), sun_at(t))
        return e - s

    def penumbra(rows: IntArray, t: FloatArray) -> FloatArray:
        s, e, sr = shadow_angles(grid.positions_at(rows, t), sun_at(t))
        return e + sr - s

    margin = _peak_margin_rad(float(times_s[1] - times_s[0])) if len(times_s) > 1 else 0.0
    centre = find_windows(times_s, earth - separation, umbra, peak_margin=margin)
    partial = find_windows(times_s, earth + sun_r - separation, penumbra, peak_margin=margin)
    # Match each eclipse to the penumbra interval that contains it (both sorted by row,
    # then time): the last penumbra of the same row starting no later.
    span = float(times_s[-1] - times_s[0]) + 1.0
    p_key = partial.row * span + (partial.start_s - times_s[0])
    c_key = centre.row * span + (centre.start_s - times_s[0])
    j = np.clip(np.searchsorted(p_key, c_key, side="right") - 1, 0, max(len(partial) - 1, 0))
    if len(partial):
        ok = partial.row[j] == centre.row
        pen_start = np.where(ok, partial.start_s[j], centre.start_s)
        pen_end = np.where(ok, partial.end_s[j], centre.end_s)
    else:
        pen_start, pen_end = centre.start_s, centre.end_s
    return EclipseTable(first_sat + centre.row, centre.start_s, centre.end_s, pen_start, pen_end)


def eclipse_table(
    constellation: Constellation,
    start_s: float,
    end_s: float,
) -> EclipseTable:
    """Every eclipse between start_s and end_s, boundaries refined to ~0.01 s, sorted by
    satellite then time. Intervals under way at either edge are clipped to the window.

    The shadow functions are smooth on the scale of an orbit, so they are sampled every
    300 s; short grazing eclipses between samples are caught by the peak search of
    find_windows."""
    if end_s <= start_s:
        raise ValueError("end_s must be after start_s")
    tables = []
    n = len(constellation)
    for lo in range(0, n, _SAT_CHUNK):
        grid = StateGrid.propagate(constellation.satrecs[lo : lo + _SAT_CHUNK], start_s, end_s)
        tables.append(eclipses_of_grid(grid, start_s, end_s, lo))
    return EclipseTable.concatenate(tables)


# Shadow functions are sampled this often (or at the SGP4 step, if finer).
_ECLIPSE_SAMPLE_STEP_S = 300.0


def eclipses_of_grid(grid: StateGrid, start_s: float, end_s: float, first_sat: int) -> EclipseTable:
    """Eclipses of the satellites of a TEME grid, sampled every 300 s (a divisor of the
    grid's step, for the fast aligned interpolation)."""
    divisions = max(1, round(grid.step_s / _ECLIPSE_SAMPLE_STEP_S))
    times = search_times(start_s, end_s, grid.step_s / divisions)
    return eclipses_of_samples(grid, times, grid.positions_on(times, np.float32), first_sat)


def find_eclipses(constellation: Constellation, start_s: float, end_s: float) -> list[Eclipse]:
    """eclipse_table(...) as a list of Eclipse."""
    return eclipse_table(constellation, start_s, end_s).to_list()
