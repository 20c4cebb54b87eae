"""From a selection of candidates to a Plan: items, checkpoint times, scores and the reason
for every job left out. Shared by the CP-SAT and greedy paths so both are scored alike."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scheduler.planner import feasibility as fz
from scheduler.planner.candidates import Candidate, CandidateSet, GangOption, connected_components
from scheduler.planner.domain import Plan, PlanItem, Priority, Problem, Unplaced
from scheduler.planner.ledger import Misfit, SatContext, SatLedger, dominant_misfit

REASON_SAMPLE = 6  # candidates replayed per job left out, to name its reason
# Objective integers are value x VALUE_SCALE (a thousandth of a value unit).
VALUE_SCALE = 1000
_MAX_MULTIPLIER = 10**9
_CLASS_STEP = 100


@dataclass
class Selection:
    inference: list[Candidate] = field(default_factory=list)
    training: list[tuple[GangOption, list[int]]] = field(default_factory=list)


def priority_multipliers(problem: Problem, cset: CandidateSet) -> dict[int, int]:
    """Weight per priority class so that a higher class dominates: each class's weight
    exceeds everything the classes below can earn, capped at 100 per class."""
    achievable: dict[int, float] = defaultdict(float)
    smallest: dict[int, float] = {}
    for j, cands in cset.inference.items():
        p = int(problem.jobs[j].priority)
        best = max(c.value for c in cands)
        achievable[p] += best
        smallest[p] = min(smallest.get(p, math.inf), max(best, 1.0 / VALUE_SCALE))
    for j, opts in cset.training.items():
        p = int(problem.jobs[j].priority)
        achievable[p] += max(min(len(o.blocks), o.max_blocks) * o.value_per_block for o in opts)
        one_block = max(max(o.value_per_block for o in opts), 1.0 / VALUE_SCALE)
        smallest[p] = min(smallest.get(p, math.inf), one_block)
    mults: dict[int, int] = {}
    below = 0.0
    for p in sorted(int(x) for x in Priority):
        # Any one job of class p outweighs everything the classes below can earn, up to a
        # weight of 100 per class (past it, huge coefficients cost the solver more than the
        # strictness is worth: a job still outweighs 100 lower-class jobs of its value).
        need = below / smallest[p] if p in smallest else 0.0
        mults[p] = min(math.floor(need) + 1, _CLASS_STEP**p, _MAX_MULTIPLIER)
        below += achievable[p] * mults[p]
    return mults


def urgency(problem: Problem, start: int) -> float:
    """Objective weight of a start slot (Weights.start_discount)."""
    return 1.0 - problem.weights.start_discount * start / max(problem.n_slots, 1)


def ledgers_for(ctxs: Sequence[SatContext], selection: Selection) -> dict[int, SatLedger]:
    ledgers: dict[int, SatLedger] = {}

    def get(s: int) -> SatLedger:
        if s not in ledgers:
            ledgers[s] = SatLedger(ctxs[s])
        return ledgers[s]

    for c in selection.inference:
        get(c.sat).add(c.start, c.slots, c.accelerators, c.power_w)
    for opt, blocks in selection.training:
        for s in opt.sats:
            for k in blocks:
                get(s).add(k, opt.block_slots, opt.accelerators, opt.power_w)
    return ledgers


def preemptions(opt: GangOption, blocks: Sequence[int]) -> int:
    """Stops after a run of blocks inside the horizon, plus a stop of the running gang."""
    chosen = set(blocks)
    seq = [k in chosen for k in opt.blocks]
    stops = sum(1 for a, b in itertools.pairwise(seq) if a and not b)
    if opt.continuing and seq and not seq[0]:
        stops += 1
    return stops


def score(
    problem: Problem,
    ctxs: Sequence[SatContext],
    selection: Selection,
    mults: dict[int, int],
    ledgers: dict[int, SatLedger] | None = None,
) -> tuple[float, float]:
    """(priority-weighted objective, plain value), in value units; `ledgers`: the
    selection's booked ledgers where the caller has them (greedy_select's), else rebuilt."""
    w = problem.weights
    weighted = 0.0
    value = 0.0
    for c in selection.inference:
        weighted += mults[int(problem.jobs[c.job].priority)] * c.value * urgency(problem, c.start)
        value += c.value
    for opt, blocks in selection.training:
        v = len(blocks) * opt.value_per_block
        urgent = sum(opt.value_per_block * urgency(problem, k) for k in blocks)
        weighted += mults[
            int(problem.jobs[opt.job].priority)
        ] * urgent - w.preemption * preemptions(opt, blocks)
        value += v
    for s, ledger in (ledgers if ledgers is not None else ledgers_for(ctxs, selection)).items():
        weighted -= w.battery_depth_per_kwh * battery_depth_kwh(ctxs[s], ledger)
    return weighted, value


def battery_depth_kwh(ctx: SatContext, ledger: SatLedger) -> float:
    soc = fz.soc_at_segment_ends(
        ctx.soc0_wh, ctx.base_net_wh - ledger.seg_load_wh, ctx.segments, ctx.bus
    )
    mask = np.array([seg.kind != fz.CHARGING for seg in ctx.segments])
    depth_wh = np.maximum(ctx.bus.battery_capacity_wh - soc[mask], 0.0)
    # Whole kWh rounded up, as the CP-SAT model counts it.
    return float(np.sum(np.ceil(depth_wh / 1000.0 - 1e-9)))


def _merge_blocks(starts: Sequence[int], block: int) -> list[tuple[int, int, list[int]]]:
    """Consecutive blocks -> (first slot, stop slot, checkpoint slot-ends)."""
    runs: list[tuple[int, int, list[int]]] = []
    for k in sorted(starts):
        if runs and runs[-1][1] == k:
            first, _, cps = runs[-1]
            runs[-1] = (first, k + block, [*cps, k + block])
        else:
            runs.append((k, k + block, [k + block]))
    return runs


def build_plan(
    problem: Problem, selection: Selection, unplaced: Sequence[Unplaced], version: int
) -> Plan:
    t = problem.slot_start_s
    items: list[PlanItem] = []
    for c in selection.inference:
        items.append(
            PlanItem(
                satellite=problem.satellites[c.sat].name,
                job_id=problem.jobs[c.job].job_id,
                kind="inference",
                start_s=t(c.start),
                end_s=t(c.start + c.slots),
                accelerators=c.accelerators,
                power_w=c.power_w,
                delivery_s=c.delivery_s,
                station=c.station,
            )
        )
    for opt, blocks in selection.training:
        for first, stop, cps in _merge_blocks(blocks, opt.block_slots):
            for s in opt.sats:
                items.append(
                    PlanItem(
                        satellite=problem.satellites[s].name,
                        job_id=problem.jobs[opt.job].job_id,
                        kind="training",
                        start_s=t(first),
                        end_s=t(stop),
                        accelerators=opt.accelerators,
                        power_w=opt.power_w,
                        checkpoint_times_s=tuple(t(k) for k in cps),
                    )
                )
    items.sort(key=lambda i: (i.satellite, i.start_s, i.job_id))
    return Plan(
        version=version,
        created_s=problem.now_s,
        horizon_start_s=problem.now_s,
        horizon_end_s=problem.horizon_end_s,
        items=tuple(items),
        unplaced=tuple(sorted(unplaced, key=lambda u: u.job_id)),
    )


def unplaced_reasons(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    selection: Selection,
    replay: bool = True,
) -> list[Unplaced]:
    """A reason for every job without a place: from pruning, or by replaying its candidates
    against what the selection booked and naming the constraint that blocks most of them.
    Without replay (a plan already past its time limit), jobs that had candidates get a
    CAPACITY reason that says so."""
    placed = {c.job for c in selection.inference} | {o.job for o, b in selection.training if b}
    if not replay:
        out_fast = list(cset.rejected.values())
        out_fast += [
            Unplaced(
                problem.jobs[j].job_id,
                "CAPACITY",
                "it could run but was not placed (out of planning time to name the constraint)",
            )
            for j in [*cset.inference, *cset.training]
            if j not in placed
        ]
        return out_fast
    ledgers = ledgers_for(ctxs, selection)
    volume_used: dict[fz.ContactKey, float] = defaultdict(float)
    for c in selection.inference:
        volume_used[c.contact] += problem.jobs[c.job].output_mb  # type: ignore[union-attr]
    out = list(cset.rejected.values())
    for j, cands in cset.inference.items():
        if j in placed:
            continue
        why: Counter[Misfit] = Counter()
        # At most REASON_SAMPLE candidates, evenly spread, are replayed: under contention
        # most jobs are left out and replaying all of them doubles the cost of a plan.
        step = max(1, -(-len(cands) // REASON_SAMPLE))
        for c in cands[::step]:
            ledger = ledgers.get(c.sat) or SatLedger(ctxs[c.sat])
            misfit = ledger.misfit(c.start, c.slots, c.accelerators, c.power_w)
            if misfit is not None:
                why[misfit] += 1
                continue
            window = cset.contacts[c.contact]
            out_mb = problem.jobs[j].output_mb  # type: ignore[union-attr]
            if volume_used[c.contact] + out_mb > window.volume_mb + 1e-9:
                why[
                    Misfit(
                        "DOWNLINK_VOLUME",
                        f"downlink volume of contact {window.station} {{0}}-{{1}} is full",
                        (window.start_s, window.end_s),
                    )
                ] += 1
                continue
            why[
                Misfit(
                    "CAPACITY", "fits but was not chosen: higher-priority or higher-value work won"
                )
            ] += 1
        top = dominant_misfit(why, Misfit("CAPACITY", "not chosen"))
        out.append(Unplaced(problem.jobs[j].job_id, top.code, top.reason))
    by_plane: dict[int, list[int]] = defaultdict(list)
    for s, ctx in enumerate(ctxs):
        by_plane[ctx.sat.plane].append(s)
    empty: dict[int, SatLedger] = {}
    some_block: dict[tuple[int, int, int, float, tuple[int, ...]], bool] = {}

    def fits_a_block(s: int, o: GangOption) -> bool:
        """Whether one block of the option's shape fits on s (cached: jobs share shapes)."""
        key = (s, o.block_slots, o.accelerators, o.power_w, o.blocks)
        if key not in some_block:
            ledger = ledgers.get(s) or empty.setdefault(s, SatLedger(ctxs[s]))
            some_block[key] = any(
                ledger.misfit(k, o.block_slots, o.accelerators, o.power_w) is None for k in o.blocks
            )
        return some_block[key]

    for j, opts in cset.training.items():
        if j in placed:
            continue
        job = problem.jobs[j]
        planes = {ctxs[s].sat.plane for o in opts for s in o.sats}
        nearby = {s for p in planes for s in by_plane[p]} | {s for o in opts for s in o.sats}
        free = [s for s in nearby if ctxs[s].available and fits_a_block(s, opts[0])]
        comps = connected_components(ctxs, free)
        connected = max((len(c) for c in comps), default=0)
        size = job.gang_size  # type: ignore[union-attr]
        if connected < size:
            out.append(
                Unplaced(
                    job.job_id, "GANG", f"gang needs {size} connected satellites, {connected} free"
                )
            )
        else:
            out.append(
                Unplaced(
                    job.job_id,
                    "CAPACITY",
                    "a gang fits but higher-priority or higher-value work won",
                )
            )
    return out
