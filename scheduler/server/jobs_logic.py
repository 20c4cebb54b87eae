"""How job records change: on agent reports, on the loss of a satellite, on a new plan.

Pure functions from (job, what happened) to the new job record (or None when nothing
changes); the caller stores the result. The state machine itself is model.py.
"""

from __future__ import annotations

from dataclasses import replace

from scheduler.server.model import Assignment, Job, JobState


def lose_placement(job: Job, reason: str) -> Job:
    """The job's satellite(s) went away or a plan dropped it: back to PENDING, or to
    CHECKPOINTED (resuming from the checkpoint) when it has one."""
    was_running = job.state in (JobState.RUNNING, JobState.CHECKPOINTED)
    has_checkpoint = job.spec.kind == "training" and job.checkpoint_accelerator_s > 0
    state = JobState.CHECKPOINTED if has_checkpoint else JobState.PENDING
    return (
        replace(
            job,
            state=state,
            reason=reason,
            satellite_ids=(),
            planned_start_s=0.0,
            planned_end_s=0.0,
            assignment_version=0,
            done_accelerator_s=job.checkpoint_accelerator_s if has_checkpoint else 0.0,
            preemptions=job.preemptions + (1 if job.state == JobState.RUNNING else 0),
        )
        if (was_running or job.state == JobState.PLANNED)
        else replace(
            job,
            reason=reason,
            satellite_ids=(),
            planned_start_s=0.0,
            planned_end_s=0.0,
            assignment_version=0,
        )
    )


def apply_assignment(job: Job, assignment: Assignment | None, version: int, reason: str) -> Job:
    """The job's placement in a new plan of `version` (None: not placed, with reason)."""
    if job.state.terminal:
        return job
    if assignment is None:
        if not job.satellite_ids and job.state in (JobState.PENDING, JobState.CHECKPOINTED):
            return replace(job, reason=reason)
        return lose_placement(job, reason)
    same = set(assignment.satellite_ids) == set(job.satellite_ids) and job.assignment_version
    token = job.assignment_version if same else version
    state = job.state
    done = job.done_accelerator_s
    preemptions = job.preemptions
    if state == JobState.PENDING:
        state = JobState.PLANNED
    elif state == JobState.RUNNING and not same:
        # Moved while running: the old satellites stop it (their new plan omits it).
        state = JobState.PLANNED
        preemptions += 1
        done = job.checkpoint_accelerator_s if job.spec.kind == "training" else 0.0
        if job.spec.kind == "training" and job.checkpoint_accelerator_s > 0:
            state = JobState.CHECKPOINTED
    return replace(
        job,
        state=state,
        reason="",
        satellite_ids=tuple(sorted(assignment.satellite_ids)),
        planned_start_s=assignment.start_s,
        planned_end_s=assignment.end_s,
        assignment_version=token,
        done_accelerator_s=done,
        preemptions=preemptions,
    )


def on_started(job: Job, time_s: float) -> Job | None:
    if job.state not in (JobState.PLANNED, JobState.CHECKPOINTED, JobState.RUNNING):
        return None
    if job.state == JobState.RUNNING:
        return None
    return replace(job, state=JobState.RUNNING, reason="", start_time_s=job.start_time_s or time_s)


def on_progress(job: Job, done_accelerator_s: float) -> Job | None:
    if done_accelerator_s <= job.done_accelerator_s:
        return None
    done = min(done_accelerator_s, job.spec.work_accelerator_s)
    state = (
        JobState.RUNNING if job.state in (JobState.PLANNED, JobState.CHECKPOINTED) else job.state
    )
    return replace(job, done_accelerator_s=done, state=state)


def on_checkpoint(job: Job, checkpoint_accelerator_s: float) -> Job | None:
    if checkpoint_accelerator_s <= job.checkpoint_accelerator_s:
        return None
    return replace(
        job,
        checkpoint_accelerator_s=checkpoint_accelerator_s,
        done_accelerator_s=max(job.done_accelerator_s, checkpoint_accelerator_s),
    )


def on_stopped(job: Job, reason: str) -> Job:
    """Stopped on its satellite before done (window over, self-protection)."""
    return lose_placement(job, reason or "stopped by the agent")


def finish(job: Job, state: JobState, time_s: float, reason: str) -> Job:
    done = job.spec.work_accelerator_s if state == JobState.SUCCEEDED else job.done_accelerator_s
    return replace(job, state=state, reason=reason, end_time_s=time_s, done_accelerator_s=done)
