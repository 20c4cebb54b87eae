"""Questions to the planner that change nothing: what if (a hypothesis solved by the same
planner) and why (a job's explanation).

Both run in the solver's worker process, on a snapshot of the state taken on the event
loop, and are answered from what the worker returns; no store write, no plan applied, no
message to an agent. The worker runs one task at a time, so a what-if delays the real
replanning loop by at most one (what-if) solve, whose time limit is at most the loop's;
and at most one what-if is in flight (another one is RESOURCE_EXHAUSTED until it is done).
Explanations queue on the same worker, so at most MAX_EXPLAINS of them are in flight; one
more is RESOURCE_EXHAUSTED at once instead of queueing ahead of the next replanning.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures.process import BrokenProcessPool

import grpc

from scheduler.planner.domain import Job as PlannerJob
from scheduler.planner.domain import Plan
from scheduler.planner.explain import Explanation
from scheduler.planner.whatif import Hypothesis, StationOutage, WhatIfReport
from scheduler.server import solver_worker
from scheduler.server.model import Job, JobSpec, JobState
from scheduler.server.planning import planner_job
from scheduler.server.replanner import Replanner
from scheduler.server.sessions import AgentSessions
from scheduler.server.validate import RequestError, invalid

# ExplainJob calls in flight at once (each is a task on the solver's one worker).
MAX_EXPLAINS = 2


class InFlight:
    """At most `limit` holders at once; one more is refused with RESOURCE_EXHAUSTED (on the
    event loop: no lock needed)."""

    def __init__(self, limit: int, busy_message: str) -> None:
        self.limit = limit
        self.busy_message = busy_message
        self.count = 0

    def __enter__(self) -> InFlight:
        if self.count >= self.limit:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED, self.busy_message)
        self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.count -= 1


class Inquiries:
    def __init__(
        self, sessions: AgentSessions, replanner: Replanner, max_explains: int = MAX_EXPLAINS
    ) -> None:
        self.sessions = sessions
        self.replanner = replanner
        self.what_ifs = InFlight(1, "a what-if is being solved; ask again when it is answered")
        self.explains = InFlight(
            max_explains,
            f"{max_explains} explanations are being worked out (the most at once); "
            "ask again in a moment",
        )
        self.last_what_if_wall_s = 0.0

    def _current(self, now_s: float) -> tuple[Plan, int]:
        record = self.sessions.plan.record
        if record is None:
            return Plan(0, now_s, now_s, now_s), 0
        return record.plan, record.version

    def hypothesis(
        self,
        outages: list[tuple[str, float, float]],
        lost: list[str],
        specs: list[JobSpec],
    ) -> Hypothesis:
        """Validated against the run: stations and satellites by name, job ids unused."""
        stations = {s.name for s in self.sessions.world.stations}
        names = set(self.sessions.world.names)
        out = []
        for i, (station, start_s, end_s) in enumerate(outages):
            if station not in stations:
                raise invalid(
                    f"stations_down[{i}].station: unknown station {station!r} "
                    f"(known: {', '.join(sorted(stations))})"
                )
            if start_s and end_s and end_s <= start_s:
                raise invalid(f"stations_down[{i}]: end_s must be after start_s")
            out.append(StationOutage(station, start_s or None, end_s or None))
        for i, name in enumerate(lost):
            if name not in names:
                raise invalid(f"satellites_lost[{i}]: unknown satellite {name!r}")
        if len(set(lost)) != len(lost):
            raise invalid("satellites_lost: a satellite is named twice")
        store = self.sessions.store
        now = self.sessions.clock.now_s()
        jobs: list[PlannerJob] = []
        for i, spec in enumerate(specs):
            if store.get_job(spec.job_id) is not None:
                raise RequestError(
                    grpc.StatusCode.ALREADY_EXISTS, f"submit[{i}].job_id: {spec.job_id!r} exists"
                )
            jobs.append(planner_job(Job(spec=spec, state=JobState.PENDING, submit_time_s=now)))
        return Hypothesis(tuple(out), tuple(lost), tuple(jobs))

    async def what_if(
        self, hypothesis: Hypothesis, time_limit_s: float
    ) -> tuple[WhatIfReport, int]:
        limit = self.replanner.time_limit_s
        if time_limit_s > 0:
            limit = min(limit, time_limit_s)
        with self.what_ifs:
            return await self._what_if(hypothesis, limit)

    async def _what_if(self, hypothesis: Hypothesis, limit: float) -> tuple[WhatIfReport, int]:
        t0 = time.perf_counter()
        try:
            now = self.sessions.clock.now_s()
            current, version = self._current(now)
            request = self.replanner.snapshot(now, version + 1, limit)
            loop = asyncio.get_running_loop()
            report = await loop.run_in_executor(
                self.replanner.pool, solver_worker.what_if, request, hypothesis, current
            )
        except BrokenProcessPool:
            raise RequestError(
                grpc.StatusCode.UNAVAILABLE, "the solver process restarted; ask again"
            ) from None
        finally:
            self.last_what_if_wall_s = time.perf_counter() - t0
        return report, version

    async def explain(self, job: Job) -> tuple[Explanation, int]:
        with self.explains:
            return await self._explain(job)

    async def _explain(self, job: Job) -> tuple[Explanation, int]:
        now = self.sessions.clock.now_s()
        current, version = self._current(now)
        request = self.replanner.snapshot(now, version + 1, self.replanner.time_limit_s)
        cordoned = frozenset(n for n, f in self.sessions.flags.items() if f.cordoned and not f.lost)
        loop = asyncio.get_running_loop()
        try:
            explanation = await loop.run_in_executor(
                self.replanner.pool,
                solver_worker.explain_job,
                request,
                planner_job(job),
                current,
                cordoned,
            )
        except BrokenProcessPool:
            raise RequestError(
                grpc.StatusCode.UNAVAILABLE, "the solver process restarted; ask again"
            ) from None
        return explanation, version
