"""Deterministic rolling-horizon simulation in virtual time.

Every `replan_s` the planner plans the submitted work from the satellites' true state over a
horizon of `horizon_slots`; each satellite's executor (agents/executor.py, the agent's own
logic) runs its part of the plan against its truth model (agents/bus.py) in 60 s steps,
including self-protection. Outputs reach the ground through the satellite's ISL route group
during contacts. Same seed, same summary: CP-SAT runs on one worker with a deterministic
time limit.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from agents.bus import SimulatedBus
from agents.executor import ExecItem, Executor, JobEvent
from scheduler.forecast.isl import isl_groups
from scheduler.planner.domain import (
    InferenceJob,
    Job,
    Plan,
    RunningJob,
    SatelliteState,
    TrainingJob,
    TrainingProgress,
    Weights,
)
from scheduler.planner.problem_builder import ForecastBook, forecast_book, problem_at
from scheduler.planner.solve import plan
from scheduler.planner.validator import validate_plan
from scheduler.scenario import Scenario, load_scenario
from scheduler.server.model import Job as ServerJob
from scheduler.server.model import JobState
from scheduler.server.planning import planner_job
from scheduler.sim.workload import offered_rate_per_hour, poisson_workload

STEP_S = 60.0


@dataclass(frozen=True)
class SimConfig:
    policy: str = "cpsat"
    hours: float = 24.0
    seed: int = 0
    scenario: str | None = None
    replan_s: float = 900.0
    horizon_slots: int = 190  # ~2 orbits at 550 km
    time_limit_s: float = 3.0
    contention: float = 1.5  # offered accelerator-hours / fleet accelerator-hours
    training_jobs: int = 2


@dataclass
class JobRecord:
    job: Job
    state: str = "PENDING"  # PENDING RUNNING SUCCEEDED FAILED
    late: bool = False
    value: float = 0.0
    reason: str = ""
    done_acc_h: float = 0.0
    gang: tuple[str, ...] = ()
    last_checkpoint_s: float | None = None


@dataclass
class SimResult:
    summary: dict[str, Any]
    executed: list[dict[str, Any]]
    book_sunlit: Any
    book_start_s: float
    names: tuple[str, ...]
    contacts: list[list[tuple[float, float, float]]]
    last_plan: Plan | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _group_contacts(sc: Scenario, book: ForecastBook) -> list[list[tuple[float, float, float]]]:
    """Contact windows (start_s, end_s, downlink_mbps) reachable by each satellite through
    its ISL route group: the passes a station has an antenna for (forecast_book)."""
    groups = isl_groups(sc.constellation, book.names)
    index = {n: i for i, n in enumerate(book.names)}
    return [
        sorted(
            (w.start_s, w.end_s, w.downlink_mbps)
            for m in groups[n]
            for w in book.contacts[index[m]]
        )
        for n in book.names
    ]


def run_simulation(cfg: SimConfig) -> SimResult:
    sc = load_scenario(cfg.scenario)
    start_s = sc.epoch_s
    end_s = start_s + cfg.hours * 3600.0
    span_s = cfg.hours * 3600.0 + cfg.horizon_slots * STEP_S + STEP_S
    book = forecast_book(sc.constellation, sc.stations, sc.bus, start_s, span_s, STEP_S)
    names = book.names
    weights = Weights()
    route_contacts = _group_contacts(sc, book)
    executors = [
        Executor(
            name,
            SimulatedBus(
                sc.bus,
                start_s,
                STEP_S,
                book.sunlit[i],
                book.altitude_km[i],
                soc_wh=sc.bus.initial_soc_wh,
                temperature_c=sc.bus.initial_temperature_c,
                seed=cfg.seed * 1000 + i,
            ),
        )
        for i, name in enumerate(names)
    ]
    for ex, contacts in zip(executors, route_contacts, strict=True):
        ex.set_contacts(contacts)
    rate = offered_rate_per_hour(len(names) * sc.bus.accelerators, cfg.contention)
    arrivals = poisson_workload(start_s, cfg.hours, cfg.seed, rate, cfg.training_jobs)
    jobs = [planner_job(ServerJob(a.spec, JobState.PENDING, a.submit_s)) for a in arrivals]
    records = {j.job_id: JobRecord(j) for j in jobs}
    open_spans: dict[tuple[str, str], dict[str, Any]] = {}
    executed: list[dict[str, Any]] = []
    checkpoints: dict[tuple[str, float], list[float]] = defaultdict(list)
    solve_times: list[float] = []
    gaps: list[float] = []
    statuses: dict[str, int] = defaultdict(int)
    planner_violations = 0
    previous: Plan | None = None
    version = 0
    t = start_s
    wall0 = time.perf_counter()
    while t < end_s - 1e-6:
        if (t - start_s) % cfg.replan_s < 1e-6:
            _expire(records, t, weights)
            problem = problem_at(
                book,
                t,
                cfg.horizon_slots,
                _plannable(records, t),
                _states(executors),
                _progress(records),
                weights,
            )
            version += 1
            result = plan(
                problem,
                cfg.policy,
                cfg.time_limit_s,
                previous=previous,
                num_workers=1,
                seed=cfg.seed,
                version=version,
                deterministic=True,
            )
            planner_violations += len(validate_plan(problem, result.plan))
            solve_times.append(result.solve_time_s)
            if result.gap == result.gap:  # not NaN
                gaps.append(result.gap)
            statuses[result.status] += 1
            previous = result.plan
            _dispatch(result.plan, executors, records, version)
        for ex in executors:
            for ev in ex.advance(t, STEP_S):
                _on_event(ev, records, open_spans, executed, checkpoints, weights)
        t += STEP_S
    for span in open_spans.values():
        executed.append({**span, "end_s": end_s, "outcome": "running at end"})
    summary = _summary(
        cfg,
        records,
        executors,
        sc.bus,
        solve_times,
        gaps,
        statuses,
        planner_violations,
        time.perf_counter() - wall0,
    )
    return SimResult(summary, executed, book.sunlit, book.start_s, names, route_contacts, previous)


def _plannable(records: dict[str, JobRecord], now_s: float) -> list[Job]:
    out: list[Job] = []
    for r in records.values():
        if r.job.submit_s > now_s or r.state != "PENDING":
            continue
        out.append(r.job)
    return out


def _states(executors: list[Executor]) -> dict[str, SatelliteState]:
    out = {}
    for ex in executors:
        running = tuple(
            RunningJob(i.job_id, i.start_s, i.end_s, i.accelerators, i.power_w)
            for i in ex.running_items()
        )
        out[ex.satellite] = SatelliteState(
            ex.satellite, ex.bus.soc_wh, ex.bus.temperature_c, running
        )
    return out


def _progress(records: dict[str, JobRecord]) -> dict[str, TrainingProgress]:
    return {
        jid: TrainingProgress(jid, r.done_acc_h * 3600.0, r.last_checkpoint_s, r.gang)
        for jid, r in records.items()
        if isinstance(r.job, TrainingJob)
    }


def _expire(records: dict[str, JobRecord], now_s: float, weights: Weights) -> None:
    for r in records.values():
        job = r.job
        if (
            isinstance(job, InferenceJob)
            and r.state == "PENDING"
            and now_s > job.deadline_s + weights.late_grace_s
        ):
            r.state, r.reason = "FAILED", "deadline passed before it could run"


def _dispatch(
    p: Plan, executors: list[Executor], records: dict[str, JobRecord], version: int
) -> None:
    by_sat: dict[str, list[ExecItem]] = defaultdict(list)
    gangs: dict[str, set[str]] = defaultdict(set)
    for it in p.items:
        job = records[it.job_id].job
        extra: dict[str, float] = {}
        if isinstance(job, InferenceJob):
            extra = dict(work_acc_s=job.work_acc_s, output_mb=job.output_mb)
        else:
            extra = dict(checkpoint_cost_s=job.checkpoint_cost_s)
            gangs[it.job_id].add(it.satellite)
        by_sat[it.satellite].append(
            ExecItem(
                it.job_id,
                it.kind,
                it.start_s,
                it.end_s,
                it.accelerators,
                it.power_w,
                checkpoint_times_s=it.checkpoint_times_s,
                assignment_version=version,
                deadline_s=job.deadline_s,
                **extra,
            )
        )
    for jid, members in gangs.items():
        records[jid].gang = tuple(sorted(members))
    for ex in executors:
        ex.apply_plan(by_sat.get(ex.satellite, []), version)


def _on_event(
    ev: JobEvent,
    records: dict[str, JobRecord],
    open_spans: dict[tuple[str, str], dict[str, Any]],
    executed: list[dict[str, Any]],
    checkpoints: dict[tuple[str, float], list[float]],
    weights: Weights,
) -> None:
    r = records[ev.job_id]
    key = (ev.satellite, ev.job_id)
    if ev.kind == "started":
        if isinstance(r.job, InferenceJob):
            r.state = "RUNNING"
        open_spans[key] = {
            "satellite": ev.satellite,
            "job_id": ev.job_id,
            "kind": "inference" if isinstance(r.job, InferenceJob) else "training",
            "start_s": ev.time_s,
        }
        return
    if ev.kind in ("stopped", "failed") or (ev.kind == "progress" and ev.reason == "compute done"):
        span = open_spans.pop(key, None)
        if span is not None:
            executed.append({**span, "end_s": ev.time_s, "outcome": ev.reason or ev.kind})
    job = r.job
    if isinstance(job, InferenceJob):
        if ev.kind == "succeeded":
            late_s = max(0.0, ev.time_s - job.deadline_s)
            r.late = late_s > 0
            if late_s <= weights.late_grace_s:
                r.state = "SUCCEEDED"
                r.value = max(0.0, job.value - weights.lateness_per_s * late_s)
            else:
                r.state, r.reason = "FAILED", "output reached the ground after the grace"
        elif ev.kind in ("stopped", "failed"):
            r.state, r.reason = "PENDING", ev.reason  # back to the queue
    elif ev.kind == "checkpointed":
        cp = checkpoints[ev.job_id, round(ev.time_s, 3)]
        cp.append(ev.checkpoint_acc_s)
        if len(cp) == job.gang_size:  # progress counts only when the whole gang got there
            useful_h = (
                job.gang_size
                * job.accelerators_per_member
                * (job.checkpoint_interval_s - job.checkpoint_cost_s)
                / 3600.0
            )
            useful_h = min(useful_h, job.work_acc_s / 3600.0 - r.done_acc_h)
            r.done_acc_h += useful_h
            r.value += useful_h * job.value_per_acc_h
            r.last_checkpoint_s = ev.time_s
            if r.done_acc_h >= job.work_acc_s / 3600.0 - 1e-9:
                r.state = "SUCCEEDED"


def _stats(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}
    s = sorted(xs)
    return {
        "mean": statistics.fmean(s),
        "p95": s[min(len(s) - 1, int(0.95 * len(s)))],
        "max": s[-1],
    }


def _summary(
    cfg: SimConfig,
    records: dict[str, JobRecord],
    executors: list[Executor],
    bus: Any,
    solve_times: list[float],
    gaps: list[float],
    statuses: dict[str, int],
    planner_violations: int,
    wall_s: float,
) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    for r in records.values():
        kind = "inference" if isinstance(r.job, InferenceJob) else "training"
        k = by_kind.setdefault(
            kind, {"submitted": 0, "succeeded": 0, "late": 0, "failed": 0, "unfinished": 0}
        )
        k["submitted"] += 1
        if r.state == "SUCCEEDED":
            k["succeeded"] += 1
            k["late"] += int(r.late)
        elif r.state == "FAILED":
            k["failed"] += 1
        else:
            k["unfinished"] += 1
    acc_h = sum(r.done_acc_h for r in records.values()) + sum(
        r.job.work_acc_s / 3600.0
        for r in records.values()
        if isinstance(r.job, InferenceJob) and r.state == "SUCCEEDED"
    )
    return {
        "policy": cfg.policy,
        "seed": cfg.seed,
        "hours": cfg.hours,
        "scenario": cfg.scenario or "default",
        "contention": cfg.contention,
        "jobs": by_kind,
        "value": round(sum(r.value for r in records.values()), 4),
        "accelerator_hours": round(acc_h, 3),
        "energy_used_wh": round(sum(ex.bus.energy_used_wh for ex in executors), 1),
        "min_soc_wh": round(min(ex.bus.min_soc_wh for ex in executors), 2),
        "battery_floor_wh": bus.battery_floor_wh,
        "max_temperature_c": round(max(ex.bus.max_temperature_c for ex in executors), 3),
        "temperature_limit_c": bus.max_temperature_c,
        "battery_floor_violations": sum(ex.bus.floor_violations for ex in executors),
        "temperature_violations": sum(ex.bus.temperature_violations for ex in executors),
        "self_protection_events": sum(ex.self_protection_events for ex in executors),
        "planner_validator_violations": planner_violations,
        "replans": len(solve_times),
        "solve_time_s": {k: round(v, 4) for k, v in _stats(solve_times).items()},
        "gap": {k: round(v, 5) for k, v in _stats(gaps).items()},
        "plan_status": dict(sorted(statuses.items())),
        "wall_s": round(wall_s, 2),
    }
