"""Bad job specifications are rejected with an error naming the field."""

from __future__ import annotations

import math

import pytest
from planner_cases import T0, problem, ring

from scheduler.planner import InferenceJob, JobSpecError, TrainingJob, validate_job
from scheduler.planner.solve import plan


def _inference(**kw: object) -> InferenceJob:
    base: dict[str, object] = dict(
        job_id="j", submit_s=T0, deadline_s=T0 + 3600, work_acc_s=600.0, accelerators=1
    )
    base.update(kw)
    return InferenceJob(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"work_acc_s": -5.0}, "work_acc_s"),
        ({"work_acc_s": 0.0}, "work_acc_s"),
        ({"work_acc_s": math.nan}, "work_acc_s"),
        ({"accelerators": 0}, "accelerators"),
        ({"accelerators": 1.5}, "accelerators"),
        ({"deadline_s": T0 - 1}, "deadline_s"),
        ({"output_mb": -1.0}, "output_mb"),
        ({"value": -2.0}, "value"),
        ({"job_id": ""}, "job_id"),
        ({"priority": 7}, "priority"),
    ],
)
def test_bad_inference_specs_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(JobSpecError) as info:
        validate_job(_inference(**kw))
    assert info.value.field == field
    assert field in str(info.value)
    assert isinstance(info.value, ValueError)


def test_gang_larger_than_constellation() -> None:
    job = TrainingJob("t", T0, gang_size=5, accelerators_per_member=2, work_acc_s=36000.0)
    validate_job(job)  # fine on its own
    with pytest.raises(JobSpecError, match=r"gang_size.*larger than the constellation"):
        validate_job(job, n_satellites=4)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"work_acc_s": -1.0}, "work_acc_s"),
        ({"accelerators_per_member": 0}, "accelerators_per_member"),
        ({"checkpoint_cost_s": 900.0}, "checkpoint_cost_s"),
        ({"checkpoint_interval_s": 0.0}, "checkpoint_interval_s"),
        ({"gang_size": 0}, "gang_size"),
    ],
)
def test_bad_training_specs_name_the_field(kw: dict[str, object], field: str) -> None:
    base: dict[str, object] = dict(
        job_id="t", submit_s=T0, gang_size=2, accelerators_per_member=2, work_acc_s=36000.0
    )
    base.update(kw)
    with pytest.raises(JobSpecError) as info:
        validate_job(TrainingJob(**base))  # type: ignore[arg-type]
    assert info.value.field == field


def test_plan_rejects_bad_and_duplicate_jobs_before_planning() -> None:
    sats = ring(3, 20)
    with pytest.raises(JobSpecError, match="gang_size"):
        plan(problem(sats, [TrainingJob("t", T0, 4, 1, 3600.0)], 20), time_limit_s=1)
    with pytest.raises(JobSpecError, match="duplicate"):
        plan(problem(sats, [_inference(), _inference()], 20), time_limit_s=1)
