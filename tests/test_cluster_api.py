"""The scheduler process over real gRPC: validation at the boundary (a rejected request
changes nothing), health and reflection, and a SIGKILL + restart that loses nothing."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from clusterkit import fetch, running_cluster, wait_for
from conftest import inference_pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from orbitalsched.v1 import agent_pb2, agent_pb2_grpc, cluster_pb2, jobs_pb2

# Every test here starts a local cluster (scheduler and agent processes).
pytestmark = pytest.mark.slow

J = jobs_pb2


def _snapshot(client) -> list[bytes]:  # type: ignore[no-untyped-def]
    return [j.SerializeToString(deterministic=True) for j in client.all_jobs()]


def test_malformed_requests_change_nothing(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=2, agents=False) as (cluster, client):
        now = client.now_s()
        client.submit([inference_pb("keep-1", now)])
        before = _snapshot(client)
        bad_specs = {
            "kind": J.JobSpec(work_accelerator_s=10, accelerators=1),
            "work_accelerator_s": J.JobSpec(
                kind=J.JOB_KIND_INFERENCE, work_accelerator_s=-5, accelerators=1
            ),
            "finite": J.JobSpec(
                kind=J.JOB_KIND_INFERENCE, work_accelerator_s=math.nan, accelerators=1
            ),
            "more than any satellite has": J.JobSpec(
                kind=J.JOB_KIND_INFERENCE, work_accelerator_s=10, accelerators=64
            ),
            "deadline_s": J.JobSpec(
                kind=J.JOB_KIND_INFERENCE,
                work_accelerator_s=10,
                accelerators=1,
                deadline_s=now - 3600,
            ),
            "gang_size": J.JobSpec(
                kind=J.JOB_KIND_TRAINING, work_accelerator_s=10, accelerators=1, gang_size=3
            ),
            "job_id": J.JobSpec(
                job_id="bad id/with slash",
                kind=J.JOB_KIND_INFERENCE,
                work_accelerator_s=10,
                accelerators=1,
            ),
            "checkpoint_cost_s": J.JobSpec(
                kind=J.JOB_KIND_TRAINING,
                work_accelerator_s=10,
                accelerators=1,
                checkpoint_interval_s=60,
                checkpoint_cost_s=120,
            ),
        }
        for needle, spec in bad_specs.items():
            with pytest.raises(grpc.RpcError) as err:
                client.jobs.SubmitJob(J.SubmitJobRequest(job=spec), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, needle
            assert needle in err.value.details(), err.value.details()

        batch = [inference_pb(f"b-{i}", now) for i in range(5)]
        batch[3].work_accelerator_s = 0
        with pytest.raises(grpc.RpcError) as err:
            client.jobs.SubmitJobs(J.SubmitJobsRequest(jobs=batch), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "jobs[3]" in err.value.details()
        dup = [inference_pb("d-1", now), inference_pb("keep-1", now)]
        with pytest.raises(grpc.RpcError) as err:
            client.jobs.SubmitJobs(J.SubmitJobsRequest(jobs=dup), timeout=10)
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS

        too_many = J.SubmitJobsRequest(jobs=[J.JobSpec()] * 100_001)
        with pytest.raises(grpc.RpcError) as err:
            client.jobs.SubmitJobs(too_many, timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        big = grpc.insecure_channel(
            cluster.address, options=[("grpc.max_send_message_length", 100 << 20)]
        )
        huge = inference_pb("huge", now)
        huge.labels["blob"] = "x" * (65 << 20)
        with pytest.raises(grpc.RpcError) as err:
            big.unary_unary(
                "/orbitalsched.v1.JobService/SubmitJob",
                request_serializer=J.SubmitJobRequest.SerializeToString,
                response_deserializer=J.SubmitJobResponse.FromString,
            )(J.SubmitJobRequest(job=huge), timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        big.close()

        for req, code in (
            (J.CancelJobRequest(job_id="nope"), grpc.StatusCode.NOT_FOUND),
            (J.CancelJobRequest(job_id=""), grpc.StatusCode.INVALID_ARGUMENT),
        ):
            with pytest.raises(grpc.RpcError) as err:
                client.jobs.CancelJob(req, timeout=10)
            assert err.value.code() == code
        client.jobs.CancelJob(J.CancelJobRequest(job_id="keep-1", reason="test"), timeout=10)
        before = _snapshot(client)
        with pytest.raises(grpc.RpcError) as err:
            client.jobs.CancelJob(J.CancelJobRequest(job_id="keep-1"), timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as err:
            client.jobs.ListJobs(J.ListJobsRequest(page_token="garbage"), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as err:
            client.cluster.Cordon(cluster_pb2.CordonRequest(satellite_id="sat-9-9"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        stub = agent_pb2_grpc.AgentServiceStub(client.channel)
        for first, code in (
            (
                agent_pb2.AgentMessage(hello=agent_pb2.Hello(satellite_id="intruder")),
                grpc.StatusCode.NOT_FOUND,
            ),
            (
                agent_pb2.AgentMessage(telemetry=agent_pb2.Telemetry()),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
        ):
            with pytest.raises(grpc.RpcError) as err:
                list(stub.Connect(iter([first]), timeout=10))
            assert err.value.code() == code
        assert _snapshot(client) == before
        assert not client.satellites().satellites[0].connected


def test_watch_streams_job_changes(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=1, agents=False) as (_, client):
        now = client.now_s()
        client.submit([inference_pb("w-1", now)])
        stream = client.jobs.WatchJobs(
            J.WatchJobsRequest(job_ids=["w-1", "w-2"], send_initial=True), timeout=30
        )
        first = next(stream)
        assert (first.what, first.job.spec.job_id) == ("current", "w-1")
        client.submit([inference_pb("w-2", now), inference_pb("other", now)])
        seen = next(stream)
        assert (seen.what, seen.job.spec.job_id) == ("submitted", "w-2")
        client.jobs.CancelJob(J.CancelJobRequest(job_id="w-2"), timeout=10)
        events = [next(stream) for _ in range(1)]
        while events[-1].what != "cancelled":
            events.append(next(stream))
        assert events[-1].job.state == J.JOB_STATE_CANCELLED
        assert all(e.job.spec.job_id in ("w-1", "w-2") for e in events)
        stream.cancel()


def test_health_and_reflection(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=1, agents=False) as (_, client):
        health = health_pb2_grpc.HealthStub(client.channel)
        for service in ("", "orbitalsched.v1.JobService", "orbitalsched.v1.AgentService"):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(client.channel)
        (resp,) = list(
            refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            )
        )
        names = {s.name for s in resp.list_services_response.service}
        assert {
            "orbitalsched.v1.JobService",
            "orbitalsched.v1.ClusterService",
            "orbitalsched.v1.AgentService",
            "grpc.health.v1.Health",
        } <= names


def test_sigkill_and_restart_loses_nothing(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=2, agents=False) as (cluster, client):
        now = client.now_s()
        ids = client.submit([inference_pb(f"r-{i}", now) for i in range(200)])
        ids += client.submit([inference_pb("r-single", now)])
        before_ids = [j.spec.job_id for j in client.all_jobs()]
        sim_before = client.now_s()
        cluster.kill_scheduler()
        cluster.start_scheduler()
        after = list(client.all_jobs())
        assert [j.spec.job_id for j in after] == before_ids == ids
        assert all(j.submit_time_s >= now for j in after)
        assert client.now_s() >= sim_before  # the clock continues from the database


def test_rpcs_are_served_during_a_slow_solve(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=6, agents=False, extra=("--solve-time-limit", "4")) as (
        _,
        client,
    ):
        wait_for(lambda: client.plan().plan_version > 0, 30, "the first plan")
        first = client.plan().plan_version
        now = client.now_s()
        client.submit([inference_pb(f"load-{i}", now) for i in range(150)])
        latencies = []
        while client.plan().plan_version == first:
            t0 = time.perf_counter()
            client.submit([inference_pb(f"during-{len(latencies)}", now)])
            client.call(client.jobs.GetJob, J.GetJobRequest(job_id="load-0"))
            latencies.append(time.perf_counter() - t0)
        plan = client.plan()
        assert plan.solve_duration_s > 1.0, "the solve was too quick to overlap the calls"
        assert len(latencies) >= 5
        assert max(latencies) < 0.5, f"calls waited for the solver: {max(latencies):.2f} s"


def _solver_workers(scheduler_pid: int) -> list[int]:
    """The scheduler's solver worker processes (multiprocessing's resource tracker aside)."""
    pids: list[int] = []
    for task in Path(f"/proc/{scheduler_pid}/task").iterdir():
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    workers = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
    return workers


def test_a_solver_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    """Killed while it warms up (before the first plan) or after a plan, the solver worker
    is replaced and Replan still answers with a new plan (a worker dying during warm-up
    used to end the replanning loop silently: Replan then waited forever)."""
    with running_cluster(tmp_path, n=1, agents=False) as (cluster, client):
        assert cluster.scheduler_proc is not None
        scheduler_pid = cluster.scheduler_proc.pid
        for _ in range(2):
            (worker, *_) = wait_for(
                lambda: _solver_workers(scheduler_pid), 30, "a solver worker", every_s=0.02
            )
            os.kill(worker, signal.SIGKILL)
            before = client.plan().plan_version
            resp = client.call(client.cluster.Replan, cluster_pb2.ReplanRequest(reason="test"))
            assert resp.plan.plan_version > before
            assert worker not in _solver_workers(scheduler_pid)
        metrics = fetch(f"http://127.0.0.1:{cluster.scheduler_metrics_port}/metrics")
        assert "orbital_solver_restarts_total 2.0" in metrics


def test_a_second_scheduler_cannot_take_the_port(tmp_path: Path) -> None:
    """grpc sets SO_REUSEPORT by default, which would let a second scheduler (another
    database) share the port and take half the connections: it must fail to bind instead."""
    with running_cluster(tmp_path, n=1, agents=False) as (cluster, client):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "scheduler.server.main",
                "--listen",
                cluster.address,
                "--db",
                str(tmp_path / "other.db"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and "--listen: cannot bind" in last, r.stderr
        assert client.satellites().satellites  # the first one still serves
