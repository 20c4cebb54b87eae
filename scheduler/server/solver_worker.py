"""The solver side of replanning, run in a worker process (never on the RPC event loop).

`solve(request)` loads the scenario once per process, keeps a forecast book of the run
(scheduler.planner.problem_builder: sunlight, generation, environmental heat, contacts,
ISL neighbours), slices the horizon out of it into the planner's Problem and runs
`scheduler.planner.plan`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from sgp4.api import Satrec

from scheduler.forecast.budget import budget_series, load_from_intervals
from scheduler.forecast.isl import in_plane_neighbours
from scheduler.planner.backends import make_backend, set_default_backend
from scheduler.planner.domain import Job as PlannerJob
from scheduler.planner.domain import Plan, PlanResult, Problem
from scheduler.planner.explain import Explanation, explain
from scheduler.planner.problem_builder import ForecastBook, forecast_book, problem_at
from scheduler.planner.solve import plan
from scheduler.planner.whatif import Hypothesis, WhatIfReport, apply_hypothesis, compare
from scheduler.scenario import Scenario, load_scenario
from scheduler.server.planning import SolveRequest, merge_committed


@dataclass(frozen=True, eq=False)
class BudgetPrediction:
    """What the plan predicts per satellite for its first slots: state of charge and
    temperature at the start of each slot, and the thermal headroom (forecast/budget.py)
    under the planned load. Arrays (n_satellites, n_slots)."""

    names: tuple[str, ...]
    start_s: float
    step_s: float
    soc_wh: np.ndarray
    temperature_c: np.ndarray
    headroom_w: np.ndarray

    @cached_property
    def index(self) -> dict[str, int]:
        """Row of each satellite (names.index over 10,000 names per satellite per second
        was most of the scheduler's housekeeping)."""
        return {name: i for i, name in enumerate(self.names)}

    def slot(self, time_s: float) -> int:
        return int(np.floor((time_s - self.start_s) / self.step_s))

    def at(self, name: str, time_s: float) -> tuple[float, float, float] | None:
        """(soc_wh, temperature_c, headroom_w) of the slot holding time_s, if predicted."""
        k = self.slot(time_s)
        i = self.index.get(name)
        if i is None or not 0 <= k < self.soc_wh.shape[1]:
            return None
        return (
            float(self.soc_wh[i, k]),
            float(self.temperature_c[i, k]),
            float(self.headroom_w[i, k]),
        )


# Slots of the predicted budget kept per plan: the plan is replaced well before they run
# out (periodic replanning every 10 simulated minutes by default).
PREDICTED_SLOTS = 30


def predict_budget(
    problem: Problem, effective: Plan, n_slots: int = PREDICTED_SLOTS
) -> BudgetPrediction:
    n = min(n_slots, problem.n_slots)
    sats = problem.satellites
    load = np.empty((len(sats), n))
    for i, sat in enumerate(sats):
        items = [
            (x.start_s, x.end_s, x.power_w) for x in effective.items if x.satellite == sat.name
        ]
        load[i] = load_from_intervals(
            problem.now_s, problem.slot_s, n, items, sat.bus.baseline_power_w
        )
    series = budget_series(
        problem.now_s,
        problem.slot_s,
        np.array([s.forecast.sunlit_fraction[:n] for s in sats]),
        np.array([s.forecast.generation_w[:n] for s in sats]),
        np.array([s.forecast.environment_heat_w[:n] for s in sats]),
        load,
        np.array([problem.states[s.name].soc_wh for s in sats]),
        np.array([problem.states[s.name].temperature_c for s in sats]),
        sats[0].bus,
    )
    return BudgetPrediction(
        tuple(s.name for s in sats),
        problem.now_s,
        problem.slot_s,
        series.soc_wh,
        series.temperature_c,
        series.headroom_w,
    )


@dataclass(frozen=True)
class SolveOutput:
    result: PlanResult
    effective_plan: Plan  # the solver's plan with the committed items it carried over
    forecast_s: float
    solve_s: float
    predicted: BudgetPrediction | None = None


@lru_cache(maxsize=2)
def _scenario(ref: str | None) -> Scenario:
    return load_scenario(ref)


# A forecast book covers this many horizons; it is recomputed when the horizon leaves it.
BOOK_HORIZONS = 4
_book: ForecastBook | None = None
_book_elements: tuple[tuple[str, str, str], ...] = ()


def book_for(request: SolveRequest) -> ForecastBook:
    """The run's forecast book (scheduler.planner.problem_builder), cached in the worker."""
    global _book, _book_elements
    horizon_s = request.slot_s * request.n_slots
    book = _book
    if (
        book is None
        or _book_elements != request.elements
        or book.names != request.satellite_names
        or book.slot_s != request.slot_s
        or request.now_s < book.start_s
        or request.now_s + horizon_s + request.slot_s > book.start_s + book.n_slots * book.slot_s
    ):
        scenario = _scenario(request.scenario)
        c = scenario.constellation
        if request.elements:
            c = c.with_elements({n: Satrec.twoline2rv(l1, l2) for n, l1, l2 in request.elements})
        sub = c.subset([c.index(n) for n in request.satellite_names])
        start = math.floor(request.now_s / request.slot_s) * request.slot_s
        book = forecast_book(
            sub, scenario.stations, scenario.bus, start, BOOK_HORIZONS * horizon_s, request.slot_s
        )
        nbrs = in_plane_neighbours(scenario.constellation, request.satellite_names)
        book = replace(book, neighbours=tuple(nbrs[n] for n in request.satellite_names))
        _book, _book_elements = book, request.elements
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


def deterministic(seed: int | None) -> dict[str, Any]:
    """plan() options of a reproducible solve (one worker, deterministic time limit)."""
    return {} if seed is None else {"num_workers": 1, "seed": seed, "deterministic": True}


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
        **deterministic(request.seed),
    )
    t2 = time.perf_counter()
    effective = merge_committed(result.plan, request.committed_items)
    predicted = predict_budget(problem, effective) if problem.satellites else None
    return SolveOutput(result, effective, t1 - t0, t2 - t1, predicted)


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


def what_if(request: SolveRequest, hypothesis: Hypothesis, current: Plan) -> WhatIfReport:
    """Solve the request's state under the hypothesis with the same planner and compare the
    effective plan with `current`. Touches nothing but the worker's forecast cache."""
    t0 = time.perf_counter()
    problem = apply_hypothesis(build_problem(request), hypothesis)
    result = plan(
        problem,
        policy=request.policy,
        time_limit_s=request.time_limit_s,
        previous=request.previous,
        version=request.version,
    )
    lost = set(hypothesis.satellites_lost)
    committed = [i for i in request.committed_items if i.satellite not in lost]
    effective = merge_committed(result.plan, committed)
    return compare(problem, current, effective, hypothesis, result.status, time.perf_counter() - t0)


def explain_job(
    request: SolveRequest, job: PlannerJob, current: Plan, cordoned: frozenset[str]
) -> Explanation:
    """The explanation of a job against the current plan. A job the request does not plan
    (committed work, or beyond the jobs one solve considers) is added to the problem."""
    problem = build_problem(request)
    if job.job_id not in {j.job_id for j in problem.jobs}:
        problem = replace(problem, jobs=(*problem.jobs, job))
    return explain(problem, current, job.job_id, cordoned)
