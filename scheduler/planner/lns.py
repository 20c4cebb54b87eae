"""Anytime improvement of a complete plan: large-neighbourhood search over windows of
orbital planes.

Satellites of different ISL route groups (orbital planes) share no resource, so a window
of route groups is a sub-problem of its own once the jobs placed elsewhere are fixed: the
jobs placed in the window may move inside it or be dropped, and jobs left out of the plan
(with candidates there) may come in. Each round cuts the planes into disjoint windows of
about `max_literals` candidates, solves them in parallel on a backend (process pool or
Ray) from the incumbent as a complete hint, and keeps a window's answer only where it
scores higher. Rounds shift the window boundaries and hand each left-out job to a
different window, so work moves between partitions over the rounds.

The bound is for the whole pruned problem (every job, every satellite, each job's pruned
candidates): the sum over the windows of the first round of a relaxation over every job
with a candidate in the window, whether placed there or not (solve.relaxed_bound).
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from scheduler.planner.assemble import VALUE_SCALE, Selection, score
from scheduler.planner.backends import Backend, SolveReply, SolveTask, model_text
from scheduler.planner.candidates import Candidate, CandidateSet, GangOption
from scheduler.planner.cpsat_model import (
    ModelVars,
    add_selection_hint,
    build_model,
    decision_literals,
    selection_from_values,
)
from scheduler.planner.domain import Problem
from scheduler.planner.ledger import SatContext

Bound = Callable[[CandidateSet], float]
log = logging.getLogger(__name__)


@dataclass
class Incumbent:
    """The current plan as a selection, keyed by job."""

    inference: dict[int, Candidate] = field(default_factory=dict)
    training: dict[int, tuple[GangOption, list[int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, selection: Selection) -> Incumbent:
        inc = cls()
        inc.inference = {c.job: c for c in selection.inference}
        inc.training = {o.job: (o, list(b)) for o, b in selection.training if b}
        return inc

    def selection(self) -> Selection:
        sel = Selection()
        sel.inference = [self.inference[j] for j in sorted(self.inference)]
        sel.training = [self.training[j] for j in sorted(self.training)]
        return sel


@dataclass
class LnsStats:
    rounds: int = 0
    solves: int = 0
    improved: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_round_windows: int = 0
    # When one window holds the whole problem: the solver's bound on it, and whether it
    # proved the incumbent optimal.
    bound: float = math.inf
    proved: bool = False


@dataclass(frozen=True)
class _Window:
    index: int
    groups: frozenset[int]
    cset: CandidateSet
    hint: Selection
    hint_objective: float
    relaxed: float
    whole: bool  # the window holds every job and all their candidates


def job_groups(cset: CandidateSet, groups: Sequence[int]) -> dict[int, set[int]]:
    """Route groups where each job has a candidate."""
    out: dict[int, set[int]] = defaultdict(set)
    for j, cands in cset.inference.items():
        out[j].update(groups[c.sat] for c in cands)
    for j, opts in cset.training.items():
        out[j].update(groups[o.sats[0]] for o in opts)
    return out


def group_sizes(cset: CandidateSet, groups: Sequence[int], where: dict[int, int]) -> dict[int, int]:
    """Candidate literals per route group, each job counted in the group it is given."""
    size: dict[int, int] = defaultdict(int)
    for j, cands in cset.inference.items():
        if j in where:
            size[where[j]] += sum(1 for c in cands if groups[c.sat] == where[j])
    for j, opts in cset.training.items():
        if j in where:
            size[where[j]] += sum(len(o.blocks) for o in opts if groups[o.sats[0]] == where[j])
    return size


def cut_windows(
    order: Sequence[int], size: dict[int, int], max_literals: int, offset: int
) -> list[list[int]]:
    """Consecutive route groups (from `offset` in `order`, cyclically) joined until a
    window has about max_literals candidates."""
    if not order:
        return []
    rotated = [*order[offset % len(order) :], *order[: offset % len(order)]]
    out: list[list[int]] = [[]]
    acc = 0
    for g in rotated:
        if acc and acc + size.get(g, 0) > max_literals:
            out.append([])
            acc = 0
        out[-1].append(g)
        acc += size.get(g, 0)
    return out


def restrict(
    cset: CandidateSet, jobs: Sequence[int], groups: Sequence[int], keep: frozenset[int]
) -> CandidateSet:
    """The candidates of `jobs` on the route groups of `keep`."""
    sub = CandidateSet(contacts=cset.contacts)
    for j in jobs:
        if j in cset.inference:
            kept = [c for c in cset.inference[j] if groups[c.sat] in keep]
            if kept:
                sub.inference[j] = kept
        elif j in cset.training:
            kept_o = [o for o in cset.training[j] if groups[o.sats[0]] in keep]
            if kept_o:
                sub.training[j] = kept_o
    return sub


def first_windows(
    cset: CandidateSet, groups: Sequence[int], inc: Incumbent, max_literals: int
) -> list[list[int]]:
    """The first round's windows: groups joined by the size of the jobs given to them
    (where placed, else where they have most candidates)."""
    where = _where(cset, groups, inc)
    size = group_sizes(cset, groups, where)
    return [w for w in cut_windows(sorted(size), size, max_literals, 0) if w]


def _where(cset: CandidateSet, groups: Sequence[int], inc: Incumbent) -> dict[int, int]:
    where = {j: groups[c.sat] for j, c in inc.inference.items()}
    where.update({j: groups[o.sats[0]] for j, (o, _) in inc.training.items()})
    for j, cands in cset.inference.items():
        if j not in where:
            counts: dict[int, int] = defaultdict(int)
            for c in cands:
                counts[groups[c.sat]] += 1
            where[j] = max(sorted(counts), key=lambda g: counts[g])
    for j, opts in cset.training.items():
        where.setdefault(j, groups[opts[0].sats[0]])
    return where


def whole_bound(
    cset: CandidateSet, groups: Sequence[int], windows: Sequence[Sequence[int]], relaxed: Bound
) -> float:
    """An upper bound of the whole pruned problem: per window, a relaxation over every job
    with a candidate there (a job placed anywhere earns its value in one window only)."""
    by_group: dict[int, list[int]] = defaultdict(list)
    for j, gs in job_groups(cset, groups).items():
        for g in gs:
            by_group[g].append(j)
    total = 0.0
    for w in windows:
        jobs = sorted({j for g in w for j in by_group[g]})
        total += relaxed(restrict(cset, jobs, groups, frozenset(w)))
    return total


def improve(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    mults: dict[int, int],
    start: Selection,
    groups: Sequence[int],
    backend: Backend,
    relaxed: Bound,
    *,
    deadline: float,
    max_literals: int,
    seed: int = 0,
    num_workers: int = 1,
    deterministic: bool = False,
    det_time_s: float = 1.0,
    det_rounds: int = 2,
) -> tuple[Selection, LnsStats]:
    """Rounds of window solves until `deadline` (time.perf_counter), or in deterministic
    mode `det_rounds` rounds with `det_time_s` of deterministic solver time in all."""
    inc = Incumbent.of(start)
    stats = LnsStats()
    order = sorted(set(groups))
    per_job = job_groups(cset, groups)
    base = first_windows(cset, groups, inc, max_literals)
    stats.first_round_windows = len(base)
    if not base:
        return inc.selection(), stats
    stride = max(1, len(order) // (2 * len(base)))  # half a window, in groups
    quiet = 0
    r = 0
    while True:
        now = time.perf_counter()
        if deterministic and r >= det_rounds:
            break
        if not deterministic and deadline - now < 0.1:
            break
        where = _where(cset, groups, inc)
        size = group_sizes(cset, groups, where)
        windows = base if r == 0 else cut_windows(order, size, max_literals, r * stride)
        todo = _round(problem, ctxs, cset, mults, inc, groups, per_job, windows, r, relaxed)
        stats.rounds += 1
        if not todo:
            break
        improved = _solve_round(
            problem,
            ctxs,
            mults,
            inc,
            todo,
            backend,
            stats,
            deadline=deadline,
            seed=seed + r,
            num_workers=num_workers,
            deterministic=deterministic,
            det_time_s=det_time_s / max(det_rounds, 1),
        )
        if stats.proved:
            break
        quiet = 0 if improved else quiet + 1
        if quiet >= 2:  # two shifted cuts found nothing: the windows are at their best
            break
        r += 1
    return inc.selection(), stats


def _round(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    mults: dict[int, int],
    inc: Incumbent,
    groups: Sequence[int],
    per_job: dict[int, set[int]],
    windows: Sequence[Sequence[int]],
    r: int,
    relaxed: Bound,
) -> list[_Window]:
    """The windows of round r worth solving, most to gain first."""
    win_of = {g: w for w, gs in enumerate(windows) for g in gs}
    members: dict[int, list[int]] = defaultdict(list)
    for j, c in inc.inference.items():
        members[win_of[groups[c.sat]]].append(j)
    for j, (o, _) in inc.training.items():
        members[win_of[groups[o.sats[0]]]].append(j)
    for j, gs in per_job.items():
        if j in inc.inference or j in inc.training:
            continue
        touching = sorted({win_of[g] for g in gs})
        members[touching[(j + r) % len(touching)]].append(j)
    out: list[_Window] = []
    for w, window in enumerate(windows):
        keep = frozenset(window)
        sub = restrict(cset, sorted(members[w]), groups, keep)
        if not (sub.inference or sub.training):
            continue
        hint = Selection()
        hint.inference = [inc.inference[j] for j in sub.inference if j in inc.inference]
        hint.training = [inc.training[j] for j in sub.training if j in inc.training]
        h_obj = score(problem, ctxs, hint, mults)[0]
        bound = relaxed(sub)
        if bound - h_obj <= 1e-3 * max(abs(bound), 1.0):
            continue  # at its relaxation already
        whole = len(windows) == 1 and len(sub.inference) + len(sub.training) == len(per_job)
        out.append(_Window(w, keep, sub, hint, h_obj, bound, whole))
    out.sort(key=lambda win: (win.hint_objective - win.relaxed, win.index))
    return out


def _solve_round(
    problem: Problem,
    ctxs: Sequence[SatContext],
    mults: dict[int, int],
    inc: Incumbent,
    todo: Sequence[_Window],
    backend: Backend,
    stats: LnsStats,
    *,
    deadline: float,
    seed: int,
    num_workers: int,
    deterministic: bool,
    det_time_s: float,
) -> bool:
    """Solve the round's windows on the backend (built here, solved there in parallel) and
    keep every answer that scores higher than the incumbent on its window."""
    total = max(sum(_size(w.cset) for w in todo), 1)
    left = total
    running: list[tuple[_Window, ModelVars, Future[SolveReply]]] = []
    for win in todo:
        remaining = deadline - time.perf_counter()
        if not deterministic and remaining < 0.1:
            break
        model, mv = build_model(problem, win.cset, ctxs, mults)
        add_selection_hint(mv, model, win.hint)
        n = _size(win.cset)
        if deterministic:
            limit = det_time_s * n / total
        else:
            remaining = deadline - time.perf_counter()
            # This window's share of what is left, with the backend's workers in parallel.
            limit = min(remaining - 0.05, remaining * backend.workers * n / max(left, 1))
            if limit < 0.05:
                break
        left -= n
        task = SolveTask(
            model_text(model),
            tuple(v.index for v in decision_literals(mv)),
            limit,
            num_workers,
            seed,
            deterministic,
        )
        running.append((win, mv, backend.submit(task)))
    improved = False
    for win, mv, fut in running:  # in window order: the same merge wherever solved
        try:
            reply = fut.result()
        except Exception as exc:  # a lost worker costs this window's answer, not the plan
            log.warning("window %d: solve failed: %s", win.index, exc)
            stats.statuses["ERROR"] += 1
            continue
        stats.solves += 1
        stats.statuses[reply.status] += 1
        if not reply.values:
            continue
        sel = selection_from_values(mv, reply.values)
        obj = score(problem, ctxs, sel, mults)[0]
        if win.whole:
            stats.bound = min(stats.bound, reply.bound / VALUE_SCALE)
            stats.proved = reply.status == "OPTIMAL"
        if obj > win.hint_objective + 1e-6:
            for j in win.cset.inference:
                inc.inference.pop(j, None)
            for j in win.cset.training:
                inc.training.pop(j, None)
            inc.inference.update({c.job: c for c in sel.inference})
            inc.training.update({o.job: (o, b) for o, b in sel.training})
            improved = True
            stats.improved += 1
    return improved


def _size(cset: CandidateSet) -> int:
    return sum(len(c) for c in cset.inference.values()) + sum(
        len(o.blocks) for opts in cset.training.values() for o in opts
    )
