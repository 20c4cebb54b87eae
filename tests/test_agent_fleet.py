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
from orbitalsched.v1 import jobs_pb2

from agents import fleet
from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster

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
