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

The bound is for the whole pruned problem as the CP-SAT model states it (every job, every
satellite, each job's pruned candidates): the first round is open (each window holds every
job with a candidate there, placed there or not), so the sum over its windows of the
solver's bound (or, for a window not solved in time, a relaxation: solve.relaxed_bound)
bounds any plan.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, TimeoutError, wait
from dataclasses import dataclass, field

from scheduler.planner.assemble import (
    VALUE_SCALE,
    Selection,
    battery_depth_kwh,
    score,
    urgency,
)
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
from scheduler.planner.ledger import SatContext, SatLedger

Bound = Callable[[CandidateSet], float]
MIN_SOLVE_S = 1.0  # shortest window solve worth starting (first solution ~0.1 s when quiet)
OVERDUE_S = 0.3  # how long past the deadline an answer is still waited for
MAX_SOLVE_S = 10.0  # longest: past it, more rounds over shifted windows do better
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
    skipped: int = 0  # windows left unsolved for lack of time
    moved: int = 0  # jobs moved into a window from where they were placed
    focused: int = 0  # answers taken in focused rounds
    focus_solves: int = 0  # window solves of focused rounds


@dataclass(frozen=True)
class _Window:
    index: int
    groups: frozenset[int]
    cset: CandidateSet
    hint: Selection
    hint_objective: float
    relaxed: float
    whole: bool  # the window holds every job and all their candidates
    # Jobs of the open round placed in another window: what each earns there now
    # (objective units, taken off its candidates here: cpsat_model.build_model), and the
    # sum of the positive ones, which the solver's bound of this window then leaves out.
    elsewhere: dict[int, int] = field(default_factory=dict)
    elsewhere_sum: int = 0


def job_groups(cset: CandidateSet, groups: Sequence[int]) -> dict[int, set[int]]:
    """Route groups where each job has a candidate."""
    out: dict[int, set[int]] = defaultdict(set)
    for j, cands in cset.inference.items():
        out[j].update(groups[c.sat] for c in cands)
    for j, opts in cset.training.items():
        out[j].update(groups[o.sats[0]] for o in opts)
    return out


def group_sizes(cset: CandidateSet, groups: Sequence[int]) -> dict[int, int]:
    """Candidate literals per route group (every job's candidates there)."""
    size: dict[int, int] = defaultdict(int)
    for cands in cset.inference.values():
        for c in cands:
            size[groups[c.sat]] += 1
    for opts in cset.training.values():
        for o in opts:
            size[groups[o.sats[0]]] += len(o.blocks)
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


