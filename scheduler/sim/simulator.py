"""Deterministic rolling-horizon simulation in virtual time, on production's path.

The simulator assembles the scheduler's own parts (server/app.py wires the same ones): the
job lifecycle over the job state machine (server/lifecycle.py, jobs_logic.py), the agent
sessions and their dissemination (server/sessions.py), and the replanner's request builder
and plan adoption (server/replanner.py, planning.build_request) with the solve of the solver
worker (server/solver_worker.solve). Each satellite runs the agent's own runtime
(agents/runtime.py: the executor and the simulated bus against its truth model) and talks
to the sessions through the same protobuf messages an agent stream carries, validated the
same way (server/validate.py). Only two things are simulated:

- the clock: a `SimClock` whose wall clock is virtual, advanced in 60 s steps;
- the link: messages go straight between the sessions' outboxes and the runtimes (the
  "always" link model), and a solve takes `time_limit_s x speed` simulated seconds.

`speed` is the speed of the live cluster being modelled (it sets the plan lead and the
telemetry interval exactly as in orbit-scheduler). Replans happen every `replan_s`, and with
`triggers` also on the server's replan requests (submissions, stops, ...), at most one solve
at a time as in the live replanner. Same seed, same summary: CP-SAT runs on one worker with a
deterministic time limit.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orbitalsched.v1 import agent_pb2

from agents.bus import SimulatedBus
from agents.runtime import Runtime
from scheduler.forecast import find_eclipses
from scheduler.forecast.timeconv import SimClock
from scheduler.planner.domain import Plan, Weights
from scheduler.planner.validator import validate_plan
from scheduler.scenario import load_scenario
from scheduler.server import solver_worker
from scheduler.server.agent_service import AgentService
from scheduler.server.app import ServerConfig, build_world
from scheduler.server.convert import to_agent_pb
from scheduler.server.current_plan import CurrentPlan
from scheduler.server.lifecycle import JobLifecycle
from scheduler.server.messages import Hello
from scheduler.server.metrics import SchedulerMetrics
from scheduler.server.model import Job, JobState
from scheduler.server.planning import SolveRequest
from scheduler.server.replanner import ReplanConfig, Replanner
from scheduler.server.sessions import AgentSessions
from scheduler.server.store import Store, TransitionError
from scheduler.server.triggers import ReplanRequests, ReplanTrigger
from scheduler.server.validate import RequestError, report_from_pb, telemetry_from_pb
from scheduler.sim.outcome import job_value, outcome
from scheduler.sim.workload import Arrival, offered_rate_per_hour, poisson_workload

STEP_S = 60.0
K = agent_pb2.JobReportKind


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
    satellites: int | None = None  # the first N of the scenario (default: all)
    start_s: float | None = None  # default: the scenario's epoch
    speed: float = 1.0  # of the live cluster modelled: plan lead, telemetry, solve time
    triggers: bool = False  # also replan on the server's replan requests


@dataclass
class SimResult:
    summary: dict[str, Any]
    executed: list[dict[str, Any]]
    start_s: float
    end_s: float
    names: tuple[str, ...]
    eclipses: dict[str, list[tuple[float, float]]]
    contacts: dict[str, list[tuple[float, float]]]  # reachable through the ISL route group
    jobs: list[Job] = field(default_factory=list)
    last_plan: Plan | None = None


class VirtualWall:
    """The simulator's wall clock: simulated time t maps to wall (t - start) / speed."""

    def __init__(self, start_s: float, speed: float) -> None:
        self.start_s = start_s
        self.speed = speed
        self.t = start_s

    def __call__(self) -> float:
        return (self.t - self.start_s) / self.speed


