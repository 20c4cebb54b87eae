"""The planner's entry points: `plan` (pruning, greedy, decomposition, CP-SAT, fallback)
and `solve` (one model)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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
from scheduler.planner.candidates import CandidateSet, PruneOptions, enumerate_candidates
from scheduler.planner.cpsat_model import (
    HintIndex,
    ModelVars,
    add_hints,
    build_model,
    hint_index,
    read_selection,
)
from scheduler.planner.domain import Plan, PlanResult, Problem
from scheduler.planner.greedy import greedy_select, selection_from_plan
from scheduler.planner.ledger import SatContext, contexts
from scheduler.planner.validation import validate_problem

POLICIES = ("cpsat", "greedy")


@dataclass
class SolveOutcome:
    selection: Selection | None
    status: str
    objective: float
    bound: float
    wall_s: float
    first_solution_s: float | None


@dataclass(frozen=True)
class _Part:
    """A partition, its share of the hint, and the hint's score against its relaxed bound."""

    index: int
    cset: CandidateSet
    hint: Selection
    hint_objective: float
    relaxed: float


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
    params = solver.parameters
    params.random_seed = seed
    if deterministic:
        params.num_workers = 1
        params.max_deterministic_time = max(time_limit_s, 0.05)
        params.max_time_in_seconds = max(10 * time_limit_s, 1.0)
    else:
        params.num_workers = max(1, num_workers)
        params.max_time_in_seconds = max(time_limit_s, 0.05)
    params.repair_hint = False
    # Presolve of these dense linear rows costs more than it gives (measured: 3 s of presolve
    # on a 2,800-literal model); keep it light and let the search start from the hint.
    params.max_presolve_iterations = 1
    params.symmetry_level = 0
    params.cp_model_probing_level = 0
    params.find_big_linear_overlap = False
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
    """Split by ISL route group (an orbital plane of a Walker shell); groups are joined
    until a partition has about max_literals candidates. Every job goes to one partition:
    where the greedy plan put it, else where it has most candidates."""
    groups = fz.route_groups(problem.satellites)
    where: dict[int, int] = {c.job: groups[c.sat] for c in greedy.inference}
    where.update({o.job: groups[o.sats[0]] for o, _ in greedy.training})
    for j, cands in cset.inference.items():
        if j not in where:
            counts: dict[int, int] = defaultdict(int)
            for c in cands:
                counts[groups[c.sat]] += 1
            where[j] = max(sorted(counts), key=lambda g: counts[g])
    for j, opts in cset.training.items():
        where.setdefault(j, groups[opts[0].sats[0]])
    size: dict[int, int] = defaultdict(int)
    for j, cands in cset.inference.items():
        size[where[j]] += sum(1 for c in cands if groups[c.sat] == where[j])
    for j, opts in cset.training.items():
        size[where[j]] += sum(len(o.blocks) for o in opts if groups[o.sats[0]] == where[j])
    part_of: dict[int, int] = {}
    part, acc = 0, 0
    for g in sorted(size):
        if acc and acc + size[g] > max_literals:
            part, acc = part + 1, 0
        part_of[g] = part
        acc += size[g]
    out = [CandidateSet(contacts=cset.contacts) for _ in range(part + 1)]
    for j, cands in cset.inference.items():
        p = part_of[where[j]]
        kept = [c for c in cands if part_of.get(groups[c.sat]) == p]
        if kept:
            out[p].inference[j] = kept
    for j, opts in cset.training.items():
        p = part_of[where[j]]
        kept_o = [o for o in opts if part_of.get(groups[o.sats[0]]) == p]
        if kept_o:
            out[p].training[j] = kept_o
    return [c for c in out if c.inference or c.training]


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
) -> PlanResult:
    """Plan the problem; always returns a plan (see README.md)."""
    if policy not in POLICIES:
        raise ValueError(f"policy: expected one of {', '.join(POLICIES)}, got {policy!r}")
    t0 = time.perf_counter()
    validate_problem(problem)
    if version is None:
        version = previous.version + 1 if previous is not None else 1
    ctxs = contexts(problem)
    cset = enumerate_candidates(problem, ctxs, opts=prune or prune_options(problem))
    mults = priority_multipliers(problem, cset)
    greedy = greedy_select(problem, ctxs, cset)
    g_obj, g_val = score(problem, ctxs, greedy, mults)
    greedy_s = time.perf_counter() - t0
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
    # The hint: the best of the greedy plan, a value-density first fit and the previous plan
    # repaired (what still fits) and filled around; complete and feasible, so the solver
    # starts from it.
    hint_sel = greedy
    dense = greedy_select(problem, ctxs, cset, order="density")
    if score(problem, ctxs, dense, mults)[0] > g_obj:
        hint_sel = dense
    if previous is not None:
        repaired = greedy_select(problem, ctxs, cset, selection_from_plan(problem, cset, previous))
        if score(problem, ctxs, repaired, mults)[0] > score(problem, ctxs, hint_sel, mults)[0]:
            hint_sel = repaired
    hint_plan = build_plan(problem, hint_sel, [], version)
    h_obj = score(problem, ctxs, hint_sel, mults)[0]
    parts = partitions(problem, cset, hint_sel, partition_literals)
    # Time kept for assembling the plan and the reasons (measured ~0.15 ms per job).
    reserve_s = min(0.25 * time_limit_s, 0.05 + 2e-4 * len(problem.jobs))
    index = hint_index(problem, hint_plan)
    merged = Selection()
    bound = 0.0
    statuses: set[str] = set()
    fell_back = False

    def collect(part: _Part, out: SolveOutcome) -> None:
        nonlocal bound, fell_back
        sub_obj = score(problem, ctxs, out.selection, mults)[0] if out.selection else -math.inf
        if out.selection is not None and sub_obj >= part.hint_objective - 1e-9:
            chosen = out.selection
            statuses.add(out.status)
        else:
            chosen = part.hint
            fell_back = True
            statuses.add("FALLBACK")
        # Any valid upper bound of the partition will do; the solver's early bound can be
        # far above the relaxation.
        bound += part.relaxed if math.isnan(out.bound) else min(out.bound, part.relaxed)
        merged.inference.extend(chosen.inference)
        merged.training.extend(chosen.training)

    # Partitions whose hint is already within 0.1% of the relaxation need no solve; the
    # others go in order of what there is to gain, so a short time limit is spent well.
    todo: list[_Part] = []
    for n, sub in enumerate(parts):
        hint_part = _restrict(hint_sel, sub)
        part = _Part(
            n,
            sub,
            hint_part,
            score(problem, ctxs, hint_part, mults)[0],
            _relaxed_bound(problem, ctxs, sub, mults),
        )
        if part.relaxed - part.hint_objective <= 1e-3 * max(abs(part.relaxed), 1.0):
            merged.inference.extend(hint_part.inference)
            merged.training.extend(hint_part.training)
            bound += part.relaxed
            statuses.add("FEASIBLE")
        else:
            todo.append(part)
    todo.sort(key=lambda p: (p.hint_objective - p.relaxed, p.index))

    # Pipeline: the next partition's model is built (Python) while CP-SAT solves the
    # current one (native, without the GIL); in deterministic mode, one after the other.
    with ThreadPoolExecutor(max_workers=1) as pool:
        running: tuple[_Part, Future[SolveOutcome]] | None = None
        for i, part in enumerate(todo):
            if not deterministic and time_limit_s - reserve_s - (time.perf_counter() - t0) < 0.1:
                # Out of time: this partition keeps its first-fit plan.
                collect(part, SolveOutcome(None, "NOT_SOLVED", math.nan, math.nan, 0.0, None))
                continue
            model, mv = build_model(problem, part.cset, ctxs, mults)
            if running is not None:
                collect(running[0], running[1].result())
            left = sum(_size(p.cset) for p in todo[i:])
            remaining = max(time_limit_s - reserve_s - (time.perf_counter() - t0), 0.05)
            if deterministic:  # a share of the deterministic time, independent of the clock
                remaining = time_limit_s * left / max(sum(_size(p.cset) for p in todo), 1)
            share = max(remaining * _size(part.cset) / max(left, 1), 0.05)
            last = i == len(todo) - 1
            workers = num_workers if last or deterministic else max(1, num_workers - 1)
            future = pool.submit(
                solve, problem, model, mv, share, workers, seed, index, deterministic
            )
            if deterministic:
                collect(part, future.result())
            else:
                running = (part, future)
        if running is not None:
            collect(running[0], running[1].result())
    status = "FALLBACK" if fell_back else "OPTIMAL" if statuses == {"OPTIMAL"} else "FEASIBLE"
    objective, value = score(problem, ctxs, merged, mults)
    if objective < h_obj - 1e-9:  # never below the greedy (or repaired previous) plan
        merged, status = hint_sel, "FALLBACK"
        objective, value = score(problem, ctxs, merged, mults)
    return _result(
        problem,
        ctxs,
        cset,
        merged,
        version,
        "cpsat",
        status,
        objective,
        max(bound, objective),
        t0,
        greedy_s,
        g_obj,
        value,
        len(parts),
    )


