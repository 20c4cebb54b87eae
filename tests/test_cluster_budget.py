"""The power and thermal budget from a running scheduler: GetForecast's series under the
current plan, the predicted gauges beside the reported ones, and orbitctl forecast budget
--scheduler."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from clusterkit import fetch, running_cluster, wait_for
from conftest import ORBITCTL
from orbitalsched.v1 import cluster_pb2, jobs_pb2

J = jobs_pb2


@pytest.mark.slow
def test_budget_series_gauges_and_cli(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=2) as (cluster, client):
        now = client.now_s()
        client.submit(
            [
                J.JobSpec(
                    job_id=f"j{i}",
                    kind=J.JOB_KIND_INFERENCE,
                    work_accelerator_s=4 * 3600,
                    accelerators=4,
                    deadline_s=now + 6 * 3600,
                )
                for i in range(2)
            ]
        )
        plan = wait_for(
            lambda: (p := client.plan()).assignments and len(p.assignments) == 2 and p,
            60,
            "both jobs planned",
        )
        sat = plan.assignments[0].satellite_ids[0]
        first = min(a.start_s for a in plan.assignments if sat in a.satellite_ids)
        resp = client.call(
            client.cluster.GetForecast,
            cluster_pb2.GetForecastRequest(satellite_id=sat, duration_s=3 * 3600),
        )
        assert resp.budget_step_s == 60.0 and resp.headroom_interval_s == 1800.0
        assert len(resp.budget) == 180 or len(resp.budget) == 181
        assert resp.budget[0].start_s <= resp.start_s < resp.budget[0].start_s + 60
        assert resp.max_temperature_c == 60.0 and resp.battery_floor_wh == 440.0
        # 4 accelerators x 700 W on top of the 300 W baseline while the job runs.
        loads = {round(s.load_w) for s in resp.budget if first + 60 <= s.start_s < first + 1800}
        assert loads == {3100}
        idle = [s.load_w for s in resp.budget if s.start_s + 60 <= first]
        assert all(x == 300.0 for x in idle)
        assert all(s.thermal_headroom_w >= 0 for s in resp.budget)
        assert min(s.soc_wh for s in resp.budget) >= 0.0

        def gauge(name: str) -> float | None:
            text = fetch(f"http://127.0.0.1:{cluster.scheduler_metrics_port}/metrics")
            m = re.search(rf'^{name}{{satellite="{sat}"}} (\S+)$', text, re.M)
            return float(m.group(1)) if m else None

        headroom = wait_for(
            lambda: gauge("orbital_satellite_thermal_headroom_watts"), 20, "the headroom gauge"
        )
        assert 0.0 <= headroom < 100_000.0
        soc_j = gauge("orbital_satellite_predicted_battery_energy_joules")
        assert soc_j is not None and 0.0 < soc_j <= 2200.0 * 3600.0
        assert gauge("orbital_satellite_predicted_temperature_celsius") is not None

        r = subprocess.run(
            [*ORBITCTL, "forecast", "budget", "--satellite", sat, "--hours", "1", "--json",
             "--scheduler", cluster.address],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["load"] == {"mode": "plan"} and len(doc["slots"]) in (60, 61)
        r = subprocess.run(
            [*ORBITCTL, "forecast", "budget", "--satellite", sat, "--load-w", "5",
             "--scheduler", cluster.address],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 2 and "--load-w does not apply with --scheduler" in r.stderr
