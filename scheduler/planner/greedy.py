"""Forecast-aware first fit: the yardstick and the fallback.

Inference jobs in earliest-deadline-first order (higher priority first), each at its
earliest candidate start that fits what is already booked (accelerators, battery segments,
linear thermal, contact downlink volume); then training jobs fill what is left, block by
block, on the first gang where all members fit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from scheduler.planner import feasibility as fz
from scheduler.planner.assemble import Selection
from scheduler.planner.candidates import Candidate, CandidateSet, GangOption
from scheduler.planner.domain import InferenceJob, Plan, Problem, TrainingJob
from scheduler.planner.ledger import LEDGER_VOLUME_SLACK_MB, SatContext, SatLedger


def greedy_select(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    keep: Selection | None = None,
    order: str = "edf",
    ledgers: dict[int, SatLedger] | None = None,
    rank: Mapping[Candidate, float] | None = None,
) -> Selection:
    """First fit; with `keep` (e.g. the previous plan), its placements are booked first,
    each only if it still fits, and the rest is filled around them. Inference jobs go in
    priority order, then earliest deadline first (`order="edf"`, the baseline) or highest
    value per accelerator-slot first (`order="density"`, one of the CP-SAT hints).
    `ledgers`, when given (empty), receives the satellites' ledgers with the selection
    booked, in the order assemble.ledgers_for books it (without `keep`), so that scoring
    need not book it again."""
    out = ledgers if keep is None else None
    ledgers = {}
    booked: dict[int, None] = {}  # satellites with work booked, in booking order

    def ledger(s: int) -> SatLedger:
        if s not in ledgers:
            ledgers[s] = SatLedger(ctxs[s])
        return ledgers[s]

    volume_used: dict[fz.ContactKey, float] = defaultdict(float)
    volume_cap = {key: w.volume_mb - LEDGER_VOLUME_SLACK_MB for key, w in cset.contacts.items()}
    jobs = problem.jobs
    selection = Selection()

    def fits(c: Candidate) -> bool:
        out_mb = jobs[c.job].output_mb  # type: ignore[union-attr]
        if volume_used[c.contact] + out_mb > volume_cap[c.contact]:
            return False
        lg = ledger(c.sat)
        if lg.misfit(c.start, c.slots, c.accelerators, c.power_w) is not None:
            return False
        lg.add(c.start, c.slots, c.accelerators, c.power_w)
        booked[c.sat] = None
        volume_used[c.contact] += out_mb
        selection.inference.append(c)
        return True

    done: set[int] = set()
    for c in keep.inference if keep else ():
        if c.job not in done and fits(c):
            done.add(c.job)
    for opt, blocks in keep.training if keep else ():
        taken = _fill_blocks(replace(opt, blocks=tuple(blocks)), [ledger(s) for s in opt.sats])
        if taken and opt.job not in done:
            _book(opt, taken, ledger, booked)
            selection.training.append((opt, taken))
            done.add(opt.job)

    def edf(j: int) -> tuple[int, float, float, str]:
        job = problem.jobs[j]
        assert isinstance(job, InferenceJob)
        if rank is not None:
            best = max(rank.get(c, -math.inf) for c in cset.inference[j])
            return (-int(job.priority), -best, job.deadline_s, job.job_id)
        if order == "density":
            best = max(c.value / (c.accelerators * c.slots) for c in cset.inference[j])
            return (-int(job.priority), -best, job.deadline_s, job.job_id)
        return (-int(job.priority), job.deadline_s, job.submit_s, job.job_id)

    for j in sorted(set(cset.inference) - done, key=edf):
        if rank is not None:
            cands = sorted(cset.inference[j], key=lambda c: (-rank.get(c, -math.inf), c.start))
        else:
            cands = sorted(cset.inference[j], key=lambda c: (c.start, -c.value, c.sat))
        for c in cands:
            if fits(c):
                break

    def train_order(j: int) -> tuple[int, float, float, str]:
        job = problem.jobs[j]
        assert isinstance(job, TrainingJob)
        return (-int(job.priority), -job.value_per_acc_h, job.submit_s, job.job_id)

    for j in sorted(set(cset.training) - done, key=train_order):
        best: tuple[GangOption, list[int]] | None = None
        for opt in sorted(cset.training[j], key=lambda o: not o.continuing):
            blocks = _fill_blocks(opt, [ledger(s) for s in opt.sats])
            if blocks and (best is None or len(blocks) > len(best[1])):
                best = (opt, blocks)
                if len(blocks) >= min(opt.max_blocks, len(opt.blocks)):
                    break
        if best is not None:
            _book(best[0], best[1], ledger, booked)
            selection.training.append(best)
    if out is not None:
        out.update((s, ledgers[s]) for s in booked)
    return selection


def _book(
    opt: GangOption,
    blocks: Sequence[int],
    ledger: Callable[[int], SatLedger],
    booked: dict[int, None],
) -> None:
    for s in opt.sats:
        booked[s] = None
        for k in blocks:
            ledger(s).add(k, opt.block_slots, opt.accelerators, opt.power_w)


def selection_from_plan(problem: Problem, cset: CandidateSet, plan: Plan) -> Selection:
    """The candidates a plan (e.g. the previous one) chose, where they still exist."""
    names = [s.name for s in problem.satellites]
    slot = problem.slot_s
    inf = {
        (i.job_id, i.satellite, round((i.start_s - problem.now_s) / slot))
        for i in plan.items
        if i.kind == "inference"
    }
    train: dict[str, set[str]] = defaultdict(set)
    slots: dict[str, set[int]] = defaultdict(set)
    for i in plan.items:
        if i.kind == "training":
            train[i.job_id].add(i.satellite)
            first = round((i.start_s - problem.now_s) / slot)
            slots[i.job_id].update(range(first, round((i.end_s - problem.now_s) / slot)))
    out = Selection()
    for j, cands in cset.inference.items():
        jid = problem.jobs[j].job_id
        out.inference.extend(c for c in cands if (jid, names[c.sat], c.start) in inf)
    for j, opts in cset.training.items():
        jid = problem.jobs[j].job_id
        for o in opts:
            if {names[s] for s in o.sats} == train.get(jid):
                blocks = [
                    k for k in o.blocks if k in slots[jid] and k + o.block_slots - 1 in slots[jid]
                ]
                if blocks:
                    out.training.append((o, blocks))
                break
    return out


def _fill_blocks(opt: GangOption, ledgers: Sequence[SatLedger]) -> list[int]:
    """Blocks, earliest first, that fit on every member given the blocks taken before
    (tentatively booked on copies so battery and heat accumulate)."""
    trial = [SatLedger(lg.ctx) for lg in ledgers]
    for t, lg in zip(trial, ledgers, strict=True):
        t.acc = lg.acc.copy()
        t.seg_load_wh = lg.seg_load_wh.copy()
        t.rise_k = lg.rise_k.copy()
    taken: list[int] = []
    for k in opt.blocks:
        if len(taken) >= opt.max_blocks:
            break
        if all(t.misfit(k, opt.block_slots, opt.accelerators, opt.power_w) is None for t in trial):
            for t in trial:
                t.add(k, opt.block_slots, opt.accelerators, opt.power_w)
            taken.append(k)
    return taken
