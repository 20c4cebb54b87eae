"""Why a job waits, and the nearest change that would place it; why a placed job is where
it is.

A waiting job is re-checked against the current plan held fixed (every other job's items
committed on their satellites, their outputs' downlink time taken out of the contacts),
with one constraint relaxed at a time: a later deadline, fewer accelerators (or a smaller
gang), or a cordoned satellite uncordoned. Each check is the planner's own greedy on a
one-job problem, so a suggestion is a placement the planner would accept without moving
anything else. bench/explain.py measures how often applying a suggestion and replanning
with the real planner does place the job.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

from scheduler.planner.domain import (
    ContactWindow,
    InferenceJob,
    Job,
    Plan,
    PlanItem,
    Priority,
    Problem,
    RunningJob,
)

DEADLINE_STEPS_MIN = (10, 20, 30, 60, 120, 240)


@dataclass(frozen=True)
class Suggestion:
    """A change that places the job: `job` is the changed job, `uncordon` a satellite to
    uncordon; where and when it would then run."""

    change: str
    job: Job
    item: PlanItem  # the first item (a gang has one per member)
    uncordon: str | None = None

    @property
    def satellite(self) -> str:
        return self.item.satellite

    @property
    def start_s(self) -> float:
        return self.item.start_s


@dataclass(frozen=True)
class Explanation:
    job_id: str
    placed: bool
    code: str = ""
    reason: str = ""
    suggestions: tuple[Suggestion, ...] = ()
    # placed jobs
    satellites: tuple[str, ...] = ()
    start_s: float | None = None
    end_s: float | None = None
    value: float = 0.0
    station: str | None = None
    delivery_s: float | None = None
    displaced: tuple[str, ...] = field(default=())


def _transfer_s(size_mb: float, rate_mbps: float) -> float:
    return size_mb * 8.0 / rate_mbps if size_mb > 0 else 0.0


def _held_fixed(problem: Problem, plan: Plan, without: Collection[str]) -> Problem:
    """The problem with every plan item (but those of `without`) committed, the downlink
    time of their outputs taken out of the contacts, and no jobs."""
    jobs = {j.job_id: j for j in problem.jobs}
    running: dict[str, list[RunningJob]] = {n: list(s.running) for n, s in problem.states.items()}
    busy: dict[str, list[tuple[float, float]]] = {}
    for item in plan.items:
        if item.job_id in without or item.satellite not in running:
            continue
        if not any(r.job_id == item.job_id for r in running[item.satellite]):
            running[item.satellite].append(
                RunningJob(item.job_id, item.start_s, item.end_s, item.accelerators, item.power_w)
            )
        job = jobs.get(item.job_id)
        if isinstance(job, InferenceJob) and item.station and item.delivery_s is not None:
            busy.setdefault(item.station, []).append((item.delivery_s, job.output_mb))
    sats = []
    for sat in problem.satellites:
        windows: list[ContactWindow] = []
        for w in sat.forecast.contacts:
            for done_s, size_mb in busy.get(w.station, ()):
                if w.start_s < done_s <= w.end_s + 1e-6:
                    cut_s = _transfer_s(size_mb, w.downlink_mbps)
                    if done_s - cut_s > w.start_s:
                        windows.append(replace(w, end_s=done_s - cut_s))
                    w = replace(w, start_s=min(done_s, w.end_s))
            if w.end_s > w.start_s:
                windows.append(w)
        sats.append(replace(sat, forecast=replace(sat.forecast, contacts=tuple(windows))))
    states = {n: replace(s, running=tuple(running[n])) for n, s in problem.states.items()}
    return replace(problem, satellites=tuple(sats), states=states, jobs=())


def _fits(
    base: Problem, job: Job, uncordon: str | None = None, whole: tuple[Problem, Plan] | None = None
) -> PlanItem | None:
    """Where the planner's greedy puts the job alone against the plan held fixed; with
    `whole` (the full problem and plan), only if the plan with this placement added passes
    the nonlinear validator too (the held-fixed contacts approximate the volume others use)."""
    from scheduler.planner.solve import greedy_plan
    from scheduler.planner.validator import validate_plan

    states = dict(base.states)
    if uncordon is not None:
        states[uncordon] = replace(states[uncordon], available=True)
    try:
        result = greedy_plan(replace(base, jobs=(job,), states=states))
    except ValueError:
        return None
    items = [i for i in result.plan.items if i.job_id == job.job_id]
    if not items:
        return None
    if whole is not None:
        problem, plan = whole
        jobs = tuple(job if j.job_id == job.job_id else j for j in problem.jobs)
        full_states = dict(problem.states)
        if uncordon is not None:
            full_states[uncordon] = replace(full_states[uncordon], available=True)
        trial = replace(problem, jobs=jobs, states=full_states)
        with_it = replace(plan, items=(*plan.items, *items), unplaced=())
        if validate_plan(trial, with_it):
            return None
    return min(items, key=lambda i: i.start_s)


def _replan_places(problem: Problem, plan: Plan, job: Job, uncordon: str | None) -> bool:
    """Does the planner's greedy, replanning the whole problem with the change (the current
    plan as the one to repair), place the job? Other waiting jobs compete for the room the
    one-job check found; this is the check that counts them."""
    from scheduler.planner.solve import plan as run_planner

    states = dict(problem.states)
    if uncordon is not None:
        states[uncordon] = replace(states[uncordon], available=True)
    jobs = tuple(job if j.job_id == job.job_id else j for j in problem.jobs)
    result = run_planner(replace(problem, jobs=jobs, states=states), policy="greedy", previous=plan)
    return job.job_id in result.plan.placed_job_ids()


def _relaxations(job: Job) -> list[tuple[str, Job]]:
    out: list[tuple[str, Job]] = []
    if job.priority < Priority.CRITICAL:
        # Other waiting jobs compete for any room found: a higher class wins it.
        for level in range(int(job.priority) + 1, int(Priority.CRITICAL) + 1):
            p = Priority(level)
            out.append(
                (f"a priority {p.name.lower()} instead of {job.priority.name.lower()}",
                 replace(job, priority=p)),
            )  # fmt: skip
    if isinstance(job, InferenceJob):
        for minutes in DEADLINE_STEPS_MIN:
            out.append(
                (
                    f"a deadline {minutes} min later",
                    replace(job, deadline_s=job.deadline_s + 60 * minutes),
                )
            )
        for acc in range(job.accelerators - 1, 0, -1):
            power = None if job.power_w is None else job.power_w * acc / job.accelerators
            out.append(
                (f"{acc} accelerator(s) instead of {job.accelerators}",
                 replace(job, accelerators=acc, power_w=power)),
            )  # fmt: skip
    else:
        if job.deadline_s is not None:
            for minutes in DEADLINE_STEPS_MIN:
                out.append(
                    (f"a deadline {minutes} min later",
                     replace(job, deadline_s=job.deadline_s + 60 * minutes)),
                )  # fmt: skip
        for size in range(job.gang_size - 1, 0, -1):
            out.append(
                (f"a gang of {size} instead of {job.gang_size}", replace(job, gang_size=size))
            )
        for acc in range(job.accelerators_per_member - 1, 0, -1):
            power = (
                None
                if job.power_w_per_member is None
                else job.power_w_per_member * acc / job.accelerators_per_member
            )
            out.append(
                (f"{acc} accelerator(s) per member instead of {job.accelerators_per_member}",
                 replace(job, accelerators_per_member=acc, power_w_per_member=power)),
            )  # fmt: skip
    return out


def explain(
    problem: Problem,
    plan: Plan,
    job_id: str,
    cordoned: Collection[str] = (),
    max_suggestions: int = 3,
    max_replans: int = 8,
) -> Explanation:
    """The explanation of one job of the problem (KeyError if it is not there). A change
    that fits against the plan held fixed is suggested only if a greedy replan of the whole
    problem with that change places the job (at most max_replans such replans)."""
    jobs = {j.job_id: j for j in problem.jobs}
    job = jobs[job_id]
    items = [i for i in plan.items if i.job_id == job_id]
    if items:
        return _explain_placed(problem, plan, job, items)
    unplaced = next((u for u in plan.unplaced if u.job_id == job_id), None)
    base = _held_fixed(problem, plan, without={job_id})
    suggestions: list[Suggestion] = []
    kinds_done: set[str] = set()
    replans = [max_replans]

    def holds(changed: Job, uncordon: str | None = None) -> bool:
        if replans[0] <= 0:
            return False
        replans[0] -= 1
        return _replan_places(problem, plan, changed, uncordon)

    for change, relaxed in _relaxations(job):
        kind = change.split(" ")[1] if change.startswith("a ") else "accelerators"
        if kind in kinds_done:
            continue
        item = _fits(base, relaxed, whole=(problem, plan))
        if item is not None and holds(relaxed):
            suggestions.append(Suggestion(f"fits on {item.satellite} with {change}", relaxed, item))
            kinds_done.add(kind)
    for name in sorted(cordoned):
        if name in base.states:
            item = _fits(base, job, uncordon=name, whole=(problem, plan))
            if item is not None and holds(job, name):
                suggestions.append(Suggestion(f"fits if {name} is uncordoned", job, item, name))
                break
    return Explanation(
        job_id,
        False,
        unplaced.code if unplaced else "PENDING",
        unplaced.reason if unplaced else "not in the current plan yet (submitted after it)",
        tuple(suggestions[:max_suggestions]),
    )


def _explain_placed(problem: Problem, plan: Plan, job: Job, items: list[PlanItem]) -> Explanation:
    first = min(items, key=lambda i: i.start_s)
    if isinstance(job, InferenceJob):
        value = job.value
    else:
        value = sum(
            job.value_per_acc_h * i.accelerators * (i.end_s - i.start_s) / 3600.0 for i in items
        )
    # Displaced: waiting jobs (left out for capacity) that would fit if this job were not
    # there, overlapping its time on one of its satellites.
    base = _held_fixed(problem, plan, without={job.job_id})
    jobs = {j.job_id: j for j in problem.jobs}
    displaced: list[str] = []
    sats = {i.satellite for i in items}
    for u in plan.unplaced:
        if u.code != "CAPACITY" or u.job_id not in jobs or len(displaced) >= 5:
            continue
        other = _fits(base, jobs[u.job_id])
        if (
            other is not None
            and other.satellite in sats
            and other.start_s < max(i.end_s for i in items)
        ):
            displaced.append(u.job_id)
    return Explanation(
        job.job_id,
        True,
        satellites=tuple(sorted(sats)),
        start_s=first.start_s,
        end_s=max(i.end_s for i in items),
        value=value,
        station=next((i.station for i in items if i.station), None),
        delivery_s=max((i.delivery_s for i in items if i.delivery_s is not None), default=None),
        displaced=tuple(displaced),
    )
