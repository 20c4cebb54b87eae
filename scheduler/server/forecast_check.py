"""Forecast error: each telemetry sample is compared with what the forecast models predict
from the previous sample (one telemetry interval ahead, with the load the agent reported).

The error feeds the `orbital_forecast_*_error` gauges and, when it stays large, a replan
("telemetry departs from the forecast").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scheduler.forecast import (
    BusParams,
    Constellation,
    environment_heat_w,
    generation_w,
    temperature_trace,
)
from scheduler.forecast.constants import EARTH_EQUATORIAL_RADIUS_KM
from scheduler.forecast.eclipse import sunlit_fraction_point
from scheduler.forecast.sun import sun_position_km
from scheduler.forecast.timeconv import jd_pair
from scheduler.server.messages import Telemetry

# Compare over at least this much simulated time (a 1 Hz stream is checked once a minute).
MIN_INTERVAL_S = 60.0
# Departure thresholds: 5% of capacity or 3 C, for this many samples in a row.
SOC_DEPARTURE_RATIO = 0.05
TEMPERATURE_DEPARTURE_C = 3.0
DEPARTURE_SAMPLES = 3


@dataclass(frozen=True)
class ForecastError:
    soc_ratio: float
    temperature_c: float
    departed: bool


# The Sun is taken at the middle of buckets this long (it moves 0.0002 deg in 15 s).
_SUN_BUCKET_S = 30.0
_SUBSAMPLES = (1 / 6, 1 / 2, 5 / 6)


class ForecastChecker:
    """Called for each telemetry sample on the scheduler's event loop (10,000 satellites:
    ~170 checks a second), so one check is scalar arithmetic on three SGP4 states of one
    satellite, not the array functions of scheduler.forecast (0.43 -> ~0.1 ms)."""

    def __init__(self, constellation: Constellation, bus: BusParams) -> None:
        self.constellation = constellation
        self.bus = bus
        self._prev: dict[str, Telemetry] = {}
        self._streak: dict[str, int] = {}
        self._sun: dict[int, tuple[float, float, float]] = {}

    def _sun_at(self, time_s: float) -> tuple[float, float, float]:
        k = int(time_s // _SUN_BUCKET_S)
        sun = self._sun.get(k)
        if sun is None:
            if len(self._sun) > 4096:
                self._sun.clear()
            x, y, z = sun_position_km(np.array([(k + 0.5) * _SUN_BUCKET_S]))[0]
            sun = self._sun[k] = (float(x), float(y), float(z))
        return sun

    def sunlight(self, sat: str, start_s: float, dt_s: float) -> tuple[float, float]:
        """(sunlit fraction, altitude_km), means over the 1/6, 1/2, 5/6 points of the
        interval, as sunlit_fraction and altitude_km give them."""
        satrec = self.constellation.satrecs[self.constellation.index(sat)]
        times = [start_s + dt_s * f for f in _SUBSAMPLES]
        jd, fr = jd_pair(np.array(times))
        _, r, _ = satrec.sgp4_array(jd, fr)
        sun = alt = 0.0
        for (x, y, z), t in zip(r.tolist(), times, strict=True):
            sun += sunlit_fraction_point((x, y, z), self._sun_at(t))
            alt += math.sqrt(x * x + y * y + z * z) - EARTH_EQUATORIAL_RADIUS_KM
        return sun / 3.0, alt / 3.0

    def observe(self, sat: str, tel: Telemetry) -> ForecastError | None:
        prev = self._prev.get(sat)
        if prev is not None and 0 < tel.time_s - prev.time_s < MIN_INTERVAL_S:
            return None
        self._prev[sat] = tel
        if prev is None or tel.time_s <= prev.time_s or not tel.battery_capacity_wh:
            return None
        dt = tel.time_s - prev.time_s
        if dt > 3600.0:
            return None
        sun, alt = self.sunlight(sat, prev.time_s, dt)
        gen = float(generation_w(sun, self.bus))
        cap = tel.battery_capacity_wh
        soc = min(max(prev.battery_soc_wh + (gen - prev.power_drawn_w) * dt / 3600.0, 0.0), cap)
        env = float(environment_heat_w(sun, alt, self.bus))
        trace = temperature_trace(
            prev.temperature_c, np.array([env]), np.array([prev.power_drawn_w]), dt, self.bus
        )
        err = ForecastError(
            (tel.battery_soc_wh - soc) / cap,
            tel.temperature_c - float(trace.temperature_c[-1]),
            False,
        )
        big = (
            abs(err.soc_ratio) > SOC_DEPARTURE_RATIO
            or abs(err.temperature_c) > TEMPERATURE_DEPARTURE_C
        )
        streak = self._streak.get(sat, 0) + 1 if big else 0
        self._streak[sat] = 0 if streak >= DEPARTURE_SAMPLES else streak
        return ForecastError(err.soc_ratio, err.temperature_c, streak >= DEPARTURE_SAMPLES)
