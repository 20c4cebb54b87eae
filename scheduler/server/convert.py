"""Model dataclasses -> protobuf messages (the other direction is validate.py)."""

from __future__ import annotations

import math

from orbitalsched.v1 import agent_pb2, cluster_pb2, jobs_pb2

from scheduler.planner.domain import PlanItem, ReasonCode
from scheduler.server.clock import SimClock
from scheduler.server.lifecycle import JobEvent
from scheduler.server.messages import (
    Cancel,
    Drain,
    HeartbeatAck,
    LinkDown,
    NewElements,
    PlanEntry,
    SatellitePlan,
    Telemetry,
    ToAgent,
)
from scheduler.server.model import Job, JobSpec, JobState, PlanRecord
from scheduler.server.store import Event as StoredEvent

STATE_TO_PB = {
    JobState.PENDING: jobs_pb2.JOB_STATE_PENDING,
    JobState.PLANNED: jobs_pb2.JOB_STATE_PLANNED,
    JobState.RUNNING: jobs_pb2.JOB_STATE_RUNNING,
    JobState.CHECKPOINTED: jobs_pb2.JOB_STATE_CHECKPOINTED,
    JobState.SUCCEEDED: jobs_pb2.JOB_STATE_SUCCEEDED,
    JobState.FAILED: jobs_pb2.JOB_STATE_FAILED,
    JobState.CANCELLED: jobs_pb2.JOB_STATE_CANCELLED,
}
PB_TO_STATE = {v: k for k, v in STATE_TO_PB.items()}
KIND_TO_PB = {"inference": jobs_pb2.JOB_KIND_INFERENCE, "training": jobs_pb2.JOB_KIND_TRAINING}
PB_TO_KIND = {v: k for k, v in KIND_TO_PB.items()}
REASON_CODE_TO_PB: dict[ReasonCode, jobs_pb2.ReasonCode] = {
    code: getattr(jobs_pb2, f"REASON_CODE_{code.value}") for code in ReasonCode
}
PRIORITY_TO_PB = {
    0: jobs_pb2.JOB_PRIORITY_BATCH,
    1: jobs_pb2.JOB_PRIORITY_STANDARD,
    2: jobs_pb2.JOB_PRIORITY_CRITICAL,
}


def spec_to_pb(spec: JobSpec) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(
        job_id=spec.job_id,
        kind=KIND_TO_PB[spec.kind],
        priority=PRIORITY_TO_PB[spec.priority],
        work_accelerator_s=spec.work_acc_s,
        accelerators=spec.accelerators,
        power_w=spec.power_w,
        input_mb=spec.input_mb,
        output_mb=spec.output_mb,
        deadline_s=spec.deadline_s,
        gang_size=spec.gang_size,
        checkpoint_interval_s=spec.checkpoint_interval_s,
        checkpoint_cost_s=spec.checkpoint_cost_s,
        labels=spec.labels,
        value=spec.value,
    )


def job_to_pb(job: Job) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        spec=spec_to_pb(job.spec),
        state=STATE_TO_PB[job.state],
        reason=job.reason,
        submit_time_s=job.submit_time_s,
        start_time_s=job.start_time_s,
        end_time_s=job.end_time_s,
        satellite_ids=list(job.satellite_ids),
        planned_start_s=job.planned_start_s,
        planned_end_s=job.planned_end_s,
        done_accelerator_s=job.done_acc_s,
        checkpoint_accelerator_s=job.checkpoint_acc_s,
        assignment_version=job.assignment_version,
        preemptions=job.preemptions,
        submitted_by=job.submitted_by,
        reason_code=(
            REASON_CODE_TO_PB[job.reason_code]
            if job.reason_code
            else jobs_pb2.REASON_CODE_UNSPECIFIED
        ),
        compacted_time_s=job.compacted_s,
    )


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def plan_to_pb(record: PlanRecord, versions: dict[str, int]) -> cluster_pb2.PlanSummary:
    """versions: assignment_version of each placed job (its fencing token)."""
    by_job: dict[str, list[PlanItem]] = {}
    for item in record.plan.items:
        by_job.setdefault(item.job_id, []).append(item)
    assignments = [
        cluster_pb2.Assignment(
            job_id=job_id,
            satellite_ids=sorted({i.satellite for i in items}),
            start_s=min(i.start_s for i in items),
            end_s=max(i.end_s for i in items),
            assignment_version=versions.get(job_id, 0),
        )
        for job_id, items in by_job.items()
    ]
    return cluster_pb2.PlanSummary(
        plan_version=record.version,
        created_s=record.created_s,
        horizon_start_s=record.horizon_start_s,
        horizon_end_s=record.horizon_end_s,
        objective=_finite(record.objective),
        best_bound=_finite(record.best_bound),
        gap_ratio=_finite(record.gap_ratio),
        solver_status=record.status,
        solve_duration_s=record.solve_duration_s,
        trigger=record.trigger,
        assignments=assignments,
        unplaced=[
            cluster_pb2.Unplaced(
                job_id=u.job_id, reason=u.reason, code=REASON_CODE_TO_PB[ReasonCode(u.code)]
            )
            for u in record.unplaced
        ],
    )


