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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from scheduler.planner import feasibility as fz
from scheduler.planner.assemble import VALUE_SCALE, Selection, priority_multipliers, urgency
from scheduler.planner.candidates import Candidate, CandidateSet, GangOption, enumerate_candidates
from scheduler.planner.domain import FloatArray, Plan, Problem
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


# One load placed on a satellite: (literal, start slot, slots, accelerators, power_w).
_Load = tuple[cp_model.IntVar, int, int, int, float]


def build_model(
    problem: Problem,
    candidates: CandidateSet | None = None,
    ctxs: Sequence[SatContext] | None = None,
    multipliers: dict[int, int] | None = None,
    elsewhere: Mapping[int, int] | None = None,
) -> tuple[cp_model.CpModel, ModelVars]:
    """Build one CP-SAT model (no decomposition) over the candidates (enumerated with the
    default pruning when not given); see the module docstring. `elsewhere`: per inference
    job (index), what it earns now outside this model (objective units), taken off each of
    its candidates, so that a window solve moves a job placed elsewhere only where it earns
    more (lns.py)."""
    elsewhere = elsewhere or {}
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
        coef = weight * mults[int(jobs[c.job].priority)] - elsewhere.get(c.job, 0)
        objective.append(coef * lit)
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
    model.maximize(cp_model.LinearExpr.sum(objective))
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

    lits = [lit for lit, _, _, _, _ in sat_loads]
    k_arr = np.array([ld[1] for ld in sat_loads], dtype=np.float64)
    e_arr = k_arr + np.array([ld[2] for ld in sat_loads], dtype=np.float64)
    power = np.array([ld[4] for ld in sat_loads], dtype=np.float64)

    # Battery: one state-of-charge variable per segment end; energy per (load, segment).
    firsts = np.array([sg.first for sg in ctx.segments], dtype=np.float64)
    stops = np.array([sg.stop for sg in ctx.segments], dtype=np.float64)
    overlap = np.clip(
        np.minimum(stops, e_arr[:, None]) - np.maximum(firsts, k_arr[:, None]), 0, None
    )
    energy = np.ceil(overlap * (power[:, None] * ctx.slot_s / 3600.0 * _WH_SCALE) - 1e-9)
    cap_i = math.floor(ctx.bus.battery_capacity_wh * _WH_SCALE)
    prev: cp_model.IntVar | int = math.floor(ctx.soc0_wh * _WH_SCALE)
    depth_coef = round(depth_per_kwh * VALUE_SCALE)
    kwh = 1000 * _WH_SCALE
    floors_i = battery_floors_i(ctx)
    for g, seg in enumerate(ctx.segments):
        floor_i = floors_i[g]
        soc = model.new_int_var(floor_i, cap_i, f"soc_{name}_{g}")
        mv.soc[ctx.index, g] = soc
        net = math.floor(ctx.base_net_wh[g] * _WH_SCALE)
        rows = np.nonzero(energy[:, g])[0].tolist()
        terms = [(int(energy[r, g]), lits[r]) for r in rows]
        model.add(soc + _weighted(terms) <= prev + net)
        mv.aux.append((soc, _soc_fn(prev, net, terms, floor_i, cap_i)))
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
        chain = np.array([0, *ctx.checks.tolist()], dtype=np.float64)
        lo, hi = chain[:-1], chain[1:]
        k1 = np.maximum(k_arr[:, None], lo)
        e1 = np.minimum(e_arr[:, None], hi)
        a = ctx.lin.a
        rise = np.where(
            e1 > k1, a ** (hi - e1) * (1.0 - a ** np.maximum(e1 - k1, 0.0)) / ctx.lin.b_w_k, 0.0
        )
        coefs = np.ceil(rise * power[:, None] * (_MK_SCALE * _CHAIN_SCALE) - 1e-9)
        prev_r: cp_model.IntVar | None = None
        for n in range(len(hi)):
            budget = math.floor(ctx.thermal_budget_k[n] * _MK_SCALE)
            r = model.new_int_var(0, max(budget, 0), f"rise_mk_{name}_{int(hi[n])}")
            decay = math.ceil(a ** (hi[n] - lo[n]) * _CHAIN_SCALE)
            rows = np.nonzero(coefs[:, n] > 0)[0].tolist()
            terms = [(int(coefs[r_, n]), lits[r_]) for r_ in rows]
            carried = decay * prev_r if prev_r is not None else 0
            model.add(_CHAIN_SCALE * r >= carried + _weighted(terms))
            mv.aux.append((r, _rise_fn(prev_r, decay, terms)))
            prev_r = r


def battery_floors_i(ctx: SatContext) -> list[int]:
    """The model's floor at each segment end, in its integers (0.1 Wh): the floor rounded
    up, but never above the charge the committed work alone leaves in the same integers
    (initial charge and net energy rounded down), so that a satellite whose floor was
    relaxed to that charge (ledger.py) keeps a feasible model with no new work (rounded
    to the exact relaxed floor it was infeasible)."""
    cap_i = math.floor(ctx.bus.battery_capacity_wh * _WH_SCALE)
    base = math.floor(ctx.soc0_wh * _WH_SCALE)
    out = []
    for g in range(len(ctx.segments)):
        base = min(base + math.floor(ctx.base_net_wh[g] * _WH_SCALE), cap_i)
        out.append(min(math.ceil(ctx.floor_wh[g] * _WH_SCALE), cap_i, base))
    return out


