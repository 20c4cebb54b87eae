"""Validation of job specifications and problems: bad input raises JobSpecError naming the
field, before anything is planned."""

from __future__ import annotations

import math

from scheduler.planner.domain import InferenceJob, Job, Priority, Problem, TrainingJob


class JobSpecError(ValueError):
    """A job specification a person must fix; `field` names the offending field."""

    def __init__(self, job_id: str, field: str, message: str) -> None:
        super().__init__(f"job {job_id!r}: {field}: {message}")
        self.job_id = job_id
        self.field = field


def _finite(job: Job, name: str) -> float:
    value = getattr(job, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JobSpecError(job.job_id, name, f"expected a finite number, got {value!r}")
    return float(value)


def _positive(job: Job, name: str) -> float:
    value = _finite(job, name)
    if value <= 0:
        raise JobSpecError(job.job_id, name, f"must be positive, got {value!r}")
    return value


def _non_negative(job: Job, name: str) -> float:
    value = _finite(job, name)
    if value < 0:
        raise JobSpecError(job.job_id, name, f"must not be negative, got {value!r}")
    return value


def _whole(job: Job, name: str) -> int:
    value = getattr(job, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JobSpecError(job.job_id, name, f"must be a whole number >= 1, got {value!r}")
    return value


def validate_job(job: Job, n_satellites: int | None = None) -> None:
    """Raise JobSpecError if the job cannot make sense on any constellation (or, given
    n_satellites, on this one)."""
    if not isinstance(job.job_id, str) or not job.job_id.strip():
        raise JobSpecError(str(job.job_id), "job_id", "must be a non-empty string")
    if not isinstance(job.priority, int) or job.priority not in tuple(Priority):
        raise JobSpecError(job.job_id, "priority", f"unknown priority {job.priority!r}")
    submit_s = _finite(job, "submit_s")
    if isinstance(job, InferenceJob):
        _positive(job, "work_acc_s")
        _whole(job, "accelerators")
        deadline_s = _finite(job, "deadline_s")
        if deadline_s <= submit_s:
            raise JobSpecError(job.job_id, "deadline_s", "deadline is not after the submit time")
        if job.power_w is not None:
            _non_negative(job, "power_w")
        _non_negative(job, "input_mb")
        _non_negative(job, "output_mb")
        _non_negative(job, "value")
    elif isinstance(job, TrainingJob):
        gang = _whole(job, "gang_size")
        _whole(job, "accelerators_per_member")
        _positive(job, "work_acc_s")
        interval_s = _positive(job, "checkpoint_interval_s")
        cost_s = _non_negative(job, "checkpoint_cost_s")
        if cost_s >= interval_s:
            raise JobSpecError(
                job.job_id, "checkpoint_cost_s", "must be shorter than checkpoint_interval_s"
            )
        _non_negative(job, "value_per_acc_h")
        if job.power_w_per_member is not None:
            _non_negative(job, "power_w_per_member")
        if job.deadline_s is not None and _finite(job, "deadline_s") <= submit_s:
            raise JobSpecError(job.job_id, "deadline_s", "deadline is not after the submit time")
        if n_satellites is not None and gang > n_satellites:
            raise JobSpecError(
                job.job_id,
                "gang_size",
                f"gang of {gang} is larger than the constellation ({n_satellites} satellites)",
            )
    else:
        raise JobSpecError(str(getattr(job, "job_id", "?")), "kind", f"unknown job type {job!r}")


def validate_problem(problem: Problem) -> None:
    """Validate every job, unique ids, and forecast shapes."""
    seen: set[str] = set()
    for job in problem.jobs:
        validate_job(job, len(problem.satellites))
        if job.job_id in seen:
            raise JobSpecError(job.job_id, "job_id", "duplicate job id")
        seen.add(job.job_id)
    if problem.n_slots < 1 or problem.slot_s <= 0:
        raise ValueError("problem: n_slots and slot_s must be positive")
    names = {s.name for s in problem.satellites}
    if len(names) != len(problem.satellites):
        raise ValueError("problem: duplicate satellite names")
    for sat in problem.satellites:
        f = sat.forecast
        for arr_name in ("sunlit_fraction", "generation_w", "environment_heat_w"):
            if len(getattr(f, arr_name)) != problem.n_slots:
                raise ValueError(
                    f"problem: satellite {sat.name}: forecast {arr_name} has "
                    f"{len(getattr(f, arr_name))} values, expected n_slots={problem.n_slots}"
                )
        if sat.name not in problem.states:
            raise ValueError(f"problem: no reported state for satellite {sat.name}")
