"""The container testbed, really run: `make image`'s build, then scheduler, 4 agents and
Prometheus in containers on one podman network. Jobs submitted through the published port
succeed; the scheduler container SIGKILLed and started again on its volume loses nothing; the
containerized Prometheus has every satellite's series; `down` leaves nothing behind.

Skipped with the reason where no container engine runs; under CI=true (where .ci/run
installs podman) that is a failure. About 1.5 min here with the image cached, 4 min cold.
"""

from __future__ import annotations

import json
import os
import urllib.parse

import pytest
from clusterkit import fetch, wait_for
from conftest import inference_pb
from orbitalsched.v1 import jobs_pb2

from scheduler.cluster.client import Client
from scheduler.cluster.local import free_port
from scheduler.errors import UserError
from scheduler.testbed import containers
from scheduler.testbed.engine import engine_problem, find_engine
from scheduler.testbed.image import IMAGE, build_image

J = jobs_pb2
AGENTS = 4


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    problem = engine_problem()
    if problem is not None:
        message = f"containers cannot run here: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return find_engine()


def query(tb: containers.Testbed, promql: str) -> list[dict]:  # type: ignore[type-arg]
    url = f"{tb.prometheus_url}/api/v1/query?query={urllib.parse.quote(promql)}"
    try:
        return list(json.loads(fetch(url))["data"]["result"])
    except OSError:
        return []


def labelled(engine, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for kind in (("ps", "--all"), ("volume", "ls"), ("network", "ls")):
        out = engine.run(
            *kind, "--filter", f"label=orbital.testbed={name}", "--format", "{{.Name}}"
        ).stdout
        found += out.split()
    return found


def jobs_by_id(client: Client) -> dict[str, J.Job]:
    return {j.spec.job_id: j for j in client.all_jobs()}


def inference(job_id: str, now_s: float) -> J.JobSpec:
    return inference_pb(job_id, now_s, 900, 1, output_mb=0, deadline_in_s=6 * 3600)


def succeeded(client: Client, ids: list[str]) -> bool:
    jobs = jobs_by_id(client)
    failed = {i: J.JobState.Name(jobs[i].state) for i in ids if jobs[i].state
              in (J.JOB_STATE_FAILED, J.JOB_STATE_CANCELLED)}  # fmt: skip
    assert not failed, failed
    return all(jobs[i].state == J.JOB_STATE_SUCCEEDED for i in ids)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_container_cluster_runs_jobs_survives_sigkill_and_leaves_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    assert build_image(engine=engine) == IMAGE
    name = f"orbital-tb-test-{os.getpid()}"
    tb = None
    try:
        tb = containers.up(
            agents=AGENTS,
            speed=360,
            port=free_port(),
            prometheus_port=free_port(),
            name=name,
            scheduler_args=("--solve-time-limit=2",),
            engine=engine,
        )
        assert len(set(tb.satellites)) == AGENTS
        running = engine.run("ps", "--filter", f"label=orbital.testbed={name}",
                             "--format", "{{.Names}}").stdout.split()  # fmt: skip
        assert len(running) == AGENTS + 2, running
        assert tb.tls, "the testbed runs mutual TLS by default"
        with pytest.raises(UserError):  # a plaintext client is refused
            plain = Client(tb.address, timeout_s=5)
            try:
                plain.satellites()
            finally:
                plain.close()
        client = tb.client()
        try:
            wait_for(
                lambda: all(s.connected for s in client.satellites().satellites),
                60, "every agent container to connect",
            )  # fmt: skip
            now = client.now_s()
            first = client.submit([inference(f"before-{i}", now) for i in range(4)])
            wait_for(lambda: succeeded(client, first), 120, "the first jobs to succeed", 0.5)

            second = client.submit([inference(f"after-{i}", client.now_s()) for i in range(4)])
            engine.run("kill", "--signal", "KILL", tb.container("scheduler"))
            assert engine.run("inspect", "--format", "{{.State.Running}}",
                              tb.container("scheduler")).stdout.strip() == "false"  # fmt: skip
            with pytest.raises(UserError):
                client.satellites()
            engine.run("start", tb.container("scheduler"))
            containers.wait_serving(tb, engine)
            # A new channel: the old one may still be in its reconnect backoff.
            client.close()
            client = tb.client()
            jobs = jobs_by_id(client)
            assert set(first) | set(second) <= set(jobs), "jobs lost in the restart"
            assert all(jobs[i].state == J.JOB_STATE_SUCCEEDED for i in first)
            wait_for(lambda: succeeded(client, second), 180, "the jobs after the restart", 0.5)
        finally:
            client.close()

        # Prometheus in its container scraped the scheduler and every agent container.
        sat = tb.satellites[-1]
        soc = wait_for(
            lambda: query(tb, f'orbital_satellite_battery_soc_ratio{{satellite="{sat}"}}'),
            60, "the scheduler's series of the last satellite",
        )  # fmt: skip
        assert 0.0 <= float(soc[0]["value"][1]) <= 1.0
        up = wait_for(
            lambda: [r for r in query(tb, 'up{job="orbit-agent"}') if r["value"][1] == "1"]
            if len(query(tb, 'up{job="orbit-agent"} == 1')) == AGENTS else [],
            60, "every agent container up in Prometheus",
        )  # fmt: skip
        assert {r["metric"]["satellite"] for r in up} == set(tb.satellites)
        reconnects = wait_for(
            lambda: query(tb, f'orbital_agent_reconnects_total{{satellite="{sat}"}} >= 2'),
            60, "the agent's reconnection after the scheduler's restart",
        )  # fmt: skip
        assert reconnects[0]["metric"]["job"] == "orbit-agent"
    finally:
        removed = containers.down(name, engine=engine)
    assert tb is not None and tb.container("scheduler") in removed
    assert labelled(engine, name) == [], "down left objects behind"
    assert engine.run("network", "inspect", name, check=False).returncode != 0
