"""The planner's entry points: `plan` (pruning, greedy, decomposition, CP-SAT, fallback)
and `solve` (one model)."""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.planner import feasibility as fz
from scheduler.planner.assemble import (
    VALUE_SCALE,
    Selection,
    build_plan,
    priority_multipliers,
    score,
    unplaced_reasons,
)
from scheduler.planner.backends import (
    Backend,
    LocalBackend,
    ThreadBackend,
    configure,
    default_backend,
)
from scheduler.planner.candidates import (
    Candidate,
    CandidateSet,
    PruneOptions,
    enumerate_candidates,
)
from scheduler.planner.cpsat_model import HintIndex, ModelVars, add_hints, read_selection
from scheduler.planner.domain import Plan, PlanResult, Problem
from scheduler.planner.greedy import greedy_select, selection_from_plan
from scheduler.planner.ledger import SatContext, SatLedger, contexts
from scheduler.planner.lns import (
    Incumbent,
    LnsStats,
    first_windows,
    improve,
    job_groups,
    restrict,
)
from scheduler.planner.relaxation import build_relaxation
from scheduler.planner.validation import validate_problem

log = logging.getLogger(__name__)
POLICIES = ("cpsat", "greedy")
WARM_JOBS = 300  # above this many jobs, start the solver pool at once (several windows)
HEAT_BOUND_SHARE = 0.15  # of the time limit, for the heat-aware bound's steps (relaxation.py)
HEAT_BOUND_STEPS = 40  # its steps in deterministic mode


@dataclass
class SolveOutcome:
    selection: Selection | None
    status: str
    objective: float
    bound: float
    wall_s: float
    first_solution_s: float | None


class _FirstSolution(cp_model.CpSolverSolutionCallback):
    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.perf_counter()
        self.first_s: float | None = None

    def on_solution_callback(self) -> None:
        if self.first_s is None:
            self.first_s = time.perf_counter() - self.t0


def solve(
    problem: Problem,
    model: cp_model.CpModel,
    mv: ModelVars,
    time_limit_s: float = 10.0,
    num_workers: int = 2,
    seed: int = 0,
    hint: Plan | HintIndex | None = None,
    deterministic: bool = False,
) -> SolveOutcome:
    """Solve one model. Time limit, workers and seed are always set; in deterministic mode
    one worker stops on deterministic time so the same input gives the same plan."""
    if hint is not None:
        add_hints(problem, mv, model, hint)
    solver = cp_model.CpSolver()
    configure(solver.parameters, time_limit_s, num_workers, seed, deterministic)
    cb = _FirstSolution()
    status = solver.solve(model, cb)
    wall = time.perf_counter() - cb.t0
    name = solver.status_name(status)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SolveOutcome(
            read_selection(solver, mv),
            name,
            solver.objective_value / VALUE_SCALE,
            solver.best_objective_bound / VALUE_SCALE,
            wall,
            cb.first_s,
        )
    return SolveOutcome(None, name, math.nan, math.nan, wall, cb.first_s)


def prune_options(problem: Problem) -> PruneOptions:
    """Keep the model small (issue 3: model size decides everything): up to ~100 candidate
    starts per job on small problems, ~12 on the largest."""
    n_jobs = max(1, len(problem.jobs))
    n_sats = max(1, len(problem.satellites))
    small = n_jobs <= 100
    return PruneOptions(
        max_sats_per_job=min(n_sats, 8 if small else 4 if n_jobs <= 1500 else 3),
        start_stride_slots=1,
        max_starts_per_sat=12 if small else 8 if n_jobs <= 1500 else 4,
        max_gangs_per_job=4 if small else 3,
        alone_fit=n_jobs <= 150,
    )


def partitions(
    problem: Problem, cset: CandidateSet, greedy: Selection, max_literals: int = 3_000
) -> list[CandidateSet]:
    """The first round's windows (lns.py): ISL route groups (orbital planes) joined until a
    window has about max_literals candidates; every job goes to one window, where the
    greedy plan put it, else where it has most candidates."""
    groups = fz.route_groups(problem.satellites)
    inc = Incumbent.of(greedy)
    where = {
        **{j: groups[c.sat] for j, c in inc.inference.items()},
        **{j: groups[o.sats[0]] for j, (o, _) in inc.training.items()},
    }
    out = []
    for w in first_windows(cset, groups, max_literals):
        keep = frozenset(w)
        jobs = [j for j, gs in job_groups(cset, groups).items() if where.get(j, min(gs)) in keep]
        sub = restrict(cset, jobs, groups, keep)
        if sub.inference or sub.training:
            out.append(sub)
    return out