def battery_floors_wh(ctx: SatContext) -> FloatArray:
    """battery_floors_i in Wh."""
    return np.array(battery_floors_i(ctx), dtype=np.float64) / _WH_SCALE


def _weighted(terms: list[tuple[int, cp_model.IntVar]]) -> Any:
    return cp_model.LinearExpr.weighted_sum([v for _, v in terms], [c for c, _ in terms])


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
            model.add(_weighted([(c, v) for c, v in terms]) <= volume)


@dataclass(frozen=True)
class HintIndex:
    """A plan's placements in slot terms, built once and shared by every partition."""

    inference: frozenset[tuple[str, str, int]]
    training: dict[tuple[str, frozenset[str]], frozenset[int]]


def hint_index(problem: Problem, hint: Plan) -> HintIndex:
    t0 = problem.now_s
    slot = problem.slot_s
    inf = frozenset(
        (it.job_id, it.satellite, round((it.start_s - t0) / slot))
        for it in hint.items
        if it.kind == "inference"
    )
    by_job: dict[str, set[str]] = defaultdict(set)
    for it in hint.items:
        if it.kind == "training":
            by_job[it.job_id].add(it.satellite)
    slots: dict[tuple[str, frozenset[str]], set[int]] = defaultdict(set)
    for it in hint.items:
        if it.kind == "training":
            start = round((it.start_s - t0) / slot)
            stop = round((it.end_s - t0) / slot)
            slots[it.job_id, frozenset(by_job[it.job_id])].update(range(start, stop))
    return HintIndex(inf, {k: frozenset(v) for k, v in slots.items()})


def add_hints(
    problem: Problem, mv: ModelVars, model: cp_model.CpModel, hint: Plan | HintIndex
) -> int:
    """Hint every variable from a plan (previous or greedy): its decisions, and the state of
    charge, thermal rise, depth and stop variables they imply (a complete hint). Returns the
    literals set to 1."""
    index = hint if isinstance(hint, HintIndex) else hint_index(problem, hint)
    values: dict[int, int] = {}
    names = [s.name for s in problem.satellites]
    jobs = problem.jobs
    ones = 0
    for c, lit in zip(mv.candidates, mv.x, strict=True):
        on = int((jobs[c.job].job_id, names[c.sat], c.start) in index.inference)
        values[lit.index] = on
        ones += on
    empty: frozenset[int] = frozenset()
    for i, (o, s_lit) in enumerate(zip(mv.options, mv.sel, strict=True)):
        chosen = index.training.get(
            (jobs[o.job].job_id, frozenset(names[s] for s in o.sats)), empty
        )
        any_on = 0
        for b, k in enumerate(o.blocks):
            on = int(k in chosen and (k + o.block_slots - 1) in chosen)
            values[mv.run[i, b].index] = on
            any_on |= on
        values[s_lit.index] = any_on
        ones += any_on

    def val(var: cp_model.IntVar) -> int:
        return values[var.index]

    for var, fn in mv.aux:
        values[var.index] = fn(val)
    model.clear_hints()
    model.proto.solution_hint.vars.extend(values.keys())
    model.proto.solution_hint.values.extend(values.values())
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


def decision_literals(mv: ModelVars) -> list[cp_model.IntVar]:
    """The decision literals in a fixed order: x, then run blocks (option, block)."""
    runs = [mv.run[i, b] for i, o in enumerate(mv.options) for b in range(len(o.blocks))]
    return [*mv.x, *runs]


def add_selection_hint(mv: ModelVars, model: cp_model.CpModel, selection: Selection) -> None:
    """A complete hint from a selection of this model's own candidates and options."""
    chosen = set(selection.inference)
    blocks_of = {(o.job, o.sats): set(b) for o, b in selection.training}
    values: dict[int, int] = {
        lit.index: int(c in chosen) for c, lit in zip(mv.candidates, mv.x, strict=False)
    }
    for i, (o, s_lit) in enumerate(zip(mv.options, mv.sel, strict=True)):
        taken = blocks_of.get((o.job, o.sats), set())
        any_on = 0
        for b, k in enumerate(o.blocks):
            on = int(k in taken)
            values[mv.run[i, b].index] = on
            any_on |= on
        values[s_lit.index] = any_on

    def val(var: cp_model.IntVar) -> int:
        return values[var.index]

    for var, fn in mv.aux:
        values[var.index] = fn(val)
    model.clear_hints()
    model.proto.solution_hint.vars.extend(values.keys())
    model.proto.solution_hint.values.extend(values.values())


def selection_from_values(mv: ModelVars, values: bytes) -> Selection:
    """The selection of a solution given as one byte per decision literal
    (decision_literals order)."""
    selection = Selection()
    n = len(mv.x)
    selection.inference = [c for c, v in zip(mv.candidates, values[:n], strict=False) if v]
    pos = n
    for o in mv.options:
        bits = values[pos : pos + len(o.blocks)]
        pos += len(o.blocks)
        blocks = [k for k, v in zip(o.blocks, bits, strict=False) if v]
        if blocks:
            selection.training.append((o, blocks))
    return selection
