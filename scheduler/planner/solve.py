"""The planner's entry points: `plan` (pruning, greedy, decomposition, CP-SAT, fallback)
and `solve` (one model)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
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
from scheduler.planner.cpsat_model import ModelVars, add_hints, build_model, read_selection
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
    hint: Plan | None = None,
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
    """Keep the model small (issue 3: model size decides everything): about 40 candidate
    starts per job, fewer as the problem grows."""
    n_jobs = max(1, len(problem.jobs))
    n_sats = max(1, len(problem.satellites))
    small = n_jobs <= 100
    return PruneOptions(
        max_sats_per_job=min(n_sats, 8 if small else 4),
        start_stride_slots=1,
        max_starts_per_sat=12 if small else 8 if n_jobs <= 1500 else 5,
        max_gangs_per_job=4 if small else 2,
        alone_fit=n_jobs <= 150,
    )


def partitions(
    problem: Problem, cset: CandidateSet, greedy: Selection, max_literals: int = 12_000
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
    partition_literals: int = 12_000,
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
    # The hint: the previous plan repaired (what still fits) and filled first-fit around it,
    # or the greedy plan; complete and feasible, so the solver starts from it.
    hint_sel = greedy
    if previous is not None:
        repaired = greedy_select(problem, ctxs, cset, selection_from_plan(problem, cset, previous))
        if score(problem, ctxs, repaired, mults)[0] > g_obj:
            hint_sel = repaired
    hint_plan = build_plan(problem, hint_sel, [], version)
    h_obj = score(problem, ctxs, hint_sel, mults)[0]
    parts = partitions(problem, cset, hint_sel, partition_literals)
    budget = max(time_limit_s - (time.perf_counter() - t0), 0.1)
    merged = Selection()
    bound = 0.0
    statuses: set[str] = set()
    fell_back = False
    for i, sub in enumerate(parts):
        remaining = max(budget - (time.perf_counter() - t0 - greedy_s), 0.05)
        share = remaining * _size(sub) / max(sum(_size(p) for p in parts[i:]), 1)
        model, mv = build_model(problem, sub, ctxs, mults)
        sub_greedy = _restrict(hint_sel, sub)
        out = solve(
            problem,
            model,
            mv,
            share,
            num_workers,
            seed,
            hint=hint_plan,
            deterministic=deterministic,
        )
        sg_obj, _ = score(problem, ctxs, sub_greedy, mults)
        sub_obj = score(problem, ctxs, out.selection, mults)[0] if out.selection else -math.inf
        if out.selection is not None and sub_obj >= sg_obj - 1e-9:
            chosen = out.selection
            bound += out.bound
            statuses.add(out.status)
        else:
            chosen = sub_greedy
            bound += out.bound if not math.isnan(out.bound) else sg_obj
            fell_back = True
            statuses.add("FALLBACK")
        merged.inference.extend(chosen.inference)
        merged.training.extend(chosen.training)
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
