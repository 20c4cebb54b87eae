"""Validation at the boundary, alone: job specs (defaults, messages) and agent telemetry."""

from __future__ import annotations

import math

import grpc
import pytest
from orbitalsched.v1 import agent_pb2, jobs_pb2

from scheduler.server.validate import (
    Limits,
    RequestError,
    job_spec_from_pb,
    job_specs_from_pb,
    telemetry_problem,
)

J = jobs_pb2
LIMITS = Limits(n_satellites=30, max_accelerators=4, max_power_w=3100.0)


def test_defaults_are_filled_in() -> None:
    spec = job_spec_from_pb(
        J.JobSpec(kind=J.JOB_KIND_TRAINING, work_accelerator_s=7200, accelerators=2, gang_size=2),
        0.0,
        LIMITS,
    )
    assert spec.job_id.startswith("train-") and spec.priority == 0
    assert (spec.checkpoint_interval_s, spec.checkpoint_cost_s) == (900.0, 60.0)
    inf = job_spec_from_pb(
        J.JobSpec(kind=J.JOB_KIND_INFERENCE, work_accelerator_s=10, accelerators=1), 0.0, LIMITS
    )
    assert inf.priority == 1 and inf.gang_size == 1 and inf.deadline_s is None


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        (
            J.JobSpec(kind=J.JOB_KIND_INFERENCE, work_accelerator_s=math.inf, accelerators=1),
            "work_accelerator_s: must be a finite number",
        ),
        (
            J.JobSpec(
                kind=J.JOB_KIND_INFERENCE, work_accelerator_s=1, accelerators=1, power_w=5000
            ),
            "power_w: 5000 is more than the limit 3100",
        ),
        (
            J.JobSpec(kind=J.JOB_KIND_INFERENCE, work_accelerator_s=1, accelerators=1, gang_size=2),
            "inference jobs run on one satellite",
        ),
        (
            J.JobSpec(kind=J.JOB_KIND_INFERENCE, work_accelerator_s=1, accelerators=0),
            "accelerators: must be at least 1",
        ),
        (
            J.JobSpec(
                kind=J.JOB_KIND_INFERENCE,
                work_accelerator_s=1,
                accelerators=1,
                labels={"k" * 65: "v"},
            ),
            "labels: keys must be 1-64 characters",
        ),
    ],
)
def test_bad_specs_say_what_to_fix(spec: J.JobSpec, needle: str) -> None:
    with pytest.raises(RequestError) as err:
        job_spec_from_pb(spec, 1000.0, LIMITS)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in err.value.message


def test_batch_limits() -> None:
    with pytest.raises(RequestError, match="the batch is empty"):
        job_specs_from_pb([], 0.0, LIMITS)
    dup = [
        J.JobSpec(job_id="x", kind=J.JOB_KIND_INFERENCE, work_accelerator_s=1, accelerators=1)
    ] * 2
    with pytest.raises(RequestError, match=r"jobs\[1\]: job_id 'x' appears twice"):
        job_specs_from_pb(dup, 0.0, LIMITS)


def test_telemetry_checks() -> None:
    good = agent_pb2.Telemetry(
        time_s=1.0,
        battery_soc_wh=1000,
        battery_capacity_wh=2200,
        temperature_c=40,
        power_generated_w=3000,
        power_drawn_w=500,
        sunlit_fraction=1.0,
    )
    assert telemetry_problem(good) == ""
    for field, value in (
        ("battery_soc_wh", math.nan),
        ("battery_soc_wh", 5000.0),
        ("sunlit_fraction", 1.5),
        ("temperature_c", 900.0),
        ("power_drawn_w", -1.0),
    ):
        bad = agent_pb2.Telemetry()
        bad.CopyFrom(good)
        setattr(bad, field, value)
        assert telemetry_problem(bad), field


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (math.nan, "value: must be a finite number"),
        (-1.0, "value: must be 0 or more"),
        (1e9, "value: 1e+09 is more than the limit"),
    ],
)
def test_job_value_is_checked_and_defaults_to_one(value: float, needle: str) -> None:
    base = dict(kind=J.JOB_KIND_INFERENCE, work_accelerator_s=10, accelerators=1)
    assert job_spec_from_pb(J.JobSpec(**base), 0.0, LIMITS).value == 1.0  # type: ignore[arg-type]
    assert job_spec_from_pb(J.JobSpec(value=2.5, **base), 0.0, LIMITS).value == 2.5  # type: ignore[arg-type]
    with pytest.raises(RequestError) as err:
        job_spec_from_pb(J.JobSpec(value=value, **base), 0.0, LIMITS)  # type: ignore[arg-type]
    assert needle in err.value.message
