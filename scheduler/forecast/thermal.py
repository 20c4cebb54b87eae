"""Lumped-node thermal model (DESIGN.md section 3).

    C dT/dt = absorbed solar + Earth IR + albedo + dissipated load - eps sigma A (T^4 - T_space^4)

Arrays are indexed [..., step]; every electrical watt drawn by the node ends as heat in it.
"""

from __future__ import annotations

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
    Found by bisection on the nonlinear model, vectorised over the leading axes.
    """
    env = np.asarray(environment_w, dtype=np.float64)
    load = np.broadcast_to(np.asarray(load_w, dtype=np.float64), env.shape)
    lead = env.shape[:-1]
    # Upper bound: enough to heat the node past its limit within the first step even from a
    # cold start; the limit is reached well below it.
    lo = np.zeros(lead)
    hi = np.full(lead, bus.heat_capacity_j_k * 200.0 / step_s + radiated_w(400.0, bus))
    t0 = np.broadcast_to(np.asarray(initial_temperature_c, dtype=np.float64), lead)

    def peak_c(extra_w: FloatArray) -> FloatArray:
        trace = temperature_trace(t0, env, load + extra_w[..., None], step_s, bus, substeps=1)
        return np.asarray(trace.temperature_c[..., 1:].max(axis=-1))

    ok_at_zero = peak_c(lo) <= bus.max_temperature_c
    while np.any(hi - lo > tolerance_w):
        mid = 0.5 * (lo + hi)
        ok = peak_c(mid) <= bus.max_temperature_c
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return np.where(ok_at_zero, lo, 0.0)
