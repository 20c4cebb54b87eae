"""What a run delivered, from its final job records: the same measure for the simulator and
for a live cluster (bench/fidelity.py compares the two).

Value follows the planner's objective (planner/domain.Weights): an inference job is worth
its value when its output is on the ground by the deadline, less `lateness_per_s` per second
late up to `late_grace_s`, nothing after; a training job is worth its value per
accelerator-hour of work saved at a checkpoint (all of it once it succeeded).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scheduler.planner.domain import Weights
from scheduler.server.model import Job, JobState


@dataclass(frozen=True)
class Outcome:
    value: float
    jobs: int
    succeeded: int
    deadline_misses: int  # due before the end of the run and not on the ground on time
    preemptions: int
    accelerator_hours: float


def job_value(job: Job, weights: Weights) -> float:
    s = job.spec
    if s.kind == "training":
        done_s = s.work_acc_s if job.state == JobState.SUCCEEDED else job.checkpoint_acc_s
        return s.value * done_s / 3600.0
    if job.state != JobState.SUCCEEDED:
        return 0.0
    late_s = max(0.0, job.end_time_s - s.deadline_s) if s.deadline_s is not None else 0.0
    if late_s > weights.late_grace_s:
        return 0.0
    return max(0.0, s.value - weights.lateness_per_s * late_s)


def missed_deadline(job: Job, end_s: float) -> bool:
    deadline = job.spec.deadline_s
    if deadline is None or deadline > end_s:
        return False
    return not (job.state == JobState.SUCCEEDED and job.end_time_s <= deadline)


def accelerator_hours(job: Job) -> float:
    s = job.spec
    if job.state == JobState.SUCCEEDED:
        return s.work_acc_s / 3600.0
    return job.checkpoint_acc_s / 3600.0 if s.kind == "training" else 0.0


def outcome(jobs: Iterable[Job], end_s: float, weights: Weights | None = None) -> Outcome:
    w = weights or Weights()
    js = list(jobs)
    return Outcome(
        value=round(sum(job_value(j, w) for j in js), 4),
        jobs=len(js),
        succeeded=sum(j.state == JobState.SUCCEEDED for j in js),
        deadline_misses=sum(missed_deadline(j, end_s) for j in js),
        preemptions=sum(j.preemptions for j in js),
        accelerator_hours=round(sum(accelerator_hours(j) for j in js), 3),
    )
