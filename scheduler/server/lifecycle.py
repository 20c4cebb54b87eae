"""The job lifecycle: every change of a job record goes through here.

Submissions and cancellations (JobService), new plans (the replanner), agent reports and
reconnections (AgentService) and lost satellites (housekeeping) become stored changes over
the pure transitions of jobs_logic.py, job events for watchers, cancels to agents (through
the sessions) and replan requests. Runs on the asyncio thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import grpc

from scheduler.planner.domain import ReasonCode
from scheduler.security.authz import CANCEL_JOB, Resource, authorize
from scheduler.security.interceptor import current_principal, rate_log
from scheduler.server import jobs_logic
from scheduler.server.clock import SimClock
from scheduler.server.current_plan import CurrentPlan
from scheduler.server.fleet import JobProgress
from scheduler.server.messages import (
    JobReport,
    PreemptionCause,
    ReportKind,
    RunningJob,
    StopCause,
)
from scheduler.server.metrics import SchedulerMetrics
from scheduler.server.model import Assignment, Job, JobSpec, JobState, PlanRecord
from scheduler.server.sessions import PLACED, AgentSessions
from scheduler.server.store import Store
from scheduler.server.triggers import ReplanRequests, ReplanTrigger
from scheduler.server.validate import MAX_WORK_OVERRUN, RequestError

log = logging.getLogger("orbit-scheduler")

# Runs of one job that may fail or be preempted before an agent failure is final.
MAX_RETRIES = 5
# Events a slow watcher may have queued before it misses new ones.
MAX_WATCH_QUEUE = 10_000


@dataclass(frozen=True)
class JobEvent:
    """A change of one job, for WatchJobs."""

    job: Job
    time_s: float
    what: str
    principal: str = ""


class JobLifecycle:
    def __init__(
        self,
        store: Store,
        clock: SimClock,
        metrics: SchedulerMetrics,
        plan: CurrentPlan,
        sessions: AgentSessions,
        replans: ReplanRequests,
    ) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.plan = plan
        self.sessions = sessions
        self.replans = replans
        self.progress: dict[str, JobProgress] = {}
        self.watchers: set[asyncio.Queue[JobEvent]] = set()

    # --- requests -----------------------------------------------------------------------
    def submit(self, specs: Sequence[JobSpec], request_id: str = "") -> list[Job]:
        """Store new jobs (all or none), submitted by the caller of the RPC; with a
        request_id the ids are remembered with it (JobService answers retries from them)."""
        now = self.clock.now_s()
        who = current_principal().id
        jobs = [
            Job(spec=s, state=JobState.PENDING, submit_time_s=now, submitted_by=who) for s in specs
        ]
        self.store.insert_jobs(jobs, now, request_id=request_id, wall_time_s=time.time())
        for kind in ("inference", "training"):
            n = sum(1 for j in jobs if j.spec.kind == kind)
            if n:
                self.metrics.jobs_submitted_total.labels(kind).inc(n)
        if self.watchers:
            for job in jobs:
                self._notify(job, "submitted", now)
        self.replans.request(ReplanTrigger.SUBMITTED, "job submitted")
        return jobs

    def cancel(self, job_id: str, reason: str) -> Job:
        job = self.store.get_job(job_id)
        if job is None:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"job_id: no job {job_id[:80]!r}")
        decision = authorize(
            current_principal(), CANCEL_JOB, Resource(job_submitter=job.submitted_by)
        )
        if not decision.allowed:
            raise RequestError(decision.code, decision.reason)
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
            self.sessions.cancel(sat, job_id, done.reason)
        self._finished(done, now)
        self.replans.request(ReplanTrigger.CANCELLED, "job cancelled")
        return done

    def _finished(self, job: Job, now: float) -> None:
        # Nothing of a finished job stays in memory: it lives in the store only.
        self.progress.pop(job.job_id, None)
        self.metrics.finished(job, now)
        self._notify(job, job.state.value.lower(), now)

    def _notify(self, job: Job, what: str, now: float) -> None:
        if not self.watchers:
            return
        event = JobEvent(job, now, what, current_principal().id)
        for queue in list(self.watchers):
            if queue.qsize() < MAX_WATCH_QUEUE:
                queue.put_nowait(event)

    def expire(self, jobs: Sequence[Job], now: float, late_grace_s: float) -> list[Job]:
        """Fail the waiting jobs whose deadline passed by `now` (jobs_logic.expired); the
        rest of `jobs` is returned. Run before each solve, on the jobs it reads."""
        keep: list[Job] = []
        done: list[Job] = []
        for job in jobs:
            new = jobs_logic.expired(job, now, late_grace_s)
            if new is None:
                keep.append(job)
            else:
                done.append(new)
        if done:
            self.store.update_jobs([(j, "expired") for j in done], now)
            for job in done:
                self.metrics.jobs_expired_total.labels(job.spec.kind).inc()
                self._finished(job, now)
            log.info("%d waiting jobs failed: their deadline passed", len(done))
        return keep

    # --- plans --------------------------------------------------------------------------
    def apply_plan(self, record: PlanRecord, considered: set[str]) -> None:
        """Store a solved plan and update the placement of the jobs it considered. Only the
        jobs whose record changes are written (one executemany per statement)."""
        now = self.clock.now_s()
        t0 = time.perf_counter()
        self.store.save_plan(record)
        self.plan.set(record)
        reasons = {u.job_id: (u.reason, ReasonCode(u.code)) for u in record.unplaced}
        changes: list[tuple[Job, str]] = []
        moves: list[tuple[str, str]] = []
        stored = self.store.get_jobs(considered)
        for job_id in sorted(considered):
            job = stored.get(job_id)
            if job is None or job.state.terminal:
                continue
            items = self.plan.items(job.job_id)
            assignment = None
            if items:
                assignment = Assignment(
                    job.job_id,
                    tuple(sorted({i.satellite for i in items})),
                    min(i.start_s for i in items),
                    max(i.end_s for i in items),
                )
            reason, code = reasons.get(
                job.job_id, ("not placed in this horizon", ReasonCode.CAPACITY)
            )
            new = jobs_logic.apply_assignment(job, assignment, record.version, reason, code)
            if new != job:
                what = "planned" if assignment else "unplaced"
                changes.append((new, what if new.state != job.state or assignment else ""))
                # The executor keeps what runs: satellites the job leaves are told to stop.
                for sat in set(job.satellite_ids) - set(new.satellite_ids):
                    moves.append((sat, job.job_id))
        self.store.update_jobs(changes, now)
        adopted = {job.job_id: job for job in stored.values() if not job.state.terminal}
        adopted.update((job.job_id, job) for job, _ in changes)
        # The broadcast that follows builds each satellite's plan from these records.
        self.sessions.adopted(record.version, adopted.values())
        log.info(
            "plan v%d adopted in %.3f s: %d of %d considered jobs changed",
            record.version,
            time.perf_counter() - t0,
            len(changes),
            len(considered),
        )
        for job, what in changes:
            if what:
                self._notify(job, what, now)
        for sat, job_id in moves:
            self.sessions.cancel(sat, job_id, f"moved by plan v{record.version}")

    # --- agents -------------------------------------------------------------------------
    def reconcile(self, sat: str, running: Sequence[RunningJob]) -> None:
        """A (re)connected agent listed what it runs: cancel what is no longer its, count
        the progress of the rest."""
        now = self.clock.now_s()
        for r in running:
            job = self.store.get_job(r.job_id)
            if job is None or job.state.terminal or not _current(job, sat, r.assignment_version):
                why = (
                    "not assigned to this satellite"
                    if job is None or not job.state.terminal
                    else f"job is {job.state.value}"
                )
                self.sessions.cancel(sat, r.job_id, why)
                continue
            self._progress(job, sat, r.done_acc_s, r.checkpoint_acc_s, now)

    def _progress(self, job: Job, sat: str, done: float, ckpt: float, now: float) -> None:
        window_s = 3.0 * self.sessions.telemetry_interval_s
        prog = self.progress.setdefault(job.job_id, JobProgress(window_s))
        prog.update(sat, done, ckpt, now)
        members = job.satellite_ids
        gang = job.spec.gang_size
        new = job
        if ckpt and (c := prog.checkpoint(members, gang)) > new.checkpoint_acc_s:
            new = jobs_logic.on_checkpoint(new, c) or new
            self.store.record_checkpoint(job.job_id, sat, now, c)
        new = jobs_logic.on_progress(new, prog.done(members, gang)) or new
        if new != job:
            self.store.update_job(
                new,
                "checkpointed" if ckpt and new.checkpoint_acc_s > job.checkpoint_acc_s else "",
                now,
            )
        if new.spec.kind == "training" and new.done_acc_s >= new.spec.work_acc_s:
            # Training is done when its gang has done all the work (the executor runs blocks).
            self._succeed(new, now, sat)

    def _succeed(self, job: Job, now: float, where: str) -> None:
        done = jobs_logic.finish(job, JobState.SUCCEEDED, now, "")
        self.store.update_job(done, "succeeded", now)
        for other in set(job.satellite_ids) - {where}:
            self.sessions.cancel(other, job.job_id, "succeeded")
        self._finished(done, now)
        self.replans.request(ReplanTrigger.FINISHED, "job finished")

    def report(self, sat: str, rep: JobReport) -> None:
        """A job report from the agent of `sat`: a claim, checked before it counts. It must
        name a job that satellite holds (or once held) under the fencing token it quotes;
        anything else changes nothing. Its time is clamped between the job's submission (or
        start) and the scheduler's clock. Replies (cancels) go to its stream."""
        job = self.store.get_job(rep.job_id)
        if job is None or not math.isfinite(rep.done_acc_s + rep.checkpoint_acc_s + rep.time_s):
            self.metrics.fenced_reports_total.inc()
            return
        current = _current(job, sat, rep.assignment_version)
        if not current and not self.store.held(job.job_id, sat, rep.assignment_version):
            self.metrics.fenced_reports_total.inc()
            rate_log.warning(
                f"claim:{sat}",
                "%s: report %s for job %s under token %d refused: never held there",
                sat,
                rep.kind,
                job.job_id,
                rep.assignment_version,
            )
            return
        clock_s = self.clock.now_s()
        now = min(max(rep.time_s or clock_s, job.submit_time_s, job.start_time_s), clock_s)
        if rep.done_acc_s > job.spec.work_acc_s * MAX_WORK_OVERRUN + 1.0:
            rep = replace(rep, done_acc_s=job.spec.work_acc_s)
        if rep.checkpoint_acc_s > rep.done_acc_s:
            rep = replace(rep, checkpoint_acc_s=rep.done_acc_s)
        K = ReportKind
        if job.state.terminal:
            if rep.kind in (K.STARTED, K.PROGRESS, K.CHECKPOINTED):
                self.sessions.cancel(sat, job.job_id, f"job is {job.state.value}")
            return
        if rep.kind == K.SUCCEEDED:
            # Work done and delivered counts even from a superseded placement.
            self._succeed(job, now, sat)
            return
        if not current:
            self.metrics.fenced_reports_total.inc()
            if rep.kind not in (K.STOPPED, K.FAILED):
                self.sessions.cancel(
                    sat,
                    job.job_id,
                    f"assignment {rep.assignment_version} is stale (current "
                    f"{job.assignment_version} on {', '.join(job.satellite_ids) or 'none'})",
                )
            return
        if rep.kind == K.STARTED:
            new = jobs_logic.on_started(job, now)
            if new is not None:
                self.store.update_job(new, "started", now)
                self._notify(new, "started", now)
        elif rep.kind in (K.PROGRESS, K.CHECKPOINTED):
            if job.state != JobState.RUNNING and (new := jobs_logic.on_started(job, now)):
                self.store.update_job(new, "started", now)
                job = new
            self._progress(job, sat, rep.done_acc_s, rep.checkpoint_acc_s, now)
        elif rep.kind == K.STOPPED:
            self._stopped(job, sat, rep, now)
        elif rep.kind == K.FAILED and job.preemptions < MAX_RETRIES:
            # A run that fails on a satellite (no free accelerators after a late plan, ...)
            # is placed again, up to MAX_RETRIES times.
            new = jobs_logic.on_stopped(job, f"failed on {sat}: {rep.reason}; retrying")
            new = replace(new, preemptions=job.preemptions + 1)
            self.store.update_job(new, "retry", now)
            self._notify(new, "stopped", now)
            self.replans.request(ReplanTrigger.FAILED, "job failed, retrying")
        elif rep.kind == K.FAILED:
            new = jobs_logic.finish(job, JobState.FAILED, now, rep.reason or "failed on agent")
            self.store.update_job(new, "failed", now)
            self._finished(new, now)
            self.replans.request(ReplanTrigger.FAILED, "job failed")

    def _stopped(self, job: Job, sat: str, rep: JobReport, now: float) -> None:
        items = self.plan.items(job.job_id, sat)
        # A block that ends as the next begins reports its stop at that very instant.
        adjacent = any(i.end_s == now for i in items)
        later = [i.start_s for i in items if i.start_s > now or (adjacent and i.start_s == now)]
        protecting = rep.stop_cause == StopCause.SELF_PROTECTION
        if later and not protecting:  # between two planned blocks: keep the placement
            new = jobs_logic.between_blocks(job, min(later))
        else:
            new = jobs_logic.on_stopped(job, f"stopped on {sat}: {rep.reason}")
            if rep.stop_cause == StopCause.WINDOW_ENDED:  # not a preemption
                new = replace(new, preemptions=job.preemptions)
            elif job.state == JobState.RUNNING:
                self.metrics.preempted(job.spec.kind, _preemption_cause(rep.stop_cause))
            self.replans.request(ReplanTrigger.STOPPED, f"job stopped on {sat}")
        self.store.update_job(new, "stopped", now)
        self._notify(new, "stopped", now)

    def lose_satellite(self, sat: str, reason: str) -> None:
        """A satellite given up for lost: its jobs lose their placement (training keeps its
        checkpoint) and gang peers are told to stop."""
        now = self.clock.now_s()
        changes = []
        for job in self.store.list_jobs(states=PLACED, satellite_id=sat, limit=100_000):
            why = reason
            if job.spec.kind == "training" and job.state == JobState.RUNNING:
                redo = max(0.0, job.done_acc_s - job.checkpoint_acc_s)
                why = f"{reason}; {redo:.0f} accelerator-s since its last checkpoint to redo"
            new = jobs_logic.lose_placement(job, why)
            changes.append((new, "placement lost"))
            if job.state == JobState.RUNNING:
                self.metrics.preempted(job.spec.kind, PreemptionCause.SATELLITE_LOST)
            for peer in set(job.satellite_ids) - {sat}:  # a gang stops without its member
                self.sessions.cancel(peer, job.job_id, reason)
        self.store.update_jobs(changes, now)
        for new, what in changes:
            self._notify(new, what, now)
        log.warning("%s", reason)
        self.replans.request(ReplanTrigger.LOST, f"satellite {sat} lost")


def _current(job: Job, sat: str, version: int) -> bool:
    """Fencing: a report counts only from a member quoting a token at least its own and no
    newer than the placement's (a token from the future was never handed out)."""
    since = job.member_version(sat)
    return since is not None and since <= version <= job.assignment_version


def _preemption_cause(cause: StopCause) -> PreemptionCause:
    return {
        StopCause.SELF_PROTECTION: PreemptionCause.SELF_PROTECTION,
        StopCause.CANCELLED: PreemptionCause.CANCELLED,
    }.get(cause, PreemptionCause.OTHER)
