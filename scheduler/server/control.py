"""The controller: every state change of the scheduler goes through here.

It owns the store, the fleet's run-time state and the plan each satellite should run, and
turns requests, agent reports and new plans into stored changes and messages to agents.
Everything runs on the asyncio thread; the solver runs elsewhere (replanner.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import grpc
from orbitalsched.v1 import agent_pb2, jobs_pb2

from scheduler.server import jobs_logic
from scheduler.server.clock import SimClock
from scheduler.server.convert import KIND_TO_PB, job_to_pb
from scheduler.server.fleet import JobProgress, SatRuntime
from scheduler.server.forecast_check import ForecastChecker
from scheduler.server.metrics import SchedulerMetrics
from scheduler.server.model import Assignment, Job, JobSpec, JobState, PlanRecord, SatelliteFlags
from scheduler.server.store import Store
from scheduler.server.validate import RequestError
from scheduler.server.world import World

log = logging.getLogger("orbit-scheduler")


def telemetry_problem(tel: agent_pb2.Telemetry) -> str:
    """What is wrong with a telemetry sample ("" when nothing)."""
    numbers = (
        "time_s",
        "battery_soc_wh",
        "battery_capacity_wh",
        "temperature_c",
        "power_generated_w",
        "power_drawn_w",
        "sunlit_fraction",
    )
    for name in numbers:
        if not math.isfinite(getattr(tel, name)):
            return f"{name} is not a finite number"
    if tel.battery_capacity_wh <= 0 or not 0 <= tel.battery_soc_wh <= tel.battery_capacity_wh:
        return "battery_soc_wh must lie between 0 and battery_capacity_wh > 0"
    if not 0 <= tel.sunlit_fraction <= 1 or tel.power_generated_w < 0 or tel.power_drawn_w < 0:
        return "sunlit_fraction outside [0, 1] or a negative power"
    if not -150 <= tel.temperature_c <= 250:
        return f"temperature_c {tel.temperature_c:g} is not plausible"
    return ""


# Runs of one job that may fail or be preempted before an agent failure is final.
MAX_RETRIES = 5
R = agent_pb2


class Controller:
    def __init__(
        self,
        store: Store,
        world: World,
        clock: SimClock,
        metrics: SchedulerMetrics,
        link_model: str = "always",
        agent_timeout_s: float = 3.0,
    ) -> None:
        self.store = store
        self.world = world
        self.clock = clock
        self.metrics = metrics
        self.link_model = link_model
        self.agent_timeout_s = agent_timeout_s
        self.sats = {n: SatRuntime(n, world.bus.accelerators) for n in world.names}
        self.flags = {n: SatelliteFlags(n) for n in world.names}
        self.flags.update({k: v for k, v in store.satellite_flags().items() if k in self.sats})
        self.progress: dict[str, JobProgress] = {}
        self.telemetry_interval_s = 60.0  # simulated; set by the server from its options
        self.watchers: set[asyncio.Queue[jobs_pb2.JobEvent]] = set()
        self.plan: PlanRecord | None = store.latest_plan()
        self.plan_items: dict[str, list[dict[str, object]]] = {}
        self._index_plan()
        self.request_replan: Callable[[str], None] = lambda reason: None
        self.forecast_checker = ForecastChecker(world.constellation, world.bus)
        # At most one "telemetry departs from the forecast" replan per satellite this often.
        self.departure_replan_every_s = 1800.0
        self._departure_replan_s: dict[str, float] = {}

    # --- jobs ---------------------------------------------------------------------------
    def submit(self, specs: Sequence[JobSpec]) -> list[Job]:
        now = self.clock.now_s()
        jobs = [Job(spec=s, state=JobState.PENDING, submit_time_s=now) for s in specs]
        self.store.insert_jobs(jobs, now)
        for kind in ("inference", "training"):
            n = sum(1 for j in jobs if j.spec.kind == kind)
            if n:
                self.metrics.jobs_submitted_total.labels(kind).inc(n)
        if self.watchers:
            for job in jobs:
                self._notify(job, "submitted", now)
        self.request_replan("job submitted")
        return jobs

    def cancel(self, job_id: str, reason: str) -> Job:
        job = self.store.get_job(job_id)
        if job is None:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"job_id: no job {job_id!r}")
        if job.state.terminal:
            raise RequestError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"job {job_id!r} is already {job.state.value}; only jobs that are not "
                "finished can be cancelled",
            )
        now = self.clock.now_s()
        done = jobs_logic.finish(job, JobState.CANCELLED, now, reason or "cancelled by user")
        self.store.update_job(done, "cancelled", now)
        for sat in job.satellite_ids:
            self.sats[sat].send(
                R.SchedulerMessage(cancel=R.CancelJob(job_id=job_id, reason=done.reason))
            )
        self._finished(done, now)
        self.request_replan("job cancelled")
        return done

    def _finished(self, job: Job, now: float) -> None:
        self.metrics.finished(job, now)
        self._notify(job, job.state.value.lower(), now)

    def _notify(self, job: Job, what: str, now: float) -> None:
        if not self.watchers:
            return
        event = jobs_pb2.JobEvent(job=job_to_pb(job), time_s=now, what=what)
        for queue in list(self.watchers):
            if queue.qsize() < 10_000:
                queue.put_nowait(event)

    # --- plans --------------------------------------------------------------------------
    def _index_plan(self) -> None:
        self.plan_items = {}
        if self.plan is None:
            return
        for item in json.loads(self.plan.plan_json).get("items", ()):
            self.plan_items.setdefault(str(item["job_id"]), []).append(item)

    def apply_plan(self, record: PlanRecord, considered: set[str]) -> None:
        """Store a solved plan and update the placement of the jobs it considered."""
        now = self.clock.now_s()
        self.store.save_plan(record)
        self.plan = record
        self._index_plan()
        reasons = dict(record.unplaced)
        changes: list[tuple[Job, str]] = []
        moves: list[tuple[str, str]] = []
        for job_id in sorted(considered):
            job = self.store.get_job(job_id)
            if job is None or job.state.terminal:
                continue
            items = self.plan_items.get(job.job_id)
            assignment = None
            if items:
                assignment = Assignment(
                    job.job_id,
                    tuple(sorted({str(i["satellite"]) for i in items})),
                    min(float(i["start_s"]) for i in items),  # type: ignore[arg-type]
                    max(float(i["end_s"]) for i in items),  # type: ignore[arg-type]
                )
            reason = reasons.get(job.job_id, "not placed in this horizon")
            new = jobs_logic.apply_assignment(job, assignment, record.version, reason)
            if new != job:
                what = "planned" if assignment else "unplaced"
                changes.append((new, what if new.state != job.state or assignment else ""))
                # The executor keeps what runs: satellites the job leaves are told to stop.
                for sat in set(job.satellite_ids) - set(new.satellite_ids):
                    moves.append((sat, job.job_id))
        self.store.update_jobs(changes, now)
        for job, what in changes:
            if what:
                self._notify(job, what, now)
        for sat, job_id in moves:
            self.sats[sat].send(
                R.SchedulerMessage(
                    cancel=R.CancelJob(job_id=job_id, reason=f"moved by plan v{record.version}")
                )
            )

    def placed_jobs(self, sat: str | None = None) -> dict[str, list[Job]]:
        """Active jobs with a placement, by satellite (one query for all satellites)."""
        out: dict[str, list[Job]] = {}
        for job in self.store.list_jobs(
            states=(JobState.PLANNED, JobState.RUNNING, JobState.CHECKPOINTED),
            satellite_id=sat or "",
            limit=1_000_000,
        ):
            if job.assignment_version:
                for name in job.satellite_ids:
                    out.setdefault(name, []).append(job)
        return out

    def plan_for(self, sat: str, jobs: list[Job] | None = None) -> agent_pb2.Plan:
        """The current plan of one satellite: an entry per plan item of each placed job."""
        now = self.clock.now_s()
        version = self.plan.version if self.plan else 0
        horizon_end = self.plan.horizon_end_s if self.plan else now
        if jobs is None:
            jobs = self.placed_jobs(sat).get(sat, [])
        entries = []
        for job in jobs:
            spec = job.spec
            items = [i for i in self.plan_items.get(job.job_id, ()) if i["satellite"] == sat]
            for item in items or [{}]:
                entries.append(
                    R.PlanEntry(
                        job_id=job.job_id,
                        kind=KIND_TO_PB[spec.kind],
                        start_s=float(item.get("start_s", job.planned_start_s)),  # type: ignore[arg-type]
                        end_s=float(item.get("end_s", job.planned_end_s)),  # type: ignore[arg-type]
                        accelerators=spec.accelerators,
                        power_w=float(item.get("power_w", spec.power_w)),  # type: ignore[arg-type]
                        work_accelerator_s=spec.work_accelerator_s,
                        resume_from_accelerator_s=job.checkpoint_accelerator_s,
                        checkpoint_interval_s=spec.checkpoint_interval_s,
                        checkpoint_cost_s=spec.checkpoint_cost_s,
                        output_mb=spec.output_mb,
                        deadline_s=spec.deadline_s,
                        gang_satellite_ids=list(job.satellite_ids),
                        assignment_version=job.member_version(sat) or job.assignment_version,
                        checkpoint_times_s=list(item.get("checkpoint_times_s") or ()),  # type: ignore[call-overload]
                        delivery_s=float(item.get("delivery_s") or 0.0),  # type: ignore[arg-type]
                    )
                )
        contacts = [
            R.Window(start_s=a, end_s=b)
            for a, b in self.world.contacts(sat, now, max(horizon_end, now + 3600), via_group=True)
        ]
        return R.Plan(
            plan_version=version,
            satellite_id=sat,
            created_s=now,
            horizon_end_s=horizon_end,
            entries=entries,
            contacts=contacts,
        )

    async def broadcast_plans(self, chunk: int = 8) -> None:
        """Queue the current plan to every connected agent that does not have it, yielding
        to the event loop every `chunk` agents so the first plans are written while the
        last are built (delivery latency of a large fleet)."""
        version = self.plan.version if self.plan else 0
        placed = self.placed_jobs()
        for i, rt in enumerate(list(self.sats.values())):
            if rt.connected and rt.sent_plan_version < version:
                self._send_plan(rt, placed.get(rt.name, []))
            if i % chunk == chunk - 1:
                await asyncio.sleep(0)

    def _send_plan(self, rt: SatRuntime, jobs: list[Job] | None = None) -> None:
        plan = self.plan_for(rt.name, jobs)
        plan.wall_queued_s = time.time()
        if rt.send(R.SchedulerMessage(plan=plan)):
            rt.sent_plan_version = plan.plan_version
            self.metrics.plan_sent(plan.plan_version, time.time())

    # --- agents -------------------------------------------------------------------------
    def reachable(self, sat: str, now_s: float | None = None) -> bool:
        if self.link_model == "always":
            return True
        return (
            self.world.contact_at(sat, self.clock.now_s() if now_s is None else now_s) is not None
        )

    def hello(self, rt: SatRuntime, hello: agent_pb2.Hello) -> list[agent_pb2.SchedulerMessage]:
        """A (re)connected agent: reconcile what it runs with what it should run."""
        now = self.clock.now_s()
        rt.boot_id = hello.boot_id
        rt.applied_plan_version = hello.last_plan_version
        rt.sent_plan_version = 0
        rt.ever_connected = True
        out: list[agent_pb2.SchedulerMessage] = []
        for running in hello.running_jobs:
            job = self.store.get_job(running.job_id)
            if (
                job is None
                or job.state.terminal
                or not self._current(job, rt.name, running.assignment_version)
            ):
                why = (
                    "not assigned to this satellite"
                    if job is None or not job.state.terminal
                    else f"job is {job.state.value}"
                )
                out.append(
                    R.SchedulerMessage(cancel=R.CancelJob(job_id=running.job_id, reason=why))
                )
                continue
            self._progress(
                job, rt.name, running.done_accelerator_s, running.checkpoint_accelerator_s, now
            )
        flags = self.flags[rt.name]
        if flags.lost:
            self.set_flags(replace(flags, lost=False))
            self.metrics.satellite_returned(rt.name)
            self.request_replan(f"satellite {rt.name} returned")
        self.metrics.agents_connected.set(sum(s.connected for s in self.sats.values()))
        return out

    def _current(self, job: Job, sat: str, version: int) -> bool:
        since = job.member_version(sat)
        return since is not None and version >= since

    def _progress(self, job: Job, sat: str, done: float, ckpt: float, now: float) -> None:
        prog = self.progress.setdefault(job.job_id, JobProgress(3.0 * self.telemetry_interval_s))
        prog.update(sat, done, ckpt, now)
        members = job.satellite_ids
        gang = job.spec.gang_size
        new = job
        if ckpt and (c := prog.checkpoint(members, gang)) > new.checkpoint_accelerator_s:
            new = jobs_logic.on_checkpoint(new, c) or new
            self.store.record_checkpoint(job.job_id, sat, now, c)
        new = jobs_logic.on_progress(new, prog.done(members, gang)) or new
        if new != job:
            self.store.update_job(
                new,
                "checkpointed"
                if ckpt and new.checkpoint_accelerator_s > job.checkpoint_accelerator_s
                else "",
                now,
            )
        if new.spec.kind == "training" and new.done_accelerator_s >= new.spec.work_accelerator_s:
            # Training is done when its gang has done all the work (the executor runs blocks).
            self._succeed(new, now, sat)

    def _succeed(self, job: Job, now: float, where: str) -> None:
        done = jobs_logic.finish(job, JobState.SUCCEEDED, now, "")
        self.store.update_job(done, "succeeded", now)
        for other in set(job.satellite_ids) - {where}:
            self.sats[other].send(
                R.SchedulerMessage(cancel=R.CancelJob(job_id=job.job_id, reason="succeeded"))
            )
        self._finished(done, now)
        self.request_replan("job finished")

    def report(self, rt: SatRuntime, rep: agent_pb2.JobReport) -> list[agent_pb2.SchedulerMessage]:
        now = rep.time_s or self.clock.now_s()
        job = self.store.get_job(rep.job_id)
        K = R.JobReportKind
        if (
            job is None
            or rep.kind == K.JOB_REPORT_KIND_UNSPECIFIED
            or not math.isfinite(rep.done_accelerator_s + rep.checkpoint_accelerator_s + rep.time_s)
        ):
            return []
        if job.state.terminal:
            if rep.kind in (
                K.JOB_REPORT_KIND_STARTED,
                K.JOB_REPORT_KIND_PROGRESS,
                K.JOB_REPORT_KIND_CHECKPOINTED,
            ):
                return [
                    R.SchedulerMessage(
                        cancel=R.CancelJob(job_id=job.job_id, reason=f"job is {job.state.value}")
                    )
                ]
            return []
        if rep.kind == K.JOB_REPORT_KIND_SUCCEEDED:
            # Work done and delivered counts even from a superseded placement.
            self._succeed(job, now, rt.name)
            return []
        if not self._current(job, rt.name, rep.assignment_version):
            self.metrics.fenced_reports_total.inc()
            if rep.kind in (K.JOB_REPORT_KIND_STOPPED, K.JOB_REPORT_KIND_FAILED):
                return []
            return [
                R.SchedulerMessage(
                    cancel=R.CancelJob(
                        job_id=job.job_id,
                        reason=f"assignment {rep.assignment_version} is stale (current "
                        f"{job.assignment_version} on {', '.join(job.satellite_ids) or 'none'})",
                    )
                )
            ]
        if rep.kind == K.JOB_REPORT_KIND_STARTED:
            new = jobs_logic.on_started(job, now)
            if new is not None:
                self.store.update_job(new, "started", now)
                self._notify(new, "started", now)
        elif rep.kind in (K.JOB_REPORT_KIND_PROGRESS, K.JOB_REPORT_KIND_CHECKPOINTED):
            if job.state != JobState.RUNNING and (new := jobs_logic.on_started(job, now)):
                self.store.update_job(new, "started", now)
                job = new
            self._progress(job, rt.name, rep.done_accelerator_s, rep.checkpoint_accelerator_s, now)
        elif rep.kind == K.JOB_REPORT_KIND_STOPPED:
            later = [
                float(i["start_s"])  # type: ignore[arg-type]
                for i in self.plan_items.get(job.job_id, ())
                if i["satellite"] == rt.name and float(i["start_s"]) > now  # type: ignore[arg-type]
            ]
            protecting = "self-protection" in rep.reason
            if later and not protecting:  # between two planned blocks: keep the placement
                new = jobs_logic.between_blocks(job, min(later))
            else:
                new = jobs_logic.on_stopped(job, f"stopped on {rt.name}: {rep.reason}")
                if "ended" in rep.reason:  # its planned window is over: not a preemption
                    new = replace(new, preemptions=job.preemptions)
                elif job.state == JobState.RUNNING:
                    self.metrics.preempted(job.spec.kind, rep.reason)
                self.request_replan(f"job stopped on {rt.name}")
            self.store.update_job(new, "stopped", now)
            self._notify(new, "stopped", now)
        elif rep.kind == K.JOB_REPORT_KIND_FAILED and job.preemptions < MAX_RETRIES:
            # A run that fails on a satellite (no free accelerators after a late plan, ...)
            # is placed again, up to MAX_RETRIES times.
            new = jobs_logic.on_stopped(job, f"failed on {rt.name}: {rep.reason}; retrying")
            new = replace(new, preemptions=job.preemptions + 1)
            self.store.update_job(new, "retry", now)
            self._notify(new, "stopped", now)
            self.request_replan("job failed, retrying")
        elif rep.kind == K.JOB_REPORT_KIND_FAILED:
            new = jobs_logic.finish(job, JobState.FAILED, now, rep.reason or "failed on agent")
            self.store.update_job(new, "failed", now)
            self._finished(new, now)
            self.request_replan("job failed")
        return []

    def telemetry(self, rt: SatRuntime, tel: agent_pb2.Telemetry) -> None:
        problem = telemetry_problem(tel)
        if problem:  # agents are validated like any client: a bad sample changes nothing
            self.metrics.agent_messages_total.labels("invalid").inc()
            log.warning("%s: telemetry ignored: %s", rt.name, problem)
            return
        rt.telemetry = tel
        self.metrics.telemetry(rt.name, tel)
        err = self.forecast_checker.observe(rt.name, tel)
        if err is None:
            return
        self.metrics.forecast_soc_error.labels(rt.name).set(err.soc_ratio)
        self.metrics.forecast_temperature_error.labels(rt.name).set(err.temperature_c)
        last = self._departure_replan_s.get(rt.name, -math.inf)
        if err.departed and tel.time_s - last >= self.departure_replan_every_s:
            self._departure_replan_s[rt.name] = tel.time_s
            self.request_replan(f"telemetry departs from the forecast on {rt.name}")

    def disconnected(self, rt: SatRuntime) -> None:
        rt.outbox = None
        rt.wall_disconnected_s = time.time()
        self.metrics.agents_connected.set(sum(s.connected for s in self.sats.values()))

    def check_lost(self) -> None:
        """Mark satellites lost that should be reachable but stayed silent; replan."""
        wall = time.time()
        now = self.clock.now_s()
        for rt in self.sats.values():
            flags = self.flags[rt.name]
            if rt.connected or flags.lost:
                continue
            if wall - rt.wall_disconnected_s < self.agent_timeout_s * (
                1 if rt.ever_connected else 10
            ):
                continue
            if self.link_model == "contacts":
                window = self.world.contact_at(rt.name, now)
                # Lost only when it missed a contact it should have used.
                if window is None or (now - window[0]) / self.clock.speed < self.agent_timeout_s:
                    continue
            self.lose(
                rt.name,
                f"satellite {rt.name} lost (no agent for {wall - rt.wall_disconnected_s:.0f} s)",
            )

    def lose(self, sat: str, reason: str) -> None:
        now = self.clock.now_s()
        self.set_flags(replace(self.flags[sat], lost=True))
        self.metrics.satellite_lost(sat)
        changes = []
        for job in self.store.list_jobs(
            states=(JobState.PLANNED, JobState.RUNNING, JobState.CHECKPOINTED),
            satellite_id=sat,
            limit=100_000,
        ):
            new = jobs_logic.lose_placement(job, reason)
            changes.append((new, "placement lost"))
            if job.state == JobState.RUNNING:
                self.metrics.preempted(job.spec.kind, "satellite lost")
            for peer in set(job.satellite_ids) - {sat}:  # a gang stops without its member
                self.sats[peer].send(
                    R.SchedulerMessage(cancel=R.CancelJob(job_id=job.job_id, reason=reason))
                )
        self.store.update_jobs(changes, now)
        for new, what in changes:
            self._notify(new, what, now)
        log.warning("%s", reason)
        self.request_replan(f"satellite {sat} lost")

    def set_flags(self, flags: SatelliteFlags) -> None:
        self.store.set_satellite_flags(flags)
        self.flags[flags.satellite_id] = flags