class SimAgent:
    """One satellite: the agent's runtime, fed by the sessions' outbox."""

    def __init__(self, sim: Simulation, name: str, now_s: float) -> None:
        self.sim = sim
        self.name = name
        s = sim.sessions
        rt, self.outbox = s.connect(Hello(name, boot_id="sim"))
        config = AgentService(s, sim.lifecycle).welcome(rt).welcome.config
        self.runtime = Runtime.from_config(config, now_s)
        self.buses: list[SimulatedBus] = [self.runtime.bus]
        sim.lifecycle.reconcile(name, ())
        s.send_plan(name)

    def deliver(self, now_s: float) -> None:
        """Everything the sessions queued for this satellite, as its stream would carry it."""
        while not self.outbox.empty():
            queued = self.outbox.get_nowait()
            if queued is None:
                continue
            msg = to_agent_pb(queued, self.sim.clock)
            body = msg.WhichOneof("body")
            if body == "plan":
                if self.runtime.apply_plan(msg.plan, now_s):
                    self.sim.sessions.plan_acked(self.name, msg.plan.plan_version)
            elif body == "cancel":
                self.reports(self.runtime.cancel(msg.cancel.job_id, msg.cancel.reason, now_s))
            elif body == "drain":
                self.runtime.drain(msg.drain.reason)

    def step(self, now_s: float) -> None:
        self.reports(self.runtime.step(now_s))
        if self.runtime.bus is not self.buses[-1]:  # the truth model was extended
            self.buses.append(self.runtime.bus)

    def telemetry(self, now_s: float) -> None:
        try:
            tel = telemetry_from_pb(self.runtime.telemetry(now_s))
        except RequestError:
            return
        self.sim.sessions.telemetry(self.name, tel)
        self.reports(self.runtime.progress_reports())

    def reports(self, reports: Iterable[agent_pb2.JobReport]) -> None:
        for pb in reports:
            self.sim.record_span(self.name, pb)
            rep = report_from_pb(pb)
            if rep is None:
                continue
            with contextlib.suppress(TransitionError):  # dropped, as agent_service.py does
                self.sim.lifecycle.report(self.name, rep)


