"""Timely start slots of many inference jobs on one route group at once (numpy).

The same rule as `candidates._timely_starts` (uplink first, then compute, then downlink in
the first contact of the group with room for the output; value after lateness within the
late grace), evaluated for every (job, start slot) pair of the group in a few array
operations instead of a bisection per job. Jobs for which nothing is timely are left to
the scalar chain of checks, which names the reason.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from scheduler.planner import feasibility as fz
from scheduler.planner.domain import InferenceJob, Problem

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Timely = list[tuple[int, float, float, fz.RoutedContact]]
# Per kept start: slot, value after lateness, lateness, delivery time, contact, station.
TimelyRows = list[tuple[int, float, float, float, fz.ContactKey, str]]


def first_transfers(
    index: fz.ContactIndex, ready_s: FloatArray, size_mb: FloatArray
) -> tuple[FloatArray, IntArray]:
    """`ContactIndex.first_transfer` for arrays of (ready time, size): (done_s, contact
    position), NaN and -1 where no contact has room. Each pass moves the unresolved ones
    to their next contact (contacts usually have room: one or two passes)."""
    n = len(index)
    done = np.full(len(ready_s), np.nan)
    where = np.full(len(ready_s), -1, dtype=np.int64)
    if n == 0 or len(ready_s) == 0:
        return done, where
    start = np.asarray(index.start_s)
    end = np.asarray(index.end_s)
    rate = np.asarray(index.rate_mbps)
    pos = np.searchsorted(np.asarray(index.max_end_s), ready_s, side="left")
    todo = np.flatnonzero(pos < n)
    bits = np.where(size_mb > 0, size_mb * 8.0, 0.0)
    while todo.size:
        p = pos[todo]
        t = ready_s[todo]
        d = np.maximum(start[p], t) + bits[todo] / rate[p]
        ok = (end[p] >= t) & (d <= end[p])
        hit = todo[ok]
        done[hit] = d[ok]
        where[hit] = p[ok]
        miss = todo[~ok]
        pos[miss] += 1
        todo = miss[pos[miss] < n]
    return done, where


@functools.lru_cache(maxsize=4096)
def spread_positions(count: int, limit: int) -> tuple[int, ...]:
    """At most `limit` of range(count), evenly spread from the first to the last."""
    if count <= limit:
        return tuple(range(count))
    step = (count - 1) / max(limit - 1, 1)
    return tuple(sorted({round(i * step) for i in range(limit)}))


class JobArrays(NamedTuple):
    """Per job of problem.jobs (zeros for training jobs): what timely starts need, built
    once per solve and indexed by each route group's jobs."""

    d: IntArray  # duration in slots
    submit_s: FloatArray
    input_mb: FloatArray
    output_mb: FloatArray
    deadline_s: FloatArray
    value: FloatArray

    @classmethod
    def of(cls, problem: Problem) -> JobArrays:
        n = len(problem.jobs)
        cols = np.zeros((6, n))
        slot = problem.slot_s
        for j, job in enumerate(problem.jobs):
            if isinstance(job, InferenceJob):
                cols[:, j] = (
                    fz.duration_slots(job.duration_s, slot),
                    job.submit_s,
                    job.input_mb,
                    job.output_mb,
                    job.deadline_s,
                    job.value,
                )
        return cls(cols[0].astype(np.int64), *cols[1:])


