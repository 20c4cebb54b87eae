"""Candidate enumeration (the pruning stage): for each job, the (satellite, start slot)
pairs or (gang, blocks) options that could work if the job ran alone; a job with none gets
an Unplaced reason here, before any optimisation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

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

_T = TypeVar("_T")


@dataclass(frozen=True)
class Candidate:
    """Inference job `job` (index into problem.jobs) on satellite `sat` from slot `start`."""

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
    if len(items) <= limit:
        return items
    step = (len(items) - 1) / max(limit - 1, 1)
    picked = sorted({round(i * step) for i in range(limit)})
    return [items[i] for i in picked]


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
    if len(pool) <= limit:
        return list(pool)
    offset = (j * 7919) % len(pool)
    return [pool[(offset + i) % len(pool)] for i in range(limit)]


def _timely_starts(
    problem: Problem,
    job: InferenceJob,
    d: int,
    routed: list[fz.RoutedContact],
    opts: PruneOptions,
    why: Counter[Misfit],
) -> list[tuple[int, float, float, fz.RoutedContact]]:
    """Start slots whose output reaches the ground in time (or within the late grace), with
    value after lateness, lateness and the delivering contact: uplink first, then compute,
    then downlink through the route group's contacts."""
    w = problem.weights
    slot_s = problem.slot_s
    ready_s = max(problem.now_s, job.submit_s)
    up = fz.first_transfer(routed, ready_s, job.input_mb) if job.input_mb > 0 else (ready_s, None)
    if up is None:
        why[Misfit("NO_CONTACT", "no contact to uplink the input within the horizon")] += 1
        return []
    k0 = max(0, math.ceil((up[0] - problem.now_s) / slot_s - 1e-9))
    if k0 + d > problem.n_slots:
        why[Misfit("HORIZON", "does not fit in the planning horizon")] += 1
        return []
    ks = list(range(k0, problem.n_slots - d + 1, max(1, opts.start_stride_slots)))

    def at(k: int) -> tuple[int, float, float, fz.RoutedContact] | Misfit:
        end_s = problem.now_s + (k + d) * slot_s
        down = fz.first_transfer(routed, end_s, job.output_mb)
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
        return (k, value, late_s, down[1])

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
    contacts: dict[int, list[fz.RoutedContact]],
    sat_pool: Sequence[int],
    opts: PruneOptions,
    usable_by_acc: _Usable | None = None,
) -> tuple[list[Candidate], Unplaced | None]:
    """Candidates of one inference job, or the reason it has none."""
    job = problem.jobs[j]
    assert isinstance(job, InferenceJob)
    if usable_by_acc is None:
        usable_by_acc = _Usable(ctxs, sat_pool)
    out: list[Candidate] = []
    why: Counter[Misfit] = Counter()
    largest = usable_by_acc.largest
    if job.accelerators > largest:
        return [], Unplaced(
            job.job_id,
            "ACCELERATORS",
            f"needs {job.accelerators} accelerators, the largest satellite has {largest}",
        )
    usable = usable_by_acc(job.accelerators)
    if not usable:
        return [], Unplaced(job.job_id, "NO_CANDIDATE_SATELLITE", "no satellite is available")
    slot_s = problem.slot_s
    d = fz.duration_slots(job.duration_s, slot_s)
    by_group: dict[int, list[tuple[int, float, float, fz.RoutedContact]]] = {}
    for s in _pick_sats(usable, j, opts.max_sats_per_job):
        ctx = ctxs[s]
        power = job.draw_w(ctx.bus)
        alone = SatLedger(ctx) if opts.alone_fit else None
        if groups[s] not in by_group:  # the same for every satellite of an ISL group
            by_group[groups[s]] = _timely_starts(
                problem, job, d, contacts.get(groups[s], []), opts, why
            )
        timely = by_group[groups[s]]
        for k, value, late_s, rc in timely:
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


