"""The power and thermal budget of one satellite, slot by slot.

Given per-slot sunlit fraction, array generation, absorbed environment heat and electrical
load (every electrical watt ends as heat in the node), it predicts the state of charge and
the temperature at the start of each slot, and the thermal headroom of each slot: the extra
constant dissipation the node can take over the next `headroom_interval_s` from the start
of that slot (on top of the predicted load), from its predicted temperature, without
crossing bus.max_temperature_c at any slot boundary of that interval
(thermal.thermal_headroom_w on the nonlinear node; with constant heat input within a slot
the temperature is monotonic in it, so slot boundaries hold its peaks). Over one 60 s slot
the headroom is tens of kW (the node's heat capacity soaks it up), so the default interval
is 30 minutes: "can it take another accelerator for the next half hour".

Intervals running past the end of the series assume the last slot's conditions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.bus import BusParams
from scheduler.forecast.power import battery_trace
from scheduler.forecast.thermal import temperature_trace, thermal_headroom_w

FloatArray = NDArray[np.float64]

DEFAULT_HEADROOM_INTERVAL_S = 1800.0


@dataclass(frozen=True, eq=False)
class BudgetSeries:
    """One value per slot k, for the slot [start_s + k step_s, start_s + (k + 1) step_s).
    soc_wh and temperature_c are predicted at the start of the slot."""

    start_s: float
    step_s: float
    sunlit_fraction: FloatArray
    generation_w: FloatArray
    load_w: FloatArray
    soc_wh: FloatArray
    temperature_c: FloatArray
    headroom_w: FloatArray
    headroom_interval_s: float

    def __len__(self) -> int:
        return int(self.load_w.shape[-1])

    def slot_of(self, time_s: float) -> int | None:
        k = int(np.floor((time_s - self.start_s) / self.step_s))
        return k if 0 <= k < len(self) else None


def budget_series(
    start_s: float,
    step_s: float,
    sunlit_fraction: ArrayLike,
    generation_w: ArrayLike,
    environment_w: ArrayLike,
    load_w: ArrayLike,
    soc0_wh: ArrayLike,
    temperature0_c: ArrayLike,
    bus: BusParams,
    headroom_interval_s: float = DEFAULT_HEADROOM_INTERVAL_S,
    headroom_tolerance_w: float = 1.0,
) -> BudgetSeries:
    """Predicted state of charge, temperature and headroom under load_w, per slot (the last
    axis; leading axes, e.g. satellites, broadcast with soc0_wh and temperature0_c)."""
    sunlit = np.asarray(sunlit_fraction, dtype=np.float64)
    gen = np.asarray(generation_w, dtype=np.float64)
    env = np.asarray(environment_w, dtype=np.float64)
    load = np.broadcast_to(np.asarray(load_w, dtype=np.float64), gen.shape).copy()
    soc = battery_trace(soc0_wh, gen, load, step_s, bus).soc_wh[..., :-1]
    temps = temperature_trace(temperature0_c, env, load, step_s, bus).temperature_c[..., :-1]
    windows = headroom_windows(gen.shape[-1], step_s, headroom_interval_s)
    headroom = thermal_headroom_w(
        temps, env[..., windows], load[..., windows], step_s, bus, headroom_tolerance_w
    )
    return BudgetSeries(
        start_s,
        step_s,
        sunlit,
        gen,
        load,
        soc,
        temps,
        np.asarray(headroom),
        step_s * windows.shape[1],
    )


def headroom_windows(n_slots: int, step_s: float, interval_s: float) -> NDArray[np.int64]:
    """(n_slots, m) slot indices of each slot's headroom interval (m slots, at least one),
    clipped to the last slot."""
    m = max(1, round(interval_s / step_s))
    return np.minimum(np.arange(n_slots)[:, None] + np.arange(m), n_slots - 1)


def load_from_intervals(
    start_s: float,
    step_s: float,
    n_slots: int,
    intervals: Iterable[tuple[float, float, float]],
    baseline_w: float,
) -> FloatArray:
    """Per-slot mean electrical load: the baseline plus each (start_s, end_s, power_w)
    interval weighted by the part of the slot it covers."""
    load = np.full(n_slots, float(baseline_w))
    edges = start_s + step_s * np.arange(n_slots + 1)
    for a, b, power_w in intervals:
        overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, step_s)
        load += power_w * overlap / step_s
    return load