def first_windows(cset: CandidateSet, groups: Sequence[int], max_literals: int) -> list[list[int]]:
    """The first round's windows: groups joined until a window holds about max_literals
    candidates (of every job: the first round is open)."""
    size = group_sizes(cset, groups)
    return [w for w in cut_windows(sorted(size), size, max_literals, 0) if w]


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
    det_rounds: int = 3,
) -> tuple[Selection, LnsStats]:
    """Rounds of window solves until `deadline` (time.perf_counter), or in deterministic
    mode `det_rounds` rounds with `det_time_s` of deterministic solver time in all.

    The first round is open: each window holds every job with a candidate there, also
    jobs placed elsewhere (a solution is projected: such jobs stay where they are), so the
    sum of the windows' bounds bounds the whole pruned problem (stats.bound)."""
    inc = Incumbent.of(start)
    stats = LnsStats()
    order = sorted(set(groups))
    per_job = job_groups(cset, groups)
    base = first_windows(cset, groups, max_literals)
    stats.first_round_windows = len(base)
    if not base:
        stats.bound = 0.0
        return inc.selection(), stats
    if not deterministic and deadline - time.perf_counter() < MIN_SOLVE_S:
        return inc.selection(), stats  # no time for a solve: the first plan stands
    stride = max(1, len(order) // (2 * len(base)))  # half a window, in groups
    quiet = 0
    r = 0
    focus_round = 0
    window_bound: dict[int, float] = {}
    while True:
        now = time.perf_counter()
        if deterministic and r >= det_rounds:
            break
        if not deterministic and deadline - now < 0.1 and r > 0:
            break
        size = group_sizes(cset, groups)
        # Odd rounds focus on the jobs left out of the highest priority class that still
        # has some that fit alone (classes in turn): each window one plane where such a
        # job has a candidate, with the jobs placed there (small models, which CP-SAT
        # solves in its time: measured on a plane of the 1,584-satellite problem, the
        # plane's left-out critical job came in within 1 s there against 15 s with every
        # left-out job of the plane). Even rounds after the first shift the cut by half a
        # window, every other one joining twice as many planes per window, so that jobs
        # move between neighbouring windows.
        focus = _focus(problem, ctxs, cset, inc, focus_round) if r % 2 == 1 else None
        if focus:
            focus_round += 1
            windows = _focus_windows(cset, groups, focus, mults, problem)
        elif r == 0:
            windows = base
        else:
            wide = 2 if r % 4 == 2 else 1
            windows = cut_windows(order, size, wide * max_literals, r * stride)
        todo = _round(
            problem,
            ctxs,
            cset,
            mults,
            inc,
            groups,
            per_job,
            windows,
            r,
            relaxed,
            window_bound,
            focus or None,
        )
        stats.rounds += 1
        skipped_before = stats.skipped
        improved_before, solves_before = stats.improved, stats.solves
        improved = _solve_round(
            problem,
            ctxs,
            mults,
            inc,
            todo,
            backend,
            stats,
            window_bound if r == 0 else None,
            groups,
            deadline=deadline,
            seed=seed + r,
            num_workers=num_workers,
            deterministic=deterministic,
            det_time_s=det_time_s / max(det_rounds, 1),
            rounds_left=max(det_rounds - r, 1) if deterministic else _rounds_left(r),
        )
        if r == 0:
            stats.bound = sum(window_bound.values())
        if focus:
            stats.focused += stats.improved - improved_before
            stats.focus_solves += stats.solves - solves_before
        if stats.proved or (not todo and not focus):
            break
        complete = stats.skipped == skipped_before
        if not focus:  # a focused round finding nothing says nothing of the others
            quiet = 0 if improved or not complete else quiet + 1
        if quiet >= 2:  # two shifted cuts solved in full found nothing: at their best
            break
        r += 1
    return inc.selection(), stats


def _rounds_left(r: int) -> int:
    """Rounds the remaining time is shared over: the open first round takes at most a
    third, the (focused) second half of what is left, each later round what is left (its
    windows then share it)."""
    return 3 if r == 0 else 2 if r == 1 else 1


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
    window_bound: dict[int, float],
    focus: set[int] | None = None,
) -> list[_Window]:
    """The windows of round r worth solving, most to gain first. Round 0 is open (every
    job with a candidate in the window) and records each window's relaxation as its bound
    until a solve gives a better one. A focused round (`focus`: jobs left out; its windows
    need not cover every plane) holds the jobs placed in each window and the focus jobs
    with a candidate there."""
    win_of = {g: w for w, gs in enumerate(windows) for g in gs}
    placed_in: dict[int, int | None] = {
        j: win_of.get(groups[c.sat]) for j, c in inc.inference.items()
    }
    placed_in.update({j: win_of.get(groups[o.sats[0]]) for j, (o, _) in inc.training.items()})
    members: dict[int, list[int]] = defaultdict(list)
    for j, gs in per_job.items():
        touching = sorted({win_of[g] for g in gs if g in win_of})
        if not touching:
            continue
        if r == 0:
            for w in touching:
                members[w].append(j)
        elif j in placed_in:
            at = placed_in[j]
            if at is not None:
                members[at].append(j)
        elif focus is not None:
            if j in focus:
                for w in touching:
                    members[w].append(j)
        else:
            members[touching[(j + r) % len(touching)]].append(j)
    out: list[_Window] = []
    for w, window in enumerate(windows):
        keep = frozenset(window)
        sub = restrict(cset, sorted(members[w]), groups, keep)
        if not (sub.inference or sub.training):
            continue
        hint = Selection()
        hint.inference = [inc.inference[j] for j in sub.inference if placed_in.get(j) == w]
        hint.training = [inc.training[j] for j in sub.training if placed_in.get(j) == w]
        if focus is not None:
            # A focused round keeps _focus_windows' order (most left-out value first) and
            # skips scoring each window (at 10,000 satellites ~25 ms a window, seconds a
            # round, in the process that builds the models).
            h_obj, bound = 0.0, math.inf
        else:
            h_obj = score(problem, ctxs, hint, mults)[0]
            bound = relaxed(sub)
        if r == 0:
            window_bound[w] = bound
        if focus is None and bound - h_obj <= 1e-3 * max(abs(bound), 1.0):
            continue  # at its relaxation already
        whole = (
            len(windows) == 1
            and keep >= set(groups)
            and len(sub.inference) + len(sub.training) == len(per_job)
        )
        elsewhere = {
            j: round(
                mults[int(problem.jobs[j].priority)]
                * inc.inference[j].value
                * urgency(problem, inc.inference[j].start)
                * VALUE_SCALE
            )
            for j in sub.inference
            if j in inc.inference and placed_in.get(j) != w
        }
        out.append(
            _Window(
                w,
                keep,
                sub,
                hint,
                h_obj,
                bound,
                whole,
                elsewhere,
                sum(max(e, 0) for e in elsewhere.values()),
            )
        )
    out.sort(key=lambda win: (win.hint_objective - win.relaxed, win.index))
    return out