def greedy_plan(problem: Problem, version: int | None = None) -> PlanResult:
    """The greedy baseline alone."""
    return plan(problem, policy="greedy", version=version)


def _relaxed_bound(
    problem: Problem, ctxs: Sequence[SatContext], cset: CandidateSet, mults: dict[int, int]
) -> float:
    """An upper bound of a partition's objective from two relaxations: every job at its best
    value, and a fractional knapsack of the jobs (each at its best value and its smallest
    accelerator-slots) into the free accelerator-slots of the partition's satellites."""
    items: list[tuple[float, float]] = []  # (weighted value, accelerator-slots)
    sats: set[int] = set()
    for j, cands in cset.inference.items():
        mult = mults[int(problem.jobs[j].priority)]
        items.append(
            (
                mult * max(c.value for c in cands),
                float(min(c.accelerators * c.slots for c in cands)),
            )
        )
        sats.update(c.sat for c in cands)
    for j, opts in cset.training.items():
        mult = mults[int(problem.jobs[j].priority)]
        per_block = max(o.value_per_block for o in opts)
        block_size = min(len(o.sats) * o.accelerators * o.block_slots for o in opts)
        blocks = max(min(len(o.blocks), o.max_blocks) for o in opts)
        items.extend([(mult * per_block, float(block_size))] * blocks)
        sats.update(s for o in opts for s in o.sats)
    everything = sum(v for v, _ in items)
    capacity = float(
        sum(ctxs[s].bus.accelerators * ctxs[s].n_slots - int(ctxs[s].fixed_acc.sum()) for s in sats)
    )
    knapsack = 0.0
    for value, size in sorted(items, key=lambda it: -it[0] / max(it[1], 1e-9)):
        take = min(1.0, capacity / size) if size > 0 else 1.0
        knapsack += take * value
        capacity -= take * size
        if capacity <= 0:
            break
    return min(everything, knapsack)


def _size(cset: CandidateSet) -> int:
    return sum(len(c) for c in cset.inference.values()) + sum(
        len(o.blocks) for opts in cset.training.values() for o in opts
    )


def _restrict(selection: Selection, sub: CandidateSet) -> Selection:
    keep = Selection()
    keep.inference = [c for c in selection.inference if c in sub.inference.get(c.job, ())]
    keep.training = [(o, b) for o, b in selection.training if o in sub.training.get(o.job, ())]
    return keep


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
) -> PlanResult:
    unplaced = unplaced_reasons(problem, ctxs, cset, selection)
    plan_ = build_plan(problem, selection, unplaced, version)
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
    )
