"""The planner: which job runs on which satellite, and when (see README.md).

`plan`, `solve`, `build_model` and `greedy_plan` are imported lazily: importing this package
(for its dataclasses) does not load OR-Tools, which must not share a process with
grpc_tools.protoc (DESIGN.md section 9).
"""

from typing import Any

from scheduler.planner.domain import (
    ContactWindow,
    InferenceJob,
    Job,
    Plan,
    PlanItem,
    PlanResult,
    Priority,
    Problem,
    RunningJob,
    Satellite,
    SatelliteForecast,
    SatelliteState,
    TrainingJob,
    TrainingProgress,
    Unplaced,
    Violation,
    Weights,
)
from scheduler.planner.validation import JobSpecError, validate_job, validate_problem
from scheduler.planner.validator import validate_plan

_LAZY = {
    "plan": "scheduler.planner.solve",
    "solve": "scheduler.planner.solve",
    "greedy_plan": "scheduler.planner.solve",
    "build_model": "scheduler.planner.cpsat_model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scheduler.planner' has no attribute {name!r}")


__all__ = [
    "ContactWindow",
    "InferenceJob",
    "Job",
    "JobSpecError",
    "Plan",
    "PlanItem",
    "PlanResult",
    "Priority",
    "Problem",
    "RunningJob",
    "Satellite",
    "SatelliteForecast",
    "SatelliteState",
    "TrainingJob",
    "TrainingProgress",
    "Unplaced",
    "Violation",
    "Weights",
    "build_model",
    "greedy_plan",
    "plan",
    "solve",
    "validate_job",
    "validate_plan",
    "validate_problem",
]
