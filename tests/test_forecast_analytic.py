"""Analytic checks of the forecast engine: closed forms and conservation properties.

- eclipse duration of a circular equatorial orbit at an equinox against the cylindrical
  shadow of the Sun's centre;
- orbital period of a generated Walker satellite against Kepler's third law;
- hypothesis properties of the battery and thermal integrators (energy balance per step,
  bounds, monotonicity, steady state, thermal headroom).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyfield_oracle import circular_orbit_tle

from scheduler.forecast import find_eclipses, parse_tle, walker_delta
from scheduler.forecast.bus import BusParams
from scheduler.forecast.constants import (
    EARTH_EQUATORIAL_RADIUS_KM,
    EARTH_MU_KM3_S2,
    KELVIN_OFFSET,
    SPACE_TEMPERATURE_K,
    STEFAN_BOLTZMANN_W_M2_K4,
)
from scheduler.forecast.power import battery_trace, generation_w
from scheduler.forecast.propagate import propagate_teme
from scheduler.forecast.thermal import radiated_w, temperature_trace, thermal_headroom_w

BUS = BusParams()

# --- tolerances -----------------------------------------------------------------------------

TWO_SECONDS = 2.0
# Per-step energy balance: float64 sums of terms of at most ~1e4 Wh or ~1e9 J.
BALANCE_RELATIVE = 1e-9
# A temperature "at the limit": the headroom bisection stops on the safe side, and the
# default trace (2 RK4 substeps) differs from the bisection's (1 substep) by micro-kelvins.
LIMIT_TOLERANCE_K = 1e-3
# Steady state after ~25 thermal time constants (exp(-25) of the initial offset).
STEADY_STATE_TOLERANCE_K = 0.01
# SGP4 is not two-body: J2 makes the nodal period differ from 2 pi sqrt(a^3 / mu) by
# ~J2 (R/a)^2 x O(1), ~0.06 % at 550 km / 53 deg (0.13 % for an equatorial orbit).
PERIOD_RELATIVE_TOLERANCE = 0.002


# --- eclipse duration against the closed form -----------------------------------------------

# 2026 March equinox is 2026-03-20T14:46Z: the Sun's declination stays within 0.2 deg of zero
# over the half-day window, so the beta angle of an equatorial orbit is ~0.
EQUINOX_S = datetime(2026, 3, 20, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("altitude_km", [400.0, 550.0, 1200.0])
def test_equatorial_eclipse_duration_matches_cylindrical_shadow(altitude_km: float) -> None:
    """Rays from the centre of the Sun (1 AU away) that graze the Earth are parallel to
    within R / AU = 4e-5 rad, so the shadow of the centre is a cylinder of radius R. With
    the Sun in the orbit plane (beta = 0) a satellite on a circle of radius r is in it while
    within asin(R / r) of the anti-sun direction: the eclipse lasts T * asin(R / r) / pi,
    with T = 2 pi sqrt(a^3 / mu), r = a = R + h. (At beta != 0 the half-arc would be
    acos(sqrt(1 - (R/r)^2) / cos beta); at the equinox beta < 0.1 deg changes it by < 1 ms.)

    Tolerance 2 s: SGP4's mean radius and period differ from the two-body ones by ~3 km and
    ~7 s per orbit, which moves the duration by 0.3-0.7 s (measured with Skyfield).
    """
    line1, line2 = circular_orbit_tle(90500, EQUINOX_S, altitude_km, 0.0, eccentricity=0.0001)
    constellation = parse_tle(f"EQ\n{line1}\n{line2}\n", source="equatorial.tle")
    end_s = EQUINOX_S + 43_200.0
    eclipses = find_eclipses(constellation, EQUINOX_S, end_s)
    whole = [e for e in eclipses if e.start_s > EQUINOX_S and e.end_s < end_s]
    assert len(whole) >= 6, f"expected ~7 whole eclipses in 12 h, got {eclipses}"

    a_km = EARTH_EQUATORIAL_RADIUS_KM + altitude_km
    period_s = 2.0 * math.pi * math.sqrt(a_km**3 / EARTH_MU_KM3_S2)
    half_arc = math.asin(EARTH_EQUATORIAL_RADIUS_KM / a_km)
    expected_s = period_s * half_arc / math.pi
    for e in whole:
        got = e.end_s - e.start_s
        assert abs(got - expected_s) <= TWO_SECONDS, (
            f"find_eclipses: equatorial orbit at {altitude_km} km, eclipse starting "
            f"{e.start_s:.1f}: duration {got:.2f} s, closed form {expected_s:.2f} s"
        )


def test_walker_period_matches_kepler() -> None:
    """The ascending-node crossings of a generated Walker satellite repeat with the two-body
    period of a = R + altitude, to within J2's effect."""
    altitude_km, inclination_deg = 550.0, 53.0
    shell = walker_delta(
        altitude_km=altitude_km,
        inclination_deg=inclination_deg,
        planes=3,
        sats_per_plane=4,
        phasing=1,
        epoch_s=EQUINOX_S,
        name_prefix="w",
    )
    times = EQUINOX_S + np.arange(0.0, 6 * 3600.0, 1.0)
    r_km, _, errors = propagate_teme([shell.satrecs[5]], times)
    assert not errors.any()
    z = r_km[0, :, 2]
    up = np.nonzero((z[:-1] < 0.0) & (z[1:] >= 0.0))[0]
    # Linear interpolation of z between one-second samples: crossings to ~1 ms.
    crossings = times[up] + (-z[up] / (z[up + 1] - z[up]))
    assert len(crossings) >= 3
    measured_s = float(np.mean(np.diff(crossings)))

    a_km = EARTH_EQUATORIAL_RADIUS_KM + altitude_km
    kepler_s = 2.0 * math.pi * math.sqrt(a_km**3 / EARTH_MU_KM3_S2)
    assert abs(measured_s / kepler_s - 1.0) <= PERIOD_RELATIVE_TOLERANCE, (
        f"walker_delta(550 km, 53 deg): nodal period {measured_s:.1f} s, Kepler {kepler_s:.1f} s"
    )
    # The mean motion the generator wrote is the two-body one of the requested altitude.
    assert shell.satrecs[5].no_kozai / 60.0 == pytest.approx(
        math.sqrt(EARTH_MU_KM3_S2 / a_km**3), rel=1e-9
    )


