from orbitalsched.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobReportKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_REPORT_KIND_UNSPECIFIED: _ClassVar[JobReportKind]
    JOB_REPORT_KIND_STARTED: _ClassVar[JobReportKind]
    JOB_REPORT_KIND_PROGRESS: _ClassVar[JobReportKind]
    JOB_REPORT_KIND_CHECKPOINTED: _ClassVar[JobReportKind]
    JOB_REPORT_KIND_STOPPED: _ClassVar[JobReportKind]
    JOB_REPORT_KIND_SUCCEEDED: _ClassVar[JobReportKind]
    JOB_REPORT_KIND_FAILED: _ClassVar[JobReportKind]

class StopCause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOP_CAUSE_UNSPECIFIED: _ClassVar[StopCause]
    STOP_CAUSE_WINDOW_ENDED: _ClassVar[StopCause]
    STOP_CAUSE_SELF_PROTECTION: _ClassVar[StopCause]
    STOP_CAUSE_CANCELLED: _ClassVar[StopCause]
JOB_REPORT_KIND_UNSPECIFIED: JobReportKind
JOB_REPORT_KIND_STARTED: JobReportKind
JOB_REPORT_KIND_PROGRESS: JobReportKind
JOB_REPORT_KIND_CHECKPOINTED: JobReportKind
JOB_REPORT_KIND_STOPPED: JobReportKind
JOB_REPORT_KIND_SUCCEEDED: JobReportKind
JOB_REPORT_KIND_FAILED: JobReportKind
STOP_CAUSE_UNSPECIFIED: StopCause
STOP_CAUSE_WINDOW_ENDED: StopCause
STOP_CAUSE_SELF_PROTECTION: StopCause
STOP_CAUSE_CANCELLED: StopCause

class Clock(_message.Message):
    __slots__ = ("sim_epoch_s", "wall_epoch_s", "speed")
    SIM_EPOCH_S_FIELD_NUMBER: _ClassVar[int]
    WALL_EPOCH_S_FIELD_NUMBER: _ClassVar[int]
    SPEED_FIELD_NUMBER: _ClassVar[int]
    sim_epoch_s: float
    wall_epoch_s: float
    speed: float
    def __init__(self, sim_epoch_s: _Optional[float] = ..., wall_epoch_s: _Optional[float] = ..., speed: _Optional[float] = ...) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("accelerators", "accelerator_power_w")
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    ACCELERATOR_POWER_W_FIELD_NUMBER: _ClassVar[int]
    accelerators: int
    accelerator_power_w: float
    def __init__(self, accelerators: _Optional[int] = ..., accelerator_power_w: _Optional[float] = ...) -> None: ...

