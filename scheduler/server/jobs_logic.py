"""How job records change: on agent reports, on the loss of a satellite, on a new plan.

Pure functions from (job, what happened) to the new job record (or None when nothing
changes); the caller stores the result. The state machine itself is model.py.
"""

from __future__ import annotations

from dataclasses import replace

from scheduler.planner.domain import ReasonCode
from scheduler.server.model import Assignment, Job, JobState


def lose_placement(job: Job, reason: str, code: ReasonCode | None = None) -> Job:
    """The job's satellite(s) went away or a plan dropped it: back to PENDING, or to
    CHECKPOINTED (resuming from the checkpoint) when it has one."""
    cleared = replace(
        job,
        reason=reason,
        reason_code=code,
        satellite_ids=(),
        planned_start_s=0.0,
        planned_end_s=0.0,
        assignment_version=0,
        member_versions=(),
    )
    if job.state not in (JobState.RUNNING, JobState.CHECKPOINTED, JobState.PLANNED):
        return cleared
    has_checkpoint = job.spec.kind == "training" and job.checkpoint_acc_s > 0
    return replace(
        cleared,
        state=JobState.CHECKPOINTED if has_checkpoint else JobState.PENDING,
        done_acc_s=job.checkpoint_acc_s if has_checkpoint else 0.0,
        preemptions=job.preemptions + (1 if job.state == JobState.RUNNING else 0),
    )


def apply_assignment(
    job: Job,
    assignment: Assignment | None,
    version: int,
    reason: str,
    code: ReasonCode | None = None,
) -> Job:
    """The job's placement in a new plan of `version` (None: not placed, with the planner's
    reason and its code)."""
    if job.state.terminal:
        return job
    if assignment is None:
        if not job.satellite_ids and job.state in (JobState.PENDING, JobState.CHECKPOINTED):
            return replace(job, reason=reason, reason_code=code)
        return lose_placement(job, reason, code)
    # Members that stay keep their token (what they run stays valid); new members get this
    # plan's version. The job's token is the newest of them.
    old = dict(job.member_versions)
    members = tuple((s, old.get(s, version)) for s in sorted(assignment.satellite_ids))
    same = bool(old) and set(old) <= set(assignment.satellite_ids)
    token = max(v for _, v in members)
    state = job.state
    done = job.done_acc_s
    preemptions = job.preemptions
    if state == JobState.PENDING:
        state = JobState.PLANNED
    elif state == JobState.RUNNING and not same:
        # Moved while running: the old satellites stop it (their new plan omits it).
        state = JobState.PLANNED
        preemptions += 1
        done = job.checkpoint_acc_s if job.spec.kind == "training" else 0.0
        if job.spec.kind == "training" and job.checkpoint_acc_s > 0:
            state = JobState.CHECKPOINTED
    return replace(
        job,
        state=state,
        reason="",
        reason_code=None,
        satellite_ids=tuple(sorted(assignment.satellite_ids)),
        planned_start_s=assignment.start_s,
        planned_end_s=assignment.end_s,
        assignment_version=token,
        member_versions=members,
        done_acc_s=done,
        preemptions=preemptions,
    )


def on_started(job: Job, time_s: float) -> Job | None:
    if job.state not in (JobState.PLANNED, JobState.CHECKPOINTED, JobState.RUNNING):
        return None
    if job.state == JobState.RUNNING:
        return None
    return replace(
        job,
        state=JobState.RUNNING,
        reason="",
        reason_code=None,
        start_time_s=job.start_time_s or time_s,
    )


def on_progress(job: Job, done_acc_s: float) -> Job | None:
    if done_acc_s <= job.done_acc_s:
        return None
    done = min(done_acc_s, job.spec.work_acc_s)
    state = (
        JobState.RUNNING if job.state in (JobState.PLANNED, JobState.CHECKPOINTED) else job.state
    )
    return replace(job, done_acc_s=done, state=state)


def on_checkpoint(job: Job, checkpoint_acc_s: float) -> Job | None:
    if checkpoint_acc_s <= job.checkpoint_acc_s:
        return None
    return replace(
        job,
        checkpoint_acc_s=checkpoint_acc_s,
        done_acc_s=max(job.done_acc_s, checkpoint_acc_s),
    )


def between_blocks(job: Job, next_start_s: float) -> Job:
    """A block ended and the plan has the job's next block on the same satellite(s)."""
    training = job.spec.kind == "training"
    state = JobState.CHECKPOINTED if training and job.checkpoint_acc_s > 0 else (JobState.PLANNED)
    return replace(
        job,
        state=state,
        reason="waiting for its next planned block",
        reason_code=None,
        done_acc_s=job.checkpoint_acc_s if training else 0.0,
        planned_start_s=next_start_s,
    )


def on_stopped(job: Job, reason: str) -> Job:
    """Stopped on its satellite before done (window over, self-protection)."""
    return lose_placement(job, reason or "stopped by the agent")


def finish(job: Job, state: JobState, time_s: float, reason: str) -> Job:
    done = job.spec.work_acc_s if state == JobState.SUCCEEDED else job.done_acc_s
    return replace(
        job,
        state=state,
        reason=reason,
        reason_code=None,
        end_time_s=time_s,
        done_acc_s=done,
    )


def expired(job: Job, now_s: float, late_grace_s: float) -> Job | None:
    """The job FAILED because its deadline passed while it waited (no placement, not
    running), or None. Inference can still earn value up to late_grace_s after its deadline
    (the planner's lateness window), so it expires only after that; training must finish
    its blocks by the deadline itself. A job that waits forever would otherwise stay
    PENDING and take room in every solve."""
    deadline_s = job.spec.deadline_s
    if deadline_s is None or job.state.terminal or job.satellite_ids:
        return None
    if job.state == JobState.RUNNING:
        return None
    grace_s = late_grace_s if job.spec.kind == "inference" else 0.0
    if now_s <= deadline_s + grace_s:
        return None
    why = f"deadline {deadline_s:.0f} s passed before it could run (now {now_s:.0f} s"
    why += f", {grace_s:.0f} s grace)" if grace_s else ")"
    if job.done_acc_s > 0:
        why += f"; {job.done_acc_s:.0f} of {job.spec.work_acc_s:.0f} accelerator-s done"
    return replace(finish(job, JobState.FAILED, now_s, why), reason_code=ReasonCode.DEADLINE)
