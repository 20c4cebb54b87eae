"""Generated workloads: a reproducible mix of inference batches and training gangs.

Sizes follow the default bus (4 H100-class accelerators per satellite): inference batches of
10 minutes to 2 hours of accelerator time with outputs of 0.1-2 GB due within 1.5-6 hours;
training runs of 4-16 accelerator-hours on gangs of 2 with 15-minute checkpoints.
"""

from __future__ import annotations

import random

from orbitalsched.v1 import jobs_pb2


def mixed_workload(
    n: int, now_s: float, seed: int = 0, training_fraction: float = 0.2, prefix: str = "job"
) -> list[jobs_pb2.JobSpec]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < training_fraction:
            out.append(
                jobs_pb2.JobSpec(
                    job_id=f"{prefix}-train-{i:04d}",
                    kind=jobs_pb2.JOB_KIND_TRAINING,
                    priority=jobs_pb2.JOB_PRIORITY_BATCH,
                    work_accelerator_s=rng.uniform(4, 16) * 3600,
                    accelerators=2,
                    gang_size=2,
                    checkpoint_interval_s=900,
                    checkpoint_cost_s=60,
                    labels={"generated": "mixed"},
                )
            )
        else:
            accelerators = rng.choice((1, 1, 2, 4))
            out.append(
                jobs_pb2.JobSpec(
                    job_id=f"{prefix}-inf-{i:04d}",
                    kind=jobs_pb2.JOB_KIND_INFERENCE,
                    priority=rng.choice(
                        (jobs_pb2.JOB_PRIORITY_STANDARD,) * 3 + (jobs_pb2.JOB_PRIORITY_CRITICAL,)
                    ),
                    work_accelerator_s=rng.uniform(600, 7200) * accelerators / 2,
                    accelerators=accelerators,
                    output_mb=rng.uniform(100, 2000),
                    input_mb=rng.uniform(10, 200),
                    deadline_s=now_s + rng.uniform(1.5, 6) * 3600,
                    labels={"generated": "mixed"},
                )
            )
    return out
