from orbitalsched.v1 import agent_pb2 as _agent_pb2
from orbitalsched.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Satellite(_message.Message):
    __slots__ = ("satellite_id", "plane", "connected", "lost", "cordoned", "draining", "telemetry", "wall_last_seen_s", "applied_plan_version", "next_contact", "accelerators")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    PLANE_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    CORDONED_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_FIELD_NUMBER: _ClassVar[int]
    WALL_LAST_SEEN_S_FIELD_NUMBER: _ClassVar[int]
    APPLIED_PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEXT_CONTACT_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    plane: int
    connected: bool
    lost: bool
    cordoned: bool
    draining: bool
    telemetry: _agent_pb2.Telemetry
    wall_last_seen_s: float
    applied_plan_version: int
    next_contact: _agent_pb2.Window
    accelerators: int
    def __init__(self, satellite_id: _Optional[str] = ..., plane: _Optional[int] = ..., connected: _Optional[bool] = ..., lost: _Optional[bool] = ..., cordoned: _Optional[bool] = ..., draining: _Optional[bool] = ..., telemetry: _Optional[_Union[_agent_pb2.Telemetry, _Mapping]] = ..., wall_last_seen_s: _Optional[float] = ..., applied_plan_version: _Optional[int] = ..., next_contact: _Optional[_Union[_agent_pb2.Window, _Mapping]] = ..., accelerators: _Optional[int] = ...) -> None: ...

class ListSatellitesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSatellitesResponse(_message.Message):
    __slots__ = ("satellites", "now_s", "clock")
    SATELLITES_FIELD_NUMBER: _ClassVar[int]
    NOW_S_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    satellites: _containers.RepeatedCompositeFieldContainer[Satellite]
    now_s: float
    clock: _agent_pb2.Clock
    def __init__(self, satellites: _Optional[_Iterable[_Union[Satellite, _Mapping]]] = ..., now_s: _Optional[float] = ..., clock: _Optional[_Union[_agent_pb2.Clock, _Mapping]] = ...) -> None: ...

class GetForecastRequest(_message.Message):
    __slots__ = ("satellite_id", "start_s", "duration_s")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    start_s: float
    duration_s: float
    def __init__(self, satellite_id: _Optional[str] = ..., start_s: _Optional[float] = ..., duration_s: _Optional[float] = ...) -> None: ...

class GetForecastResponse(_message.Message):
    __slots__ = ("satellite_id", "eclipses", "contacts", "start_s", "end_s", "budget", "budget_step_s", "headroom_interval_s", "battery_capacity_wh", "battery_floor_wh", "max_temperature_c")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    ECLIPSES_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    BUDGET_STEP_S_FIELD_NUMBER: _ClassVar[int]
    HEADROOM_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    BATTERY_CAPACITY_WH_FIELD_NUMBER: _ClassVar[int]
    BATTERY_FLOOR_WH_FIELD_NUMBER: _ClassVar[int]
    MAX_TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    eclipses: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Window]
    contacts: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Window]
    start_s: float
    end_s: float
    budget: _containers.RepeatedCompositeFieldContainer[BudgetSlot]
    budget_step_s: float
    headroom_interval_s: float
    battery_capacity_wh: float
    battery_floor_wh: float
    max_temperature_c: float
    def __init__(self, satellite_id: _Optional[str] = ..., eclipses: _Optional[_Iterable[_Union[_agent_pb2.Window, _Mapping]]] = ..., contacts: _Optional[_Iterable[_Union[_agent_pb2.Window, _Mapping]]] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., budget: _Optional[_Iterable[_Union[BudgetSlot, _Mapping]]] = ..., budget_step_s: _Optional[float] = ..., headroom_interval_s: _Optional[float] = ..., battery_capacity_wh: _Optional[float] = ..., battery_floor_wh: _Optional[float] = ..., max_temperature_c: _Optional[float] = ...) -> None: ...