def _focus(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    inc: Incumbent,
    turn: int,
) -> set[int]:
    """Inference jobs left out of the plan, of one priority class: the classes that have
    such jobs with a candidate that fits alone (on an empty satellite), highest first,
    taken in turn."""
    by_class: dict[int, set[int]] = defaultdict(set)
    for j in cset.inference:
        if j not in inc.inference:
            by_class[int(problem.jobs[j].priority)].add(j)
    classes = []
    for p in sorted(by_class, reverse=True):
        fits = {
            j
            for j in by_class[p]
            if any(
                SatLedger(ctxs[c.sat]).misfit(c.start, c.slots, c.accelerators, c.power_w) is None
                for c in cset.inference[j]
            )
        }
        if fits:
            classes.append(fits)
        if len(classes) > turn:
            break
    return classes[turn % len(classes)] if classes else set()


def _focus_windows(
    cset: CandidateSet,
    groups: Sequence[int],
    focus: set[int],
    mults: dict[int, int],
    problem: Problem,
) -> list[list[int]]:
    """One plane each, where a focus job has a candidate; most focus value first."""
    value: dict[int, float] = defaultdict(float)
    for j in focus:
        mult = mults[int(problem.jobs[j].priority)]
        for g in {groups[c.sat] for c in cset.inference[j]}:
            value[g] += mult * max(c.value for c in cset.inference[j])
    return [[g] for g in sorted(value, key=lambda g: (-value[g], g))]


def _slack(
    problem: Problem, ctxs: Sequence[SatContext], win: _Window, mults: dict[int, int]
) -> float:
    """What the score of a window's selection can exceed the model's objective by: the
    battery depth of satellites left empty (the model counts it, the score does not) and
    the rounding of each job's objective coefficient to 1/VALUE_SCALE."""
    sats = {c.sat for cands in win.cset.inference.values() for c in cands}
    sats |= {s for opts in win.cset.training.values() for o in opts for s in o.sats}
    per_kwh = problem.weights.battery_depth_per_kwh
    depth = sum(per_kwh * battery_depth_kwh(ctxs[s], SatLedger(ctxs[s])) for s in sats)
    jobs = [*win.cset.inference, *win.cset.training]
    rounding = sum(mults[int(problem.jobs[j].priority)] for j in jobs) / VALUE_SCALE
    return depth + rounding


