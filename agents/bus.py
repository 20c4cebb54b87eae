"""The simulated satellite bus: the truth model of power and heat that the agent runs.

It uses the forecast package's own physics (solar generation, the battery with curtailment,
the nonlinear lumped thermal node) but with small seeded errors against the forecast the
scheduler plans with: the array yields a little more or less than forecast (soiling,
temperature, pointing), and the environment heat differs (attitude, albedo). Plans are made
on the forecast; the agent lives in this truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from scheduler.forecast import (
    BusParams,
    Constellation,
    altitude_km,
    battery_trace,
    environment_heat_w,
    generation_w,
    sunlit_fraction,
    temperature_trace,
)

FloatArray = NDArray[np.float64]

# One-sigma truth errors against the forecast: ~1% on array output (cell temperature and
# pointing jitter move a few tenths of a percent to ~1%), ~3% on absorbed environment heat
# (albedo varies by tens of percent over the ground track, averaged by the node).
GENERATION_ERROR = 0.01
HEAT_ERROR = 0.03


@dataclass(frozen=True)
class BusSample:
    """The state at the end of a step and the flows over it."""

    time_s: float
    soc_wh: float
    temperature_c: float
    generation_w: float
    load_w: float
    sunlit_fraction: float
    curtailed_wh: float


class SimulatedBus:
    """Truth of one satellite on a fixed time grid (start_s + k * step_s) of sunlit fraction
    and altitude; between grid points the conditions of the step containing the time apply.

    `predict` says where a load would take the bus over dt without changing it; `step`
    advances it. soc and temperature are integrated with battery_trace and the nonlinear
    temperature_trace of scheduler.forecast.
    """

    def __init__(
        self,
        bus: BusParams,
        start_s: float,
        step_s: float,
        sunlit: FloatArray,
        altitude_km: FloatArray,
        soc_wh: float | None = None,
        temperature_c: float | None = None,
        seed: int = 0,
        generation_error: float = GENERATION_ERROR,
        heat_error: float = HEAT_ERROR,
    ) -> None:
        rng = np.random.default_rng(seed)
        n = len(sunlit)
        gen_factor = 1.0 + generation_error * (rng.standard_normal() + 0.5 * rng.standard_normal(n))
        heat_factor = 1.0 + heat_error * (rng.standard_normal() + 0.5 * rng.standard_normal(n))
        self.bus = bus
        self.start_s = start_s
        self.step_s = step_s
        self.sunlit = np.asarray(sunlit, dtype=np.float64)
        self.gen_w = generation_w(self.sunlit, bus) * np.clip(gen_factor, 0.9, 1.1)
        self.env_w = environment_heat_w(self.sunlit, altitude_km, bus) * np.clip(
            heat_factor, 0.8, 1.2
        )
        self.soc_wh = bus.initial_soc_wh if soc_wh is None else soc_wh
        self.temperature_c = bus.initial_temperature_c if temperature_c is None else temperature_c
        self.min_soc_wh = self.soc_wh
        self.max_temperature_c = self.temperature_c
        self.energy_used_wh = 0.0
        self.floor_violations = 0
        self.temperature_violations = 0

    @classmethod
    def from_constellation(
        cls,
        constellation: Constellation,
        index: int,
        bus: BusParams,
        start_s: float,
        end_s: float,
        step_s: float = 60.0,
        **kw: float | int | None,
    ) -> SimulatedBus:
        """Propagate one satellite of the constellation over [start_s, end_s)."""
        sub = constellation.subset([index])
        times = start_s + step_s * (np.arange(int(np.ceil((end_s - start_s) / step_s))) + 0.5)
        sun = sunlit_fraction(sub, times)[0]
        alt = altitude_km(sub, times)[0]
        return cls(bus, start_s, step_s, sun, alt, **kw)  # type: ignore[arg-type]

    def _k(self, now_s: float) -> int:
        k = int((now_s - self.start_s + 1e-6) // self.step_s)
        return min(max(k, 0), len(self.sunlit) - 1)

    def conditions(self, now_s: float) -> tuple[float, float, float]:
        """(generation_w, environment_heat_w, sunlit_fraction) at now_s."""
        k = self._k(now_s)
        return float(self.gen_w[k]), float(self.env_w[k]), float(self.sunlit[k])

    def predict(self, now_s: float, load_w: float, dt_s: float) -> tuple[float, float]:
        """(soc_wh, temperature_c) after dt_s at load_w, without changing the bus."""
        gen, env, _ = self.conditions(now_s)
        soc = battery_trace(self.soc_wh, [gen], [load_w], dt_s, self.bus).soc_wh[-1]
        temp = temperature_trace(self.temperature_c, [env], [load_w], dt_s, self.bus)
        return float(soc), float(temp.temperature_c[-1])

    def step(self, now_s: float, load_w: float, dt_s: float) -> BusSample:
        gen, env, sun = self.conditions(now_s)
        trace = battery_trace(self.soc_wh, [gen], [load_w], dt_s, self.bus)
        temp = temperature_trace(self.temperature_c, [env], [load_w], dt_s, self.bus)
        self.soc_wh = float(trace.soc_wh[-1])
        self.temperature_c = float(temp.temperature_c[-1])
        self.min_soc_wh = min(self.min_soc_wh, self.soc_wh)
        self.max_temperature_c = max(self.max_temperature_c, self.temperature_c)
        self.energy_used_wh += load_w * dt_s / 3600.0
        if self.soc_wh < self.bus.battery_floor_wh - 1e-6:
            self.floor_violations += 1
        if self.temperature_c > self.bus.max_temperature_c + 1e-6:
            self.temperature_violations += 1
        return BusSample(
            now_s + dt_s,
            self.soc_wh,
            self.temperature_c,
            gen,
            load_w,
            sun,
            float(trace.curtailed_wh[-1]),
        )
