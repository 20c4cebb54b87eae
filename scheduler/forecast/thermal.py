"""Lumped-node thermal model (DESIGN.md section 3).

    C dT/dt = absorbed solar + Earth IR + albedo + dissipated load - eps sigma A (T^4 - T_space^4)

Arrays are indexed [..., step]; every electrical watt drawn by the node ends as heat in it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.bus import BusParams
from scheduler.forecast.constants import (
    EARTH_ALBEDO,
    EARTH_EQUATORIAL_RADIUS_KM,
    EARTH_OLR_W_M2,
    KELVIN_OFFSET,
    SOLAR_CONSTANT_W_M2,
    SPACE_TEMPERATURE_K,
    STEFAN_BOLTZMANN_W_M2_K4,
)

FloatArray = NDArray[np.float64]

# Mean cosine of the solar zenith angle under a sunlit LEO ground track, used to scale
# albedo (Gilmore, Spacecraft Thermal Control Handbook, ch. 2: orbit-average albedo factor).
_ALBEDO_ORBIT_FACTOR = 0.5


def earth_view_factor(altitude_km: ArrayLike) -> FloatArray:
    """View factor of a nadir-facing plate to the Earth: (R / (R + h))^2."""
    h = np.asarray(altitude_km, dtype=np.float64)
    return (EARTH_EQUATORIAL_RADIUS_KM / (EARTH_EQUATORIAL_RADIUS_KM + h)) ** 2


def environment_heat_w(
    sunlit_fraction: ArrayLike, altitude_km: ArrayLike, bus: BusParams
) -> FloatArray:
    """Heat absorbed from the Sun, Earth IR and albedo (W), per step."""
    sunlit = np.clip(np.asarray(sunlit_fraction, dtype=np.float64), 0.0, 1.0)
    view = earth_view_factor(altitude_km)
    solar = bus.solar_absorptivity * bus.sun_facing_area_m2 * SOLAR_CONSTANT_W_M2 * sunlit
    earth_ir = bus.radiator_emissivity * bus.earth_facing_area_m2 * EARTH_OLR_W_M2 * view
    albedo = (
        bus.solar_absorptivity
        * bus.earth_facing_area_m2
        * SOLAR_CONSTANT_W_M2
        * EARTH_ALBEDO
        * view
        * _ALBEDO_ORBIT_FACTOR
        * sunlit
    )
    return np.asarray(solar + earth_ir + albedo, dtype=np.float64)


def radiated_w(temperature_k: ArrayLike, bus: BusParams) -> FloatArray:
    t = np.asarray(temperature_k, dtype=np.float64)
    return (
        bus.radiator_emissivity
        * STEFAN_BOLTZMANN_W_M2_K4
        * bus.radiator_area_m2
        * (t**4 - SPACE_TEMPERATURE_K**4)
    )


@dataclass(frozen=True)
class ThermalTrace:
    """Temperatures at each step boundary (one more sample than steps) and the heat radiated
    in each step, consistent with the integrator so that per step
    C (T[k+1] - T[k]) = (env + load) dt - radiated_j[k]."""

    temperature_c: FloatArray
    radiated_j: FloatArray


def temperature_trace(
    initial_temperature_c: ArrayLike,
    environment_w: ArrayLike,
    load_w: ArrayLike,
    step_s: float,
    bus: BusParams,
    substeps: int = 2,
) -> ThermalTrace:
    """Integrate the nonlinear node with classical RK4, `substeps` per step."""
    heat_in = np.asarray(environment_w, dtype=np.float64) + np.asarray(load_w, dtype=np.float64)
    t_k = np.broadcast_to(
        np.asarray(initial_temperature_c, dtype=np.float64) + KELVIN_OFFSET, heat_in.shape[:-1]
    ).copy()
    n = heat_in.shape[-1]
    temps = np.empty((*heat_in.shape[:-1], n + 1))
    radiated = np.zeros_like(heat_in)
    temps[..., 0] = t_k
    h = step_s / substeps
    c = bus.heat_capacity_j_k
    for k in range(n):
        q = heat_in[..., k]
        for _ in range(substeps):
            r1 = radiated_w(t_k, bus)
            r2 = radiated_w(t_k + 0.5 * h * (q - r1) / c, bus)
            r3 = radiated_w(t_k + 0.5 * h * (q - r2) / c, bus)
            r4 = radiated_w(t_k + h * (q - r3) / c, bus)
            rad_j = h * (r1 + 2 * r2 + 2 * r3 + r4) / 6.0
            t_k = t_k + (q * h - rad_j) / c
            radiated[..., k] += rad_j
        temps[..., k + 1] = t_k
    return ThermalTrace(temps - KELVIN_OFFSET, radiated)


def _peak_temperature_c(
    t0_c: FloatArray, heat_w: FloatArray, extra_w: FloatArray, step_s: float, bus: BusParams
) -> FloatArray:
    """Highest temperature at the step boundaries after the start (temperature_trace with
    one RK4 substep), for heat_w given step-major (m, *lead): contiguous slices per step
    and no trace kept (the headroom search runs this on 10,000 x 30 x 30 samples)."""
    k_rad = bus.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * bus.radiator_area_m2
    space4 = SPACE_TEMPERATURE_K**4
    c, h = bus.heat_capacity_j_k, step_s
    t = t0_c + KELVIN_OFFSET
    peak = np.full(t.shape, -np.inf)

    def rad(x: FloatArray) -> FloatArray:
        x2 = x * x
        return np.asarray(k_rad * (x2 * x2 - space4))

    for k in range(heat_w.shape[0]):
        q = heat_w[k] + extra_w
        r1 = rad(t)
        r2 = rad(t + 0.5 * h * (q - r1) / c)
        r3 = rad(t + 0.5 * h * (q - r2) / c)
        r4 = rad(t + h * (q - r3) / c)
        t = t + (q * h - h * (r1 + 2 * r2 + 2 * r3 + r4) / 6.0) / c
        np.maximum(peak, t, out=peak)
    return np.asarray(peak - KELVIN_OFFSET)


def thermal_headroom_w(
    initial_temperature_c: ArrayLike,
    environment_w: ArrayLike,
    load_w: ArrayLike,
    step_s: float,
    bus: BusParams,
    tolerance_w: float = 1.0,
) -> FloatArray:
    """Extra constant dissipation (W) the node can add over the given steps, on top of
    load_w, without its temperature crossing bus.max_temperature_c at any step boundary.

    Zero when the node is already at or over its limit (or would be with no extra load).
    Found on the nonlinear model to within tolerance_w, vectorised over the leading axes:
    a bracket [feasible, infeasible] narrowed by safeguarded secant steps, each testing
    the two points tolerance_w / 2 either side of the estimate (the peak is close to linear
    in the extra load, so two or three steps close the bracket; 20 bisections did before).
    """
    env = np.asarray(environment_w, dtype=np.float64)
    load = np.broadcast_to(np.asarray(load_w, dtype=np.float64), env.shape)
    lead = env.shape[:-1]
    heat = np.ascontiguousarray(np.moveaxis(env + load, -1, 0))
    t0 = np.broadcast_to(np.asarray(initial_temperature_c, dtype=np.float64), lead)
    limit_c = bus.max_temperature_c

    size = int(np.prod(lead))
    heat2 = heat.reshape(heat.shape[0], size)
    t02 = np.ascontiguousarray(t0).reshape(size)

    def excess_c(extra_w: FloatArray, rows: NDArray[np.int64]) -> FloatArray:
        """Peak minus limit of the given (flattened) elements only."""
        peak = _peak_temperature_c(t02[rows], heat2[:, rows], extra_w, step_s, bus)
        return np.asarray(peak - limit_c)

    every = np.arange(size)
    lo = np.zeros(size)
    f_lo = excess_c(lo, every)
    ok_at_zero = f_lo <= 0.0
    # Above this the node passes its limit within the interval: while it is below the
    # limit it warms by at least (extra - radiated at the limit) / C (and 100 W for the
    # integrator). The old bound (any start heats past it in one step) backs it up.
    n_steps = max(1, env.shape[-1])
    rise_k = np.maximum(limit_c - t02, 0.0)
    hi = (
        bus.heat_capacity_j_k * rise_k / (n_steps * step_s)
        + radiated_w(limit_c + KELVIN_OFFSET, bus)
        + 100.0
    )
    f_hi = excess_c(hi, every)
    short = np.flatnonzero(f_hi <= 0.0)
    if len(short):
        lo[short], f_lo[short] = hi[short], f_hi[short]
        hi[short] = bus.heat_capacity_j_k * 200.0 / step_s + radiated_w(400.0, bus)
        f_hi[short] = excess_c(hi[short], short)
    # Anderson-Bjorck: an end the bracket keeps while the other moves has its weight
    # scaled down in the next secant step, so that a curved peak does not pin the estimate
    # to one side. Only the elements whose bracket is still open are integrated.
    w_lo, w_hi = f_lo.copy(), f_hi.copy()
    for it in itertools.count():
        rows = np.flatnonzero(ok_at_zero & (hi - lo > tolerance_w))
        if len(rows) == 0:
            break
        r_lo, r_hi = lo[rows], hi[rows]
        f_lo0, f_hi0 = f_lo[rows], f_hi[rows]
        if it % 6 == 5:  # a bisection now and then bounds the worst case
            x = 0.5 * (r_lo + r_hi)
        else:
            frac = -w_lo[rows] / np.maximum(w_hi[rows] - w_lo[rows], 1e-300)
            x = r_lo + np.clip(frac, 0.0, 1.0) * (r_hi - r_lo)
        moved_lo = np.zeros(len(rows), dtype=bool)
        moved_hi = np.zeros(len(rows), dtype=bool)
        for point in (
            np.clip(x - 0.5 * tolerance_w, r_lo, r_hi),
            np.clip(x + 0.5 * tolerance_w, r_lo, r_hi),
        ):
            f = excess_c(point, rows)
            inside = (point > lo[rows]) & (point < hi[rows])
            ok, bad = inside & (f <= 0.0), inside & (f > 0.0)
            lo[rows[ok]], f_lo[rows[ok]], w_lo[rows[ok]] = point[ok], f[ok], f[ok]
            hi[rows[bad]], f_hi[rows[bad]], w_hi[rows[bad]] = point[bad], f[bad], f[bad]
            moved_lo |= ok
            moved_hi |= bad
        keep_lo, keep_hi = moved_hi & ~moved_lo, moved_lo & ~moved_hi
        m_lo = 1.0 - f_hi[rows] / np.where(f_hi0 != 0.0, f_hi0, 1.0)
        m_hi = 1.0 - f_lo[rows] / np.where(f_lo0 != 0.0, f_lo0, 1.0)
        w_lo[rows[keep_lo]] *= np.where(m_lo > 0.0, m_lo, 0.5)[keep_lo]
        w_hi[rows[keep_hi]] *= np.where(m_hi > 0.0, m_hi, 0.5)[keep_hi]
    return np.where(ok_at_zero, lo, 0.0).reshape(lead)
