"""orbitctl simulate: deterministic, writes its three files, and rejects bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.cli import main
from scheduler.sim.simulator import SimConfig, run_simulation

SHORT = dict(hours=0.5, replan_s=900.0, time_limit_s=0.2, contention=1.0, training_jobs=1)


def _stable(summary: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in summary.items() if k not in ("wall_s", "solve_time_s")}


@pytest.mark.slow
def test_same_seed_same_summary() -> None:
    a = run_simulation(SimConfig(policy="cpsat", seed=3, **SHORT))  # type: ignore[arg-type]
    b = run_simulation(SimConfig(policy="cpsat", seed=3, **SHORT))  # type: ignore[arg-type]
    assert _stable(a.summary) == _stable(b.summary)
    assert a.executed == b.executed
    s = a.summary
    assert s["battery_floor_violations"] == 0 and s["temperature_violations"] == 0
    assert s["planner_validator_violations"] == 0
    assert s["min_soc_wh"] >= s["battery_floor_wh"]
    assert s["max_temperature_c"] <= s["temperature_limit_c"]
    assert s["jobs"]["inference"]["submitted"] > 0


@pytest.mark.slow
def test_cli_compare_writes_summary_plan_and_gantt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim"
    code = main(
        [
            "simulate",
            "--compare",
            "cpsat,greedy",
            "--hours",
            "0.5",
            "--time-limit",
            "0.2",
            "--contention",
            "1.0",
            "--seed",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "cpsat vs greedy" in printed and "policy" in printed
    for policy in ("cpsat", "greedy"):
        summary = json.loads((out / policy / "summary.json").read_text())
        for key in (
            "policy",
            "seed",
            "hours",
            "jobs",
            "value",
            "accelerator_hours",
            "energy_used_wh",
            "min_soc_wh",
            "battery_floor_wh",
            "max_temperature_c",
            "temperature_limit_c",
            "self_protection_events",
            "solve_time_s",
            "gap",
        ):
            assert key in summary
        assert summary["policy"] == policy
        plan = json.loads((out / policy / "plan.json").read_text())
        assert all(i["end_s"] >= i["start_s"] for i in plan["items"])
        assert (out / policy / "gantt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "random"], "unknown policy"),
        (["--hours", "-1"], "--hours"),
        (["--replan", "90"], "--replan"),
        (["--scenario", "/nonexistent.toml"], "nonexistent"),
    ],
)
def test_cli_rejects_bad_arguments(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_the_simulator_runs_the_servers_job_lifecycle() -> None:
    """Job records come out of the server's store and state machine, and the summary's
    figures are the ones outcome() computes from them (the live cluster's measure)."""
    from scheduler.server.model import Job, JobState
    from scheduler.sim.outcome import outcome

    r = run_simulation(SimConfig(policy="greedy", seed=2, **SHORT))  # type: ignore[arg-type]
    assert r.jobs and all(isinstance(j, Job) for j in r.jobs)
    assert {j.state for j in r.jobs} <= set(JobState)
    started = [j for j in r.jobs if j.start_time_s]
    assert started, "nothing ran"
    assert all(r.start_s <= j.start_time_s <= r.end_s for j in started)
    done = [j for j in r.jobs if j.state == JobState.SUCCEEDED]
    assert all(j.end_time_s >= j.start_time_s for j in done)
    o = outcome(r.jobs, r.end_s)
    assert r.summary["value"] == o.value
    assert r.summary["deadline_misses"] == o.deadline_misses
    assert r.summary["preemptions"] == o.preemptions
    spans = {(e["satellite"], e["job_id"]) for e in r.executed}
    assert {j.job_id for j in started} <= {job for _, job in spans}


@pytest.mark.slow
def test_modelling_a_live_cluster_replans_on_triggers_with_its_lead() -> None:
    """At 120x with triggers, solves follow the server's replan requests (every submission),
    one at a time, each taking time_limit x speed of simulated time."""
    cfg = dict(SHORT, hours=1.0)
    periodic = run_simulation(SimConfig(policy="greedy", **cfg))  # type: ignore[arg-type]
    live = run_simulation(SimConfig(policy="greedy", speed=120.0, triggers=True, **cfg))  # type: ignore[arg-type]
    assert periodic.summary["replans"] == 4  # every 900 s over an hour
    # solves take 0.2 s x 120 = 24 s, rounded to no step: back to back on submissions
    assert live.summary["replans"] > 2 * periodic.summary["replans"]
