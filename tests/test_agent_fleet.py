"""Many satellites per agent process (orbit-agent --satellites / --all --shard): each
satellite keeps its own stream, identity and metrics; jobs run on them and succeed; bad
fleet arguments get a clear error."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from clusterkit import NAMES, all_connected, wait_for
from orbitalsched.v1 import cluster_pb2, jobs_pb2

from agents import fleet
from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster, free_port
from scheduler.scenario import load_scenario

J = jobs_pb2
DONE = (J.JOB_STATE_SUCCEEDED, J.JOB_STATE_FAILED, J.JOB_STATE_CANCELLED)


def test_shards_and_satellite_lists_parse_or_say_what_is_wrong() -> None:
    assert fleet.parse_shard("2/8") == (2, 8)
    assert fleet.shard_of([f"s{i}" for i in range(7)], 2, 3) == ["s1", "s4"]
    for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
        with pytest.raises(ValueError, match="--shard"):
            fleet.parse_shard(bad)
    assert fleet.parse_satellites("a, b,c") == ["a", "b", "c"]
    with pytest.raises(ValueError, match="given more than once"):
        fleet.parse_satellites("a,b,a")
    with pytest.raises(ValueError, match="empty"):
        fleet.parse_satellites("a,,b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--satellites", "a,b", "--tls-ca", "ca.pem", "--tls-cert", "c.pem"], "--tls-cert-dir"),
        (["--satellites", "a,b", "--shard", "1/2"], "--shard goes with --all"),
        (["--satellites", "a,b", "--tls-cert-dir", "d"], "--tls-cert-dir needs --tls-ca"),
        (["--satellite", "a", "--shard", "1/2"], "go with --satellites/--all"),
        (["--all", "--shard", "3/2"], "--shard: expected 1 <= K <= N"),
    ],
)
def test_bad_fleet_arguments_exit_2_with_a_clear_error(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agents.agent", "--scheduler", "127.0.0.1:1", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr


@pytest.mark.slow
def test_a_fleet_process_runs_each_satellite_on_its_own_stream_with_tls(tmp_path: Path) -> None:
    cluster = LocalCluster(
        satellites=NAMES[:6],
        workdir=tmp_path,
        speed=360.0,
        scheduler_args=("--solve-time-limit", "2", "--agent-timeout", "1.5"),
        tls=True,
        agents_per_process=3,
    )
    client: Client | None = None
    try:
        cluster.start()
        assert len({id(p) for p in cluster.agents.values()}) == 2  # two processes of three
        client = Client(cluster.address, timeout_s=20.0, tls=cluster.user_tls())
        wait_for(lambda: all_connected(client), 60, "every satellite of the fleets to connect")
        now = client.now_s()
        specs = [
            J.JobSpec(
                job_id=f"inf-{i}",
                kind=J.JOB_KIND_INFERENCE,
                work_accelerator_s=600.0,
                accelerators=1,
                output_mb=100,
                deadline_s=now + 6 * 3600,
            )
            for i in range(6)
        ]
        client.submit(specs)

        def finished() -> bool:
            return all(j.state in DONE for j in client.all_jobs())  # type: ignore[union-attr]

        wait_for(finished, 180, "every job to finish", 0.5)
        jobs = {j.spec.job_id: j for j in client.all_jobs()}
        assert {j.state for j in jobs.values()} == {J.JOB_STATE_SUCCEEDED}
        ran_on = {s for j in jobs.values() for s in j.satellite_ids}
        assert len(ran_on) >= 2
        # One /metrics per process, every satellite of it under its own label.
        port = cluster.agent_metrics_ports[NAMES[0]]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        body = text.decode()
        for name in NAMES[:3]:
            assert f'orbital_agent_connected{{satellite="{name}"}} 1.0' in body
        assert body.count("# TYPE orbital_agent_connected gauge") == 1
    finally:
        if client is not None:
            client.close()
        cluster.stop()


@pytest.mark.slow
def test_plans_reach_every_satellite_of_a_200_satellite_fleet_with_their_latency(
    tmp_path: Path,
) -> None:
    """One `orbit-agent --all` process of 200 satellites: after the jobs are placed, every
    satellite with work holds a plan at least as new as its assignment, and its agent
    recorded how long that plan took from the solve (orbital_agent_plan_delivery_seconds)."""
    names = tuple(load_scenario("starlink-shell1").constellation.names[:200])
    cluster = LocalCluster(
        satellites=names,
        workdir=tmp_path,
        scenario="starlink-shell1",
        speed=1.0,
        scheduler_args=(
            "--policy", "greedy", "--solve-time-limit", "5", "--agent-timeout", "30",
            "--replan-interval", "86400", "--telemetry-interval", "10",
        ),
    )  # fmt: skip
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    try:
        cluster.start_scheduler()
        with open(tmp_path / "fleet.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agents.agent", "--all", "--scheduler", cluster.address,
                 "--metrics-port", str(port), "--log-level", "WARNING"],
                stdout=log, stderr=log,
            )  # fmt: skip
        client = Client(cluster.address, timeout_s=60.0)
        wait_for(lambda: all_connected(client), 120, "200 satellites of one fleet to connect", 1)
        now = client.now_s()
        client.submit(
            [
                J.JobSpec(job_id=f"d-{i}", kind=J.JOB_KIND_INFERENCE, work_accelerator_s=600.0,
                          accelerators=1, output_mb=10, deadline_s=now + 6 * 3600)
                for i in range(400)
            ]
        )  # fmt: skip
        client.call(client.cluster.Replan, cluster_pb2.ReplanRequest(reason="test"))
        tokens: dict[str, int] = {}
        for job in client.all_jobs():
            if job.state == J.JOB_STATE_PLANNED:
                for sat in job.satellite_ids:
                    tokens[sat] = max(tokens.get(sat, 0), job.assignment_version)
        assert len(tokens) >= 100, f"work on only {len(tokens)} satellites"

        def scraped() -> dict[str, dict[str, float]]:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()
            out: dict[str, dict[str, float]] = {}
            for line in text.decode().splitlines():
                for series in ("orbital_agent_plan_version", "orbital_agent_plan_delivery_seconds"):
                    if line.startswith(series + "{"):
                        sat = line.split('"')[1]
                        out.setdefault(series, {})[sat] = float(line.rsplit(" ", 1)[1])
            return out

        def delivered() -> dict[str, dict[str, float]] | None:
            s = scraped()
            versions = s.get("orbital_agent_plan_version", {})
            ok = all(versions.get(sat, 0) >= token for sat, token in tokens.items())
            return s if ok else None

        s = wait_for(delivered, 60, "every satellite with work to hold its plan", 1)
        delivery = s.get("orbital_agent_plan_delivery_seconds", {})
        assert set(tokens) <= set(delivery), "a satellite's delivery latency was not recorded"
        assert all(0.0 < delivery[sat] < 60.0 for sat in tokens)
        assert set(s["orbital_agent_plan_version"]) == set(names)
    finally:
        if client is not None:
            client.close()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        cluster.stop()
