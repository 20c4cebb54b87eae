"""Candidate enumeration (the pruning stage): for each job, the (satellite, start slot)
pairs or (gang, blocks) options that could work if the job ran alone; a job with none gets
an Unplaced reason here, before any optimisation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from scheduler.forecast.isl import isl_components
from scheduler.planner import feasibility as fz
from scheduler.planner.domain import (
    ContactWindow,
    InferenceJob,
    Problem,
    TrainingJob,
    Unplaced,
)
from scheduler.planner.ledger import Misfit, SatContext, SatLedger, dominant_misfit
from scheduler.planner.timely import (
    JobArrays,
    Timely,
    TimelyRows,
    spread_positions,
    timely_starts_many,
)

_T = TypeVar("_T")


class Candidate(NamedTuple):
    """Inference job `job` (index into problem.jobs) on satellite `sat` from slot `start`
    (a named tuple: hundreds of thousands are made per solve at constellation scale)."""

    job: int
    sat: int
    start: int
    slots: int
    accelerators: int
    power_w: float
    value: float  # after the lateness penalty
    late_s: float
    delivery_s: float
    contact: fz.ContactKey
    station: str


@dataclass(frozen=True)
class GangOption:
    """Training job `job` on gang `sats` in blocks of `block_slots` starting at `blocks`."""

    job: int
    sats: tuple[int, ...]
    blocks: tuple[int, ...]
    block_slots: int
    accelerators: int
    power_w: float
    max_blocks: int
    value_per_block: float
    continuing: bool  # the gang the job ran on last


@dataclass
class CandidateSet:
    inference: dict[int, list[Candidate]] = field(default_factory=dict)
    training: dict[int, list[GangOption]] = field(default_factory=dict)
    rejected: dict[int, Unplaced] = field(default_factory=dict)
    contacts: dict[fz.ContactKey, ContactWindow] = field(default_factory=dict)


@dataclass(frozen=True)
class PruneOptions:
    max_sats_per_job: int = 64  # candidate satellites per job (rotated by job index)
    start_stride_slots: int = 1  # consider a start every N slots
    max_gangs_per_job: int = 4
    max_starts_per_sat: int = 12  # start slots kept per (job, satellite)
    alone_fit: bool = True  # drop starts that would break battery/thermal even alone


def _spread(items: list[_T], limit: int) -> list[_T]:
    """At most `limit` starts, evenly spread from the earliest to the latest."""
    return [items[i] for i in spread_positions(len(items), limit)]


class _Usable:
    """Available satellites of the pool with at least n accelerators, computed once per n."""

    def __init__(self, ctxs: Sequence[SatContext], pool: Sequence[int]) -> None:
        self.ctxs = ctxs
        self.pool = pool
        self.largest = max((ctxs[s].bus.accelerators for s in pool), default=0)
        self.cache: dict[int, list[int]] = {}

    def __call__(self, n: int) -> list[int]:
        if n not in self.cache:
            ctxs = self.ctxs
            self.cache[n] = [
                s for s in self.pool if ctxs[s].available and ctxs[s].bus.accelerators >= n
            ]
        return self.cache[n]


def _pick_sats(pool: Sequence[_T], j: int, limit: int) -> list[_T]:
    """`limit` satellites of the pool for job j: evenly spaced over the pool from an offset
    rotated by job, so that a job's candidates lie in different orbital planes (pools are
    in plane order) and the decomposition can move it between them."""
    n = len(pool)
    if n <= limit:
        return list(pool)
    offset = (j * 7919) % n
    return [pool[(offset + (i * n) // limit) % n] for i in range(limit)]


# Each check of the chain below returns the reason the job cannot go on (a Misfit) or None,
# the way Nomad's feasibility checkers record why a node was filtered (STYLE.md).


def check_accelerators(job: InferenceJob, usable: _Usable) -> Misfit | None:
    if job.accelerators > usable.largest:
        return Misfit(
            "ACCELERATORS",
            f"needs {job.accelerators} accelerators, the largest satellite has {usable.largest}",
        )
    return None


def check_available(job: InferenceJob, usable: _Usable) -> Misfit | None:
    if not usable(job.accelerators):
        return Misfit("NO_CANDIDATE_SATELLITE", "no satellite is available")
    return None


def check_uplink(
    problem: Problem, job: InferenceJob, contacts: fz.ContactIndex
) -> tuple[float, Misfit | None]:
    """When the input is on board (ready time), or why it cannot be."""
    ready_s = max(problem.now_s, job.submit_s)
    if job.input_mb <= 0:
        return ready_s, None
    up = contacts.first_transfer(ready_s, job.input_mb)
    if up is None:
        return ready_s, Misfit("NO_CONTACT", "no contact to uplink the input within the horizon")
    return up[0], None


def check_horizon(problem: Problem, k0: int, d: int) -> Misfit | None:
    if k0 + d > problem.n_slots:
        return Misfit("HORIZON", "does not fit in the planning horizon")
    return None


def check_delivery(
    problem: Problem, job: InferenceJob, contacts: fz.ContactIndex, end_s: float
) -> tuple[float, float, fz.RoutedContact] | Misfit:
    """(value after lateness, lateness, delivering contact) of an output ready at end_s."""
    w = problem.weights
    down = contacts.first_transfer(end_s, job.output_mb)
    if down is None:
        return Misfit("NO_CONTACT", "no contact before deadline")
    late_s = max(0.0, down[0] - job.deadline_s)
    value = job.value - w.lateness_per_s * late_s
    if late_s > w.late_grace_s or value <= 0:
        return Misfit(
            "DEADLINE",
            "earliest delivery {0} is past the deadline {1}",
            (down[0], job.deadline_s),
        )
    return value, late_s, down[1]


_EMPTY = fz.ContactIndex(())


def _timely_starts(
    problem: Problem,
    job: InferenceJob,
    d: int,
    routed: fz.ContactIndex,
    opts: PruneOptions,
    why: Counter[Misfit],
) -> list[tuple[int, float, float, fz.RoutedContact]]:
    """Start slots whose output reaches the ground in time (or within the late grace), with
    value after lateness, lateness and the delivering contact: uplink first, then compute,
    then downlink through the route group's contacts."""
    slot_s = problem.slot_s
    ready_s, misfit = check_uplink(problem, job, routed)
    if misfit is not None:
        why[misfit] += 1
        return []
    k0 = max(0, math.ceil((ready_s - problem.now_s) / slot_s - 1e-9))
    misfit = check_horizon(problem, k0, d)
    if misfit is not None:
        why[misfit] += 1
        return []
    ks = list(range(k0, problem.n_slots - d + 1, max(1, opts.start_stride_slots)))

    def at(k: int) -> tuple[int, float, float, fz.RoutedContact] | Misfit:
        got = check_delivery(problem, job, routed, problem.now_s + (k + d) * slot_s)
        return got if isinstance(got, Misfit) else (k, *got)

    # Delivery time and lateness only grow with the start: find the last timely start by
    # bisection, then evaluate only the starts kept.
    first = at(ks[0])
    if isinstance(first, Misfit):
        why[first] += 1
        return []
    lo, hi = 0, len(ks)  # ks[lo] is timely; ks[hi] (if any) is not
    last_miss: Misfit | None = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        probe = at(ks[mid])
        if isinstance(probe, Misfit):
            hi, last_miss = mid, probe
        else:
            lo = mid
    if last_miss is not None:
        why[last_miss] += 1
    kept = _spread(list(range(lo + 1)), opts.max_starts_per_sat)
    out = [first if i == 0 else at(ks[i]) for i in kept]
    return [t for t in out if not isinstance(t, Misfit)]


