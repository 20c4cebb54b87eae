"""A real cluster on loopback (scheduler + agent processes, solver in a worker process):
jobs submitted over gRPC run on agents and succeed; an agent killed with SIGKILL has its
work replanned elsewhere and training resumes from its last checkpoint; the scheduler
killed with SIGKILL and restarted on its database loses nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clusterkit import all_connected, running_cluster, wait_for
from conftest import inference_pb, training_pb
from orbitalsched.v1 import jobs_pb2

from scheduler.cluster.client import Client

# Every test here starts a local cluster (scheduler and agent processes).
pytestmark = pytest.mark.slow

J = jobs_pb2
CLUSTER_INFERENCE = {"output_mb": 200.0, "deadline_in_s": 6 * 3600.0}
DONE = (J.JOB_STATE_SUCCEEDED, J.JOB_STATE_FAILED, J.JOB_STATE_CANCELLED)


def jobs_by_id(client: Client) -> dict[str, J.Job]:
    return {j.spec.job_id: j for j in client.all_jobs()}


def running_anywhere(client: Client) -> dict[str, list[str]]:
    """job id -> satellites whose telemetry says they run it."""
    out: dict[str, list[str]] = {}
    for s in client.satellites().satellites:
        for job_id in s.telemetry.running_job_ids:
            out.setdefault(job_id, []).append(s.satellite_id)
    return out


def test_jobs_run_on_agents_and_succeed(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=3, speed=360) as (cluster, client):
        wait_for(lambda: all_connected(client), 30, "every agent to connect")
        now = client.now_s()
        ids = client.submit(
            [
                inference_pb(f"inf-{i}", now, 900 + 300 * i, 1 + i % 2, **CLUSTER_INFERENCE)
                for i in range(4)
            ]
        )
        twice: list[dict[str, list[str]]] = []

        def finished() -> bool:
            seen = running_anywhere(client)
            twice.extend({k: v} for k, v in seen.items() if len(v) > 1)
            return all(j.state in DONE for j in jobs_by_id(client).values())

        wait_for(finished, 120, "every job to finish", 0.5)
        jobs = jobs_by_id(client)
        assert [jobs[i].state for i in ids] == [J.JOB_STATE_SUCCEEDED] * 4, {
            i: (J.JobState.Name(j.state), j.reason) for i, j in jobs.items()
        }
        for job in jobs.values():
            assert job.start_time_s >= now and job.end_time_s > job.start_time_s
            assert job.done_accelerator_s == job.spec.work_accelerator_s
            assert len(job.satellite_ids) == 1
        assert not twice, f"a job ran on two satellites at once: {twice}"
        assert cluster.alive()


def test_agent_sigkill_replans_and_training_resumes_from_checkpoint(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=3, speed=240) as (cluster, client):
        wait_for(lambda: all_connected(client), 30, "every agent to connect")
        client.submit([training_pb("train")])

        def checkpointed_run() -> J.Job | None:
            job = jobs_by_id(client)["train"]
            ok = job.state == J.JOB_STATE_RUNNING and job.checkpoint_accelerator_s > 0
            return job if ok else None

        job = wait_for(checkpointed_run, 90, "the training job to run and checkpoint", 0.3)
        victim = job.satellite_ids[0]
        saved = job.checkpoint_accelerator_s
        cluster.kill_agent(victim)

        def moved() -> J.Job | None:
            j = jobs_by_id(client)["train"]
            ok = (
                j.state == J.JOB_STATE_RUNNING
                and j.satellite_ids
                and victim not in j.satellite_ids
                and j.done_accelerator_s > saved
            )
            return j if ok else None

        after = wait_for(moved, 90, f"the job to run again without {victim}", 0.3)
        assert after.preemptions >= 1
        assert after.checkpoint_accelerator_s >= saved  # resumed, not restarted
        sats = {s.satellite_id: s for s in client.satellites().satellites}
        assert sats[victim].lost and not sats[victim].connected


def test_scheduler_sigkill_and_restart_with_agents(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=3, speed=360) as (cluster, client):
        wait_for(lambda: all_connected(client), 30, "every agent to connect")
        now = client.now_s()
        ids = client.submit(
            [inference_pb(f"r-{i}", now, 1500, 2, **CLUSTER_INFERENCE) for i in range(3)]
        )
        wait_for(
            lambda: any(j.state == J.JOB_STATE_RUNNING for j in jobs_by_id(client).values()),
            60,
            "a job to run",
            0.3,
        )
        before = jobs_by_id(client)
        cluster.kill_scheduler()
        time.sleep(1.0)  # agents keep executing on their own
        cluster.start_scheduler()
        after = jobs_by_id(client)
        assert sorted(after) == sorted(before) == sorted(ids)
        for job_id, job in before.items():  # nothing accepted went back
            assert (
                after[job_id].done_accelerator_s >= job.done_accelerator_s
                or after[job_id].state != J.JOB_STATE_PENDING
            )
        wait_for(lambda: all_connected(client), 30, "agents to reconnect")
        wait_for(
            lambda: all(j.state in DONE for j in jobs_by_id(client).values()),
            120,
            "every job to finish after the restart",
            0.5,
        )
        assert all(j.state == J.JOB_STATE_SUCCEEDED for j in jobs_by_id(client).values())