# --- battery ----------------------------------------------------------------------------------

steps = st.integers(min_value=1, max_value=40)
step_s = st.sampled_from([1.0, 10.0, 60.0, 300.0, 900.0])


@st.composite
def battery_case(draw: st.DrawFn) -> tuple[float, np.ndarray, np.ndarray, float]:
    n = draw(steps)
    power = st.floats(min_value=0.0, max_value=6000.0, allow_nan=False)
    gen = np.array(draw(st.lists(power, min_size=n, max_size=n)))
    load = np.array(draw(st.lists(power, min_size=n, max_size=n)))
    soc0 = draw(st.floats(min_value=0.0, max_value=BUS.battery_capacity_wh))
    return soc0, gen, load, draw(step_s)


@settings(max_examples=200, deadline=None)
@given(battery_case())
def test_battery_energy_balance_and_bounds(
    case: tuple[float, np.ndarray, np.ndarray, float],
) -> None:
    soc0, gen, load, dt = case
    trace = battery_trace(soc0, gen, load, dt, BUS)
    soc = trace.soc_wh
    assert soc.shape == (len(gen) + 1,)
    assert soc[0] == soc0
    net_wh = (gen - load) * dt / 3600.0
    lhs = soc[1:]
    rhs = soc[:-1] + net_wh - trace.curtailed_wh + trace.deficit_wh
    scale = BUS.battery_capacity_wh + np.abs(net_wh)
    assert np.all(np.abs(lhs - rhs) <= BALANCE_RELATIVE * scale), (
        "battery_trace: soc[k+1] != soc[k] + net - curtailed + deficit"
    )
    assert np.all((soc >= 0.0) & (soc <= BUS.battery_capacity_wh))
    assert np.all(trace.curtailed_wh >= 0.0) and np.all(trace.deficit_wh >= 0.0)
    # Never curtail and brown out in the same step.
    assert not np.any((trace.curtailed_wh > 0) & (trace.deficit_wh > 0))
    assert np.array_equal(trace.floor_breached, soc[1:] < BUS.battery_floor_wh - 1e-9)


@settings(max_examples=200, deadline=None)
@given(battery_case(), st.data())
def test_battery_monotone_in_generation(
    case: tuple[float, np.ndarray, np.ndarray, float], data: st.DataObject
) -> None:
    soc0, gen, load, dt = case
    extra = np.array(
        data.draw(
            st.lists(
                st.floats(min_value=0.0, max_value=3000.0), min_size=len(gen), max_size=len(gen)
            )
        )
    )
    base = battery_trace(soc0, gen, load, dt, BUS)
    more = battery_trace(soc0, gen + extra, load, dt, BUS)
    assert np.all(more.soc_wh >= base.soc_wh - 1e-9), "more generation gave less charge"
    assert np.all(more.deficit_wh <= base.deficit_wh + 1e-9)


def test_battery_vectorised_over_satellites() -> None:
    gen = generation_w(np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]]), BUS)
    trace = battery_trace([1000.0, 500.0], gen, 1500.0, 600.0, BUS)
    assert trace.soc_wh.shape == (2, 4)
    one = battery_trace(500.0, gen[1], 1500.0, 600.0, BUS)
    np.testing.assert_array_equal(trace.soc_wh[1], one.soc_wh)


# --- thermal ----------------------------------------------------------------------------------


