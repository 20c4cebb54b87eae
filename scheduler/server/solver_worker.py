"""The solver side of replanning, run in a worker process (never on the RPC event loop).

`solve(request)` loads the scenario once per process, forecasts the horizon (sunlight,
generation, environmental heat, contacts, ISL neighbours), builds the planner's Problem
and runs `scheduler.planner.plan`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scheduler.forecast import (
    altitude_km,
    environment_heat_w,
    find_contacts,
    generation_w,
    plus_grid_pairs,
    sunlit_fraction,
)
from scheduler.planner.domain import (
    ContactWindow,
    Plan,
    PlanResult,
    Problem,
    Satellite,
    SatelliteForecast,
)
from scheduler.planner.solve import plan
from scheduler.scenario import Scenario, load_scenario
from scheduler.server.planning import SolveRequest, merge_committed

# Sunlight is averaged over this many samples per slot (eclipse edges fall inside slots).
SAMPLES_PER_SLOT = 4


@dataclass(frozen=True)
class SolveOutput:
    result: PlanResult
    effective_plan: dict[str, object]  # the plan with committed items, Plan.to_dict() form
    forecast_s: float
    solve_s: float


@lru_cache(maxsize=2)
def _scenario(ref: str | None) -> Scenario:
    return load_scenario(ref)


def neighbours(scenario: Scenario, names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """In-plane ISL neighbours (Walker shells), restricted to the satellites planned over."""
    c = scenario.constellation
    out: dict[str, list[str]] = {n: [] for n in names}
    if c.walker is None:
        return {n: () for n in names}
    for i, j in plus_grid_pairs(c):
        a, b = c.names[i], c.names[j]
        if c.plane[i] == c.plane[j] and a in out and b in out:
            out[a].append(b)
            out[b].append(a)
    return {n: tuple(v) for n, v in out.items()}


def forecasts(
    scenario: Scenario, names: tuple[str, ...], now_s: float, slot_s: float, n_slots: int
) -> dict[str, SatelliteForecast]:
    c = scenario.constellation
    idx = [c.index(n) for n in names]
    sub = c.subset(idx)
    offsets = (np.arange(SAMPLES_PER_SLOT) + 0.5) / SAMPLES_PER_SLOT
    times = now_s + (np.arange(n_slots)[:, None] + offsets[None, :]).ravel() * slot_s
    sunlit = sunlit_fraction(sub, times).reshape(len(idx), n_slots, SAMPLES_PER_SLOT).mean(-1)
    alt = altitude_km(sub, times).reshape(len(idx), n_slots, SAMPLES_PER_SLOT).mean(-1)
    gen = generation_w(sunlit, scenario.bus)
    env = environment_heat_w(sunlit, alt, scenario.bus)
    end_s = now_s + n_slots * slot_s
    windows: dict[int, list[ContactWindow]] = {k: [] for k in range(len(idx))}
    for contact in find_contacts(sub, scenario.stations, now_s, end_s):
        station = scenario.stations[contact.station]
        windows[contact.sat].append(
            ContactWindow(station.name, contact.aos_s, contact.los_s, station.downlink_mbps)
        )
    return {
        n: SatelliteForecast(sunlit[k], gen[k], env[k], tuple(windows[k]))
        for k, n in enumerate(names)
    }


def build_problem(request: SolveRequest) -> Problem:
    scenario = _scenario(request.scenario)
    names = request.satellite_names
    fc = forecasts(scenario, names, request.now_s, request.slot_s, request.n_slots)
    nbrs = neighbours(scenario, names)
    c = scenario.constellation
    sats = tuple(
        Satellite(n, scenario.bus, fc[n], int(c.plane[c.index(n)]), nbrs[n]) for n in names
    )
    return Problem(
        now_s=request.now_s,
        satellites=sats,
        jobs=request.jobs,
        states=request.states,
        slot_s=request.slot_s,
        n_slots=request.n_slots,
        training_progress=request.training_progress,
    )


def solve(request: SolveRequest) -> SolveOutput:
    t0 = time.perf_counter()
    problem = build_problem(request)
    t1 = time.perf_counter()
    result = plan(
        problem,
        policy=request.policy,
        time_limit_s=request.time_limit_s,
        previous=request.previous,
        version=request.version,
    )
    t2 = time.perf_counter()
    effective = merge_committed(result.plan, request.committed_items)
    return SolveOutput(result, effective, t1 - t0, t2 - t1)


def warm_up(scenario: str | None) -> bool:
    """Load the scenario and the solver in the worker before the first real solve."""
    _scenario(scenario)
    Plan(0, 0.0, 0.0, 0.0)
    return True