class BudgetSlot(_message.Message):
    __slots__ = ("start_s", "sunlit_fraction", "generation_w", "load_w", "soc_wh", "temperature_c", "thermal_headroom_w")
    START_S_FIELD_NUMBER: _ClassVar[int]
    SUNLIT_FRACTION_FIELD_NUMBER: _ClassVar[int]
    GENERATION_W_FIELD_NUMBER: _ClassVar[int]
    LOAD_W_FIELD_NUMBER: _ClassVar[int]
    SOC_WH_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    THERMAL_HEADROOM_W_FIELD_NUMBER: _ClassVar[int]
    start_s: float
    sunlit_fraction: float
    generation_w: float
    load_w: float
    soc_wh: float
    temperature_c: float
    thermal_headroom_w: float
    def __init__(self, start_s: _Optional[float] = ..., sunlit_fraction: _Optional[float] = ..., generation_w: _Optional[float] = ..., load_w: _Optional[float] = ..., soc_wh: _Optional[float] = ..., temperature_c: _Optional[float] = ..., thermal_headroom_w: _Optional[float] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("job_id", "satellite_ids", "start_s", "end_s", "assignment_version")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SATELLITE_IDS_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    satellite_ids: _containers.RepeatedScalarFieldContainer[str]
    start_s: float
    end_s: float
    assignment_version: int
    def __init__(self, job_id: _Optional[str] = ..., satellite_ids: _Optional[_Iterable[str]] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ..., assignment_version: _Optional[int] = ...) -> None: ...

class Unplaced(_message.Message):
    __slots__ = ("job_id", "reason", "code")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    code: _jobs_pb2.ReasonCode
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ..., code: _Optional[_Union[_jobs_pb2.ReasonCode, str]] = ...) -> None: ...

