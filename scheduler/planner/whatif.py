"""What-if: the same planning problem under a hypothesis, and how its plan differs.

A hypothesis takes stations down for a while, loses satellites and/or adds jobs. It is
applied to a Problem (nothing else is touched), the caller solves the result with the same
planner, and `compare` reports the jobs that would move, become unplaced (with the
planner's reason code) or late, and the change in value, against the current plan.

Value here is the plain value of a plan: the value of every placed inference job plus
value_per_acc_h of every accelerator-hour of training planned; the same measure for both
plans, so the difference means what it says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from scheduler.planner.domain import (
    ContactWindow,
    InferenceJob,
    Job,
    Plan,
    PlanItem,
    Problem,
    Satellite,
    SatelliteForecast,
    TrainingJob,
)


@dataclass(frozen=True)
class StationOutage:
    """A station out of service over [start_s, end_s) (None: from now / to the end)."""

    station: str
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True)
class Hypothesis:
    stations_down: tuple[StationOutage, ...] = ()
    satellites_lost: tuple[str, ...] = ()
    new_jobs: tuple[Job, ...] = ()

    def describe(self) -> str:
        parts = [f"station {o.station} down" for o in self.stations_down]
        parts += [f"satellite {s} lost" for s in self.satellites_lost]
        if self.new_jobs:
            parts.append(f"{len(self.new_jobs)} job(s) submitted")
        return ", ".join(parts) or "no change"


def _cut(windows: Iterable[ContactWindow], outage: StationOutage) -> tuple[ContactWindow, ...]:
    """Windows with the outage taken out (a window it splits becomes two)."""
    lo = -float("inf") if outage.start_s is None else outage.start_s
    hi = float("inf") if outage.end_s is None else outage.end_s
    out: list[ContactWindow] = []
    for w in windows:
        if w.station != outage.station or w.end_s <= lo or w.start_s >= hi:
            out.append(w)
            continue
        if w.start_s < lo:
            out.append(replace(w, end_s=lo))
        if w.end_s > hi:
            out.append(replace(w, start_s=hi))
    return tuple(out)


def apply_hypothesis(problem: Problem, hypothesis: Hypothesis) -> Problem:
    """The problem under the hypothesis. ValueError names an unknown satellite or a job id
    that is already taken (station names are checked by the caller, who knows them all)."""
    names = {s.name for s in problem.satellites}
    for name in hypothesis.satellites_lost:
        if name not in names:
            raise ValueError(f"unknown satellite {name!r}")
    taken = {j.job_id for j in problem.jobs}
    for job in hypothesis.new_jobs:
        if job.job_id in taken:
            raise ValueError(f"job id {job.job_id!r} is already taken")
        taken.add(job.job_id)
    sats: list[Satellite] = []
    for sat in problem.satellites:
        contacts = sat.forecast.contacts
        for outage in hypothesis.stations_down:
            contacts = _cut(contacts, outage)
        forecast: SatelliteForecast = replace(sat.forecast, contacts=contacts)
        sats.append(replace(sat, forecast=forecast))
    states = dict(problem.states)
    for name in hypothesis.satellites_lost:
        states[name] = replace(states[name], available=False, running=())
    return replace(
        problem,
        satellites=tuple(sats),
        jobs=problem.jobs + tuple(hypothesis.new_jobs),
        states=states,
    )


@dataclass(frozen=True)
class JobChange:
    """kind: moved | unplaced | late | placed (newly placed by the hypothesis)."""

    job_id: str
    kind: str
    before: str
    after: str
    code: str = ""
    reason: str = ""


@dataclass(frozen=True)
class WhatIfReport:
    hypothesis: str
    changes: tuple[JobChange, ...]
    value_before: float
    value_after: float
    status: str
    solve_s: float

    @property
    def value_change(self) -> float:
        return self.value_after - self.value_before


def plan_value(problem: Problem, plan: Plan) -> float:
    """Plain value of a plan (see the module docstring)."""
    jobs = {j.job_id: j for j in problem.jobs}
    total = 0.0
    counted: set[str] = set()
    for item in plan.items:
        job = jobs.get(item.job_id)
        if isinstance(job, InferenceJob) and item.job_id not in counted:
            total += job.value
            counted.add(item.job_id)
        elif isinstance(job, TrainingJob):
            total += job.value_per_acc_h * item.accelerators * (item.end_s - item.start_s) / 3600
    return total


def _where(items: list[PlanItem]) -> str:
    first = min(items, key=lambda i: i.start_s)
    sats = ",".join(sorted({i.satellite for i in items}))
    return f"{sats} at {first.start_s:.0f}"


def _late(job: Job | None, items: list[PlanItem]) -> bool:
    deadline = getattr(job, "deadline_s", None)
    if deadline is None:
        return False
    done = max((i.delivery_s if i.delivery_s is not None else i.end_s) for i in items)
    return bool(done > deadline + 1e-6)


def compare(
    problem: Problem,
    before: Plan,
    after: Plan,
    hypothesis: Hypothesis,
    status: str,
    solve_s: float,
) -> WhatIfReport:
    """The difference between the current plan and the plan under the hypothesis
    (`problem` is the hypothesis' problem: it knows the new jobs too)."""
    jobs = {j.job_id: j for j in problem.jobs}
    by_job_before: dict[str, list[PlanItem]] = {}
    by_job_after: dict[str, list[PlanItem]] = {}
    for item in before.items:
        by_job_before.setdefault(item.job_id, []).append(item)
    for item in after.items:
        by_job_after.setdefault(item.job_id, []).append(item)
    reasons = {u.job_id: u for u in after.unplaced}
    changes: list[JobChange] = []
    for job_id in sorted(set(by_job_before) | set(by_job_after) | set(reasons)):
        b, a = by_job_before.get(job_id), by_job_after.get(job_id)
        if b and not a:
            u = reasons.get(job_id)
            code, reason = (u.code, u.reason) if u else ("SATELLITE_LOST", "its satellite is lost")
            changes.append(JobChange(job_id, "unplaced", _where(b), "", code, reason))
        elif a and not b:
            if job_id in {j.job_id for j in hypothesis.new_jobs} or job_id in jobs:
                changes.append(JobChange(job_id, "placed", "", _where(a)))
        elif a and b:
            where_b, where_a = _where(b), _where(a)
            late_b, late_a = _late(jobs.get(job_id), b), _late(jobs.get(job_id), a)
            if late_a and not late_b:
                changes.append(
                    JobChange(job_id, "late", where_b, where_a, "LATE", "misses its deadline")
                )
            elif where_a != where_b:
                changes.append(JobChange(job_id, "moved", where_b, where_a))
        elif job_id in {j.job_id for j in hypothesis.new_jobs}:
            u = reasons[job_id]
            changes.append(JobChange(job_id, "unplaced", "", "", u.code, u.reason))
    return WhatIfReport(
        hypothesis.describe(),
        tuple(changes),
        plan_value(problem, before),
        plan_value(problem, after),
        status,
        solve_s,
    )