class Simulation:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        sc = load_scenario(cfg.scenario)
        self.start_s = sc.epoch_s if cfg.start_s is None else cfg.start_s
        self.end_s = self.start_s + cfg.hours * 3600.0
        replan = ReplanConfig(
            scenario=cfg.scenario,
            policy=cfg.policy,
            time_limit_s=cfg.time_limit_s,
            slot_s=STEP_S,
            n_slots=cfg.horizon_slots,
            interval_s=cfg.replan_s,
            in_process=True,
            seed=cfg.seed,
        )
        server = ServerConfig(
            db=":memory:", scenario=cfg.scenario, satellites=cfg.satellites, replan=replan
        )
        self.world, _ = build_world(server)
        self.wall = VirtualWall(self.start_s, cfg.speed)
        self.clock = SimClock(self.start_s, 0.0, cfg.speed, wall_time_s=self.wall)
        self.store = Store(":memory:")
        self.metrics = SchedulerMetrics()
        self.replans = ReplanRequests()
        self.plan = CurrentPlan()
        # Telemetry as orbit-scheduler asks for it (one wall second), at most once a step.
        self.telemetry_s = max(STEP_S, cfg.speed)
        self.sessions = AgentSessions(
            self.store,
            self.world,
            self.clock,
            self.metrics,
            self.plan,
            self.replans,
            link_model="always",
            telemetry_interval_s=self.telemetry_s,
        )
        self.lifecycle = JobLifecycle(
            self.store, self.clock, self.metrics, self.plan, self.sessions, self.replans
        )
        self.replanner = Replanner(self.store, self.lifecycle, self.sessions, self.replans, replan)
        self.agents = [SimAgent(self, n, self.start_s) for n in self.world.names]
        self.open_spans: dict[tuple[str, str], dict[str, Any]] = {}
        self.executed: list[dict[str, Any]] = []
        self.solve_times: list[float] = []
        self.gaps: list[float] = []
        self.statuses: dict[str, int] = defaultdict(int)
        self.violations = 0
        self.last_plan: Plan | None = None

    # --- what ran, for the Gantt chart and plan.json ---------------------------------------
    def record_span(self, sat: str, rep: agent_pb2.JobReport) -> None:
        key = (sat, rep.job_id)
        if rep.kind == K.JOB_REPORT_KIND_STARTED:
            job = self.store.get_job(rep.job_id)
            kind = job.spec.kind if job else "inference"
            self.open_spans[key] = {
                "satellite": sat,
                "job_id": rep.job_id,
                "kind": kind,
                "start_s": rep.time_s,
            }
            return
        ends = (K.JOB_REPORT_KIND_STOPPED, K.JOB_REPORT_KIND_FAILED, K.JOB_REPORT_KIND_SUCCEEDED)
        if rep.kind in ends or (
            rep.kind == K.JOB_REPORT_KIND_PROGRESS and rep.reason == "compute done"
        ):
            span = self.open_spans.pop(key, None)
            if span is not None:
                outcome = rep.reason or K.Name(rep.kind).removeprefix("JOB_REPORT_KIND_").lower()
                self.executed.append({**span, "end_s": rep.time_s, "outcome": outcome})

    # --- the loop ---------------------------------------------------------------------------
    def solve(self, now_s: float) -> tuple[SolveRequest, solver_worker.SolveOutput]:
        request = self.replanner.request(now_s)
        out = solver_worker.solve(request)
        res = out.result
        self.violations += len(validate_plan(solver_worker.build_problem(request), res.plan))
        self.solve_times.append(res.solve_time_s)
        if not math.isnan(res.gap):
            self.gaps.append(res.gap)
        self.statuses[res.status] += 1
        self.last_plan = res.plan
        return request, out

    def adopt(
        self,
        now_s: float,
        solved: tuple[SolveRequest, solver_worker.SolveOutput],
        created_s: float,
        why: tuple[ReplanTrigger, str],
    ) -> None:
        request, out = solved
        self.replanner.adopt(request, out, created_s, out.result.solve_time_s, why[1], why[0])
        for agent in self.agents:  # the sessions' broadcast_plans, without the event loop
            rt = self.sessions.sats[agent.name]
            if rt.sent_plan_version < self.plan.version:
                self.sessions.send_plan(agent.name)
            agent.deliver(now_s)

    def run(self, arrivals: list[Arrival]) -> None:
        cfg = self.cfg
        queue = sorted(arrivals, key=lambda a: a.submit_s)
        k = 0
        solve_s = cfg.time_limit_s * cfg.speed  # simulated time a solve takes
        last_solve_s = -math.inf
        pending: tuple[float, float, Any, tuple[ReplanTrigger, str]] | None = None
        next_telemetry_s = self.start_s
        t = self.start_s
        while t < self.end_s - 1e-6:
            self.wall.t = t
            if pending is not None and t >= pending[0] - 1e-6:
                self.adopt(t, pending[2], pending[1], pending[3])
                pending = None
            if pending is None:
                periodic = t - last_solve_s >= cfg.replan_s - 1e-6
                asked = cfg.triggers and bool(self.replans.pending)
                if periodic or asked:
                    taken = self.replans.take()
                    why = taken[0] if taken and not periodic else (ReplanTrigger.PERIODIC, "")
                    last_solve_s = t
                    solved = self.solve(t)
                    ready_s = t + STEP_S * round(solve_s / STEP_S)
                    if ready_s <= t:
                        self.adopt(t, solved, t, why)
                    else:
                        pending = (ready_s, t, solved, why)
            t_next = t + STEP_S
            while k < len(queue) and queue[k].submit_s < min(t_next, self.end_s):
                self.wall.t = max(t, queue[k].submit_s)  # submitted at its own time
                self.lifecycle.submit([queue[k].spec])
                k += 1
            for agent in self.agents:
                agent.deliver(t)
            self.wall.t = t_next
            for agent in self.agents:
                agent.step(t_next)
            if t_next >= next_telemetry_s - 1e-6:
                for agent in self.agents:
                    agent.telemetry(t_next)
                next_telemetry_s += self.telemetry_s
            t = t_next
        for span in self.open_spans.values():
            self.executed.append({**span, "end_s": self.end_s, "outcome": "running at end"})
        self.replanner.close()


