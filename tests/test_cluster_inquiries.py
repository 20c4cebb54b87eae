"""What-if and explanations against a real scheduler process over gRPC: answers from the
same planner, and nothing in the store changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpc
import pytest
from clusterkit import running_cluster, wait_for
from conftest import ORBITCTL, inference_pb
from orbitalsched.v1 import cluster_pb2, jobs_pb2

J = jobs_pb2


def _job(job_id: str, now_s: float, acc: int, minutes: float, deadline_min: float) -> J.JobSpec:
    return inference_pb(
        job_id, now_s, acc * minutes * 60, acc, output_mb=200, deadline_in_s=deadline_min * 60
    )


def _snapshot(client) -> tuple[list[bytes], bytes]:  # type: ignore[no-untyped-def]
    jobs = [j.SerializeToString(deterministic=True) for j in client.all_jobs()]
    return jobs, client.plan().SerializeToString(deterministic=True)


@pytest.mark.slow
def test_whatif_and_explain_change_nothing(tmp_path: Path) -> None:
    # No agents, and none is ever given up for lost: nothing but the test changes the store.
    extra = ("--replan-interval", "1000000", "--agent-timeout", "20")
    with running_cluster(tmp_path, n=3, agents=False, extra=extra) as (cluster, client):
        now = client.now_s()
        # 3 satellites x 4 accelerators for ~4 h of deadlines: more work than fits (their
        # first contacts good for a delivery are about 3 h away).
        specs = [_job(f"big-{i}", now, 4, 50, 240) for i in range(16)]
        specs += [_job(f"small-{i}", now, 1, 20, 270) for i in range(4)]
        client.submit(specs)
        plan = wait_for(
            lambda: (p := client.plan()).plan_version >= 1 and p.assignments and p,
            60,
            "a first plan",
        )
        assert plan.unplaced, "the workload is contended"
        before = _snapshot(client)
        on_lost = {a.job_id for a in plan.assignments if "sat-0-0" in a.satellite_ids}

        resp = client.call(
            client.cluster.WhatIf,
            cluster_pb2.WhatIfRequest(satellites_lost=["sat-0-0"], time_limit_s=2),
        )
        assert resp.hypothesis == "satellite sat-0-0 lost"
        assert resp.based_on_plan_version == plan.plan_version
        changed = {c.job_id: c for c in resp.changes}
        assert on_lost and on_lost <= set(changed)
        assert all(changed[j].kind in ("moved", "unplaced") for j in on_lost)
        assert all(c.code for c in resp.changes if c.kind == "unplaced")
        assert resp.value_after <= resp.value_before + 1e-6
        assert _snapshot(client) == before

        new = _job("maybe-1", now, 1, 10, 600)
        resp = client.call(
            client.cluster.WhatIf,
            cluster_pb2.WhatIfRequest(
                stations_down=[cluster_pb2.StationOutage(station="wallops")],
                submit=[new],
                time_limit_s=2,
            ),
        )
        assert "station wallops down" in resp.hypothesis and "1 job(s) submitted" in resp.hypothesis
        assert any(c.job_id == "maybe-1" for c in resp.changes)
        with pytest.raises(grpc.RpcError) as err:
            client.jobs.GetJob(J.GetJobRequest(job_id="maybe-1"))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert _snapshot(client) == before

        for bad, code, words in (
            (
                cluster_pb2.WhatIfRequest(satellites_lost=["nope"]),
                "INVALID_ARGUMENT",
                "unknown satellite",
            ),
            (
                cluster_pb2.WhatIfRequest(
                    stations_down=[cluster_pb2.StationOutage(station="atlantis")]
                ),
                "INVALID_ARGUMENT",
                "unknown station",
            ),
            (
                cluster_pb2.WhatIfRequest(
                    stations_down=[
                        cluster_pb2.StationOutage(station="wallops", start_s=float("nan"))
                    ]
                ),
                "INVALID_ARGUMENT",
                "finite",
            ),
            (
                cluster_pb2.WhatIfRequest(submit=[_job("big-0", now, 1, 5, 600)]),
                "ALREADY_EXISTS",
                "exists",
            ),
            (cluster_pb2.WhatIfRequest(time_limit_s=-1), "INVALID_ARGUMENT", "time_limit_s"),
        ):
            with pytest.raises(grpc.RpcError) as err:
                client.cluster.WhatIf(bad, timeout=30)
            assert err.value.code().name == code and words in (err.value.details() or "")
        assert _snapshot(client) == before

        waiting = plan.unplaced[0].job_id
        e = client.call(client.jobs.ExplainJob, J.ExplainJobRequest(job_id=waiting))
        assert not e.placed and e.code and e.reason
        placed = plan.assignments[0]
        p = client.call(client.jobs.ExplainJob, J.ExplainJobRequest(job_id=placed.job_id))
        assert p.placed and list(p.satellite_ids) == list(placed.satellite_ids)
        assert p.start_s == pytest.approx(placed.start_s)
        with pytest.raises(grpc.RpcError) as err:
            client.jobs.ExplainJob(J.ExplainJobRequest(job_id="nope"), timeout=30)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert _snapshot(client) == before

        # The command line, end to end.
        def orbitctl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*ORBITCTL, *args, "--scheduler", cluster.address],
                capture_output=True,
                text=True,
                timeout=120,
            )

        r = orbitctl("whatif", "--satellite-lost", "sat-0-1", "--time-limit", "2", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["hypothesis"] == "satellite sat-0-1 lost"
        r = orbitctl(
            "whatif", "--station-down", "wallops,2026-12-01T00:00:00Z,2026-12-01T01:00:00Z"
        )
        assert r.returncode == 0 and r.stdout.startswith("what if station wallops down"), r.stderr
        r = orbitctl("whatif", "--station-down", "wallops,soon,later")
        assert r.returncode == 2 and "--station-down" in r.stderr
        r = orbitctl("explain", waiting)
        assert r.returncode == 0 and f"{waiting} (pending) waits: [{e.code}]" in r.stdout, r.stderr
        r = orbitctl("explain", placed.job_id, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["placed"] is True
        r = orbitctl("explain", "nope")
        assert r.returncode == 2 and "NOT_FOUND" in r.stderr
        assert _snapshot(client) == before

        # A burst of explanations (or what-ifs) at once: a few are worked out, the rest are
        # refused at once with RESOURCE_EXHAUSTED and a message; nothing else goes wrong,
        # and once the burst is over a call is answered again.
        address = cluster.address
        explains = _burst(address, "ExplainJob", J.ExplainJobRequest(job_id=waiting), 24)
        assert set(explains) <= {"OK", "RESOURCE_EXHAUSTED"}, explains
        assert explains.count("OK") >= 1 and explains.count("RESOURCE_EXHAUSTED") >= 1, explains
        assert explains.count("OK") < 24
        what_ifs = _burst(
            address,
            "WhatIf",
            cluster_pb2.WhatIfRequest(satellites_lost=["sat-0-2"], time_limit_s=1),
            4,
        )
        assert sorted(set(what_ifs)) == ["OK", "RESOURCE_EXHAUSTED"], what_ifs
        r = orbitctl("explain", waiting)
        assert r.returncode == 0, r.stderr
        assert _snapshot(client) == before


def _burst(address: str, method: str, request: object, n: int) -> list[str]:
    """n calls of one method at once on one channel: the status code name of each."""
    import asyncio

    from orbitalsched.v1 import cluster_pb2_grpc, jobs_pb2_grpc

    async def go() -> list[str]:
        async with grpc.aio.insecure_channel(address) as ch:
            stub = getattr(
                jobs_pb2_grpc.JobServiceStub(ch) if method == "ExplainJob" else
                cluster_pb2_grpc.ClusterServiceStub(ch), method,
            )  # fmt: skip

            async def one() -> str:
                try:
                    await stub(request, timeout=120)
                    return "OK"
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        assert "ask again" in (exc.details() or ""), exc.details()
                    return str(exc.code().name)

            return list(await asyncio.gather(*(one() for _ in range(n))))

    return asyncio.run(go())


def test_in_flight_cap() -> None:
    from scheduler.server.inquiries import InFlight
    from scheduler.server.validate import RequestError

    cap = InFlight(2, "busy; ask again")
    with cap, cap:
        assert cap.count == 2
        with pytest.raises(RequestError) as refused, cap:
            pass
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.value.message == "busy; ask again"
        assert cap.count == 2  # a refusal holds nothing
    with pytest.raises(ValueError), cap:
        raise ValueError("the call failed")  # released on errors too
    assert cap.count == 0
    with cap:
        assert cap.count == 1