def inference_candidates(
    problem: Problem,
    j: int,
    ctxs: Sequence[SatContext],
    groups: Sequence[int],
    contacts: Mapping[int, fz.ContactIndex],
    sat_pool: Sequence[int],
    opts: PruneOptions,
    usable_by_acc: _Usable | None = None,
    timely: Mapping[int, Timely] | None = None,
) -> tuple[list[Candidate], Unplaced | None]:
    """Candidates of one inference job, or the reason it has none: the job-level checks,
    then per route group the uplink, horizon and delivery checks (shared by the group's
    satellites; `timely` gives them precomputed per group), then per satellite the fit
    alone."""
    job = problem.jobs[j]
    assert isinstance(job, InferenceJob)
    usable_by_acc = usable_by_acc or _Usable(ctxs, sat_pool)
    for check in (check_accelerators, check_available):
        misfit = check(job, usable_by_acc)
        if misfit is not None:
            return [], Unplaced(job.job_id, misfit.code, misfit.reason)
    out: list[Candidate] = []
    why: Counter[Misfit] = Counter()
    slot_s = problem.slot_s
    d = fz.duration_slots(job.duration_s, slot_s)
    by_group: dict[int, Timely] = dict(timely or {})
    for s in _pick_sats(usable_by_acc(job.accelerators), j, opts.max_sats_per_job):
        ctx = ctxs[s]
        power = job.draw_w(ctx.bus)
        alone = SatLedger(ctx) if opts.alone_fit else None
        if groups[s] not in by_group:  # the same for every satellite of an ISL group
            by_group[groups[s]] = _timely_starts(
                problem, job, d, contacts.get(groups[s], _EMPTY), opts, why
            )
        for k, value, late_s, rc in by_group[groups[s]]:
            if alone is not None:
                misfit = alone.misfit(k, d, job.accelerators, power)
                if misfit is not None:
                    why[misfit] += 1
                    continue
            end_s = problem.now_s + (k + d) * slot_s
            done_s = max(rc.window.start_s, end_s) + fz.transfer_s(
                job.output_mb, rc.window.downlink_mbps
            )
            out.append(
                Candidate(
                    j,
                    s,
                    k,
                    d,
                    job.accelerators,
                    power,
                    value,
                    late_s,
                    done_s,
                    rc.key,
                    rc.window.station,
                )
            )
    if out:
        return out, None
    top = dominant_misfit(why, Misfit("NO_CANDIDATE_SATELLITE", "no satellite can run it"))
    return [], Unplaced(job.job_id, top.code, top.reason)


