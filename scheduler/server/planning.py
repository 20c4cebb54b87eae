"""From the scheduler's state to the planner's Problem inputs, and back.

Runs on the asyncio thread (it reads the store), producing a SolveRequest of plain
dataclasses that the solver worker (solver_worker.py) turns into a Problem with forecasts.

The new plan starts `lead_s` after now: the solve and the delivery take time (at 120x a
5 s solve is 10 simulated minutes), so the plan is made for when it is in force. Committed
work: a plan item that has started or starts before the new plan does, or belongs to a
satellite that is out of contact until after it starts (it runs the plan it has), cannot be
changed; it goes to the planner as a RunningJob and is carried over into the new plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scheduler.planner.domain import (
    InferenceJob,
    Plan,
    PlanItem,
    Priority,
    RunningJob,
    SatelliteState,
    TrainingJob,
    TrainingProgress,
)
from scheduler.planner.domain import (
    Job as PlannerJob,
)
from scheduler.server.model import Job, JobState

# Inference without a deadline: the planner needs one; a week means "whenever".
NO_DEADLINE_S = 7 * 86400.0
ItemsByJob = Mapping[str, Sequence[PlanItem]]


@dataclass(frozen=True)
class SolveRequest:
    scenario: str | None
    satellite_names: tuple[str, ...]
    now_s: float
    slot_s: float
    n_slots: int
    jobs: tuple[PlannerJob, ...]
    states: dict[str, SatelliteState]
    training_progress: dict[str, TrainingProgress]
    previous: Plan | None
    policy: str
    time_limit_s: float
    version: int
    committed_items: tuple[PlanItem, ...] = ()
    # Elements that replace the scenario's: (satellite, TLE line 1, TLE line 2).
    elements: tuple[tuple[str, str, str], ...] = ()
    considered: frozenset[str] = field(default_factory=frozenset)
    seed: int | None = None  # solve on one worker, deterministically, with this seed


def changed_fields(job: PlannerJob) -> dict[str, Any]:
    """The JobSpec fields a planner job sets that an explanation may change (the inverse
    of planner_job for deadline, accelerators, power and gang size)."""
    if isinstance(job, InferenceJob):
        return {
            "deadline_s": job.deadline_s,
            "accelerators": job.accelerators,
            "power_w": job.power_w or 0.0,
        }
    return {
        "deadline_s": job.deadline_s,
        "accelerators": job.accelerators_per_member,
        "gang_size": job.gang_size,
        "power_w": job.power_w_per_member or 0.0,
    }


def planner_job(job: Job) -> PlannerJob:
    s = job.spec
    if s.kind == "inference":
        return InferenceJob(
            job_id=s.job_id,
            submit_s=job.submit_time_s,
            deadline_s=(
                s.deadline_s if s.deadline_s is not None else job.submit_time_s + NO_DEADLINE_S
            ),
            work_acc_s=s.work_acc_s,
            accelerators=s.accelerators,
            power_w=s.power_w or None,
            input_mb=s.input_mb,
            output_mb=s.output_mb,
            value=s.value,
            priority=Priority(s.priority),
        )
    return TrainingJob(
        job_id=s.job_id,
        submit_s=job.submit_time_s,
        gang_size=s.gang_size,
        accelerators_per_member=s.accelerators,
        work_acc_s=s.work_acc_s,
        checkpoint_interval_s=s.checkpoint_interval_s,
        checkpoint_cost_s=s.checkpoint_cost_s,
        value_per_acc_h=s.value,
        priority=Priority(s.priority),
        power_w_per_member=s.power_w or None,
        deadline_s=s.deadline_s,
    )


def committed_items(
    jobs: list[Job],
    items_by_job: ItemsByJob,
    now_s: float,
    lead_s: float,
    frozen_until_s: Mapping[str, float],
) -> list[PlanItem]:
    """Plan items that can no longer change (see the module docstring)."""
    out: list[PlanItem] = []
    for job in jobs:
        placed = (JobState.PLANNED, JobState.RUNNING, JobState.CHECKPOINTED)
        if job.state not in placed or not job.assignment_version:
            continue
        items = [i for i in items_by_job.get(job.job_id, ()) if i.end_s > now_s]
        fixed = [
            i
            for i in items
            if i.start_s <= now_s + lead_s or i.start_s < frozen_until_s.get(i.satellite, 0.0)
        ]
        if fixed:
            # A gang runs together: the first fixed window of any member fixes all members.
            first = min(i.start_s for i in fixed)
            out.extend(i for i in items if abs(i.start_s - first) < 1e-6 or i in fixed)
    return out


def gang_of(job: Job, fixed: list[PlanItem]) -> tuple[str, ...]:
    """The gang the planner should prefer to keep: the one running the committed block, else
    the current placement when it is exactly one gang."""
    running = tuple(sorted({i.satellite for i in fixed if i.job_id == job.job_id}))
    if running:
        return running
    return job.satellite_ids if len(job.satellite_ids) == job.spec.gang_size else ()


def build_request(
    *,
    scenario: str | None,
    names: tuple[str, ...],
    accelerators: int,
    jobs: list[Job],
    items_by_job: ItemsByJob,
    telemetry: Mapping[str, tuple[float, float]],
    default_state: tuple[float, float],
    available: Mapping[str, bool],
    frozen_until_s: Mapping[str, float],
    now_s: float,
    slot_s: float,
    n_slots: int,
    lead_s: float,
    previous: Plan | None,
    policy: str,
    time_limit_s: float,
    version: int,
) -> SolveRequest:
    """telemetry: satellite -> (soc_wh, temperature_c) last reported."""
    fixed = committed_items(jobs, items_by_job, now_s, lead_s, frozen_until_s)
    fixed_ids = {i.job_id for i in fixed}
    running: dict[str, list[RunningJob]] = {n: [] for n in names}
    for i in fixed:
        if i.satellite in running:
            running[i.satellite].append(
                RunningJob(i.job_id, i.start_s, i.end_s, i.accelerators, i.power_w)
            )
    for sat, until in frozen_until_s.items():
        # Out of contact: no new plan reaches it before `until`; block what is not committed.
        busy = sum(r.accelerators for r in running.get(sat, ()))
        if sat in running and until > now_s and accelerators - busy > 0:
            running[sat].append(
                RunningJob(f"link-wait:{sat}", now_s, until, accelerators - busy, 0.0)
            )
    states = {}
    for n in names:
        soc, temp = telemetry.get(n, default_state)
        states[n] = SatelliteState(n, soc, temp, tuple(running[n]), available.get(n, False))
    planner_jobs: list[PlannerJob] = []
    progress: dict[str, TrainingProgress] = {}
    considered: set[str] = set()
    for job in jobs:
        if job.state.terminal:
            continue
        if job.spec.kind == "inference" and job.job_id in fixed_ids:
            continue  # committed as a RunningJob, carried over as is
        if (
            job.spec.kind == "inference"
            and job.state == JobState.RUNNING
            and job.done_acc_s >= job.spec.work_acc_s
        ):
            continue  # computed, its output waits for a contact on its satellite
        planner_jobs.append(planner_job(job))
        considered.add(job.job_id)
        if job.spec.kind == "training":
            # Work a committed block will have saved counts as done (the planner plans what
            # follows it): progress at its last checkpoint, each checkpoint costing its time.
            done_acc_s = job.checkpoint_acc_s
            lead_sat = job.satellite_ids[0] if job.satellite_ids else ""
            rate = job.spec.accelerators * job.spec.gang_size
            for i in fixed:
                if i.job_id != job.job_id or i.satellite != lead_sat:
                    continue
                ahead = [t for t in i.checkpoint_times_s if t > now_s]
                if ahead:
                    running_s = max(ahead) - max(i.start_s, now_s)
                    cost_s = len(ahead) * job.spec.checkpoint_cost_s
                    base = max(job.done_acc_s, job.checkpoint_acc_s)
                    done_acc_s = max(done_acc_s, base + rate * max(0.0, running_s - cost_s))
            progress[job.job_id] = TrainingProgress(
                job.job_id,
                done_acc_s=min(done_acc_s, job.spec.work_acc_s),
                gang=gang_of(job, fixed),
            )
    return SolveRequest(
        scenario=scenario,
        satellite_names=names,
        now_s=now_s + lead_s,
        slot_s=slot_s,
        n_slots=n_slots,
        jobs=tuple(planner_jobs),
        states=states,
        training_progress=progress,
        previous=previous,
        policy=policy,
        time_limit_s=time_limit_s,
        version=version,
        committed_items=tuple(fixed),
        considered=frozenset(considered),
    )


def merge_committed(plan: Plan, committed: Sequence[PlanItem]) -> Plan:
    """The effective plan: the solver's items plus the committed ones it did not repeat."""
    have = {(i.job_id, i.satellite, round(i.start_s, 3)) for i in plan.items}
    extra = [i for i in committed if (i.job_id, i.satellite, round(i.start_s, 3)) not in have]
    items = sorted((*plan.items, *extra), key=lambda i: (i.satellite, i.start_s))
    return replace(plan, items=tuple(items))