def training_options(
    problem: Problem,
    j: int,
    ctxs: Sequence[SatContext],
    sat_pool: Sequence[int],
    opts: PruneOptions,
    gang_cache: dict[tuple[int, int], list[tuple[int, ...]]] | None = None,
) -> tuple[list[GangOption], Unplaced | None]:
    job = problem.jobs[j]
    assert isinstance(job, TrainingJob)
    progress = problem.training_progress.get(job.job_id)
    done_h = progress.done_acc_s / 3600.0 if progress else 0.0
    remaining_h = job.work_acc_s / 3600.0 - done_h
    if remaining_h <= 1e-9:
        return [], Unplaced(job.job_id, "DONE", "all work is done")
    free = [
        s
        for s in sat_pool
        if ctxs[s].available and ctxs[s].bus.accelerators >= job.accelerators_per_member
    ]
    key = (job.gang_size, job.accelerators_per_member)
    cache = {} if gang_cache is None else gang_cache
    if key not in cache:
        cache[key] = gangs_in(ctxs, free, job.gang_size)
    gangs = list(cache[key])
    if not gangs:
        connected = max((len(g) for g in connected_components(ctxs, free)), default=0)
        return [], Unplaced(
            job.job_id,
            "GANG",
            f"gang needs {job.gang_size} connected satellites, {connected} free",
        )
    index = {ctxs[s].sat.name: s for s in sat_pool}
    current = tuple(sorted(index[n] for n in progress.gang if n in index)) if progress else ()
    # The gang it ran on (no migration), then one gang per orbital plane, rotated by job, so
    # that training can move to a plane whose outputs cannot reach the ground anyway.
    rotated = _pick_sats(gangs, j, len(gangs))
    by_plane: dict[int, tuple[int, ...]] = {}
    for g in rotated:
        by_plane.setdefault(ctxs[g[0]].sat.plane, g)
    ordered = [g for g in gangs if tuple(sorted(g)) == current]
    ordered += [g for g in by_plane.values() if tuple(sorted(g)) != current]
    ordered += [g for g in rotated if g not in ordered]
    picked = ordered[: opts.max_gangs_per_job]
    slot_s = problem.slot_s
    # New blocks follow the block of this job that is already running (committed).
    committed_until_s = max(
        (r.end_s for st in problem.states.values() for r in st.running if r.job_id == job.job_id),
        default=problem.now_s,
    )
    block = fz.duration_slots(job.checkpoint_interval_s, slot_s)
    useful_h = (
        job.gang_size
        * job.accelerators_per_member
        * (block * slot_s - job.checkpoint_cost_s)
        / 3600
    )
    max_blocks = max(1, math.ceil(remaining_h / useful_h - 1e-9))
    out: list[GangOption] = []
    for gang in picked:
        k0 = max(
            0, math.ceil((max(job.submit_s, committed_until_s) - problem.now_s) / slot_s - 1e-9)
        )
        starts = tuple(range(k0, problem.n_slots - block + 1, block))
        if job.deadline_s is not None:
            starts = tuple(
                k for k in starts if problem.now_s + (k + block) * slot_s <= job.deadline_s
            )
        if not starts:
            continue
        power = job.draw_w(ctxs[gang[0]].bus)
        out.append(
            GangOption(
                j,
                tuple(gang),
                starts,
                block,
                job.accelerators_per_member,
                power,
                max_blocks,
                job.value_per_acc_h * useful_h,
                tuple(sorted(gang)) == current,
            )
        )
    if not out:
        return [], Unplaced(job.job_id, "DEADLINE", "no checkpoint block fits before the deadline")
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
    opts = opts or PruneOptions()
    pool = list(range(len(problem.satellites))) if sat_pool is None else list(sat_pool)
    groups = fz.route_groups(problem.satellites)
    routed = fz.group_contacts(problem.satellites, groups)
    result = CandidateSet()
    for rcs in routed.values():
        for rc in rcs:
            result.contacts[rc.key] = rc.window
    running = {r.job_id for st in problem.states.values() for r in st.running}
    indices = range(len(problem.jobs)) if job_indices is None else job_indices
    usable = _Usable(ctxs, pool)
    gang_cache: dict[tuple[int, int], list[tuple[int, ...]]] = {}
    for j in indices:
        job = problem.jobs[j]
        if isinstance(job, InferenceJob):
            if job.job_id in running:
                continue
            cands, rejected = inference_candidates(
                problem, j, ctxs, groups, routed, pool, opts, usable
            )
            if cands:
                result.inference[j] = cands
        else:
            options, rejected = training_options(problem, j, ctxs, pool, opts, gang_cache)
            if options:
                result.training[j] = options
        if rejected is not None:
            result.rejected[j] = rejected
    return result