def gangs_in(ctxs: Sequence[SatContext], pool: Sequence[int], size: int) -> list[tuple[int, ...]]:
    """ISL-connected sets of `size` satellites from pool: simple paths along neighbours,
    one per starting satellite (in a Walker plane ring: consecutive in-plane satellites)."""
    pool_set = set(pool)
    index = {ctxs[s].sat.name: s for s in pool}
    seen: set[frozenset[int]] = set()
    out: list[tuple[int, ...]] = []
    for s0 in pool:
        path = [s0]

        def extend(path: list[int]) -> list[int] | None:
            if len(path) == size:
                return path
            for name in sorted(ctxs[path[-1]].sat.isl_neighbours):
                nxt = index.get(name)
                if nxt is None or nxt not in pool_set or nxt in path:
                    continue
                found = extend([*path, nxt])
                if found:
                    return found
            return None

        found = extend(path)
        if found and frozenset(found) not in seen:
            seen.add(frozenset(found))
            out.append(tuple(found))
    return out


class GangIndex:
    """The gangs of one (size, accelerators per member), built once per solve: grouped by
    orbital plane, so that a job's options (one gang per plane, rotated by job) take
    O(gangs per job) instead of a walk over every satellite."""

    def __init__(self, ctxs: Sequence[SatContext], free: Sequence[int], size: int) -> None:
        self.ctxs = ctxs
        self.free = free
        self.size = size
        gangs = gangs_in(ctxs, free, size)
        self.gangs = sorted(gangs, key=lambda g: (ctxs[g[0]].sat.plane, g))
        self.plane_of = [ctxs[g[0]].sat.plane for g in self.gangs]
        # Index of the first gang of the next plane, cyclically.
        self.next_plane: list[int] = [0] * len(self.gangs)
        nxt = 0
        for i in range(len(self.gangs) - 1, -1, -1):
            self.next_plane[i] = nxt
            if i == 0 or self.plane_of[i - 1] != self.plane_of[i]:
                nxt = i
        self.by_members = {tuple(sorted(g)): g for g in self.gangs}
        self._largest: int | None = None

    def largest_connected(self) -> int:
        if self._largest is None:
            comps = connected_components(self.ctxs, self.free)
            self._largest = max((len(c) for c in comps), default=0)
        return self._largest

    def pick(self, j: int, current: tuple[int, ...], limit: int) -> list[tuple[int, ...]]:
        """The gang the job ran on (no migration), then one gang per orbital plane starting
        from a plane rotated by job, so that training can move to a plane whose outputs
        cannot reach the ground anyway."""
        out: list[tuple[int, ...]] = []
        if current in self.by_members:
            out.append(self.by_members[current])
        if not self.gangs:
            return out
        i = (j * 7919) % len(self.gangs)
        planes_seen: set[int] = set()
        while len(out) < limit and self.plane_of[i] not in planes_seen:
            planes_seen.add(self.plane_of[i])
            if self.gangs[i] not in out:
                out.append(self.gangs[i])
            i = self.next_plane[i]
        return out[:limit]