class RunningJob(_message.Message):
    __slots__ = ("job_id", "assignment_version", "done_accelerator_s", "checkpoint_accelerator_s")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DONE_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    assignment_version: int
    done_accelerator_s: float
    checkpoint_accelerator_s: float
    def __init__(self, job_id: _Optional[str] = ..., assignment_version: _Optional[int] = ..., done_accelerator_s: _Optional[float] = ..., checkpoint_accelerator_s: _Optional[float] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("satellite_id", "agent_version", "boot_id", "last_plan_version", "running_jobs", "capabilities")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    BOOT_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    agent_version: str
    boot_id: str
    last_plan_version: int
    running_jobs: _containers.RepeatedCompositeFieldContainer[RunningJob]
    capabilities: Capabilities
    def __init__(self, satellite_id: _Optional[str] = ..., agent_version: _Optional[str] = ..., boot_id: _Optional[str] = ..., last_plan_version: _Optional[int] = ..., running_jobs: _Optional[_Iterable[_Union[RunningJob, _Mapping]]] = ..., capabilities: _Optional[_Union[Capabilities, _Mapping]] = ...) -> None: ...

class Telemetry(_message.Message):
    __slots__ = ("time_s", "battery_soc_wh", "battery_capacity_wh", "temperature_c", "power_generated_w", "power_drawn_w", "sunlit_fraction", "in_contact", "running_job_ids", "accelerators_busy", "self_protection")
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    BATTERY_SOC_WH_FIELD_NUMBER: _ClassVar[int]
    BATTERY_CAPACITY_WH_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_GENERATED_W_FIELD_NUMBER: _ClassVar[int]
    POWER_DRAWN_W_FIELD_NUMBER: _ClassVar[int]
    SUNLIT_FRACTION_FIELD_NUMBER: _ClassVar[int]
    IN_CONTACT_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_BUSY_FIELD_NUMBER: _ClassVar[int]
    SELF_PROTECTION_FIELD_NUMBER: _ClassVar[int]
    time_s: float
    battery_soc_wh: float
    battery_capacity_wh: float
    temperature_c: float
    power_generated_w: float
    power_drawn_w: float
    sunlit_fraction: float
    in_contact: bool
    running_job_ids: _containers.RepeatedScalarFieldContainer[str]
    accelerators_busy: int
    self_protection: str
    def __init__(self, time_s: _Optional[float] = ..., battery_soc_wh: _Optional[float] = ..., battery_capacity_wh: _Optional[float] = ..., temperature_c: _Optional[float] = ..., power_generated_w: _Optional[float] = ..., power_drawn_w: _Optional[float] = ..., sunlit_fraction: _Optional[float] = ..., in_contact: _Optional[bool] = ..., running_job_ids: _Optional[_Iterable[str]] = ..., accelerators_busy: _Optional[int] = ..., self_protection: _Optional[str] = ...) -> None: ...

class JobReport(_message.Message):
    __slots__ = ("job_id", "kind", "time_s", "assignment_version", "done_accelerator_s", "checkpoint_accelerator_s", "reason", "seq", "stop_cause")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DONE_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STOP_CAUSE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: JobReportKind
    time_s: float
    assignment_version: int
    done_accelerator_s: float
    checkpoint_accelerator_s: float
    reason: str
    seq: int
    stop_cause: StopCause
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[JobReportKind, str]] = ..., time_s: _Optional[float] = ..., assignment_version: _Optional[int] = ..., done_accelerator_s: _Optional[float] = ..., checkpoint_accelerator_s: _Optional[float] = ..., reason: _Optional[str] = ..., seq: _Optional[int] = ..., stop_cause: _Optional[_Union[StopCause, str]] = ...) -> None: ...

