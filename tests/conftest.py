"""Shared fixtures and builders: the orbitctl command line, job specs (protobuf for clients,
model for the server's own tests), and the scheduler's core without gRPC (`core`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from orbitalsched.v1 import jobs_pb2

from scheduler.forecast.timeconv import SimClock
from scheduler.scenario import load_scenario
from scheduler.server.app import Core, ServerConfig, build_core
from scheduler.server.model import Job, JobKindName, JobSpec, JobState
from scheduler.server.replanner import ReplanConfig

REPO = Path(__file__).resolve().parent.parent
ORBITCTL = [sys.executable, "-m", "scheduler.cli"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


# --- job specs -----------------------------------------------------------------------------
def inference_pb(
    job_id: str,
    now_s: float,
    work_s: float = 1200.0,
    acc: int = 1,
    output_mb: float = 100.0,
    deadline_in_s: float | None = 7200.0,
    **kw: Any,
) -> jobs_pb2.JobSpec:
    """An inference JobSpec as a client sends it (deadline_in_s None: no deadline)."""
    if deadline_in_s is not None:
        kw["deadline_s"] = now_s + deadline_in_s
    return jobs_pb2.JobSpec(
        job_id=job_id,
        kind=jobs_pb2.JOB_KIND_INFERENCE,
        work_accelerator_s=work_s,
        accelerators=acc,
        output_mb=output_mb,
        **kw,
    )


def training_pb(
    job_id: str,
    work_s: float = 8 * 3600.0,
    acc: int = 2,
    gang: int = 1,
    checkpoint_interval_s: float = 600.0,
    checkpoint_cost_s: float = 30.0,
    **kw: Any,
) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(
        job_id=job_id,
        kind=jobs_pb2.JOB_KIND_TRAINING,
        work_accelerator_s=work_s,
        accelerators=acc,
        gang_size=gang,
        checkpoint_interval_s=checkpoint_interval_s,
        checkpoint_cost_s=checkpoint_cost_s,
        **kw,
    )


def model_spec(
    job_id: str,
    kind: JobKindName = "inference",
    work_s: float = 3600.0,
    acc: int = 2,
    gang: int | None = None,
    **kw: Any,
) -> JobSpec:
    """A validated JobSpec as the server keeps it (gang: 2 for training unless given)."""
    if kind == "training":
        kw.setdefault("checkpoint_interval_s", 900.0)
        kw.setdefault("checkpoint_cost_s", 60.0)
    return JobSpec(
        job_id=job_id,
        kind=kind,
        priority=kw.pop("priority", 1),
        work_acc_s=work_s,
        accelerators=acc,
        gang_size=gang if gang is not None else (2 if kind == "training" else 1),
        **kw,
    )


def model_job(
    job_id: str,
    kind: JobKindName = "inference",
    submit_s: float = 1000.0,
    state: JobState = JobState.PENDING,
    **kw: Any,
) -> Job:
    return Job(spec=model_spec(job_id, kind, **kw), state=state, submit_time_s=submit_s)


# --- the scheduler without gRPC ------------------------------------------------------------
class ManualClock(SimClock):
    """Simulation time that moves only when the test says so (advance)."""

    def __init__(self, now_s: float, speed: float = 60.0) -> None:
        super().__init__(now_s, 0.0, speed)

    def now_s(self) -> float:
        return self.sim_epoch_s

    def advance(self, dt_s: float) -> None:
        object.__setattr__(self, "sim_epoch_s", self.sim_epoch_s + dt_s)


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    """The scheduler's core on the first 3 satellites of the default scenario, a database in
    tmp_path, a manual clock at the scenario epoch and an in-process solver: no processes,
    no sockets."""
    config = ServerConfig(
        db=str(tmp_path / "core.db"),
        satellites=3,
        replan=ReplanConfig(in_process=True, time_limit_s=2.0),
    )
    c = build_core(config, clock=ManualClock(load_scenario(None).epoch_s))
    yield c
    c.replanner.close()
    c.store.close()