@dataclass
class _TrainingIndex:
    """What training options need, computed once per enumeration."""

    ctxs: Sequence[SatContext]
    pool: Sequence[int]
    index: dict[str, int]
    committed_until_s: dict[str, float]
    gangs: dict[tuple[int, int], GangIndex] = field(default_factory=dict)

    def gang_index(self, size: int, accelerators: int) -> GangIndex:
        key = (size, accelerators)
        if key not in self.gangs:
            ctxs = self.ctxs
            free = [
                s
                for s in self.pool
                if ctxs[s].available and ctxs[s].bus.accelerators >= accelerators
            ]
            self.gangs[key] = GangIndex(ctxs, free, size)
        return self.gangs[key]


def _training_index(
    problem: Problem, ctxs: Sequence[SatContext], sat_pool: Sequence[int]
) -> _TrainingIndex:
    committed: dict[str, float] = {}
    for st in problem.states.values():
        for r in st.running:
            committed[r.job_id] = max(committed.get(r.job_id, r.end_s), r.end_s)
    return _TrainingIndex(ctxs, sat_pool, {ctxs[s].sat.name: s for s in sat_pool}, committed)


def training_options(
    problem: Problem,
    j: int,
    ctxs: Sequence[SatContext],
    sat_pool: Sequence[int],
    opts: PruneOptions,
    tindex: _TrainingIndex | None = None,
) -> tuple[list[GangOption], Unplaced | None]:
    job = problem.jobs[j]
    assert isinstance(job, TrainingJob)
    tindex = tindex or _training_index(problem, ctxs, sat_pool)
    progress = problem.training_progress.get(job.job_id)
    done_h = progress.done_acc_s / 3600.0 if progress else 0.0
    remaining_h = job.work_acc_s / 3600.0 - done_h
    if remaining_h <= 1e-9:
        return [], Unplaced(job.job_id, "DONE", "all work is done")
    gix = tindex.gang_index(job.gang_size, job.accelerators_per_member)
    if not gix.gangs:
        return [], Unplaced(
            job.job_id,
            "GANG",
            f"gang needs {job.gang_size} connected satellites, {gix.largest_connected()} free",
        )
    index = tindex.index
    current = tuple(sorted(index[n] for n in progress.gang if n in index)) if progress else ()
    picked = gix.pick(j, current, opts.max_gangs_per_job)
    slot_s = problem.slot_s
    # New blocks follow the block of this job that is already running (committed).
    committed_until_s = max(tindex.committed_until_s.get(job.job_id, problem.now_s), problem.now_s)
    block = fz.duration_slots(job.checkpoint_interval_s, slot_s)
    useful_h = (
        job.gang_size
        * job.accelerators_per_member
        * (block * slot_s - job.checkpoint_cost_s)
        / 3600
    )
    max_blocks = max(1, math.ceil(remaining_h / useful_h - 1e-9))
    k0 = max(0, math.ceil((max(job.submit_s, committed_until_s) - problem.now_s) / slot_s - 1e-9))
    starts = tuple(range(k0, problem.n_slots - block + 1, block))
    if job.deadline_s is not None:
        starts = tuple(k for k in starts if problem.now_s + (k + block) * slot_s <= job.deadline_s)
    if not starts:
        return [], Unplaced(job.job_id, "DEADLINE", "no checkpoint block fits before the deadline")
    out = [
        GangOption(
            j,
            tuple(gang),
            starts,
            block,
            job.accelerators_per_member,
            job.draw_w(ctxs[gang[0]].bus),
            max_blocks,
            job.value_per_acc_h * useful_h,
            tuple(sorted(gang)) == current,
        )
        for gang in picked
    ]
    return out, None


def connected_components(ctxs: Sequence[SatContext], pool: Sequence[int]) -> list[set[int]]:
    """Sets of satellites of the pool connected through ISL neighbours inside the pool."""
    index = {ctxs[s].sat.name: s for s in pool}
    comps = isl_components({ctxs[s].sat.name: ctxs[s].sat.isl_neighbours for s in pool})
    return [{index[n] for n in comp} for comp in comps]


