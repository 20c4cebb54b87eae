"""The agent traffic as model types: what the servicers hand down (reports, telemetry, hello)
and what the server queues to an agent (plans, cancels, drains, link down).

agent_service.py converts protobuf to these at the boundary and back when it writes a
stream; nothing below the servicers sees a `_pb2` object. Work in accelerator-seconds of the
whole job (a gang's members summed), times in simulation seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from scheduler.server.model import JobKindName


class ReportKind(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    CHECKPOINTED = "checkpointed"
    STOPPED = "stopped"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StopCause(StrEnum):
    """Why an agent stopped a job before it was done (proto StopCause)."""

    WINDOW_ENDED = "window_ended"  # its planned window is over: not a preemption
    SELF_PROTECTION = "self_protection"  # battery floor or temperature limit
    CANCELLED = "cancelled"  # the scheduler told it to
    UNKNOWN = "unknown"


class PreemptionCause(StrEnum):
    """The `cause` label of orbital_preemptions_total."""

    SATELLITE_LOST = "satellite_lost"
    SELF_PROTECTION = "self_protection"
    CANCELLED = "cancelled"
    REPLANNED = "replanned"
    OTHER = "other"


# --- from agents -------------------------------------------------------------------------
@dataclass(frozen=True)
class JobReport:
    job_id: str
    kind: ReportKind
    time_s: float
    assignment_version: int = 0
    done_acc_s: float = 0.0
    checkpoint_acc_s: float = 0.0
    reason: str = ""
    stop_cause: StopCause = StopCause.UNKNOWN


@dataclass(frozen=True)
class Telemetry:
    """One validated telemetry sample (validate.telemetry_from_pb)."""

    time_s: float
    battery_soc_wh: float
    battery_capacity_wh: float
    temperature_c: float
    power_generated_w: float = 0.0
    power_drawn_w: float = 0.0
    sunlit_fraction: float = 0.0
    in_contact: bool = False
    running_job_ids: tuple[str, ...] = ()
    accelerators_busy: int = 0
    self_protection: str = ""


@dataclass(frozen=True)
class RunningJob:
    """What an agent says it runs when it (re)connects."""

    job_id: str
    assignment_version: int
    done_acc_s: float = 0.0
    checkpoint_acc_s: float = 0.0


@dataclass(frozen=True)
class Hello:
    satellite_id: str
    boot_id: str = ""
    last_plan_version: int = 0
    running: tuple[RunningJob, ...] = ()


# --- to agents ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanEntry:
    """One block of one job on one satellite (proto PlanEntry)."""

    job_id: str
    kind: JobKindName
    start_s: float
    end_s: float
    accelerators: int
    power_w: float
    work_acc_s: float
    resume_from_acc_s: float
    checkpoint_interval_s: float
    checkpoint_cost_s: float
    output_mb: float
    deadline_s: float | None
    gang_satellite_ids: tuple[str, ...]
    assignment_version: int
    checkpoint_times_s: tuple[float, ...] = ()
    delivery_s: float | None = None
    gang_size: int = 0  # members running it at once (0: len(gang_satellite_ids))


@dataclass(frozen=True)
class SatellitePlan:
    plan_version: int
    satellite_id: str
    created_s: float
    horizon_end_s: float
    entries: tuple[PlanEntry, ...]
    # Downlink windows (start_s, end_s, downlink_mbps): passes with an antenna held.
    contacts: tuple[tuple[float, float, float], ...]
    wall_queued_s: float = 0.0
    # Wall clock when the solve this plan comes from returned (0: sent on a connection).
    wall_solved_s: float = 0.0
    # The SchedulerMessage's bytes when built ahead (a broadcast, wire.PlanEncoder).
    wire: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Cancel:
    job_id: str
    reason: str


@dataclass(frozen=True)
class Drain:
    reason: str


@dataclass(frozen=True)
class LinkDown:
    next_contact_start_s: float


@dataclass(frozen=True)
class NewElements:
    """New orbital elements of the satellite (orbitctl elements update)."""

    line1: str
    line2: str


@dataclass(frozen=True)
class HeartbeatAck:
    """The scheduler heard the agent's heartbeat seq (the agent's lease, agents/lease.py)."""

    seq: int


ToAgent = SatellitePlan | Cancel | Drain | LinkDown | HeartbeatAck | NewElements
