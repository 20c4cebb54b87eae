"""Metrics: the exposition of the scheduler and of an agent passes `promtool check metrics`,
and a real Prometheus scraping a running cluster returns a per-satellite series.

Needs Debian's `prometheus` package (promtool and prometheus); without it these tests skip
with the install command, except under CI (CI=true), where a missing Prometheus fails.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from clusterkit import fetch, need, running_cluster, running_prometheus, wait_for


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.slow
def test_exposition_passes_promtool(tmp_path: Path) -> None:
    need("promtool")
    with running_cluster(tmp_path, n=2) as (cluster, client):
        wait_for(
            lambda: all(s.telemetry.time_s for s in client.satellites().satellites),
            20,
            "telemetry from every agent",
        )
        scheduler = fetch(f"http://127.0.0.1:{cluster.scheduler_metrics_port}/metrics")
        agent = fetch(f"http://127.0.0.1:{cluster.agent_metrics_ports['sat-0-0']}/metrics")
    for name, text in (("scheduler", scheduler), ("agent", agent)):
        result = promtool_check(text)
        assert result.returncode == 0 and not result.stdout.strip(), (
            name,
            result.stdout,
            result.stderr,
        )
    assert 'orbital_satellite_temperature_celsius{satellite="sat-0-1"}' in scheduler
    assert (
        "orbital_build_info{" in scheduler and "orbital_solve_duration_seconds_bucket" in scheduler
    )
    assert 'orbital_agent_battery_soc_ratio{satellite="sat-0-0"}' in agent
    # The lint is real: a counter without _total fails it.
    bad = promtool_check("# HELP x_count a\n# TYPE x_count counter\nx_count 1\n")
    assert bad.returncode != 0 or bad.stdout.strip()


@pytest.mark.slow
def test_prometheus_scrapes_a_running_cluster(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "cluster", n=2) as (cluster, _):
        targets = [f"127.0.0.1:{cluster.scheduler_metrics_port}"] + [
            f"127.0.0.1:{p}" for p in cluster.agent_metrics_ports.values()
        ]
        config = (
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: orbital\n    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
        )
        with running_prometheus(config, tmp_path) as port:
            query = urllib.parse.quote('orbital_satellite_temperature_celsius{satellite="sat-0-1"}')
            url = f"http://127.0.0.1:{port}/api/v1/query?query={query}"

            def series() -> list[dict[str, object]]:
                try:
                    return list(json.loads(fetch(url))["data"]["result"])
                except OSError:
                    return []

            # A new target is scraped only after Prometheus' 5 s target sync.
            result = wait_for(series, 40, "the per-satellite series in Prometheus", 0.5)
            metric = result[0]["metric"]
            assert isinstance(metric, dict) and metric["satellite"] == "sat-0-1"
            agent_q = urllib.parse.quote('orbital_agent_connected{satellite="sat-0-0"}')
            up = wait_for(
                lambda: json.loads(fetch(f"http://127.0.0.1:{port}/api/v1/query?query={agent_q}"))[
                    "data"
                ]["result"],
                20,
                "the agent's own series",
            )
            assert up[0]["value"][1] == "1"


def test_a_lost_satellite_drops_its_reported_series() -> None:
    """Once given up for lost, a satellite's last telemetry is not shown as if current; it is
    flagged lost, and both come back when it returns."""
    from orbitalsched.v1 import agent_pb2
    from prometheus_client import generate_latest

    from scheduler.server.metrics import SchedulerMetrics

    m = SchedulerMetrics()
    m.fleet(("sat-0-0", "sat-0-1"), 0.2, 60.0)
    tel = agent_pb2.Telemetry(
        battery_soc_wh=1100.0, battery_capacity_wh=2200.0, temperature_c=41.0, in_contact=True
    )
    m.telemetry("sat-0-0", tel)
    m.telemetry("sat-0-1", tel)

    def text() -> str:
        return generate_latest(m.registry).decode()

    assert 'orbital_satellite_temperature_celsius{satellite="sat-0-0"} 41.0' in text()
    m.satellite_lost("sat-0-0")
    assert 'orbital_satellite_temperature_celsius{satellite="sat-0-0"}' not in text()
    assert 'orbital_satellite_battery_soc_ratio{satellite="sat-0-0"}' not in text()
    assert 'orbital_satellite_lost{satellite="sat-0-0"} 1.0' in text()
    assert 'orbital_satellite_temperature_celsius{satellite="sat-0-1"} 41.0' in text()
    assert 'orbital_satellite_battery_floor_ratio{satellite="sat-0-0"} 0.2' in text()
    m.satellite_returned("sat-0-0")
    m.telemetry("sat-0-0", tel)
    assert 'orbital_satellite_lost{satellite="sat-0-0"} 0.0' in text()
    assert 'orbital_satellite_temperature_celsius{satellite="sat-0-0"} 41.0' in text()
