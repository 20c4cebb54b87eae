from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_KIND_UNSPECIFIED: _ClassVar[JobKind]
    JOB_KIND_INFERENCE: _ClassVar[JobKind]
    JOB_KIND_TRAINING: _ClassVar[JobKind]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_PENDING: _ClassVar[JobState]
    JOB_STATE_PLANNED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_CHECKPOINTED: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class JobPriority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_PRIORITY_UNSPECIFIED: _ClassVar[JobPriority]
    JOB_PRIORITY_BATCH: _ClassVar[JobPriority]
    JOB_PRIORITY_STANDARD: _ClassVar[JobPriority]
    JOB_PRIORITY_CRITICAL: _ClassVar[JobPriority]

class ReasonCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_CODE_UNSPECIFIED: _ClassVar[ReasonCode]
    REASON_CODE_BATTERY: _ClassVar[ReasonCode]
    REASON_CODE_THERMAL: _ClassVar[ReasonCode]
    REASON_CODE_ACCELERATORS: _ClassVar[ReasonCode]
    REASON_CODE_DOWNLINK_VOLUME: _ClassVar[ReasonCode]
    REASON_CODE_GANG: _ClassVar[ReasonCode]
    REASON_CODE_NO_CONTACT: _ClassVar[ReasonCode]
    REASON_CODE_DEADLINE: _ClassVar[ReasonCode]
    REASON_CODE_HORIZON: _ClassVar[ReasonCode]
    REASON_CODE_CAPACITY: _ClassVar[ReasonCode]
    REASON_CODE_NO_CANDIDATE_SATELLITE: _ClassVar[ReasonCode]
    REASON_CODE_DONE: _ClassVar[ReasonCode]
JOB_KIND_UNSPECIFIED: JobKind
JOB_KIND_INFERENCE: JobKind
JOB_KIND_TRAINING: JobKind
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_PENDING: JobState
JOB_STATE_PLANNED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_CHECKPOINTED: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
JOB_PRIORITY_UNSPECIFIED: JobPriority
JOB_PRIORITY_BATCH: JobPriority
JOB_PRIORITY_STANDARD: JobPriority
JOB_PRIORITY_CRITICAL: JobPriority
REASON_CODE_UNSPECIFIED: ReasonCode
REASON_CODE_BATTERY: ReasonCode
REASON_CODE_THERMAL: ReasonCode
REASON_CODE_ACCELERATORS: ReasonCode
REASON_CODE_DOWNLINK_VOLUME: ReasonCode
REASON_CODE_GANG: ReasonCode
REASON_CODE_NO_CONTACT: ReasonCode
REASON_CODE_DEADLINE: ReasonCode
REASON_CODE_HORIZON: ReasonCode
REASON_CODE_CAPACITY: ReasonCode
REASON_CODE_NO_CANDIDATE_SATELLITE: ReasonCode
REASON_CODE_DONE: ReasonCode