def window(start_s: float, end_s: float) -> agent_pb2.Window:
    return agent_pb2.Window(start_s=start_s, end_s=end_s)


def clock_to_pb(clock: SimClock) -> agent_pb2.Clock:
    return agent_pb2.Clock(
        sim_epoch_s=clock.sim_epoch_s, wall_epoch_s=clock.wall_epoch_s, speed=clock.speed
    )


def telemetry_to_pb(tel: Telemetry | None) -> agent_pb2.Telemetry:
    if tel is None:
        return agent_pb2.Telemetry()
    return agent_pb2.Telemetry(
        time_s=tel.time_s,
        battery_soc_wh=tel.battery_soc_wh,
        battery_capacity_wh=tel.battery_capacity_wh,
        temperature_c=tel.temperature_c,
        power_generated_w=tel.power_generated_w,
        power_drawn_w=tel.power_drawn_w,
        sunlit_fraction=tel.sunlit_fraction,
        in_contact=tel.in_contact,
        running_job_ids=list(tel.running_job_ids),
        accelerators_busy=tel.accelerators_busy,
        self_protection=tel.self_protection,
    )


def job_event_to_pb(event: JobEvent) -> jobs_pb2.JobEvent:
    return jobs_pb2.JobEvent(
        job=job_to_pb(event.job),
        time_s=event.time_s,
        what=event.what,
        principal=event.principal,
        state=STATE_TO_PB[event.job.state],
        reason=event.job.reason,
    )


def history_to_pb(events: list[StoredEvent]) -> list[jobs_pb2.JobEvent]:
    """A job's stored history (GetJob include_events)."""
    return [
        jobs_pb2.JobEvent(
            time_s=e.time_s,
            what=e.what,
            principal=e.principal,
            state=STATE_TO_PB[JobState(e.state)],
            reason=e.reason,
        )
        for e in events
    ]


def plan_entry_to_pb(e: PlanEntry) -> agent_pb2.PlanEntry:
    return agent_pb2.PlanEntry(
        job_id=e.job_id,
        kind=KIND_TO_PB[e.kind],
        start_s=e.start_s,
        end_s=e.end_s,
        accelerators=e.accelerators,
        power_w=e.power_w,
        work_accelerator_s=e.work_acc_s,
        resume_from_accelerator_s=e.resume_from_acc_s,
        checkpoint_interval_s=e.checkpoint_interval_s,
        checkpoint_cost_s=e.checkpoint_cost_s,
        output_mb=e.output_mb,
        deadline_s=e.deadline_s,
        gang_satellite_ids=list(e.gang_satellite_ids),
        assignment_version=e.assignment_version,
        checkpoint_times_s=list(e.checkpoint_times_s),
        gang_size=e.gang_size,
        delivery_s=e.delivery_s or 0.0,
    )


def to_agent_pb(msg: ToAgent, clock: SimClock) -> agent_pb2.SchedulerMessage:
    """A queued message to an agent, as written on its stream."""
    if isinstance(msg, SatellitePlan):
        return agent_pb2.SchedulerMessage(
            plan=agent_pb2.Plan(
                plan_version=msg.plan_version,
                satellite_id=msg.satellite_id,
                created_s=msg.created_s,
                horizon_end_s=msg.horizon_end_s,
                entries=[plan_entry_to_pb(e) for e in msg.entries],
                contacts=[
                    agent_pb2.Window(start_s=a, end_s=b, downlink_mbps=r)
                    for a, b, r in msg.contacts
                ],
                wall_queued_s=msg.wall_queued_s,
                wall_solved_s=msg.wall_solved_s,
            )
        )
    if isinstance(msg, Cancel):
        return agent_pb2.SchedulerMessage(
            cancel=agent_pb2.CancelJob(job_id=msg.job_id, reason=msg.reason)
        )
    if isinstance(msg, Drain):
        return agent_pb2.SchedulerMessage(drain=agent_pb2.Drain(reason=msg.reason))
    if isinstance(msg, NewElements):
        return agent_pb2.SchedulerMessage(
            elements=agent_pb2.SatelliteConfig(tle_line1=msg.line1, tle_line2=msg.line2)
        )
    if isinstance(msg, HeartbeatAck):
        return agent_pb2.SchedulerMessage(heartbeat_ack=agent_pb2.HeartbeatAck(seq=msg.seq))
    assert isinstance(msg, LinkDown)
    return agent_pb2.SchedulerMessage(
        link_down=agent_pb2.LinkDown(
            next_contact_start_s=msg.next_contact_start_s, clock=clock_to_pb(clock)
        )
    )
