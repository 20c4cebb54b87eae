"""Forecast-aware first fit: the yardstick and the fallback.

Inference jobs in earliest-deadline-first order (higher priority first), each at its
earliest candidate start that fits what is already booked (accelerators, battery segments,
linear thermal, contact downlink volume); then training jobs fill what is left, block by
block, on the first gang where all members fit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from scheduler.planner import feasibility as fz
from scheduler.planner.assemble import Selection
from scheduler.planner.candidates import CandidateSet, GangOption
from scheduler.planner.domain import InferenceJob, Problem, TrainingJob
from scheduler.planner.ledger import LEDGER_VOLUME_SLACK_MB, SatContext, SatLedger


def greedy_select(problem: Problem, ctxs: Sequence[SatContext], cset: CandidateSet) -> Selection:
    ledgers: dict[int, SatLedger] = {}

    def ledger(s: int) -> SatLedger:
        if s not in ledgers:
            ledgers[s] = SatLedger(ctxs[s])
        return ledgers[s]

    volume_used: dict[fz.ContactKey, float] = defaultdict(float)
    selection = Selection()

    def edf(j: int) -> tuple[int, float, float, str]:
        job = problem.jobs[j]
        assert isinstance(job, InferenceJob)
        return (-int(job.priority), job.deadline_s, job.submit_s, job.job_id)

    for j in sorted(cset.inference, key=edf):
        job = problem.jobs[j]
        assert isinstance(job, InferenceJob)
        for c in sorted(cset.inference[j], key=lambda c: (c.start, -c.value, c.sat)):
            window = cset.contacts[c.contact]
            if volume_used[c.contact] + job.output_mb > window.volume_mb - LEDGER_VOLUME_SLACK_MB:
                continue
            lg = ledger(c.sat)
            if lg.misfit(c.start, c.slots, c.accelerators, c.power_w) is None:
                lg.add(c.start, c.slots, c.accelerators, c.power_w)
                volume_used[c.contact] += job.output_mb
                selection.inference.append(c)
                break

    def train_order(j: int) -> tuple[int, float, float, str]:
        job = problem.jobs[j]
        assert isinstance(job, TrainingJob)
        return (-int(job.priority), -job.value_per_acc_h, job.submit_s, job.job_id)

    for j in sorted(cset.training, key=train_order):
        best: tuple[GangOption, list[int]] | None = None
        for opt in sorted(cset.training[j], key=lambda o: not o.continuing):
            blocks = _fill_blocks(opt, [ledger(s) for s in opt.sats])
            if blocks and (best is None or len(blocks) > len(best[1])):
                best = (opt, blocks)
                if len(blocks) >= min(opt.max_blocks, len(opt.blocks)):
                    break
        if best is not None:
            opt, blocks = best
            for s in opt.sats:
                for k in blocks:
                    ledger(s).add(k, opt.block_slots, opt.accelerators, opt.power_w)
            selection.training.append(best)
    return selection


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