def run_simulation(cfg: SimConfig, arrivals: list[Arrival] | None = None) -> SimResult:
    """Simulate `arrivals` (default: the seeded workload of cfg) and summarise the run."""
    wall0 = time.perf_counter()
    sim = Simulation(cfg)
    if arrivals is None:
        rate = offered_rate_per_hour(
            len(sim.world.names) * sim.world.bus.accelerators, cfg.contention
        )
        arrivals = poisson_workload(sim.start_s, cfg.hours, cfg.seed, rate, cfg.training_jobs)
    sim.run(arrivals)
    jobs = sim.store.list_jobs(limit=10_000_000)
    names = sim.world.names
    eclipses: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for e in find_eclipses(sim.world.constellation, sim.start_s, sim.end_s):
        eclipses[names[e.sat]].append((e.start_s, e.end_s))
    contacts = {n: sim.world.contacts(n, sim.start_s, sim.end_s, via_group=True) for n in names}
    summary = _summary(sim, jobs, time.perf_counter() - wall0)
    return SimResult(
        summary,
        sim.executed,
        sim.start_s,
        sim.end_s,
        names,
        eclipses,
        contacts,
        jobs,
        sim.last_plan,
    )


def _stats(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}
    s = sorted(xs)
    return {
        "mean": statistics.fmean(s),
        "p95": s[min(len(s) - 1, int(0.95 * len(s)))],
        "max": s[-1],
    }


def _summary(sim: Simulation, jobs: list[Job], wall_s: float) -> dict[str, Any]:
    cfg = sim.cfg
    weights = Weights()
    by_kind: dict[str, dict[str, int]] = {}
    for j in jobs:
        k = by_kind.setdefault(
            j.spec.kind, {"submitted": 0, "succeeded": 0, "late": 0, "failed": 0, "unfinished": 0}
        )
        k["submitted"] += 1
        if j.state == JobState.SUCCEEDED:
            k["succeeded"] += 1
            deadline = j.spec.deadline_s
            k["late"] += int(bool(deadline) and j.end_time_s > (deadline or 0.0))
        elif j.state in (JobState.FAILED, JobState.CANCELLED):
            k["failed"] += 1
        else:
            k["unfinished"] += 1
    for kind in ("inference", "training"):
        by_kind.setdefault(
            kind, {"submitted": 0, "succeeded": 0, "late": 0, "failed": 0, "unfinished": 0}
        )
    o = outcome(jobs, sim.end_s, weights)
    buses = [b for a in sim.agents for b in a.buses]
    bus = sim.world.bus
    return {
        "policy": cfg.policy,
        "seed": cfg.seed,
        "hours": cfg.hours,
        "scenario": cfg.scenario or "default",
        "satellites": len(sim.world.names),
        "contention": cfg.contention,
        "speed": cfg.speed,
        "jobs": by_kind,
        "value": round(sum(job_value(j, weights) for j in jobs), 4),
        "deadline_misses": o.deadline_misses,
        "preemptions": o.preemptions,
        "accelerator_hours": o.accelerator_hours,
        "energy_used_wh": round(sum(b.energy_used_wh for b in buses), 1),
        "min_soc_wh": round(min(b.min_soc_wh for b in buses), 2),
        "battery_floor_wh": bus.battery_floor_wh,
        "max_temperature_c": round(max(b.max_temperature_c for b in buses), 3),
        "temperature_limit_c": bus.max_temperature_c,
        "battery_floor_violations": sum(b.floor_violations for b in buses),
        "temperature_violations": sum(b.temperature_violations for b in buses),
        "self_protection_events": sum(
            a.runtime.executor.self_protection_events for a in sim.agents
        ),
        "planner_validator_violations": sim.violations,
        "replans": len(sim.solve_times),
        "solve_time_s": {k: round(v, 4) for k, v in _stats(sim.solve_times).items()},
        "gap": {k: round(v, 5) for k, v in _stats(sim.gaps).items()},
        "plan_status": dict(sorted(sim.statuses.items())),
        "wall_s": round(wall_s, 2),
    }
