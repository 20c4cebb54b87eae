"""The solver side of replanning, run in a worker process (never on the RPC event loop).

`solve(request)` loads the scenario once per process, keeps a forecast book of the run
(scheduler.planner.problem_builder: sunlight, generation, environmental heat, contacts,
ISL neighbours), slices the horizon out of it into the planner's Problem and runs
`scheduler.planner.plan`.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import signal
import time
from dataclasses import dataclass, replace
from functools import lru_cache

from scheduler.forecast.isl import in_plane_neighbours
from scheduler.planner.backends import make_backend, set_default_backend
from scheduler.planner.domain import Plan, PlanResult, Problem
from scheduler.planner.problem_builder import ForecastBook, forecast_book, problem_at
from scheduler.planner.solve import plan
from scheduler.scenario import Scenario, load_scenario
from scheduler.server.planning import SolveRequest, merge_committed


@dataclass(frozen=True)
class SolveOutput:
    result: PlanResult
    effective_plan: Plan  # the solver's plan with the committed items it carried over
    forecast_s: float
    solve_s: float


@lru_cache(maxsize=2)
def _scenario(ref: str | None) -> Scenario:
    return load_scenario(ref)


# A forecast book covers this many horizons; it is recomputed when the horizon leaves it.
BOOK_HORIZONS = 4
_book: ForecastBook | None = None


def book_for(request: SolveRequest) -> ForecastBook:
    """The run's forecast book (scheduler.planner.problem_builder), cached in the worker."""
    global _book
    horizon_s = request.slot_s * request.n_slots
    book = _book
    if (
        book is None
        or book.names != request.satellite_names
        or book.slot_s != request.slot_s
        or request.now_s < book.start_s
        or request.now_s + horizon_s + request.slot_s > book.start_s + book.n_slots * book.slot_s
    ):
        scenario = _scenario(request.scenario)
        c = scenario.constellation
        sub = c.subset([c.index(n) for n in request.satellite_names])
        start = math.floor(request.now_s / request.slot_s) * request.slot_s
        book = forecast_book(
            sub, scenario.stations, scenario.bus, start, BOOK_HORIZONS * horizon_s, request.slot_s
        )
        nbrs = in_plane_neighbours(scenario.constellation, request.satellite_names)
        book = replace(book, neighbours=tuple(nbrs[n] for n in request.satellite_names))
        _book = book
    return book


def build_problem(request: SolveRequest) -> Problem:
    """The horizon starts at the next slot boundary of the book's grid."""
    book = book_for(request)
    k = math.ceil((request.now_s - book.start_s) / book.slot_s - 1e-9)
    return problem_at(
        book,
        book.start_s + k * book.slot_s,
        request.n_slots,
        request.jobs,
        request.states,
        request.training_progress,
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


def die_with_parent() -> None:
    """Worker initializer: the worker is killed when the scheduler dies, even by SIGKILL
    (Linux prctl PR_SET_PDEATHSIG), so a killed scheduler leaves no solver behind."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the scheduler died before the prctl took effect
        os._exit(0)


def use_planner_backend(name: str, address: str | None, workers: int | None) -> str:
    """Where this worker's plan() runs its partition solves: a local process pool, threads,
    or Ray tasks on an existing cluster (`--planner-backend ray --ray-address ADDR`)."""
    set_default_backend(make_backend(name, address, workers))
    return name


def warm_up(scenario: str | None) -> bool:
    """Load the scenario and the solver in the worker before the first real solve."""
    _scenario(scenario)
    Plan(0, 0.0, 0.0, 0.0)
    return True
