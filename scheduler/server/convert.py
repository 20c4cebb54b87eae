"""Model dataclasses -> protobuf messages (the other direction is validate.py)."""

from __future__ import annotations

import json
import math

from orbitalsched.v1 import agent_pb2, cluster_pb2, jobs_pb2

from scheduler.server.model import Job, JobSpec, JobState, PlanRecord

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
        work_accelerator_s=spec.work_accelerator_s,
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
        done_accelerator_s=job.done_accelerator_s,
        checkpoint_accelerator_s=job.checkpoint_accelerator_s,
        assignment_version=job.assignment_version,
        preemptions=job.preemptions,
    )


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def plan_to_pb(record: PlanRecord, versions: dict[str, int]) -> cluster_pb2.PlanSummary:
    """versions: assignment_version of each placed job (its fencing token)."""
    plan = json.loads(record.plan_json)
    by_job: dict[str, list[dict[str, object]]] = {}
    for item in plan.get("items", ()):
        by_job.setdefault(str(item["job_id"]), []).append(item)
    assignments = []
    for job_id, items in by_job.items():
        assignments.append(
            cluster_pb2.Assignment(
                job_id=job_id,
                satellite_ids=sorted({str(i["satellite"]) for i in items}),
                start_s=min(float(i["start_s"]) for i in items),  # type: ignore[arg-type]
                end_s=max(float(i["end_s"]) for i in items),  # type: ignore[arg-type]
                assignment_version=versions.get(job_id, 0),
            )
        )
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
        unplaced=[cluster_pb2.Unplaced(job_id=j, reason=r) for j, r in record.unplaced],
    )


def window(start_s: float, end_s: float) -> agent_pb2.Window:
    return agent_pb2.Window(start_s=start_s, end_s=end_s)
