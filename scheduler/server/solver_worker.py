"""The solver side of replanning, run in a worker process (never on the RPC event loop).

`solve(request)` loads the scenario once per process, keeps a forecast book of the run
(scheduler.planner.problem_builder: sunlight, generation, environmental heat, contacts,
ISL neighbours), slices the horizon out of it into the planner's Problem and runs
`scheduler.planner.plan`.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
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

    @property
    def n_slots(self) -> int:
        return int(self.soc_wh.shape[1])

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
# The predicted headroom is a gauge: 10 W is ample, and it is computed after every solve
# (10,000 satellites x 30 slots; a third less time than to 1 W).
PREDICTED_HEADROOM_TOLERANCE_W = 10.0


def predict_budget(
    problem: Problem, effective: Plan, n_slots: int = PREDICTED_SLOTS
) -> BudgetPrediction:
    n = min(n_slots, problem.n_slots)
    sats = problem.satellites
    load = np.empty((len(sats), n))
    by_sat: dict[str, list[tuple[float, float, float]]] = {}
    for x in effective.items:  # once, not per satellite (10,000 x 10,000 took seconds)
        by_sat.setdefault(x.satellite, []).append((x.start_s, x.end_s, x.power_w))
    for i, sat in enumerate(sats):
        load[i] = load_from_intervals(
            problem.now_s, problem.slot_s, n, by_sat.get(sat.name, []), sat.bus.baseline_power_w
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
        headroom_tolerance_w=PREDICTED_HEADROOM_TOLERANCE_W,
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


# A forecast book covers this many horizons. The next one is built in a background thread
# once less than NEXT_BOOK_MARGIN horizons of the current one remain after a request's
# horizon, so that no solve but the very first waits for a book.
BOOK_HORIZONS = 4
NEXT_BOOK_MARGIN = 1.5


@dataclass(frozen=True)
class BookKey:
    """What a forecast book is computed from (besides its span)."""

    scenario: str | None
    names: tuple[str, ...]
    slot_s: float
    horizon_s: float
    elements: tuple[tuple[str, str, str], ...] = ()

    @staticmethod
    def of(request: SolveRequest) -> BookKey:
        return BookKey(
            request.scenario,
            request.satellite_names,
            request.slot_s,
            request.slot_s * request.n_slots,
            request.elements,
        )


def compute_book(key: BookKey, now_s: float) -> ForecastBook:
    """BOOK_HORIZONS horizons of forecasts from the slot holding now_s."""
    scenario = _scenario(key.scenario)
    c = scenario.constellation
    if key.elements:
        c = c.with_elements({n: Satrec.twoline2rv(l1, l2) for n, l1, l2 in key.elements})
    sub = c.subset([c.index(n) for n in key.names])
    start = math.floor(now_s / key.slot_s) * key.slot_s
    book = forecast_book(
        sub, scenario.stations, scenario.bus, start, BOOK_HORIZONS * key.horizon_s, key.slot_s
    )
    nbrs = in_plane_neighbours(scenario.constellation, key.names)
    return replace(book, neighbours=tuple(nbrs[n] for n in key.names))


def covers(book: ForecastBook, key: BookKey, now_s: float, margin_s: float = 0.0) -> bool:
    """Whether the book holds the horizon from now_s (plus margin_s after it)."""
    end_s = book.start_s + book.n_slots * book.slot_s
    return (
        book.names == key.names
        and book.slot_s == key.slot_s
        and book.start_s <= now_s
        and now_s + key.horizon_s + key.slot_s + margin_s <= end_s
    )


class BookShelf:
    """The forecast book in force and the next one, double-buffered: the next is built in
    a background thread while solves use the current one, and takes over once a request
    falls inside it. A request no book covers (the first, new elements, a jump of the clock)
    builds its book at once. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: tuple[BookKey, ForecastBook] | None = None
        self._next: tuple[BookKey, Future[ForecastBook]] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="forecast-book")
        self.builds = 0  # books computed (in the request or in the background)

    def prefetch(self, key: BookKey, now_s: float) -> None:
        """Start building the book from now_s in the background (unless one is already
        being built for this key); returns at once."""
        with self._lock:
            if self._next is not None and self._next[0] == key and not self._next[1].done():
                return
            self.builds += 1
            self._next = (key, self._pool.submit(compute_book, key, now_s))

    def get(self, key: BookKey, now_s: float) -> ForecastBook:
        with self._lock:
            pending = self._next
        if pending is not None and pending[0] == key:
            future = pending[1]
            current = self._current
            usable = current is not None and current[0] == key and covers(current[1], key, now_s)
            if future.done() or not usable:
                try:
                    book = future.result()  # waits only when no current book will do
                except Exception:  # built again below, where the error surfaces
                    book = None
                with self._lock:
                    if self._next is pending:
                        self._next = None
                if book is not None and covers(book, key, now_s):
                    self._current = (key, book)
        current = self._current
        if current is None or current[0] != key or not covers(current[1], key, now_s):
            self._current = None  # let the old book go before the new one is built
            with self._lock:
                self.builds += 1
            current = (key, compute_book(key, now_s))
            self._current = current
        book = current[1]
        if not covers(book, key, now_s, NEXT_BOOK_MARGIN * key.horizon_s):
            with self._lock:
                building = self._next is not None and self._next[0] == key
            if not building:
                self.prefetch(key, now_s)
        return book


_shelf = BookShelf()


def book_for(request: SolveRequest) -> ForecastBook:
    """The run's forecast book (scheduler.planner.problem_builder), kept in the worker."""
    return _shelf.get(BookKey.of(request), request.now_s)


def book_builds() -> int:
    """Books computed in this worker."""
    return _shelf.builds


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


# The planner gets the request's time limit less what the rest of the solve takes (the
# forecast book, if it had to wait for one, and the budget prediction, as long as the last
# one took), at least PLAN_SHARE_MIN of it: the solve as a whole keeps the limit. Not in
# deterministic solves (seed), whose limit must not depend on the machine.
PLAN_SHARE_MIN = 0.5
_predict_s = 0.0


def solve(request: SolveRequest) -> SolveOutput:
    global _predict_s
    t0 = time.perf_counter()
    problem = build_problem(request)
    t1 = time.perf_counter()
    limit_s = request.time_limit_s
    if request.seed is None:
        limit_s = max(PLAN_SHARE_MIN * limit_s, limit_s - (t1 - t0) - _predict_s)
    result = plan(
        problem,
        policy=request.policy,
        time_limit_s=limit_s,
        previous=request.previous,
        version=request.version,
        **deterministic(request.seed),
    )
    t2 = time.perf_counter()
    effective = merge_committed(result.plan, request.committed_items)
    predicted = predict_budget(problem, effective) if problem.satellites else None
    _predict_s = time.perf_counter() - t2
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


def prebuild_book(key: BookKey, now_s: float) -> bool:
    """Start the first forecast book in the background (the scheduler calls this once the
    worker is warm, so that the startup solve finds it built or under way)."""
    _shelf.prefetch(key, now_s)
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
