"""The scheduler's forecast check of telemetry: its scalar arithmetic against the array
functions of scheduler.forecast, and when it reports a departure."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.forecast import (
    altitude_km,
    environment_heat_w,
    generation_w,
    sunlit_fraction,
    temperature_trace,
)
from scheduler.forecast.eclipse import sunlit_fraction_at, sunlit_fraction_point
from scheduler.forecast.propagate import propagate_teme
from scheduler.forecast.sun import sun_position_km
from scheduler.scenario import load_scenario
from scheduler.server.forecast_check import MIN_INTERVAL_S, ForecastChecker
from scheduler.server.messages import Telemetry

SC = load_scenario(None)


def test_the_scalar_sunlit_fraction_is_the_array_one() -> None:
    """Every 5 s for 6 h of three satellites: lit, umbra and each penumbra."""
    c = SC.constellation.subset([0, 11, 22])
    times = SC.epoch_s + 5.0 * np.arange(6 * 720)
    r, _, _ = propagate_teme(c.satrecs, times)
    sun = sun_position_km(times)
    expected = sunlit_fraction_at(r, sun[None])
    got = np.array(
        [
            [sunlit_fraction_point(tuple(r[i, k]), tuple(sun[k])) for k in range(len(times))]
            for i in range(len(c))
        ]
    )
    assert ((expected > 0) & (expected < 1)).sum() > 10 and (expected == 0).any()
    assert np.abs(got - expected).max() < 1e-9


def _oracle(sat: str, prev: Telemetry, tel: Telemetry) -> tuple[float, float]:
    """The check with the array functions (what it computed before it was made scalar)."""
    one = SC.constellation.subset([SC.constellation.index(sat)])
    dt = tel.time_s - prev.time_s
    times = prev.time_s + dt * np.array([1 / 6, 1 / 2, 5 / 6])
    sun = float(sunlit_fraction(one, times).mean())
    alt = float(altitude_km(one, times).mean())
    gen = float(generation_w(sun, SC.bus))
    cap = tel.battery_capacity_wh
    soc = min(max(prev.battery_soc_wh + (gen - prev.power_drawn_w) * dt / 3600.0, 0.0), cap)
    env = float(environment_heat_w(sun, alt, SC.bus))
    trace = temperature_trace(
        prev.temperature_c, np.array([env]), np.array([prev.power_drawn_w]), dt, SC.bus
    )
    return (tel.battery_soc_wh - soc) / cap, tel.temperature_c - float(trace.temperature_c[-1])


@pytest.mark.parametrize("dt_s", [60.0, 600.0, 3000.0])
def test_the_check_computes_what_the_forecast_functions_do(dt_s: float) -> None:
    checker = ForecastChecker(SC.constellation, SC.bus)
    for i, sat in enumerate(SC.constellation.names):
        t0 = SC.epoch_s + 97.0 * i
        prev = Telemetry(t0, 1400.0, 2000.0, 22.0, power_drawn_w=250.0 + i)
        tel = Telemetry(t0 + dt_s, 1380.0, 2000.0, 24.0, power_drawn_w=300.0)
        assert checker.observe(sat, prev) is None
        err = checker.observe(sat, tel)
        assert err is not None and not err.departed
        soc_ratio, temperature_c = _oracle(sat, prev, tel)
        # The check takes the Sun at the middle of 30 s buckets: in a penumbra that moves
        # the sunlit fraction by up to ~3e-4.
        assert err.soc_ratio == pytest.approx(soc_ratio, abs=1e-5)
        assert err.temperature_c == pytest.approx(temperature_c, abs=1e-3)


def test_a_departure_is_three_large_errors_in_a_row() -> None:
    checker = ForecastChecker(SC.constellation, SC.bus)
    sat, t = "sat-0-0", SC.epoch_s
    assert checker.observe(sat, Telemetry(t, 1400.0, 2000.0, 20.0)) is None
    # Too soon after the previous sample: not compared.
    assert checker.observe(sat, Telemetry(t + MIN_INTERVAL_S / 2, 1400.0, 2000.0, 20.0)) is None
    seen = []
    for k in range(1, 4):  # 10 C hotter every 2 minutes: far from the thermal model
        err = checker.observe(sat, Telemetry(t + k * 120.0, 1400.0, 2000.0, 20.0 + 10 * k))
        assert err is not None and err.temperature_c > 3.0
        seen.append(err.departed)
    assert seen == [False, False, True]
    # Over an hour since the last sample: not compared.
    assert checker.observe(sat, Telemetry(t + 2 * 3600.0, 1400.0, 2000.0, 20.0)) is None
