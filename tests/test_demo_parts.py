"""The demo's record of what ran (from WatchJobs events) and its Gantt lanes."""

from __future__ import annotations

from pathlib import Path

from orbitalsched.v1 import jobs_pb2

from scheduler.report.gantt import _lanes, plot_gantt
from scheduler.report.run_record import RunInterval, RunRecorder

J = jobs_pb2


def _event(job_id: str, what: str, t: float, sats: tuple[str, ...]) -> J.JobEvent:
    job = J.Job(spec=J.JobSpec(job_id=job_id, kind=J.JOB_KIND_TRAINING), satellite_ids=list(sats))
    return J.JobEvent(job=job, time_s=t, what=what)


def test_recorder_turns_events_into_intervals_per_satellite() -> None:
    rec = RunRecorder("unused")
    rec.observe(_event("g", "started", 100.0, ("s1", "s2")))
    rec.observe(_event("g", "checkpointed", 200.0, ("s1", "s2")))
    rec.observe(_event("g", "stopped", 300.0, ()))
    rec.observe(_event("h", "started", 250.0, ("s1",)))
    out = rec.stop(now_s=400.0)
    assert sorted((i.job_id, i.satellite, i.start_s, i.end_s, i.outcome) for i in out) == [
        ("g", "s1", 100.0, 300.0, "stopped"),
        ("g", "s2", 100.0, 300.0, "stopped"),
        ("h", "s1", 250.0, 400.0, "running"),
    ]


def test_overlapping_runs_get_their_own_lanes(tmp_path: Path) -> None:
    a = RunInterval("a", "inference", "s1", 0.0, 100.0, "succeeded")
    b = RunInterval("b", "inference", "s1", 50.0, 150.0, "succeeded")
    c = RunInterval("c", "training", "s1", 120.0, 200.0, "stopped")
    lane, lanes = _lanes([a, b, c])
    assert (lane[a], lane[b], lane[c], lanes["s1"]) == (0, 1, 0, 2)
    png = plot_gantt([a, b, c], ["s1"], 0.0, 200.0, {"s1": [(10.0, 40.0)]}, {}, tmp_path / "g.png")
    assert png.stat().st_size > 5000