def _solve_round(
    problem: Problem,
    ctxs: Sequence[SatContext],
    mults: dict[int, int],
    inc: Incumbent,
    todo: Sequence[_Window],
    backend: Backend,
    stats: LnsStats,
    window_bound: dict[int, float] | None,
    groups: Sequence[int],
    *,
    deadline: float,
    seed: int,
    num_workers: int,
    deterministic: bool,
    det_time_s: float,
    rounds_left: int,
) -> bool:
    """Solve the round's windows on the backend (built here, solved there in parallel) and
    keep every answer that makes the whole plan score higher (_merge). With window_bound
    (the open round), record the solver's bound of each window solved."""
    total = max(sum(_size(w.cset) for w in todo), 1)
    round_end = time.perf_counter() + (deadline - time.perf_counter()) / max(rounds_left, 1)
    inflight: list[tuple[_Window, ModelVars, Future[SolveReply]]] = []
    done: list[tuple[_Window, ModelVars, Future[SolveReply]]] = []
    improved = False

    def merge(item: tuple[_Window, ModelVars, Future[SolveReply]]) -> None:
        nonlocal improved
        win, mv, fut = item
        # A solve overdue past the deadline (a slow worker) is left behind, not waited for.
        wait_s = None if deterministic else max(deadline + OVERDUE_S - time.perf_counter(), 0)
        try:
            fut.result(timeout=wait_s)
        except TimeoutError:
            log.warning("window %d: no answer %.1f s after the deadline", win.index, OVERDUE_S)
            stats.statuses["OVERDUE"] += 1
            return
        except Exception:  # reported by _merge
            pass
        improved |= _merge(problem, ctxs, mults, inc, win, mv, fut, stats, window_bound, groups)

    for i, win in enumerate(todo):
        if deterministic:
            limit = det_time_s * _size(win.cset) / total
        else:
            # At most one solve per worker at a time, so that a limit is the wall time it
            # gets: wait for a free worker, merging answers as they come (windows of a
            # round are disjoint, and a merge re-checks who is placed where).
            while len(inflight) >= backend.workers and time.perf_counter() < deadline:
                finished, _ = wait(
                    [f for _, _, f in inflight],
                    timeout=max(deadline - time.perf_counter(), 0),
                    return_when=FIRST_COMPLETED,
                )
                for item in [it for it in inflight if it[2] in finished]:
                    inflight.remove(item)
                    merge(item)
            now = time.perf_counter()
            if rounds_left > 1 and now >= round_end:
                # The round's share is spent: its other windows wait for a later round
                # (before, a round of many windows ran to the deadline, and at 10,000
                # satellites the open round left no time for any other).
                stats.skipped += len(todo) - i
                break
            # Each window its share of the round's time on the free workers, at least
            # MIN_SOLVE_S (below it CP-SAT may not even load the hint), then the deadline.
            share = (round_end - now) * backend.workers / (len(todo) - i)
            limit = min(max(share, MIN_SOLVE_S), MAX_SOLVE_S, deadline - now - 0.3)
            if limit < MIN_SOLVE_S / 2:
                stats.skipped += len(todo) - i
                break
        model, mv = build_model(problem, win.cset, ctxs, mults, win.elsewhere)
        add_selection_hint(mv, model, win.hint)
        task = SolveTask(
            model_text(model),
            tuple(v.index for v in decision_literals(mv)),
            limit,
            num_workers,
            seed,
            deterministic,
        )
        (done if deterministic else inflight).append((win, mv, backend.submit(task)))
    for item in done:  # deterministic: in window order, the same merge wherever solved
        merge(item)
    for item in inflight:
        merge(item)
    return improved


