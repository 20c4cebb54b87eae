"""Rolling-horizon replanning, off the event loop.

Triggers (job arrival, agent loss or return, jobs that stop or finish, operator requests,
telemetry that departs from the forecast) and a periodic tick wake one loop. It snapshots the
state on the event loop, solves in a worker process (CP-SAT and the forecasts never hold the
server's GIL, so RPCs and telemetry keep flowing during a slow solve), then applies the plan
on the event loop. Triggers that arrive during a solve coalesce into the next one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

from scheduler.planner.domain import Weights
from scheduler.proc.parent import die_with_parent
from scheduler.server import solver_worker
from scheduler.server.lifecycle import JobLifecycle
from scheduler.server.model import Job, JobState, PlanRecord
from scheduler.server.planning import SolveRequest, build_request
from scheduler.server.sessions import AgentSessions
from scheduler.server.solve_size import auto_jobs_cap
from scheduler.server.store import Store
from scheduler.server.triggers import ReplanRequests, ReplanTrigger
from scheduler.server.world import World

log = logging.getLogger("orbit-scheduler")


# The plan lead covers the longest of the last RECENT_SOLVES solves (snapshot to plans
# queued to the agents, wall s), with LEAD_MARGIN for their delivery.
RECENT_SOLVES = 5
LEAD_MARGIN = 1.25
WORKER_RESTART_MAX_S = 30.0  # the longest wait between attempts to start a solver worker


@dataclass(frozen=True)
class ReplanConfig:
    scenario: str | None = None
    policy: str = "cpsat"
    time_limit_s: float = 5.0
    slot_s: float = 60.0
    n_slots: int = 180
    interval_s: float = 600.0  # periodic replanning, simulated seconds
    startup_grace_s: float = 5.0
    in_process: bool = False  # solve in a thread (tests, profiling)
    max_jobs: int = 0  # jobs one solve considers; 0: sized from the problem (jobs_cap)
    seed: int | None = None  # solve on one worker, deterministically (the simulator)
    planner_backend: str = "local"  # where partition solves run (planner/backends.py)
    ray_address: str | None = None
    planner_workers: int | None = None  # partition solves at once (default: one per core)


class Replanner:
    def __init__(
        self,
        store: Store,
        lifecycle: JobLifecycle,
        sessions: AgentSessions,
        replans: ReplanRequests,
        config: ReplanConfig,
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.sessions = sessions
        self.replans = replans
        self.config = config
        self.scenario = config.scenario
        self.policy = config.policy
        self.time_limit_s = config.time_limit_s
        self.slot_s = config.slot_s
        self.n_slots = config.n_slots
        self.interval_s = config.interval_s
        self.startup_grace_s = config.startup_grace_s
        self.horizon_s = config.slot_s * config.n_slots
        self.max_jobs = config.max_jobs
        self.in_process = config.in_process
        self.pool: Executor = self._new_pool()
        self._completed = 0
        self._done = asyncio.Condition()
        # The budget the plan in force predicts (metrics: predicted against reported).
        self.predicted: solver_worker.BudgetPrediction | None = None
        self.recent_solves_wall_s: deque[float] = deque(maxlen=RECENT_SOLVES)

    def _new_pool(self) -> Executor:
        if self.in_process:
            return ThreadPoolExecutor(1, thread_name_prefix="solver")
        return ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,  # no solver outlives a SIGKILLed scheduler
            initargs=(os.getpid(), signal.SIGKILL),
        )

    def jobs_cap(self, placed: Sequence[Job] = (), waiting: Sequence[Job] = ()) -> int:
        """max_jobs, or sized from the problem (solve_size.auto_jobs_cap): the fleet's
        capacity over the horizon against the work of the jobs in window order, and what the
        planner handles in its time limit. The planner keeps its time limit at any size
        (planner/lns.py), so the cap only bounds the work of one solve."""
        if self.max_jobs > 0:
            return self.max_jobs
        return auto_jobs_cap(
            len(self.sessions.sats),
            self.sessions.world.bus.accelerators,
            self.horizon_s,
            self.time_limit_s,
            (_remaining_acc_s(j) for j in placed),
            (_remaining_acc_s(j) for j in waiting),
        )

    def window(self, jobs: list[Job]) -> list[Job]:
        """The jobs one solve considers: every placed job, then the pending ones by priority
        and age up to jobs_cap (a queue of 100,000 jobs is planned a window at a time)."""
        placed = [j for j in jobs if j.satellite_ids or j.state == JobState.RUNNING]
        waiting = [j for j in jobs if not (j.satellite_ids or j.state == JobState.RUNNING)]
        waiting.sort(key=lambda j: (-j.spec.priority, j.seq))
        room = max(0, self.jobs_cap(placed, waiting) - len(placed))
        return placed + waiting[:room]

    async def replan_now(self, reason: str) -> None:
        """Request a solve and wait until one that started after the request finished."""
        target = self._completed + (2 if self._running else 1)
        self.replans.request(ReplanTrigger.REQUESTED, reason)
        async with self._done:
            await self._done.wait_for(lambda: self._completed >= target)

    _running = False

    async def start_worker(self) -> None:
        """Warm the solver worker and give it its planner backend; a worker that dies
        meanwhile is replaced, with backoff, until one starts (a dead worker must not
        silently stop replanning)."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        for attempt in itertools.count():
            try:
                await loop.run_in_executor(self.pool, solver_worker.warm_up, self.scenario)
                await loop.run_in_executor(
                    self.pool,
                    solver_worker.use_planner_backend,
                    cfg.planner_backend,
                    cfg.ray_address,
                    cfg.planner_workers,
                )
                await loop.run_in_executor(
                    self.pool,
                    solver_worker.prebuild_book,
                    self.book_key(),
                    self.sessions.clock.now_s(),
                )
                return
            except BrokenProcessPool:
                delay_s = min(WORKER_RESTART_MAX_S, 0.5 * 2**attempt)
                log.error("the solver process died while starting; a new one in %.1f s", delay_s)
                self.sessions.metrics.solver_restarts_total.inc()
                await asyncio.sleep(delay_s)
                self.pool = self._new_pool()

    def book_key(self) -> solver_worker.BookKey:
        """What the worker's forecast book is computed from (built ahead at warm-up)."""
        world = self.sessions.world
        return solver_worker.BookKey(
            self.scenario, world.names, self.slot_s, self.horizon_s, _elements(world)
        )

    async def restart_worker(self, trigger: str) -> None:
        log.error("the solver process died (trigger: %s); starting a new one", trigger)
        self.sessions.metrics.solver_restarts_total.inc()
        self.pool = self._new_pool()
        await self.start_worker()

    async def run(self) -> None:
        await self.start_worker()
        started = time.time()
        while (
            time.time() - started < self.startup_grace_s
            and not all(rt.connected for rt in self.sessions.sats.values())
            and not any(t == ReplanTrigger.REQUESTED for t, _ in self.replans.pending)
        ):  # wait for the agents, unless an operator asks for a plan now
            await asyncio.sleep(0.1)
        self.replans.request(ReplanTrigger.STARTUP)
        while True:
            period_wall_s = self.interval_s / self.sessions.clock.speed
            try:
                await asyncio.wait_for(self.replans.wake.wait(), timeout=period_wall_s)
            except TimeoutError:
                self.replans.request(ReplanTrigger.PERIODIC)
            await asyncio.sleep(0.05)  # let a burst of submissions land in one solve
            requests = self.replans.take() or [(ReplanTrigger.PERIODIC, "periodic")]
            cause, trigger = requests[0]
            if len({d for _, d in requests}) > 1:
                trigger += f" (+{len(requests) - 1} more)"
            self._running = True
            try:
                try:
                    await self.solve_once(trigger, cause)
                except BrokenProcessPool:  # once more, on a new worker
                    await self.restart_worker(trigger)
                    await self.solve_once(f"{trigger} (solver restarted)", cause)
            except BrokenProcessPool:  # twice in a row: wait for the next trigger
                await self.restart_worker(trigger)
            except Exception:
                log.exception("replanning failed (trigger: %s); keeping the current plan", trigger)
            finally:
                self._running = False
                async with self._done:
                    self._completed += 1
                    self._done.notify_all()

    async def solve_once(
        self, trigger: str, cause: ReplanTrigger = ReplanTrigger.REQUESTED
    ) -> PlanRecord:
        t_snapshot = time.perf_counter()
        now = self.sessions.clock.now_s()
        request = self.request(now)
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        out = await loop.run_in_executor(self.pool, solver_worker.solve, request)
        solved_wall_s = time.time()  # the agents measure plan delivery from here
        record = self.adopt(request, out, now, time.perf_counter() - t0, trigger, cause)
        await self.sessions.broadcast_plans(solved_wall_s=solved_wall_s)
        self.recent_solves_wall_s.append(time.perf_counter() - t_snapshot)
        return record

    def lead_s(self) -> float:
        """Simulated seconds from a snapshot to the start of its plan: the time limit + 2 s,
        or more when recent solves (forecasts, model building, adoption, sending) took
        longer. A plan that starts before it is in force has its first entries start late on
        the agents, and inference sized to its window then never finishes ("window ended";
        1,584 satellites: 15 s solves against a 12 s lead stopped 4,344 runs in 3 simulated
        hours)."""
        recent_s = max(self.recent_solves_wall_s, default=0.0)
        wall_s = max(self.time_limit_s + 2.0, LEAD_MARGIN * recent_s)
        return max(self.slot_s, wall_s * self.sessions.clock.speed)

    def request(self, now: float) -> SolveRequest:
        """The next plan's request from the state at `now`. The simulator builds its requests
        here too (scheduler/sim/simulator.py)."""
        version = self.store.next_plan_version()
        active = self.lifecycle.expire(self.store.active_jobs(), now, Weights().late_grace_s)
        request = self.snapshot(now, version, self.time_limit_s, active)
        return replace(request, seed=self.config.seed)

    def snapshot(
        self, now: float, version: int, time_limit_s: float, active: list[Job] | None = None
    ) -> SolveRequest:
        """The state as the planner sees it, now (read on the event loop; changes nothing).
        active: the active jobs, if already read."""
        s = self.sessions
        clock, world, current = s.clock, s.world, s.plan
        bus = world.bus
        names = world.names
        lead_s = self.lead_s()
        frozen: dict[str, float] = {}
        if s.link_model == "contacts":
            # A satellite that will not be in contact when the plan is ready gets it at its
            # next contact: nothing new can start on it before then (plus the time to
            # reconnect and apply it).
            margin_s = max(self.slot_s, 2.0 * clock.speed)
            ready_s = now + lead_s
            for n in names:
                window = world.contact_at(n, now)
                if window is not None and window[1] > ready_s + margin_s:
                    continue
                nxt = world.next_contact(n, window[1] + 1.0 if window else now)
                frozen[n] = (nxt[0] if nxt else now + self.horizon_s) + margin_s
        telemetry = {
            n: (rt.telemetry.battery_soc_wh, rt.telemetry.temperature_c)
            for n, rt in s.sats.items()
            if rt.telemetry is not None and rt.telemetry.battery_capacity_wh > 0
        }
        draining = {n for n, f in s.flags.items() if f.draining}
        items = {
            k: [i for i in v if i.satellite not in draining] for k, v in current.by_job.items()
        }
        previous = current.record.plan if current.record else None
        request = build_request(
            scenario=self.scenario,
            names=names,
            accelerators=bus.accelerators,
            jobs=self.window(self.store.active_jobs() if active is None else active),
            items_by_job=items,
            telemetry=telemetry,
            default_state=(bus.initial_soc_wh, bus.initial_temperature_c),
            available={n: not (f.lost or f.cordoned) for n, f in s.flags.items()},
            frozen_until_s=frozen,
            now_s=now,
            slot_s=self.slot_s,
            n_slots=self.n_slots,
            lead_s=lead_s,
            previous=previous,
            policy=self.policy,
            time_limit_s=time_limit_s,
            version=version,
        )
        return replace(request, elements=_elements(world))

    def adopt(
        self,
        request: SolveRequest,
        out: solver_worker.SolveOutput,
        now: float,
        wall_s: float,
        trigger: str,
        cause: ReplanTrigger,
    ) -> PlanRecord:
        """Store a solved plan and move the jobs it considered; the caller sends it out."""
        res = out.result
        record = PlanRecord(
            version=request.version,
            created_s=now,
            horizon_start_s=res.plan.horizon_start_s,
            horizon_end_s=res.plan.horizon_end_s,
            trigger=trigger,
            status=res.status,
            objective=res.objective,
            best_bound=res.best_bound,
            gap_ratio=res.gap,
            solve_duration_s=wall_s,
            plan=out.effective_plan,
        )
        self.lifecycle.apply_plan(record, set(request.considered))
        self.predicted = out.predicted
        m = self.sessions.metrics
        m.solve_duration_seconds.labels(res.policy).observe(wall_s)
        m.plans_total.labels(cause.value, res.status).inc()
        m.plan_version.set(request.version)
        m.plan_unplaced.set(len(res.plan.unplaced))
        for gauge, value in (
            (m.plan_objective, res.objective),
            (m.plan_best_bound, res.best_bound),
            (m.plan_gap_ratio, res.gap),
        ):
            gauge.set(value if math.isfinite(value) else 0.0)
        log.info(
            "plan v%d (%s): %s, %d items, %d unplaced, objective %.2f, gap %.3f, %.2f s "
            "(forecast %.2f s)",
            request.version,
            trigger,
            res.status,
            len(res.plan.items),
            len(res.plan.unplaced),
            res.objective,
            res.gap,
            wall_s,
            out.forecast_s,
        )
        return record

    def close(self) -> None:
        """Stop now: a solve in progress is abandoned (the state on disk is consistent)."""
        workers = list(getattr(self.pool, "_processes", None) or {})
        processes = getattr(self.pool, "_processes", None) or {}
        for pid in workers:
            processes[pid].terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _elements(world: World) -> tuple[tuple[str, str, str], ...]:
    """The elements that replace the scenario's, as a request carries them."""
    return tuple(sorted((n, l1, l2) for n, (l1, l2) in world.overrides.items()))


def _remaining_acc_s(job: Job) -> float:
    """Accelerator-seconds a job still needs (a checkpointed one resumes)."""
    return max(job.spec.work_acc_s - job.checkpoint_acc_s, 1.0)
