"""The contacts link model on a real cluster: an agent talks to the scheduler only inside its
ground contacts, so plans reach it only then, and it keeps executing while out of contact
(its reports arrive at the next contact)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from clusterkit import running_cluster
from conftest import inference_pb
from orbitalsched.v1 import cluster_pb2, jobs_pb2

# Every test here starts a local cluster (scheduler and agent processes).
pytestmark = pytest.mark.slow

J = jobs_pb2
SPEED = 400.0
# Polling, stream set-up and a loaded 2-core machine: this much simulated time of slack.
TOLERANCE_S = 1.5 * SPEED


def test_link_follows_contacts_and_agents_run_out_of_contact(tmp_path: Path) -> None:
    with running_cluster(
        tmp_path, n=2, speed=SPEED, link_model="contacts", extra=("--agent-timeout", "4")
    ) as (_, client):
        start = client.now_s()
        windows = {}
        for name in ("sat-0-0", "sat-0-1"):
            fc = client.call(
                client.cluster.GetForecast,
                cluster_pb2.GetForecastRequest(
                    satellite_id=name, start_s=start - 600, duration_s=24 * 3600
                ),
            )
            windows[name] = [(w.start_s, w.end_s) for w in fc.contacts]
            assert windows[name], f"{name} has no contact in a day"

        def in_contact(name: str, t: float) -> bool:
            return any(a - TOLERANCE_S <= t <= b + TOLERANCE_S for a, b in windows[name])

        submitted = False
        seen: dict[str, set[bool]] = {"sat-0-0": set(), "sat-0-1": set()}
        bad: list[tuple[str, float]] = []
        deadline = time.time() + 100
        while time.time() < deadline:
            resp = client.satellites()
            for s in resp.satellites:
                seen[s.satellite_id].add(s.connected)
                if s.connected and not in_contact(s.satellite_id, resp.now_s):
                    bad.append((s.satellite_id, resp.now_s))
            if not submitted:  # planned now, it reaches its satellite at the next contact
                now = client.now_s()
                client.submit([inference_pb("batch", now, acc=2, deadline_in_s=12 * 3600.0)])
                submitted = True
            if submitted:
                job = client.call(client.jobs.GetJob, J.GetJobRequest(job_id="batch")).job
                if job.state == J.JOB_STATE_SUCCEEDED and all(len(v) == 2 for v in seen.values()):
                    break
            time.sleep(0.1)
        assert not bad, f"streams open outside contacts: {bad[:5]}"
        assert all(v == {True, False} for v in seen.values()), seen
        assert submitted
        job = client.call(client.jobs.GetJob, J.GetJobRequest(job_id="batch")).job
        assert job.state == J.JOB_STATE_SUCCEEDED, (J.JobState.Name(job.state), job.reason)
        sat = job.satellite_ids[0]
        # It started on its own: the start the agent reported lies outside every contact.
        assert not any(a <= job.start_time_s <= b for a, b in windows[sat]), (
            job.start_time_s,
            windows[sat],
        )
        # and its output came down during a contact of its ISL group (both satellites are
        # in-plane neighbours: an output can go down through either).
        assert any(a - 1 <= job.end_time_s <= b + 1 for w in windows.values() for a, b in w)
