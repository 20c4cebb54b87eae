"""Solar generation and battery state of charge.

Arrays are indexed [..., step]: the leading axes are satellites (or anything), the last is
time. Every function works for one satellite (1-D) or many (2-D) alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.bus import BusParams
from scheduler.forecast.constants import SOLAR_CONSTANT_W_M2

FloatArray = NDArray[np.float64]


def generation_w(sunlit_fraction: ArrayLike, bus: BusParams) -> FloatArray:
    """Array output: area x efficiency x 1361 W/m^2 x sunlit fraction x pointing factor."""
    sunlit = np.clip(np.asarray(sunlit_fraction, dtype=np.float64), 0.0, 1.0)
    return (
        bus.array_area_m2
        * bus.array_efficiency
        * SOLAR_CONSTANT_W_M2
        * bus.pointing_factor
        * sunlit
    )


@dataclass(frozen=True)
class BatteryTrace:
    """State of charge at each step boundary and the energy flows of each step.

    soc_wh has one more sample than the steps (it starts with the initial charge).
    deficit_wh is the energy the load asked for below an empty battery (never negative):
    a node that draws it has browned out. floor_breached marks steps that end below the
    floor.
    """

    soc_wh: FloatArray
    curtailed_wh: FloatArray
    deficit_wh: FloatArray
    floor_breached: NDArray[np.bool_]


def battery_trace(
    initial_soc_wh: ArrayLike,
    generation_w: ArrayLike,
    load_w: ArrayLike,
    step_s: float,
    bus: BusParams,
) -> BatteryTrace:
    """Integrate the battery over steps of step_s with constant power within each step.

    Surplus beyond capacity is curtailed (the array is backed off), a draw beyond an empty
    battery is reported as deficit. Energy balance holds exactly per step:
    soc[k+1] = soc[k] + (gen - load) * dt - curtailed + deficit.
    """
    gen = np.asarray(generation_w, dtype=np.float64)
    load = np.asarray(load_w, dtype=np.float64)
    net_wh = (gen - load) * (step_s / 3600.0)
    net_wh = np.broadcast_to(net_wh, np.broadcast_shapes(net_wh.shape, load.shape))
    soc0 = np.broadcast_to(np.asarray(initial_soc_wh, dtype=np.float64), net_wh.shape[:-1])
    n = net_wh.shape[-1]
    soc = np.empty((*net_wh.shape[:-1], n + 1))
    curtailed = np.zeros_like(net_wh)
    deficit = np.zeros_like(net_wh)
    soc[..., 0] = soc0
    cap = bus.battery_capacity_wh
    for k in range(n):
        raw = soc[..., k] + net_wh[..., k]
        curtailed[..., k] = np.maximum(raw - cap, 0.0)
        deficit[..., k] = np.maximum(-raw, 0.0)
        soc[..., k + 1] = np.clip(raw, 0.0, cap)
    floor_breached = soc[..., 1:] < bus.battery_floor_wh - 1e-9
    return BatteryTrace(soc, curtailed, deficit, floor_breached)
