"""The time-indexed CP-SAT model, built from pruned candidates.

Decision literals: x[c] "inference candidate c (job, satellite, start slot) is chosen";
sel[o] "training job uses gang option o", run[o, b] "the gang runs block b".
Constraints (all linear, integer-scaled conservatively: loads rounded up, budgets down):
- each job at most once (one candidate, one gang);
- accelerators per satellite at every slot where some candidate starts (the occupancy
  step function peaks at a start);
- battery: state of charge at the end of each monotone segment, between the floor and the
  capacity, surplus curtailed (soc_g <= soc_{g-1} + net_g - load_g);
- thermal: linearised temperature (tangent at the limit) under limit - margin at checks;
- downlink volume of each contact over the outputs routed to it.
Objective: priority-weighted value on time (lateness already priced into each candidate)
minus battery depth at the end of every draining segment and training preemptions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from scheduler.planner import feasibility as fz
from scheduler.planner.assemble import VALUE_SCALE, Selection, priority_multipliers, urgency
from scheduler.planner.candidates import Candidate, CandidateSet, GangOption, enumerate_candidates
from scheduler.planner.domain import Plan, Problem
from scheduler.planner.ledger import SatContext, contexts

_WH_SCALE = 10  # battery integers in 0.1 Wh
_MK_SCALE = 1000  # thermal integers in mK
_MB_SCALE = 10  # data integers in 0.1 MB
_CHAIN_SCALE = 10_000  # fixed-point scale of the thermal recursion


_Getter = Callable[[cp_model.IntVar], int]
_AuxFn = Callable[[_Getter], int]


def _stop_fn(a: cp_model.IntVar, b: cp_model.IntVar) -> _AuxFn:
    return lambda val: max(0, val(a) - val(b))


def _soc_fn(
    prev: cp_model.IntVar | int,
    net: int,
    terms: list[tuple[int, cp_model.IntVar]],
    lo: int,
    hi: int,
) -> _AuxFn:
    def fn(val: _Getter) -> int:
        before = prev if isinstance(prev, int) else val(prev)
        return max(lo, min(hi, before + net - sum(c * val(lit) for c, lit in terms)))

    return fn


def _depth_fn(soc: cp_model.IntVar, cap_i: int, kwh: int) -> _AuxFn:
    return lambda val: -(-(cap_i - val(soc)) // kwh)


def _rise_fn(
    prev: cp_model.IntVar | None, decay: int, terms: list[tuple[int, cp_model.IntVar]]
) -> _AuxFn:
    def fn(val: _Getter) -> int:
        total = (decay * val(prev) if prev is not None else 0) + sum(c * val(v) for c, v in terms)
        return -(-total // _CHAIN_SCALE)

    return fn


@dataclass
class ModelVars:
    """Variable bundles of one model, keyed as the docstring of this module says."""

    candidates: list[Candidate]
    options: list[GangOption]
    x: list[cp_model.IntVar]
    sel: list[cp_model.IntVar]
    run: dict[tuple[int, int], cp_model.IntVar]  # (option index, block index)
    soc: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    multipliers: dict[int, int] = field(default_factory=dict)
    # Auxiliary variables in creation order with how to compute each from the others, so a
    # hint on the decision literals can be completed into a full solution hint.
    aux: list[tuple[cp_model.IntVar, _AuxFn]] = field(default_factory=list)
    objective_scale: int = VALUE_SCALE


# One load placed on a satellite: (literal, start slot, slots, accelerators, power_w).
_Load = tuple[cp_model.IntVar, int, int, int, float]


def build_model(
    problem: Problem,
    candidates: CandidateSet | None = None,
    ctxs: Sequence[SatContext] | None = None,
    multipliers: dict[int, int] | None = None,
) -> tuple[cp_model.CpModel, ModelVars]:
    """Build one CP-SAT model (no decomposition) over the candidates (enumerated with the
    default pruning when not given); see the module docstring."""
    if ctxs is None:
        ctxs = contexts(problem)
    cset = candidates if candidates is not None else enumerate_candidates(problem, ctxs)
    model = cp_model.CpModel()
    w = problem.weights
    mults = multipliers or priority_multipliers(problem, cset)
    cands = [c for j in sorted(cset.inference) for c in cset.inference[j]]
    options = [o for j in sorted(cset.training) for o in cset.training[j]]
    jobs = problem.jobs
    x = [
        model.new_bool_var(f"x_{jobs[c.job].job_id}_{problem.satellites[c.sat].name}_{c.start}")
        for c in cands
    ]
    sel = [model.new_bool_var(f"sel_{jobs[o.job].job_id}_{i}") for i, o in enumerate(options)]
    run: dict[tuple[int, int], cp_model.IntVar] = {}
    mv = ModelVars(cands, options, x, sel, run, multipliers=mults)
    objective: list[cp_model.LinearExprT] = []

    per_job: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    loads: dict[int, list[_Load]] = defaultdict(list)
    for c, lit in zip(cands, x, strict=True):
        per_job[c.job].append(lit)
        loads[c.sat].append((lit, c.start, c.slots, c.accelerators, c.power_w))
        weight = round(c.value * urgency(problem, c.start) * VALUE_SCALE)
        objective.append(weight * mults[int(jobs[c.job].priority)] * lit)
    for lits in per_job.values():
        model.add_at_most_one(lits)

    gang_sel: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for i, (o, s_lit) in enumerate(zip(options, sel, strict=True)):
        gang_sel[o.job].append(s_lit)
        block_lits = []
        for b, k in enumerate(o.blocks):
            lit = model.new_bool_var(f"run_{jobs[o.job].job_id}_{i}_{k}")
            run[i, b] = lit
            block_lits.append(lit)
            model.add_implication(lit, s_lit)
            for s in o.sats:
                loads[s].append((lit, k, o.block_slots, o.accelerators, o.power_w))
        if len(block_lits) > o.max_blocks:
            model.add(sum(block_lits) <= o.max_blocks)
        model.add_bool_or([*block_lits, s_lit.Not()])  # a chosen gang runs at least once
        mult = mults[int(jobs[o.job].priority)]
        objective.extend(
            round(o.value_per_block * urgency(problem, k) * VALUE_SCALE) * mult * lit
            for k, lit in zip(o.blocks, block_lits, strict=True)
        )
        pre = round(w.preemption * VALUE_SCALE)
        if pre > 0:
            for b in range(len(block_lits) - 1):  # stop_b >= run_b - run_{b+1}
                stop = model.new_bool_var(f"stop_{jobs[o.job].job_id}_{i}_{b}")
                model.add(stop >= block_lits[b] - block_lits[b + 1])
                mv.aux.append((stop, _stop_fn(block_lits[b], block_lits[b + 1])))
                objective.append(-pre * stop)
            if o.continuing and block_lits:
                objective.append(-pre * (1 - block_lits[0]))
    for lits in gang_sel.values():
        model.add_at_most_one(lits)

    for s, sat_loads in loads.items():
        _add_satellite(model, mv, ctxs[s], sat_loads, objective, w.battery_depth_per_kwh)
    _add_downlink_volume(model, problem, cset, cands, x)
    model.maximize(sum(objective))
    return model, mv


def _add_satellite(
    model: cp_model.CpModel,
    mv: ModelVars,
    ctx: SatContext,
    sat_loads: list[_Load],
    objective: list[cp_model.LinearExprT],
    depth_per_kwh: float,
) -> None:
    name = ctx.sat.name
    cap = ctx.bus.accelerators
    # Accelerators: a cumulative over fixed-start optional intervals, committed work fixed.
    intervals = [
        model.new_optional_fixed_size_interval_var(k, d, lit, f"iv_{name}_{i}")
        for i, (lit, k, d, _, _) in enumerate(sat_loads)
    ]
    demands = [a for _, _, _, a, _ in sat_loads]
    if sum(demands) > cap:
        fixed = ctx.fixed_acc
        for k in range(len(fixed)):
            if fixed[k] and (k == 0 or fixed[k] != fixed[k - 1]):
                stop = k + 1
                while stop < len(fixed) and fixed[stop] == fixed[k]:
                    stop += 1
                intervals.append(model.new_fixed_size_interval_var(k, stop - k, f"busy_{name}_{k}"))
                demands.append(int(fixed[k]))
        model.add_cumulative(intervals, demands, cap)

    # Battery: one state-of-charge variable per segment end.
    seg_terms: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in ctx.segments]
    for lit, k, d, _, p in sat_loads:
        energy = ctx.segment_energy_wh(k, d, p)
        for gi in energy.nonzero()[0].tolist():
            seg_terms[gi].append((math.ceil(energy[gi] * _WH_SCALE - 1e-9), lit))
    cap_i = math.floor(ctx.bus.battery_capacity_wh * _WH_SCALE)
    prev: cp_model.IntVar | int = math.floor(ctx.soc0_wh * _WH_SCALE)
    depth_coef = round(depth_per_kwh * VALUE_SCALE)
    kwh = 1000 * _WH_SCALE
    for g, seg in enumerate(ctx.segments):
        floor_i = min(math.ceil(ctx.floor_wh[g] * _WH_SCALE), cap_i)
        soc = model.new_int_var(floor_i, cap_i, f"soc_{name}_{g}")
        mv.soc[ctx.index, g] = soc
        net = math.floor(ctx.base_net_wh[g] * _WH_SCALE)
        model.add(soc <= prev + net - sum(c * lit for c, lit in seg_terms[g]))
        mv.aux.append((soc, _soc_fn(prev, net, seg_terms[g], floor_i, cap_i)))
        if seg.kind != fz.CHARGING and depth_coef > 0:
            # Depth below full at the end of a draining stretch, in whole kWh (rounded up).
            depth = model.new_int_var(0, -(-cap_i // kwh), f"depth_kwh_{name}_{g}")
            model.add(kwh * depth >= cap_i - soc)
            mv.aux.append((depth, _depth_fn(soc, cap_i, kwh)))
            objective.append(-depth_coef * depth)
        prev = soc

    # Thermal: the linear rise R_n at each check c_n follows the recursion
    # R_n >= A_n R_{n-1} + (heat of the loads in [c_{n-1}, c_n) seen at c_n),
    # A_n = a^(c_n - c_{n-1}): each load appears only in the few windows it overlaps;
    # R_n <= budget_n.
    if ctx.checks.size:
        chain = [0, *ctx.checks.tolist()]
        rows: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in ctx.checks]
        for lit, k, d, _, p in sat_loads:
            for n in range(1, len(chain)):
                lo, hi = chain[n - 1], chain[n]
                k1, e1 = max(k, lo), min(k + d, hi)
                if e1 <= k1:
                    continue
                rise = float(fz.thermal_kernel(ctx.lin, np.array([hi]), k1, e1 - k1)[0]) * p
                coef = math.ceil(rise * _MK_SCALE * _CHAIN_SCALE - 1e-9)
                if coef > 0:
                    rows[n - 1].append((coef, lit))
        prev_r: cp_model.IntVar | None = None
        for n in range(1, len(chain)):
            budget = math.floor(ctx.thermal_budget_k[n - 1] * _MK_SCALE)
            r = model.new_int_var(0, max(budget, 0), f"rise_mk_{name}_{chain[n]}")
            decay = math.ceil(ctx.lin.a ** (chain[n] - chain[n - 1]) * _CHAIN_SCALE)
            carried = decay * prev_r if prev_r is not None else 0
            model.add(_CHAIN_SCALE * r >= carried + sum(c * lit for c, lit in rows[n - 1]))
            mv.aux.append((r, _rise_fn(prev_r, decay, rows[n - 1])))
            prev_r = r


def _add_downlink_volume(
    model: cp_model.CpModel,
    problem: Problem,
    cset: CandidateSet,
    cands: Sequence[Candidate],
    x: Sequence[cp_model.IntVar],
) -> None:
    by_contact: dict[fz.ContactKey, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    for c, lit in zip(cands, x, strict=True):
        size = problem.jobs[c.job].output_mb  # type: ignore[union-attr]
        if size > 0:
            by_contact[c.contact].append((math.ceil(size * _MB_SCALE), lit))
    for key, terms in by_contact.items():
        volume = math.floor(cset.contacts[key].volume_mb * _MB_SCALE)
        if sum(coef for coef, _ in terms) > volume:
            model.add(sum(coef * lit for coef, lit in terms) <= volume)


def add_hints(problem: Problem, mv: ModelVars, model: cp_model.CpModel, hint: Plan) -> int:
    """Hint every literal from a plan (previous or greedy); returns the literals set to 1."""
    t0 = problem.now_s
    slot = problem.slot_s
    inf_items = {
        (it.job_id, it.satellite, round((it.start_s - t0) / slot))
        for it in hint.items
        if it.kind == "inference"
    }
    blocks: dict[tuple[str, frozenset[str]], set[int]] = defaultdict(set)
    by_job: dict[str, set[str]] = defaultdict(set)
    for it in hint.items:
        if it.kind == "training":
            by_job[it.job_id].add(it.satellite)
    for it in hint.items:
        if it.kind == "training":
            key = (it.job_id, frozenset(by_job[it.job_id]))
            start = round((it.start_s - t0) / slot)
            stop = round((it.end_s - t0) / slot)
            blocks[key].update(range(start, stop))
    ones = 0
    values: dict[int, int] = {}
    names = [s.name for s in problem.satellites]
    for c, lit in zip(mv.candidates, mv.x, strict=True):
        on = (problem.jobs[c.job].job_id, names[c.sat], c.start) in inf_items
        model.add_hint(lit, on)
        values[lit.index] = int(on)
        ones += on
    for i, (o, s_lit) in enumerate(zip(mv.options, mv.sel, strict=True)):
        key = (problem.jobs[o.job].job_id, frozenset(names[s] for s in o.sats))
        chosen = blocks.get(key, set())
        any_on = False
        for b, k in enumerate(o.blocks):
            on = k in chosen and (k + o.block_slots - 1) in chosen
            model.add_hint(mv.run[i, b], on)
            values[mv.run[i, b].index] = int(on)
            any_on |= on
        model.add_hint(s_lit, any_on)
        values[s_lit.index] = int(any_on)
        ones += any_on

    def val(var: cp_model.IntVar) -> int:
        return values[var.index]

    for var, fn in mv.aux:
        values[var.index] = fn(val)
        model.add_hint(var, values[var.index])
    return ones


def read_selection(solver: cp_model.CpSolver, mv: ModelVars) -> Selection:
    selection = Selection()
    for c, lit in zip(mv.candidates, mv.x, strict=True):
        if solver.boolean_value(lit):
            selection.inference.append(c)
    for i, o in enumerate(mv.options):
        blocks = [k for b, k in enumerate(o.blocks) if solver.boolean_value(mv.run[i, b])]
        if blocks:
            selection.training.append((o, blocks))
    return selection
