"""Seeded workloads for the simulator, as planner jobs: Poisson inference arrivals with
deadlines, sizes and values, plus a few long training runs submitted at the start.

Sizes follow the default bus (4 H100-class accelerators per satellite): inference batches of
1, 2 or 4 accelerators for 10-40 minutes, inputs of 10-300 MB, outputs of 0.1-2 GB due
1-3 hours after submission; training runs of tens of accelerator-hours on gangs of 2-3 with
15-minute checkpoints. Value density (value per accelerator-hour) varies by a factor of
several between jobs, as prices of batch inference do, so choosing what to run matters.
"""

from __future__ import annotations

import numpy as np

from scheduler.planner.domain import InferenceJob, Job, Priority, TrainingJob

MEAN_INFERENCE_ACC_H = 0.8  # E[accelerators] ~1.9 x E[duration] 25 min


def offered_rate_per_hour(total_accelerators: int, contention: float) -> float:
    """Inference arrivals per hour that offer `contention` times the fleet's accelerator
    hours (1.0 = exactly the fleet, if every accelerator ran all the time)."""
    return contention * total_accelerators / MEAN_INFERENCE_ACC_H


def generate_workload(
    start_s: float,
    hours: float,
    seed: int,
    rate_per_hour: float,
    training_jobs: int = 2,
    max_gang: int = 3,
) -> list[Job]:
    rng = np.random.default_rng(seed)
    jobs: list[Job] = []
    for i in range(training_jobs):
        jobs.append(
            TrainingJob(
                job_id=f"train-{i:03d}",
                submit_s=start_s,
                gang_size=int(rng.integers(2, max_gang + 1)),
                accelerators_per_member=2,
                work_acc_h=float(rng.uniform(20.0, 80.0)),
                checkpoint_interval_s=900.0,
                checkpoint_cost_s=60.0,
                value_per_acc_h=float(rng.uniform(0.3, 0.6)),
                priority=Priority.BATCH,
            )
        )
    t = start_s
    n = 0
    end_s = start_s + hours * 3600.0
    while True:
        t += float(rng.exponential(3600.0 / rate_per_hour))
        if t >= end_s:
            break
        acc = int(rng.choice([1, 2, 4], p=[0.45, 0.35, 0.2]))
        minutes = float(rng.uniform(10.0, 40.0))
        prio = Priority(int(rng.choice([0, 1, 2], p=[0.3, 0.6, 0.1])))
        density = float(rng.lognormal(0.0, 0.7))
        jobs.append(
            InferenceJob(
                job_id=f"inf-{n:05d}",
                submit_s=round(t, 3),
                deadline_s=round(t + minutes * 60.0 + rng.uniform(1.0, 3.0) * 3600.0, 3),
                work_acc_s=acc * minutes * 60.0,
                accelerators=acc,
                input_mb=float(rng.uniform(10.0, 300.0)),
                output_mb=float(rng.uniform(100.0, 2000.0)),
                value=round(acc * minutes / 60.0 * density, 4),
                priority=prio,
            )
        )
        n += 1
    return jobs