@st.composite
def thermal_case(draw: st.DrawFn) -> tuple[float, np.ndarray, np.ndarray, float]:
    n = draw(steps)
    env = np.array(
        draw(st.lists(st.floats(min_value=0.0, max_value=1500.0), min_size=n, max_size=n))
    )
    load = np.array(
        draw(st.lists(st.floats(min_value=0.0, max_value=4000.0), min_size=n, max_size=n))
    )
    t0 = draw(st.floats(min_value=-40.0, max_value=59.0))
    return t0, env, load, draw(st.sampled_from([1.0, 10.0, 60.0, 120.0]))


@settings(max_examples=150, deadline=None)
@given(thermal_case())
def test_thermal_energy_balance(case: tuple[float, np.ndarray, np.ndarray, float]) -> None:
    t0, env, load, dt = case
    trace = temperature_trace(t0, env, load, dt, BUS)
    temps = trace.temperature_c
    assert temps.shape == (len(env) + 1,)
    assert temps[0] == pytest.approx(t0, abs=1e-12)
    lhs = BUS.heat_capacity_j_k * np.diff(temps)
    rhs = (env + load) * dt - trace.radiated_j
    scale = (env + load + radiated_w(400.0, BUS)) * dt
    assert np.all(np.abs(lhs - rhs) <= BALANCE_RELATIVE * scale), (
        "temperature_trace: C (T[k+1] - T[k]) != (env + load) dt - radiated_j[k]"
    )
    # What leaves is what a body between the step's temperatures radiates.
    t_k = temps + KELVIN_OFFSET
    lo = radiated_w(np.minimum(t_k[:-1], t_k[1:]), BUS) * dt
    hi = radiated_w(np.maximum(t_k[:-1], t_k[1:]), BUS) * dt
    assert np.all(trace.radiated_j >= lo * (1 - 1e-9)) and np.all(
        trace.radiated_j <= hi * (1 + 1e-9)
    )


@settings(max_examples=100, deadline=None)
@given(thermal_case(), st.floats(min_value=0.0, max_value=2000.0))
def test_thermal_monotone_in_load(
    case: tuple[float, np.ndarray, np.ndarray, float], extra_w: float
) -> None:
    t0, env, load, dt = case
    base = temperature_trace(t0, env, load, dt, BUS).temperature_c
    hotter = temperature_trace(t0, env, load + extra_w, dt, BUS).temperature_c
    assert np.all(hotter >= base - 1e-9), "more dissipation gave a colder node"


@pytest.mark.parametrize("heat_w", [500.0, 1500.0, 3000.0, 6000.0])
def test_thermal_steady_state_is_radiative_equilibrium(heat_w: float) -> None:
    """Held at constant Q, the node settles where eps sigma A (T^4 - T_space^4) = Q."""
    expected_k = (
        heat_w / (BUS.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * BUS.radiator_area_m2)
        + SPACE_TEMPERATURE_K**4
    ) ** 0.25
    # Time constant C / (4 eps sigma A T^3) is ~1-2 h here: run 4 days of 5-minute steps.
    n = 4 * 288
    trace = temperature_trace(20.0, np.full(n, heat_w), np.zeros(n), 300.0, BUS)
    assert trace.temperature_c[-1] + KELVIN_OFFSET == pytest.approx(
        expected_k, abs=STEADY_STATE_TOLERANCE_K
    )


@settings(max_examples=60, deadline=None)
@given(thermal_case())
def test_thermal_headroom_is_tight(case: tuple[float, np.ndarray, np.ndarray, float]) -> None:
    t0, env, load, dt = case
    tol_w = 1.0
    head = float(thermal_headroom_w(t0, env, load, dt, BUS, tolerance_w=tol_w))
    assert head >= 0.0
    limit = BUS.max_temperature_c
    peak_base = temperature_trace(t0, env, load, dt, BUS).temperature_c[1:].max()
    if peak_base > limit:
        assert head == 0.0, "already over the limit: the headroom must be zero"
        return
    peak = temperature_trace(t0, env, load + head, dt, BUS).temperature_c[1:].max()
    assert peak <= limit + LIMIT_TOLERANCE_K, (
        f"thermal_headroom_w: with {head:.1f} W more the peak is {peak:.4f} C > {limit} C"
    )
    over = temperature_trace(t0, env, load + head + tol_w + 1.0, dt, BUS).temperature_c
    assert over[1:].max() > limit, (
        f"thermal_headroom_w: {head:.1f} W is not tight, {tol_w + 1.0} W more still stays "
        f"at {over[1:].max():.4f} C <= {limit} C"
    )


def test_thermal_headroom_vectorised_and_bus_sensitive() -> None:
    env = np.full((2, 10), 400.0)
    load = np.array([[300.0], [2000.0]])
    head = thermal_headroom_w([30.0, 30.0], env, load, 60.0, BUS)
    assert head.shape == (2,)
    assert head[0] > head[1]
    hot_bus = replace(BUS, max_temperature_c=40.0)
    assert float(thermal_headroom_w(30.0, env[0], 300.0, 60.0, hot_bus)) < head[0]