class PlanAck(_message.Message):
    __slots__ = ("plan_version", "accepted", "reason")
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    plan_version: int
    accepted: bool
    reason: str
    def __init__(self, plan_version: _Optional[int] = ..., accepted: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class AgentMessage(_message.Message):
    __slots__ = ("hello", "telemetry", "job_report", "plan_ack", "heartbeat")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_FIELD_NUMBER: _ClassVar[int]
    JOB_REPORT_FIELD_NUMBER: _ClassVar[int]
    PLAN_ACK_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    telemetry: Telemetry
    job_report: JobReport
    plan_ack: PlanAck
    heartbeat: Heartbeat
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., telemetry: _Optional[_Union[Telemetry, _Mapping]] = ..., job_report: _Optional[_Union[JobReport, _Mapping]] = ..., plan_ack: _Optional[_Union[PlanAck, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class HeartbeatAck(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class SatelliteConfig(_message.Message):
    __slots__ = ("satellite_id", "tle_line1", "tle_line2", "bus", "telemetry_interval_s")
    class BusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    TLE_LINE1_FIELD_NUMBER: _ClassVar[int]
    TLE_LINE2_FIELD_NUMBER: _ClassVar[int]
    BUS_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    tle_line1: str
    tle_line2: str
    bus: _containers.ScalarMap[str, float]
    telemetry_interval_s: float
    def __init__(self, satellite_id: _Optional[str] = ..., tle_line1: _Optional[str] = ..., tle_line2: _Optional[str] = ..., bus: _Optional[_Mapping[str, float]] = ..., telemetry_interval_s: _Optional[float] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("clock", "config", "scheduler_id", "link_model", "link_until_s", "lease_s")
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_ID_FIELD_NUMBER: _ClassVar[int]
    LINK_MODEL_FIELD_NUMBER: _ClassVar[int]
    LINK_UNTIL_S_FIELD_NUMBER: _ClassVar[int]
    LEASE_S_FIELD_NUMBER: _ClassVar[int]
    clock: Clock
    config: SatelliteConfig
    scheduler_id: str
    link_model: str
    link_until_s: float
    lease_s: float
    def __init__(self, clock: _Optional[_Union[Clock, _Mapping]] = ..., config: _Optional[_Union[SatelliteConfig, _Mapping]] = ..., scheduler_id: _Optional[str] = ..., link_model: _Optional[str] = ..., link_until_s: _Optional[float] = ..., lease_s: _Optional[float] = ...) -> None: ...

class Window(_message.Message):
    __slots__ = ("start_s", "end_s", "downlink_mbps")
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    DOWNLINK_MBPS_FIELD_NUMBER: _ClassVar[int]
    start_s: float
    end_s: float
    downlink_mbps: float
    def __init__(self, start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., downlink_mbps: _Optional[float] = ...) -> None: ...

class PlanEntry(_message.Message):
    __slots__ = ("job_id", "kind", "start_s", "end_s", "accelerators", "power_w", "work_accelerator_s", "resume_from_accelerator_s", "checkpoint_interval_s", "checkpoint_cost_s", "output_mb", "deadline_s", "gang_satellite_ids", "assignment_version", "checkpoint_times_s", "delivery_s", "gang_size")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    WORK_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    RESUME_FROM_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_COST_S_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MB_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    GANG_SATELLITE_IDS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_TIMES_S_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_S_FIELD_NUMBER: _ClassVar[int]
    GANG_SIZE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: _jobs_pb2.JobKind
    start_s: float
    end_s: float
    accelerators: int
    power_w: float
    work_accelerator_s: float
    resume_from_accelerator_s: float
    checkpoint_interval_s: float
    checkpoint_cost_s: float
    output_mb: float
    deadline_s: float
    gang_satellite_ids: _containers.RepeatedScalarFieldContainer[str]
    assignment_version: int
    checkpoint_times_s: _containers.RepeatedScalarFieldContainer[float]
    delivery_s: float
    gang_size: int
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[_jobs_pb2.JobKind, str]] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., accelerators: _Optional[int] = ..., power_w: _Optional[float] = ..., work_accelerator_s: _Optional[float] = ..., resume_from_accelerator_s: _Optional[float] = ..., checkpoint_interval_s: _Optional[float] = ..., checkpoint_cost_s: _Optional[float] = ..., output_mb: _Optional[float] = ..., deadline_s: _Optional[float] = ..., gang_satellite_ids: _Optional[_Iterable[str]] = ..., assignment_version: _Optional[int] = ..., checkpoint_times_s: _Optional[_Iterable[float]] = ..., delivery_s: _Optional[float] = ..., gang_size: _Optional[int] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("plan_version", "satellite_id", "created_s", "horizon_end_s", "entries", "contacts", "wall_queued_s", "wall_solved_s")
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_S_FIELD_NUMBER: _ClassVar[int]
    HORIZON_END_S_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    WALL_QUEUED_S_FIELD_NUMBER: _ClassVar[int]
    WALL_SOLVED_S_FIELD_NUMBER: _ClassVar[int]
    plan_version: int
    satellite_id: str
    created_s: float
    horizon_end_s: float
    entries: _containers.RepeatedCompositeFieldContainer[PlanEntry]
    contacts: _containers.RepeatedCompositeFieldContainer[Window]
    wall_queued_s: float
    wall_solved_s: float
    def __init__(self, plan_version: _Optional[int] = ..., satellite_id: _Optional[str] = ..., created_s: _Optional[float] = ..., horizon_end_s: _Optional[float] = ..., entries: _Optional[_Iterable[_Union[PlanEntry, _Mapping]]] = ..., contacts: _Optional[_Iterable[_Union[Window, _Mapping]]] = ..., wall_queued_s: _Optional[float] = ..., wall_solved_s: _Optional[float] = ...) -> None: ...

class CancelJob(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Drain(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class LinkDown(_message.Message):
    __slots__ = ("next_contact_start_s", "clock")
    NEXT_CONTACT_START_S_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    next_contact_start_s: float
    clock: Clock
    def __init__(self, next_contact_start_s: _Optional[float] = ..., clock: _Optional[_Union[Clock, _Mapping]] = ...) -> None: ...

class SchedulerMessage(_message.Message):
    __slots__ = ("welcome", "plan", "cancel", "drain", "link_down", "heartbeat_ack", "elements")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    LINK_DOWN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_ACK_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    plan: Plan
    cancel: CancelJob
    drain: Drain
    link_down: LinkDown
    heartbeat_ack: HeartbeatAck
    elements: SatelliteConfig
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ..., cancel: _Optional[_Union[CancelJob, _Mapping]] = ..., drain: _Optional[_Union[Drain, _Mapping]] = ..., link_down: _Optional[_Union[LinkDown, _Mapping]] = ..., heartbeat_ack: _Optional[_Union[HeartbeatAck, _Mapping]] = ..., elements: _Optional[_Union[SatelliteConfig, _Mapping]] = ...) -> None: ...