class JobSpec(_message.Message):
    __slots__ = ("job_id", "kind", "priority", "work_accelerator_s", "accelerators", "power_w", "input_mb", "output_mb", "deadline_s", "gang_size", "checkpoint_interval_s", "checkpoint_cost_s", "labels", "value")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WORK_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    INPUT_MB_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MB_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    GANG_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_COST_S_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: JobKind
    priority: JobPriority
    work_accelerator_s: float
    accelerators: int
    power_w: float
    input_mb: float
    output_mb: float
    deadline_s: float
    gang_size: int
    checkpoint_interval_s: float
    checkpoint_cost_s: float
    labels: _containers.ScalarMap[str, str]
    value: float
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[JobKind, str]] = ..., priority: _Optional[_Union[JobPriority, str]] = ..., work_accelerator_s: _Optional[float] = ..., accelerators: _Optional[int] = ..., power_w: _Optional[float] = ..., input_mb: _Optional[float] = ..., output_mb: _Optional[float] = ..., deadline_s: _Optional[float] = ..., gang_size: _Optional[int] = ..., checkpoint_interval_s: _Optional[float] = ..., checkpoint_cost_s: _Optional[float] = ..., labels: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("spec", "state", "reason", "submit_time_s", "start_time_s", "end_time_s", "satellite_ids", "planned_start_s", "planned_end_s", "done_accelerator_s", "checkpoint_accelerator_s", "assignment_version", "preemptions", "submitted_by", "reason_code", "compacted_time_s")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_TIME_S_FIELD_NUMBER: _ClassVar[int]
    START_TIME_S_FIELD_NUMBER: _ClassVar[int]
    END_TIME_S_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_IDS_FIELD_NUMBER: _ClassVar[int]
    PLANNED_START_S_FIELD_NUMBER: _ClassVar[int]
    PLANNED_END_S_FIELD_NUMBER: _ClassVar[int]
    DONE_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ACCELERATOR_S_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_TIME_S_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    state: JobState
    reason: str
    submit_time_s: float
    start_time_s: float
    end_time_s: float
    satellite_ids: _containers.RepeatedScalarFieldContainer[str]
    planned_start_s: float
    planned_end_s: float
    done_accelerator_s: float
    checkpoint_accelerator_s: float
    assignment_version: int
    preemptions: int
    submitted_by: str
    reason_code: ReasonCode
    compacted_time_s: float
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., reason: _Optional[str] = ..., submit_time_s: _Optional[float] = ..., start_time_s: _Optional[float] = ..., end_time_s: _Optional[float] = ..., satellite_ids: _Optional[_Iterable[str]] = ..., planned_start_s: _Optional[float] = ..., planned_end_s: _Optional[float] = ..., done_accelerator_s: _Optional[float] = ..., checkpoint_accelerator_s: _Optional[float] = ..., assignment_version: _Optional[int] = ..., preemptions: _Optional[int] = ..., submitted_by: _Optional[str] = ..., reason_code: _Optional[_Union[ReasonCode, str]] = ..., compacted_time_s: _Optional[float] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("job", "request_id")
    JOB_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job: JobSpec
    request_id: str
    def __init__(self, job: _Optional[_Union[JobSpec, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class SubmitJobsRequest(_message.Message):
    __slots__ = ("jobs", "request_id")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobSpec]
    request_id: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobSpec, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitJobsResponse(_message.Message):
    __slots__ = ("job_ids",)
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id", "include_events")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    include_events: bool
    def __init__(self, job_id: _Optional[str] = ..., include_events: _Optional[bool] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job", "events")
    JOB_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    job: Job
    events: _containers.RepeatedCompositeFieldContainer[JobEvent]
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., events: _Optional[_Iterable[_Union[JobEvent, _Mapping]]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "kinds", "satellite_id", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    kinds: _containers.RepeatedScalarFieldContainer[JobKind]
    satellite_id: str
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., kinds: _Optional[_Iterable[_Union[JobKind, str]]] = ..., satellite_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class WatchJobsRequest(_message.Message):
    __slots__ = ("job_ids", "send_initial")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    SEND_INITIAL_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    send_initial: bool
    def __init__(self, job_ids: _Optional[_Iterable[str]] = ..., send_initial: _Optional[bool] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job", "time_s", "what", "principal", "state", "reason")
    JOB_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    WHAT_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job: Job
    time_s: float
    what: str
    principal: str
    state: JobState
    reason: str
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., time_s: _Optional[float] = ..., what: _Optional[str] = ..., principal: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ExplainJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Suggestion(_message.Message):
    __slots__ = ("change", "satellite_id", "start_s", "spec", "uncordon")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    UNCORDON_FIELD_NUMBER: _ClassVar[int]
    change: str
    satellite_id: str
    start_s: float
    spec: JobSpec
    uncordon: str
    def __init__(self, change: _Optional[str] = ..., satellite_id: _Optional[str] = ..., start_s: _Optional[float] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., uncordon: _Optional[str] = ...) -> None: ...

class ExplainJobResponse(_message.Message):
    __slots__ = ("job_id", "state", "placed", "code", "reason", "suggestions", "satellite_ids", "start_s", "end_s", "value", "station", "delivery_s", "displaced", "plan_version")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_IDS_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STATION_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_S_FIELD_NUMBER: _ClassVar[int]
    DISPLACED_FIELD_NUMBER: _ClassVar[int]
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: JobState
    placed: bool
    code: str
    reason: str
    suggestions: _containers.RepeatedCompositeFieldContainer[Suggestion]
    satellite_ids: _containers.RepeatedScalarFieldContainer[str]
    start_s: float
    end_s: float
    value: float
    station: str
    delivery_s: float
    displaced: _containers.RepeatedScalarFieldContainer[str]
    plan_version: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., placed: _Optional[bool] = ..., code: _Optional[str] = ..., reason: _Optional[str] = ..., suggestions: _Optional[_Iterable[_Union[Suggestion, _Mapping]]] = ..., satellite_ids: _Optional[_Iterable[str]] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., value: _Optional[float] = ..., station: _Optional[str] = ..., delivery_s: _Optional[float] = ..., displaced: _Optional[_Iterable[str]] = ..., plan_version: _Optional[int] = ...) -> None: ...
