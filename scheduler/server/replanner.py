"""Rolling-horizon replanning, off the event loop.

Triggers (job arrival, agent loss or return, jobs that stop or finish, operator requests,
telemetry that departs from the forecast) and a periodic tick wake one loop. It snapshots the
state on the event loop, solves in a worker process (CP-SAT and the forecasts never hold the
server's GIL, so RPCs and telemetry keep flowing during a slow solve), then applies the plan
on the event loop. Triggers that arrive during a solve coalesce into the next one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import multiprocessing
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from scheduler.planner.domain import Plan
from scheduler.server import solver_worker
from scheduler.server.control import Controller
from scheduler.server.model import Job, JobState, PlanRecord
from scheduler.server.planning import build_request

log = logging.getLogger("orbit-scheduler")

CAUSES = (
    "submitted",
    "lost",
    "returned",
    "finished",
    "failed",
    "stopped",
    "cancelled",
    "cordoned",
    "drained",
    "telemetry",
    "periodic",
    "startup",
)


def cause_of(trigger: str) -> str:
    """A bounded metric label for a free-text trigger."""
    for cause in CAUSES:
        if cause in trigger:
            return cause
    return "requested"


class Replanner:
    def __init__(
        self,
        controller: Controller,
        scenario: str | None,
        *,
        policy: str = "cpsat",
        time_limit_s: float = 5.0,
        slot_s: float = 60.0,
        n_slots: int = 180,
        interval_s: float = 600.0,
        startup_grace_s: float = 5.0,
        in_process: bool = False,
        max_jobs: int = 2000,
    ) -> None:
        self.c = controller
        self.scenario = scenario
        self.policy = policy
        self.time_limit_s = time_limit_s
        self.slot_s = slot_s
        self.n_slots = n_slots
        self.interval_s = interval_s
        self.startup_grace_s = startup_grace_s
        self.horizon_s = slot_s * n_slots
        self.max_jobs = max_jobs
        self.in_process = in_process
        self.pool: Executor = self._new_pool()
        self._reasons: list[str] = []
        self._wake = asyncio.Event()
        self._completed = 0
        self._done = asyncio.Condition()
        controller.request_replan = self.request

    def _new_pool(self) -> Executor:
        if self.in_process:
            return ThreadPoolExecutor(1, thread_name_prefix="solver")
        return ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=solver_worker.die_with_parent,
            initargs=(os.getpid(),),
        )

    def window(self, jobs: list[Job]) -> list[Job]:
        """The jobs one solve considers: every placed job, then the pending ones by priority
        and age up to max_jobs (a queue of 100,000 jobs is planned a window at a time)."""
        placed = [j for j in jobs if j.satellite_ids or j.state == JobState.RUNNING]
        waiting = [j for j in jobs if not (j.satellite_ids or j.state == JobState.RUNNING)]
        room = max(0, self.max_jobs - len(placed))
        waiting.sort(key=lambda j: (-j.spec.priority, j.seq))
        return placed + waiting[:room]

    def request(self, reason: str) -> None:
        self._reasons.append(reason)
        self._wake.set()

    async def replan_now(self, reason: str) -> None:
        """Request a solve and wait until one that started after the request finished."""
        target = self._completed + (2 if self._running else 1)
        self.request(reason)
        async with self._done:
            await self._done.wait_for(lambda: self._completed >= target)

    _running = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.pool, solver_worker.warm_up, self.scenario)
        started = time.time()
        while time.time() - started < self.startup_grace_s and not all(
            rt.connected for rt in self.c.sats.values()
        ):
            await asyncio.sleep(0.1)
        self.request("startup")
        while True:
            period_wall_s = self.interval_s / self.c.clock.speed
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=period_wall_s)
            except TimeoutError:
                self._reasons.append("periodic")
            await asyncio.sleep(0.05)  # let a burst of submissions land in one solve
            self._wake.clear()
            reasons, self._reasons = self._reasons, []
            trigger = reasons[0] if reasons else "periodic"
            if len(set(reasons)) > 1:
                trigger += f" (+{len(reasons) - 1} more)"
            self._running = True
            try:
                await self.solve_once(trigger)
            except BrokenProcessPool:
                log.error("the solver process died (trigger: %s); starting a new one", trigger)
                self.pool = self._new_pool()
                self._reasons.append("solver restarted")
                self._wake.set()
            except Exception:
                log.exception("replanning failed (trigger: %s); keeping the current plan", trigger)
            finally:
                self._running = False
                async with self._done:
                    self._completed += 1
                    self._done.notify_all()

    async def solve_once(self, trigger: str) -> PlanRecord:
        c = self.c
        now = c.clock.now_s()
        bus = c.world.bus
        names = c.world.names
        lead_s = max(self.slot_s, (self.time_limit_s + 2.0) * c.clock.speed)
        frozen: dict[str, float] = {}
        if c.link_model == "contacts":
            # A satellite that will not be in contact when the plan is ready gets it at its
            # next contact: nothing new can start on it before then (plus the time to
            # reconnect and apply it).
            margin_s = max(self.slot_s, 2.0 * c.clock.speed)
            ready_s = now + lead_s
            for n in names:
                current = c.world.contact_at(n, now)
                if current is not None and current[1] > ready_s + margin_s:
                    continue
                nxt = c.world.next_contact(n, current[1] + 1.0 if current else now)
                frozen[n] = (nxt[0] if nxt else now + self.horizon_s) + margin_s
        telemetry = {
            n: (rt.telemetry.battery_soc_wh, rt.telemetry.temperature_c)
            for n, rt in c.sats.items()
            if rt.telemetry is not None and rt.telemetry.battery_capacity_wh > 0
        }
        draining = {n for n, f in c.flags.items() if f.draining}
        items = {
            k: [i for i in v if i["satellite"] not in draining] for k, v in c.plan_items.items()
        }
        previous = Plan.from_dict(json.loads(c.plan.plan_json)) if c.plan else None
        version = c.store.next_plan_version()
        request = build_request(
            scenario=self.scenario,
            names=names,
            accelerators=bus.accelerators,
            jobs=self.window(c.store.active_jobs()),
            items_by_job=items,
            telemetry=telemetry,
            default_state=(bus.initial_soc_wh, bus.initial_temperature_c),
            available={n: not (f.lost or f.cordoned) for n, f in c.flags.items()},
            frozen_until_s=frozen,
            now_s=now,
            slot_s=self.slot_s,
            n_slots=self.n_slots,
            lead_s=lead_s,
            previous=previous,
            policy=self.policy,
            time_limit_s=self.time_limit_s,
            version=version,
        )
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        out = await loop.run_in_executor(self.pool, solver_worker.solve, request)
        wall_s = time.perf_counter() - t0
        res = out.result
        record = PlanRecord(
            version=version,
            created_s=now,
            horizon_start_s=res.plan.horizon_start_s,
            horizon_end_s=res.plan.horizon_end_s,
            trigger=trigger,
            status=res.status,
            objective=res.objective,
            best_bound=res.best_bound,
            gap_ratio=res.gap,
            solve_duration_s=wall_s,
            plan_json=json.dumps(out.effective_plan),
            unplaced=tuple((u.job_id, u.reason) for u in res.plan.unplaced),
        )
        c.apply_plan(record, set(request.considered))
        await c.broadcast_plans()
        m = c.metrics
        m.solve_duration_seconds.labels(res.policy).observe(wall_s)
        m.plans_total.labels(cause_of(trigger), res.status).inc()
        m.plan_version.set(version)
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
            version,
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