def timely_starts_many(
    problem: Problem,
    jobs: Sequence[int],
    index: fz.ContactIndex,
    stride: int,
    max_starts: int,
    arrays: JobArrays | None = None,
) -> dict[int, TimelyRows]:
    """Timely starts of each job (index into problem.jobs) through this group's contacts,
    with the delivery each gives; jobs with none are absent. `arrays`: JobArrays.of(problem)
    where the caller has it."""
    if not jobs:
        return {}
    assert all(isinstance(problem.jobs[j], InferenceJob) for j in jobs)
    arrays = arrays or JobArrays.of(problem)
    sel = np.asarray(jobs, dtype=np.int64)
    now, slot, n_slots = problem.now_s, problem.slot_s, problem.n_slots
    w = problem.weights
    d = arrays.d[sel]
    ready = np.maximum(arrays.submit_s[sel], now)
    input_mb = arrays.input_mb[sel]
    up_done, _ = first_transfers(index, ready, input_mb)
    ready = np.where(input_mb > 0, up_done, ready)
    k0 = np.maximum(0, np.ceil((ready - now) / slot - 1e-9))
    k0 = np.where(np.isnan(k0), n_slots + 1, k0).astype(np.int64)
    stride = max(1, stride)
    last = n_slots - d  # last start that fits the horizon
    count = np.where(last >= k0, (last - k0) // stride + 1, 0)
    output_mb = arrays.output_mb[sel]
    deadline = arrays.deadline_s[sel]
    value0 = arrays.value[sel]

    def deliver(
        rows: IntArray, t: IntArray
    ) -> tuple[NDArray[np.bool_], FloatArray, FloatArray, IntArray]:
        """Timely?, value, lateness, contact position of job rows started at step t."""
        end_s = now + (k0[rows] + t * stride + d[rows]) * slot
        done, where = first_transfers(index, np.asarray(end_s, dtype=np.float64), output_mb[rows])
        late = np.maximum(0.0, done - deadline[rows])
        value = value0[rows] - w.lateness_per_s * late
        ok = (where >= 0) & (late <= w.late_grace_s) & (value > 0)
        return ok, value, late, where

    # Delivery time and lateness only grow with the start: the last timely step of every
    # job by one bisection over all of them, as candidates._timely_starts does for one.
    rows = np.flatnonzero(count > 0)
    ok0 = deliver(rows, np.zeros(len(rows), dtype=np.int64))[0]
    rows = rows[ok0]
    lo = np.zeros(len(rows), dtype=np.int64)
    hi = count[rows].astype(np.int64)
    while True:
        open_ = np.flatnonzero(hi - lo > 1)
        if open_.size == 0:
            break
        mid = (lo[open_] + hi[open_]) // 2
        ok = deliver(rows[open_], mid)[0]
        lo[open_] = np.where(ok, mid, lo[open_])
        hi[open_] = np.where(ok, hi[open_], mid)
    # The starts kept: spread over steps 0 .. lo, at the positions spread_positions keeps
    # (round(i * (n - 1) / (limit - 1)), distinct when n > limit; numpy rounds half to
    # even as Python does).
    out: dict[int, TimelyRows] = {}
    n = lo + 1
    m = np.minimum(n, max_starts)
    kr = np.repeat(rows, m)
    first = np.cumsum(m) - m
    i = np.arange(int(m.sum())) - np.repeat(first, m)
    n_rep = np.repeat(n, m)
    step = (n_rep - 1) / max(max_starts - 1, 1)
    kt = np.where(n_rep <= max_starts, i, np.round(i * step)).astype(np.int64)
    if kr.size == 0:
        return out
    ok, value, late, where = deliver(kr, kt)
    k = k0[kr] + kt * stride
    end_s = now + (k + d[kr]) * slot
    rate = np.asarray(index.rate_mbps)[np.maximum(where, 0)]
    start = np.asarray(index.start_s)[np.maximum(where, 0)]
    bits = output_mb[kr] * 8.0
    done = np.maximum(start, end_s) + np.where(bits > 0, bits / rate, 0.0)
    contacts = index.contacts
    for r, kk, good, v, lt, dn, p in zip(
        kr.tolist(),
        k.tolist(),
        ok.tolist(),
        value.tolist(),
        late.tolist(),
        done.tolist(),
        where.tolist(),
        strict=True,
    ):
        if good:
            rc = contacts[p]
            out.setdefault(jobs[r], []).append((kk, v, lt, dn, rc.key, rc.window.station))
    return out