def plan(
    problem: Problem,
    policy: str = "cpsat",
    time_limit_s: float = 10.0,
    previous: Plan | None = None,
    num_workers: int = 2,
    seed: int = 0,
    version: int | None = None,
    deterministic: bool = False,
    prune: PruneOptions | None = None,
    partition_literals: int = 3_000,
    backend: Backend | None = None,
) -> PlanResult:
    """Plan the problem; always returns a plan (see README.md): a complete first-fit plan
    first, then improved over windows of orbital planes (lns.py) until time_limit_s, solved
    on `backend` (default: the process-wide one, a local process pool; a problem of one
    window is solved in this process)."""
    if policy not in POLICIES:
        raise ValueError(f"policy: expected one of {', '.join(POLICIES)}, got {policy!r}")
    with _gc_paused():
        return _plan(
            problem,
            policy,
            time_limit_s,
            previous,
            num_workers,
            seed,
            version,
            deterministic,
            prune,
            partition_literals,
            backend,
        )


_GC_LOCK = threading.Lock()
_GC_USERS = 0


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while planning: a plan allocates millions of small
    objects at constellation scale and none of them in cycles, and each collection walks
    them all (measured: half the time of candidate building at 10,000 x 50,000)."""
    global _GC_USERS
    with _GC_LOCK:
        _GC_USERS += 1
        was = gc.isenabled() if _GC_USERS == 1 else True
        if _GC_USERS == 1:
            _gc_paused.was_enabled = was  # type: ignore[attr-defined]
        gc.disable()
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_USERS -= 1
            if _GC_USERS == 0 and getattr(_gc_paused, "was_enabled", True):
                gc.enable()


def _plan(
    problem: Problem,
    policy: str,
    time_limit_s: float,
    previous: Plan | None,
    num_workers: int,
    seed: int,
    version: int | None,
    deterministic: bool,
    prune: PruneOptions | None,
    partition_literals: int,
    backend: Backend | None,
) -> PlanResult:
    t0 = time.perf_counter()
    validate_problem(problem)
    if version is None:
        version = previous.version + 1 if previous is not None else 1
    ctxs = contexts(problem)
    cset = enumerate_candidates(problem, ctxs, opts=prune or prune_options(problem))
    mults = priority_multipliers(problem, cset)
    t_fit = time.perf_counter()
    fit_ledgers: dict[int, SatLedger] = {}
    greedy = greedy_select(problem, ctxs, cset, ledgers=fit_ledgers)
    fit_s = time.perf_counter() - t_fit
    g_obj, g_val = score(problem, ctxs, greedy, mults, fit_ledgers)
    del fit_ledgers
    greedy_s = time.perf_counter() - t0
    pool = backend or default_backend()
    if policy == "cpsat" and len(problem.jobs) > WARM_JOBS and isinstance(pool, LocalBackend):
        # Its processes start (each imports OR-Tools) once the first plan exists, while
        # the other first fit runs: started earlier, on a 2-core machine they took CPU
        # from the first plan.
        pool.warm()
    log.debug("plan: first fit at %.2f s (fit %.2f s)", greedy_s, fit_s)
    if policy == "greedy" or not (cset.inference or cset.training):
        return _result(
            problem,
            ctxs,
            cset,
            greedy,
            version,
            "greedy",
            "GREEDY",
            g_obj,
            math.nan,
            t0,
            greedy_s,
            g_obj,
            g_val,
            1,
        )
    # The start: the best of the greedy plan, a value-density first fit (when there is time
    # for one more first fit) and the previous plan repaired (what still fits) and filled
    # around; complete and feasible, so the solver starts from it.
    hint_sel, start = greedy, "edf"
    spent_s = time.perf_counter() - t0
    if deterministic or spent_s + 1.2 * fit_s < 0.5 * time_limit_s:
        dense = greedy_select(problem, ctxs, cset, order="density")
        if score(problem, ctxs, dense, mults)[0] > g_obj:
            hint_sel, start = dense, "density"
    out_of_time = not deterministic and spent_s + fit_s > time_limit_s
    if out_of_time:  # the first plan took (nearly) all the time: it stands, with its reasons
        log.warning("plan: first fit at %.1f s of %.1f s: no improvement", spent_s, time_limit_s)
        groups = fz.route_groups(problem.satellites)
        n_windows = len(first_windows(cset, groups, partition_literals))
        return _result(
            problem,
            ctxs,
            cset,
            greedy,
            version,
            "cpsat",
            "FALLBACK",
            g_obj,
            max(relaxed_bound(problem, ctxs, cset, mults), g_obj),
            t0,
            greedy_s,
            g_obj,
            g_val,
            n_windows,
            None,
            deadline=t0 + time_limit_s,
            reasons_s=fit_s,
            start="edf",
        )
    if previous is not None:
        repaired = greedy_select(problem, ctxs, cset, selection_from_plan(problem, cset, previous))
        if score(problem, ctxs, repaired, mults)[0] > score(problem, ctxs, hint_sel, mults)[0]:
            hint_sel, start = repaired, "previous"
    groups = fz.route_groups(problem.satellites)
    windows = first_windows(cset, groups, partition_literals)
    log.debug("plan: start chosen at %.2f s", time.perf_counter() - t0)
    heat_bound, rank = _relax(problem, ctxs, cset, mults, hint_sel, t0, time_limit_s, deterministic)
    log.debug("plan: heat-aware bound %.1f at %.2f s", heat_bound, time.perf_counter() - t0)
    if rank is not None and (
        deterministic or time.perf_counter() - t0 + 2.0 * fit_s < 0.6 * time_limit_s
    ):
        # A first fit in the order the relaxation prices: jobs and their candidates by
        # value less the priced heat, charge, accelerators and downlink they take.
        dual = greedy_select(problem, ctxs, cset, order="density", rank=rank)
        if score(problem, ctxs, dual, mults)[0] > score(problem, ctxs, hint_sel, mults)[0]:
            hint_sel, start = dual, "dual"
        log.debug("plan: priced first fit at %.2f s", time.perf_counter() - t0)

    def relaxed(sub: CandidateSet) -> float:
        return relaxed_bound(problem, ctxs, sub, mults)

    if backend is None and len(windows) <= 1:
        # One model: no process to start, the solver's own threads.
        chosen: Backend = ThreadBackend(1)
        per_solve = num_workers
    else:
        chosen = backend or default_backend()
        per_solve = max(1, num_workers // chosen.workers)
    start_score = score(problem, ctxs, hint_sel, mults)
    # Time kept for assembling the plan and the reasons: ~0.1 ms per job measured on a
    # loaded 2-core machine, or, where most jobs are left out, about what the first fit
    # took (the reasons replay candidates the way the first fit tried them).
    reserve_s = min(0.4 * time_limit_s, max(0.1 + 8e-5 * len(problem.jobs), fit_s))
    selection, stats = improve(
        problem,
        ctxs,
        cset,
        mults,
        hint_sel,
        groups,
        chosen,
        relaxed,
        deadline=t0 + time_limit_s - reserve_s,
        max_literals=partition_literals,
        seed=seed,
        num_workers=per_solve,
        deterministic=deterministic,
        det_time_s=time_limit_s,
    )
    log.debug("plan: improvement done at %.2f s: %s", time.perf_counter() - t0, stats)
    objective, value = score(problem, ctxs, selection, mults)
    # The open first round's bound (whole pruned problem) where it ran, and a relaxation
    # of all of it.
    bound = (
        objective if stats.proved else max(min(stats.bound, relaxed(cset), heat_bound), objective)
    )
    solved = sum(n for st, n in stats.statuses.items() if st in ("OPTIMAL", "FEASIBLE"))
    if stats.proved or objective >= bound - 1e-6 * max(abs(bound), 1.0):
        status = "OPTIMAL"
    elif solved:
        status = "FEASIBLE"
    else:  # the solver found nothing in its time: the first-fit plan stands
        status = "FALLBACK"
    return _result(
        problem,
        ctxs,
        cset,
        selection,
        version,
        "cpsat",
        status,
        objective,
        bound,
        t0,
        greedy_s,
        g_obj,
        value,
        len(windows),
        stats,
        # Deterministic mode always replays the reasons: skipping them when the machine is
        # slow would make the same input give a different plan.
        deadline=math.inf if deterministic else t0 + time_limit_s,
        reasons_s=fit_s,
        start=start,
        start_score=start_score,
    )


def _relax(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    mults: dict[int, int],
    start: Selection,
    t0: float,
    time_limit_s: float,
    deterministic: bool,
) -> tuple[float, dict[Candidate, float] | None]:
    """The heat-aware Lagrangian bound of the pruned problem (relaxation.py), given at most
    HEAT_BOUND_SHARE of the time limit (in deterministic mode HEAT_BOUND_STEPS steps, so
    the same input reports the same bound), and each inference candidate's value less its
    priced resources at the best multipliers found; (inf, None) where there is no time."""
    now = time.perf_counter()
    if not deterministic and t0 + time_limit_s - now < 0.5 * time_limit_s:
        return math.inf, None
    target = score(problem, ctxs, start, mults, depth=False)[0]
    rel = build_relaxation(problem, ctxs, cset, mults)
    if deterministic:
        bound, _ = rel.bound(target, max_iter=HEAT_BOUND_STEPS)
    else:
        bound, _ = rel.bound(target, max_iter=200, deadline=now + HEAT_BOUND_SHARE * time_limit_s)
    cands = [c for j in sorted(cset.inference) for c in cset.inference[j]]
    reduced = rel.reduced(rel.best_pi)[: len(cands)]
    return bound, dict(zip(cands, reduced.tolist(), strict=True))


def greedy_plan(problem: Problem, version: int | None = None) -> PlanResult:
    """The greedy baseline alone."""
    return plan(problem, policy="greedy", version=version)


def relaxed_bound(
    problem: Problem, ctxs: Sequence[SatContext], cset: CandidateSet, mults: dict[int, int]
) -> float:
    """An upper bound of a candidate set's objective from three relaxations: every job at
    its best value; a fractional knapsack of the jobs (each at its best value and its
    smallest accelerator-slots) into the free accelerator-slots of the satellites; the
    same with energy (Wh) into what the batteries and arrays can give over the horizon
    (state of charge now + generation - committed load - the floor at the end)."""
    items: list[tuple[float, float, float]] = []  # (weighted value, acc-slots, Wh)
    sats: set[int] = set()
    slot_h = problem.slot_s / 3600.0
    for j, cands in cset.inference.items():
        mult = mults[int(problem.jobs[j].priority)]
        items.append(
            (
                mult * max(c.value for c in cands),
                float(min(c.accelerators * c.slots for c in cands)),
                min(c.power_w * c.slots * slot_h for c in cands),
            )
        )
        sats.update(c.sat for c in cands)
    for j, opts in cset.training.items():
        mult = mults[int(problem.jobs[j].priority)]
        per_block = max(o.value_per_block for o in opts)
        block_size = min(len(o.sats) * o.accelerators * o.block_slots for o in opts)
        block_wh = min(len(o.sats) * o.power_w * o.block_slots * slot_h for o in opts)
        blocks = max(min(len(o.blocks), o.max_blocks) for o in opts)
        items.extend([(mult * per_block, float(block_size), block_wh)] * blocks)
        sats.update(s for o in opts for s in o.sats)
    everything = sum(v for v, _, _ in items)
    acc_slots = float(
        sum(ctxs[s].bus.accelerators * ctxs[s].n_slots - int(ctxs[s].fixed_acc.sum()) for s in sats)
    )
    energy_wh = float(
        sum(
            max(ctxs[s].soc0_wh + float(ctxs[s].base_net_wh.sum()) - float(ctxs[s].floor_wh[-1]), 0)
            for s in sats
        )
    )
    return min(everything, _knapsack(items, 1, acc_slots), _knapsack(items, 2, energy_wh))


def _knapsack(items: Sequence[tuple[float, float, float]], dim: int, capacity: float) -> float:
    """Fractional knapsack of items (value, size in dimension dim) into capacity."""
    total = 0.0
    for it in sorted(items, key=lambda it: -it[0] / max(it[dim], 1e-9)):
        size = it[dim]
        take = min(1.0, capacity / size) if size > 0 else 1.0
        total += take * it[0]
        capacity -= take * size
        if capacity <= 0:
            break
    return total


def _result(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    selection: Selection,
    version: int,
    policy: str,
    status: str,
    objective: float,
    bound: float,
    t0: float,
    greedy_s: float,
    greedy_objective: float,
    value: float,
    n_parts: int,
    stats: LnsStats | None = None,
    deadline: float = math.inf,
    reasons_s: float = 0.0,
    start: str = "",
    start_score: tuple[float, float] = (math.nan, math.nan),
) -> PlanResult:
    # Reasons replay candidates (about as long as the first fit took): skipped when that
    # would overrun the time limit by more than its second of grace.
    replay = time.perf_counter() + reasons_s <= deadline + 1.0
    unplaced = unplaced_reasons(problem, ctxs, cset, selection, replay=replay)
    plan_ = build_plan(problem, selection, unplaced, version)
    log.debug("plan: reasons and plan at %.2f s", time.perf_counter() - t0)
    gap = (bound - objective) / max(abs(bound), 1e-9) if not math.isnan(bound) else math.nan
    return PlanResult(
        plan=plan_,
        policy=policy,
        status=status,
        objective=objective,
        best_bound=bound,
        gap=max(gap, 0.0) if not math.isnan(gap) else gap,
        solve_time_s=time.perf_counter() - t0,
        first_solution_s=greedy_s,
        value=value,
        greedy_objective=greedy_objective,
        partitions=n_parts,
        rounds=stats.rounds if stats else 0,
        solves=stats.solves if stats else 0,
        improved=stats.improved if stats else 0,
        moved=stats.moved if stats else 0,
        focused=stats.focused if stats else 0,
        start=start,
        start_objective=start_score[0],
        start_value=start_score[1],
    )
