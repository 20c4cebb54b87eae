"""Seeded workloads: the one generator of jobs for the simulator, the demo, `orbitctl submit
--generate` and the fidelity benchmark, as the scheduler's own job specs (server/model.py).

Sizes follow the default bus (4 H100-class accelerators per satellite): inference batches of
1, 2 or 4 accelerators for 10-40 minutes, inputs of 10-300 MB, outputs of 0.1-2 GB due
1-3 hours after submission; training runs of tens of accelerator-hours on gangs of 2-3 with
15-minute checkpoints. Value density (value per accelerator-hour) varies by a factor of
several between jobs, as prices of batch inference do, so choosing what to run matters.

Two arrival patterns draw from the same job distributions: `poisson_workload` (training
runs at the start, inference arriving over time, for the simulator and the benchmark) and
`batch_workload` (n jobs at once, for the demo and `submit --generate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.planner.domain import Priority
from scheduler.server.model import JobSpec

MEAN_INFERENCE_ACC_H = 0.8  # E[accelerators] ~1.9 x E[duration] 25 min
TRAINING_ACC_H = (20.0, 80.0)
TRAINING_ACCELERATORS_PER_MEMBER = 2
CHECKPOINT_INTERVAL_S = 900.0
CHECKPOINT_COST_S = 60.0


@dataclass(frozen=True)
class Arrival:
    """A job and the simulated time it is submitted at."""

    submit_s: float
    spec: JobSpec


def offered_rate_per_hour(total_accelerators: int, contention: float) -> float:
    """Inference arrivals per hour that offer `contention` times the fleet's accelerator
    hours (1.0 = exactly the fleet, if every accelerator ran all the time)."""
    return contention * total_accelerators / MEAN_INFERENCE_ACC_H


def training_spec(
    rng: np.random.Generator,
    job_id: str,
    max_gang: int = 3,
    work_acc_h: tuple[float, float] = TRAINING_ACC_H,
) -> JobSpec:
    gang = int(rng.integers(2, max_gang + 1))
    return JobSpec(
        job_id=job_id,
        kind="training",
        priority=int(Priority.BATCH),
        work_acc_s=float(rng.uniform(*work_acc_h)) * 3600.0,
        accelerators=TRAINING_ACCELERATORS_PER_MEMBER,
        gang_size=gang,
        checkpoint_interval_s=CHECKPOINT_INTERVAL_S,
        checkpoint_cost_s=CHECKPOINT_COST_S,
        value=float(rng.uniform(0.3, 0.6)),  # per accelerator-hour
        labels={"generated": "workload"},
    )


def inference_spec(rng: np.random.Generator, job_id: str, submit_s: float) -> JobSpec:
    """Due 1-3 hours after its computation could end if it started at submit_s."""
    acc = int(rng.choice([1, 2, 4], p=[0.45, 0.35, 0.2]))
    minutes = float(rng.uniform(10.0, 40.0))
    prio = int(rng.choice([0, 1, 2], p=[0.3, 0.6, 0.1]))
    density = float(rng.lognormal(0.0, 0.7))
    deadline_s = round(submit_s + minutes * 60.0 + rng.uniform(1.0, 3.0) * 3600.0, 3)
    return JobSpec(
        job_id=job_id,
        kind="inference",
        priority=prio,
        work_acc_s=acc * minutes * 60.0,
        accelerators=acc,
        input_mb=float(rng.uniform(10.0, 300.0)),
        output_mb=float(rng.uniform(100.0, 2000.0)),
        deadline_s=deadline_s,
        value=round(acc * minutes / 60.0 * density, 4),
        labels={"generated": "workload"},
    )


def poisson_workload(
    start_s: float,
    hours: float,
    seed: int,
    rate_per_hour: float,
    training_jobs: int = 2,
    max_gang: int = 3,
) -> list[Arrival]:
    """`training_jobs` runs submitted at start_s, then Poisson inference arrivals."""
    rng = np.random.default_rng(seed)
    out = [
        Arrival(start_s, training_spec(rng, f"train-{i:03d}", max_gang))
        for i in range(training_jobs)
    ]
    t = start_s
    n = 0
    end_s = start_s + hours * 3600.0
    while True:
        t += float(rng.exponential(3600.0 / rate_per_hour))
        if t >= end_s:
            break
        out.append(Arrival(round(t, 3), inference_spec(rng, f"inf-{n:05d}", t)))
        n += 1
    return out


def batch_workload(
    n: int,
    now_s: float,
    seed: int = 0,
    training_fraction: float = 0.2,
    prefix: str = "job",
    training_acc_h: tuple[float, float] = TRAINING_ACC_H,
) -> list[JobSpec]:
    """n jobs submitted together at now_s (deadlines count from now_s)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if rng.random() < training_fraction:
            out.append(training_spec(rng, f"{prefix}-train-{i:04d}", 2, training_acc_h))
        else:
            out.append(inference_spec(rng, f"{prefix}-inf-{i:04d}", now_s))
    return out
