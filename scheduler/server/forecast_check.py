"""Forecast error: each telemetry sample is compared with what the forecast models predict
from the previous sample (one telemetry interval ahead, with the load the agent reported).

The error feeds the `orbital_forecast_*_error` gauges and, when it stays large, a replan
("telemetry departs from the forecast").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.forecast import (
    BusParams,
    Constellation,
    altitude_km,
    environment_heat_w,
    generation_w,
    sunlit_fraction,
    temperature_trace,
)
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


class ForecastChecker:
    def __init__(self, constellation: Constellation, bus: BusParams) -> None:
        self.constellation = constellation
        self.bus = bus
        self._prev: dict[str, Telemetry] = {}
        self._streak: dict[str, int] = {}

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
        one = self.constellation.subset([self.constellation.index(sat)])
        times = prev.time_s + dt * np.array([1 / 6, 1 / 2, 5 / 6])
        sun = float(sunlit_fraction(one, times).mean())
        alt = float(altitude_km(one, times).mean())
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