def enumerate_candidates(
    problem: Problem,
    ctxs: Sequence[SatContext],
    job_indices: Sequence[int] | None = None,
    sat_pool: Sequence[int] | None = None,
    opts: PruneOptions | None = None,
) -> CandidateSet:
    """Candidates of every job (or of job_indices) on the satellites of sat_pool. The
    indexes (contacts per route group by time, gangs per plane, usable satellites per
    accelerator count) are built once, so the work is about linear in jobs x candidates."""
    opts = opts or PruneOptions()
    pool = list(range(len(problem.satellites))) if sat_pool is None else list(sat_pool)
    groups = fz.route_groups(problem.satellites)
    routed = fz.group_contacts(problem.satellites, groups)
    contacts = fz.contact_indexes(routed)
    result = CandidateSet()
    for rcs in routed.values():
        for rc in rcs:
            result.contacts[rc.key] = rc.window
    running = {r.job_id for st in problem.states.values() for r in st.running}
    indices = range(len(problem.jobs)) if job_indices is None else job_indices
    usable = _Usable(ctxs, pool)
    tindex = _training_index(problem, ctxs, pool)
    batch = _batch_timely(problem, indices, groups, contacts, usable, running, opts)
    for j in indices:
        job = problem.jobs[j]
        if isinstance(job, InferenceJob):
            if job.job_id in running:
                continue
            cands = _batch_candidates(problem, j, ctxs, groups, batch[j]) if j in batch else []
            rejected = None
            if not cands:  # small problems, or none timely: the scalar chain names the reason
                cands, rejected = inference_candidates(
                    problem, j, ctxs, groups, contacts, pool, opts, usable
                )
            if cands:
                result.inference[j] = cands
        else:
            options, rejected = training_options(problem, j, ctxs, pool, opts, tindex)
            if options:
                result.training[j] = options
        if rejected is not None:
            result.rejected[j] = rejected
    return result


def _batch_timely(
    problem: Problem,
    indices: Sequence[int],
    groups: Sequence[int],
    contacts: Mapping[int, fz.ContactIndex],
    usable: _Usable,
    running: set[str],
    opts: PruneOptions,
) -> dict[int, tuple[list[int], dict[int, TimelyRows]]]:
    """Per inference job: its satellites and its timely starts per route group, computed a
    group at a time with numpy (timely.py). Empty where candidates are checked alone
    (small problems): those go through the scalar chain."""
    if opts.alone_fit:
        return {}
    by_group: dict[int, list[int]] = {}
    picks: dict[int, list[int]] = {}
    for j in indices:
        job = problem.jobs[j]
        if not isinstance(job, InferenceJob) or job.job_id in running:
            continue
        if check_accelerators(job, usable) or check_available(job, usable):
            continue
        sats = picks[j] = _pick_sats(usable(job.accelerators), j, opts.max_sats_per_job)
        for g in {groups[s] for s in sats}:
            by_group.setdefault(g, []).append(j)
    timely: dict[int, dict[int, TimelyRows]] = {j: {} for j in picks}
    arrays = JobArrays.of(problem)
    for g, jobs in by_group.items():
        got = timely_starts_many(
            problem,
            jobs,
            contacts.get(g, _EMPTY),
            opts.start_stride_slots,
            opts.max_starts_per_sat,
            arrays,
        )
        for j in jobs:
            timely[j][g] = got.get(j, [])
    return {j: (sats, timely[j]) for j, sats in picks.items()}


def _batch_candidates(
    problem: Problem,
    j: int,
    ctxs: Sequence[SatContext],
    groups: Sequence[int],
    picked: tuple[list[int], dict[int, TimelyRows]],
) -> list[Candidate]:
    """The candidates inference_candidates makes (without the fit alone) from precomputed
    timely starts."""
    job = problem.jobs[j]
    assert isinstance(job, InferenceJob)
    sats, timely = picked
    d = fz.duration_slots(job.duration_s, problem.slot_s)
    acc = job.accelerators
    out: list[Candidate] = []
    for s in sats:
        power = job.draw_w(ctxs[s].bus)
        out.extend(
            Candidate(j, s, k, d, acc, power, v, late, done, key, station)
            for k, v, late, done, key, station in timely[groups[s]]
        )
    return out
