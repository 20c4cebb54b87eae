"""Small hand-made planning problems for the planner tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from scheduler.forecast.bus import BusParams
from scheduler.forecast.power import generation_w
from scheduler.forecast.thermal import environment_heat_w
from scheduler.planner.domain import (
    ContactWindow,
    Job,
    Plan,
    Problem,
    Satellite,
    SatelliteForecast,
    SatelliteState,
    Weights,
)
from scheduler.planner.validator import validate_plan

T0 = 1_796_083_200.0  # 2026-12-01T00:00:00Z
SLOT_S = 60.0

# A bus whose heat and battery never bind within a short test: the tests that want them to
# bind use BusParams() or say so.
ROOMY_BUS = replace(BusParams(), heat_capacity_j_k=1e8, battery_capacity_wh=1e6)


def sat(
    name: str,
    n_slots: int,
    bus: BusParams = ROOMY_BUS,
    sunlit: Sequence[float] | float = 1.0,
    contacts: Sequence[tuple[int, int]] = ((0, 10_000),),
    downlink_mbps: float = 1000.0,
    neighbours: Sequence[str] = (),
    plane: int = 0,
) -> Satellite:
    """A satellite whose contacts are (first slot, stop slot) pairs, clipped to the horizon."""
    sun = np.broadcast_to(np.asarray(sunlit, dtype=np.float64), (n_slots,)).copy()
    windows = tuple(
        ContactWindow("gs", T0 + a * SLOT_S, T0 + min(b, n_slots) * SLOT_S, downlink_mbps)
        for a, b in contacts
    )
    return Satellite(
        name=name,
        bus=bus,
        forecast=SatelliteForecast(
            sunlit_fraction=sun,
            generation_w=generation_w(sun, bus),
            environment_heat_w=environment_heat_w(sun, np.full(n_slots, 550.0), bus),
            contacts=windows,
        ),
        plane=plane,
        isl_neighbours=tuple(neighbours),
    )


def problem(
    sats: Sequence[Satellite],
    jobs: Sequence[Job],
    n_slots: int,
    soc_fraction: float = 0.9,
    temperature_c: float = 20.0,
    weights: Weights | None = None,
    unavailable: Sequence[str] = (),
) -> Problem:
    states = {
        s.name: SatelliteState(
            s.name,
            soc_fraction * s.bus.battery_capacity_wh,
            temperature_c,
            available=s.name not in unavailable,
        )
        for s in sats
    }
    return Problem(
        T0, tuple(sats), tuple(jobs), states, SLOT_S, n_slots, weights=weights or Weights()
    )


def ring(n: int, n_slots: int, bus: BusParams = ROOMY_BUS) -> list[Satellite]:
    names = [f"sat-{i}" for i in range(n)]
    return [
        sat(names[i], n_slots, bus, neighbours=sorted({names[(i - 1) % n], names[(i + 1) % n]}))
        for i in range(n)
    ]


def assert_valid(p: Problem, plan: Plan) -> None:
    violations = validate_plan(p, plan)
    assert violations == [], violations