def _merge(
    problem: Problem,
    ctxs: Sequence[SatContext],
    mults: dict[int, int],
    inc: Incumbent,
    win: _Window,
    mv: ModelVars,
    fut: Future[SolveReply],
    stats: LnsStats,
    window_bound: dict[int, float] | None,
    groups: Sequence[int],
) -> bool:
    """Take a window's answer where the whole plan then scores higher: jobs placed
    elsewhere that the answer puts in the window move there, or (when that pays less)
    stay where they are and the rest of the answer is taken."""
    try:
        reply = fut.result()
    except Exception as exc:  # a lost worker costs this window's answer, not the plan
        log.warning("window %d: solve failed: %s", win.index, exc)
        stats.statuses["ERROR"] += 1
        return False
    stats.solves += 1
    stats.statuses[reply.status] += 1
    if window_bound is not None and not math.isnan(reply.bound):
        solver_bound = (reply.bound + win.elsewhere_sum) / VALUE_SCALE + _slack(
            problem, ctxs, win, mults
        )
        window_bound[win.index] = min(window_bound[win.index], solver_bound)
    if not reply.values:
        return False
    jobs = [*win.cset.inference, *win.cset.training]
    outside = {j for j in jobs if _placed_outside(inc, j, win, groups)}
    sel = selection_from_values(mv, reply.values)
    if win.whole:
        stats.bound = min(stats.bound, reply.bound / VALUE_SCALE)
        stats.proved = reply.status == "OPTIMAL"
    # The incumbent on this window now (an earlier merge of the round may have taken
    # some of its jobs elsewhere).
    now_hint = Selection()
    now_hint.inference = [inc.inference[j] for j in jobs if j in inc.inference and j not in outside]
    now_hint.training = [inc.training[j] for j in jobs if j in inc.training and j not in outside]
    before = score(problem, ctxs, now_hint, mults)[0]
    # Jobs placed elsewhere that the solver put here move here when that pays: leaving
    # their old place is always feasible (less load: more charge, less heat, more
    # downlink room) and the objective there loses at most what those jobs earned.
    moved = {c.job for c in sel.inference if c.job in outside}
    moved |= {o.job for o, _ in sel.training if o.job in outside}
    left = Selection()
    left.inference = [inc.inference[j] for j in moved if j in inc.inference]
    left.training = [inc.training[j] for j in moved if j in inc.training]
    gain_move = (
        score(problem, ctxs, sel, mults)[0]
        - before
        - score(problem, ctxs, left, mults, depth=False)[0]
    )
    projected = Selection()
    projected.inference = [c for c in sel.inference if c.job not in outside]
    projected.training = [(o, b) for o, b in sel.training if o.job not in outside]
    gain_stay = score(problem, ctxs, projected, mults)[0] - before if moved else gain_move
    if max(gain_move, gain_stay) <= 1e-6:
        return False
    if gain_move < gain_stay:
        sel, moved = projected, set()
    for j in jobs:
        if j not in outside or j in moved:
            inc.inference.pop(j, None)
            inc.training.pop(j, None)
    inc.inference.update({c.job: c for c in sel.inference})
    inc.training.update({o.job: (o, b) for o, b in sel.training})
    stats.improved += 1
    stats.moved += len(moved)
    return True


def _placed_outside(inc: Incumbent, j: int, win: _Window, groups: Sequence[int]) -> bool:
    """Whether job j is placed, on a satellite outside the window."""
    if j in inc.inference:
        return groups[inc.inference[j].sat] not in win.groups
    if j in inc.training:
        return groups[inc.training[j][0].sats[0]] not in win.groups
    return False


def _size(cset: CandidateSet) -> int:
    return sum(len(c) for c in cset.inference.values()) + sum(
        len(o.blocks) for opts in cset.training.values() for o in opts
    )