class PlanSummary(_message.Message):
    __slots__ = ("plan_version", "created_s", "horizon_start_s", "horizon_end_s", "objective", "best_bound", "gap_ratio", "solver_status", "solve_duration_s", "trigger", "assignments", "unplaced")
    PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_S_FIELD_NUMBER: _ClassVar[int]
    HORIZON_START_S_FIELD_NUMBER: _ClassVar[int]
    HORIZON_END_S_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    BEST_BOUND_FIELD_NUMBER: _ClassVar[int]
    GAP_RATIO_FIELD_NUMBER: _ClassVar[int]
    SOLVER_STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLVE_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    UNPLACED_FIELD_NUMBER: _ClassVar[int]
    plan_version: int
    created_s: float
    horizon_start_s: float
    horizon_end_s: float
    objective: float
    best_bound: float
    gap_ratio: float
    solver_status: str
    solve_duration_s: float
    trigger: str
    assignments: _containers.RepeatedCompositeFieldContainer[Assignment]
    unplaced: _containers.RepeatedCompositeFieldContainer[Unplaced]
    def __init__(self, plan_version: _Optional[int] = ..., created_s: _Optional[float] = ..., horizon_start_s: _Optional[float] = ..., horizon_end_s: _Optional[float] = ..., objective: _Optional[float] = ..., best_bound: _Optional[float] = ..., gap_ratio: _Optional[float] = ..., solver_status: _Optional[str] = ..., solve_duration_s: _Optional[float] = ..., trigger: _Optional[str] = ..., assignments: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., unplaced: _Optional[_Iterable[_Union[Unplaced, _Mapping]]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: PlanSummary
    def __init__(self, plan: _Optional[_Union[PlanSummary, _Mapping]] = ...) -> None: ...

class CordonRequest(_message.Message):
    __slots__ = ("satellite_id", "cordoned")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    CORDONED_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    cordoned: bool
    def __init__(self, satellite_id: _Optional[str] = ..., cordoned: _Optional[bool] = ...) -> None: ...

class CordonResponse(_message.Message):
    __slots__ = ("satellite",)
    SATELLITE_FIELD_NUMBER: _ClassVar[int]
    satellite: Satellite
    def __init__(self, satellite: _Optional[_Union[Satellite, _Mapping]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("satellite_id", "reason")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    reason: str
    def __init__(self, satellite_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("satellite",)
    SATELLITE_FIELD_NUMBER: _ClassVar[int]
    satellite: Satellite
    def __init__(self, satellite: _Optional[_Union[Satellite, _Mapping]] = ...) -> None: ...

class StationOutage(_message.Message):
    __slots__ = ("station", "start_s", "end_s")
    STATION_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    END_S_FIELD_NUMBER: _ClassVar[int]
    station: str
    start_s: float
    end_s: float
    def __init__(self, station: _Optional[str] = ..., start_s: _Optional[float] = ..., end_s: _Optional[float] = ...) -> None: ...

class WhatIfRequest(_message.Message):
    __slots__ = ("stations_down", "satellites_lost", "submit", "time_limit_s")
    STATIONS_DOWN_FIELD_NUMBER: _ClassVar[int]
    SATELLITES_LOST_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_S_FIELD_NUMBER: _ClassVar[int]
    stations_down: _containers.RepeatedCompositeFieldContainer[StationOutage]
    satellites_lost: _containers.RepeatedScalarFieldContainer[str]
    submit: _containers.RepeatedCompositeFieldContainer[_jobs_pb2.JobSpec]
    time_limit_s: float
    def __init__(self, stations_down: _Optional[_Iterable[_Union[StationOutage, _Mapping]]] = ..., satellites_lost: _Optional[_Iterable[str]] = ..., submit: _Optional[_Iterable[_Union[_jobs_pb2.JobSpec, _Mapping]]] = ..., time_limit_s: _Optional[float] = ...) -> None: ...

class JobChange(_message.Message):
    __slots__ = ("job_id", "kind", "before", "after", "code", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: str
    before: str
    after: str
    code: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ..., code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WhatIfResponse(_message.Message):
    __slots__ = ("hypothesis", "changes", "value_before", "value_after", "solver_status", "solve_duration_s", "based_on_plan_version")
    HYPOTHESIS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    VALUE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    VALUE_AFTER_FIELD_NUMBER: _ClassVar[int]
    SOLVER_STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLVE_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    BASED_ON_PLAN_VERSION_FIELD_NUMBER: _ClassVar[int]
    hypothesis: str
    changes: _containers.RepeatedCompositeFieldContainer[JobChange]
    value_before: float
    value_after: float
    solver_status: str
    solve_duration_s: float
    based_on_plan_version: int
    def __init__(self, hypothesis: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[JobChange, _Mapping]]] = ..., value_before: _Optional[float] = ..., value_after: _Optional[float] = ..., solver_status: _Optional[str] = ..., solve_duration_s: _Optional[float] = ..., based_on_plan_version: _Optional[int] = ...) -> None: ...

class UpdateElementsRequest(_message.Message):
    __slots__ = ("tle_text",)
    TLE_TEXT_FIELD_NUMBER: _ClassVar[int]
    tle_text: str
    def __init__(self, tle_text: _Optional[str] = ...) -> None: ...

class ElementSet(_message.Message):
    __slots__ = ("satellite_id", "tle_line1", "tle_line2", "epoch_s")
    SATELLITE_ID_FIELD_NUMBER: _ClassVar[int]
    TLE_LINE1_FIELD_NUMBER: _ClassVar[int]
    TLE_LINE2_FIELD_NUMBER: _ClassVar[int]
    EPOCH_S_FIELD_NUMBER: _ClassVar[int]
    satellite_id: str
    tle_line1: str
    tle_line2: str
    epoch_s: float
    def __init__(self, satellite_id: _Optional[str] = ..., tle_line1: _Optional[str] = ..., tle_line2: _Optional[str] = ..., epoch_s: _Optional[float] = ...) -> None: ...

class UpdateElementsResponse(_message.Message):
    __slots__ = ("updated", "warnings")
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    updated: _containers.RepeatedCompositeFieldContainer[ElementSet]
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, updated: _Optional[_Iterable[_Union[ElementSet, _Mapping]]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class ReplanRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class ReplanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: PlanSummary
    def __init__(self, plan: _Optional[_Union[PlanSummary, _Mapping]] = ...) -> None: ...
