"""The scheduler's records: jobs and their state machine, satellites, plans.

Times are simulation time, POSIX seconds UTC (`*_s`); work in accelerator-seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from scheduler.planner.domain import Plan, ReasonCode, Unplaced

JobKindName = Literal["inference", "training"]


class JobState(StrEnum):
    PENDING = "PENDING"
    PLANNED = "PLANNED"
    RUNNING = "RUNNING"
    CHECKPOINTED = "CHECKPOINTED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# PENDING -> PLANNED -> RUNNING -> (CHECKPOINTED <-> RUNNING) -> SUCCEEDED | FAILED | CANCELLED.
# Back edges: a placement is lost (satellite lost, replanned away) -> PENDING, or
# CHECKPOINTED when a checkpoint exists; a running job moved by a new plan -> PLANNED.
# SUCCEEDED is reachable from every active state: an agent out of contact reports a job it
# finished after the scheduler had already moved it (the work was done and delivered).
ALLOWED_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset(
        {JobState.PLANNED, JobState.CANCELLED, JobState.FAILED, JobState.SUCCEEDED}
    ),
    JobState.PLANNED: frozenset(
        {
            JobState.PENDING,
            JobState.RUNNING,
            JobState.CANCELLED,
            JobState.FAILED,
            JobState.SUCCEEDED,
        }
    ),
    JobState.RUNNING: frozenset(
        {
            JobState.CHECKPOINTED,
            JobState.PENDING,
            JobState.PLANNED,
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
        }
    ),
    JobState.CHECKPOINTED: frozenset(
        {JobState.RUNNING, JobState.CANCELLED, JobState.FAILED, JobState.SUCCEEDED}
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def can_transition(old: JobState, new: JobState) -> bool:
    return old == new or new in ALLOWED_TRANSITIONS[old]


@dataclass(frozen=True)
class JobSpec:
    """What the user asked for, validated (validate.py)."""

    job_id: str
    kind: JobKindName
    priority: int  # scheduler.planner.domain.Priority value: 0 batch, 1 standard, 2 critical
    work_acc_s: float
    accelerators: int
    power_w: float = 0.0  # 0: accelerators x the bus accelerator power
    input_mb: float = 0.0
    output_mb: float = 0.0
    deadline_s: float | None = None
    gang_size: int = 1
    checkpoint_interval_s: float = 0.0
    checkpoint_cost_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    # What doing it is worth: per job (inference), per accelerator-hour (training).
    value: float = 1.0


@dataclass(frozen=True)
class Job:
    """A job with its state, as stored."""

    spec: JobSpec
    state: JobState
    submit_time_s: float
    reason: str = ""
    start_time_s: float = 0.0
    end_time_s: float = 0.0
    satellite_ids: tuple[str, ...] = ()
    planned_start_s: float = 0.0
    planned_end_s: float = 0.0
    done_acc_s: float = 0.0
    checkpoint_acc_s: float = 0.0
    assignment_version: int = 0
    preemptions: int = 0
    seq: int = 0  # submission order
    # Fencing tokens per member: the plan version at which each satellite joined the
    # placement. A report from a satellite counts only with a token at least this.
    member_versions: tuple[tuple[str, int], ...] = ()
    # Who submitted it: user:NAME, or anonymous without TLS (see scheduler/security).
    submitted_by: str = ""
    # Why the last plan did not place it (with `reason`); None once placed or finished.
    reason_code: ReasonCode | None = None
    # When retention compacted it (0: never): its history, labels and checkpoints are gone.
    compacted_s: float = 0.0

    def member_version(self, sat: str) -> int | None:
        return dict(self.member_versions).get(sat)

    @property
    def job_id(self) -> str:
        return self.spec.job_id


@dataclass(frozen=True)
class Assignment:
    """Where and when a plan puts one job (all gang members)."""

    job_id: str
    satellite_ids: tuple[str, ...]
    start_s: float
    end_s: float
    assignment_version: int = 0


@dataclass(frozen=True)
class PlanRecord:
    """One solve: what it decided and how good the solver says it is."""

    version: int
    created_s: float
    horizon_start_s: float
    horizon_end_s: float
    trigger: str
    status: str
    objective: float
    best_bound: float
    gap_ratio: float
    solve_duration_s: float
    # The plan in force: the solver's items plus the committed ones it carried over.
    plan: Plan

    @property
    def unplaced(self) -> tuple[Unplaced, ...]:
        return self.plan.unplaced


@dataclass(frozen=True)
class SatelliteFlags:
    satellite_id: str
    cordoned: bool = False
    draining: bool = False
    lost: bool = False
