"""JobService: submit, get, list, cancel and watch jobs (thin: validate, call the job
lifecycle, convert)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
from orbitalsched.v1 import jobs_pb2, jobs_pb2_grpc

from scheduler.security.interceptor import current_principal
from scheduler.server import validate
from scheduler.server.convert import (
    PB_TO_KIND,
    PB_TO_STATE,
    STATE_TO_PB,
    history_to_pb,
    job_event_to_pb,
    job_to_pb,
    spec_to_pb,
)
from scheduler.server.inquiries import Inquiries
from scheduler.server.lifecycle import JobEvent, JobLifecycle
from scheduler.server.planning import changed_fields
from scheduler.server.store import DuplicateJobError
from scheduler.server.validate import Limits, RequestError
from scheduler.server.world import World

# Bounded cost of WatchJobs: ids per watch, and open watches (each holds a queue).
MAX_WATCHED_IDS = 10_000
MAX_WATCHERS = 256


class JobService(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, lifecycle: JobLifecycle, world: World, inquiries: Inquiries) -> None:
        self.lifecycle = lifecycle
        self.inquiries = inquiries
        self.known_satellites = set(world.names)
        bus = world.bus
        self.limits = Limits(
            n_satellites=len(world.names),
            max_accelerators=bus.accelerators,
            max_power_w=bus.full_load_w,
        )

    async def SubmitJob(
        self, request: jobs_pb2.SubmitJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.SubmitJobResponse:
        try:
            rid = validate.request_id(request.request_id)
            if rid and (ids := self._submitted(rid)) is not None:  # a retry: same answer
                job = self.lifecycle.store.get_job(ids[0]) if ids else None
                if job is not None:
                    return jobs_pb2.SubmitJobResponse(job=job_to_pb(job))
            if not request.HasField("job"):
                raise validate.invalid("job: required")
            spec = validate.job_spec_from_pb(request.job, self.lifecycle.clock.now_s(), self.limits)
            (job,) = self.lifecycle.submit([spec], request_id=rid)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        except DuplicateJobError as exc:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"job.job_id: {exc}")
        return jobs_pb2.SubmitJobResponse(job=job_to_pb(job))

    async def SubmitJobs(
        self, request: jobs_pb2.SubmitJobsRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.SubmitJobsResponse:
        try:
            rid = validate.request_id(request.request_id)
            if rid and (ids := self._submitted(rid)) is not None:  # a retry: same answer
                return jobs_pb2.SubmitJobsResponse(job_ids=ids)
            specs = validate.job_specs_from_pb(
                list(request.jobs), self.lifecycle.clock.now_s(), self.limits
            )
            jobs = self.lifecycle.submit(specs, request_id=rid)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        except DuplicateJobError as exc:
            await context.abort(
                grpc.StatusCode.ALREADY_EXISTS, f"jobs: {exc}; nothing of the batch was stored"
            )
        return jobs_pb2.SubmitJobsResponse(job_ids=[j.job_id for j in jobs])

    def _submitted(self, request_id: str) -> list[str] | None:
        return self.lifecycle.store.submitted_ids(current_principal().id, request_id)

    async def GetJob(
        self, request: jobs_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.GetJobResponse:
        try:
            validate.check_job_id("request", request.job_id)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        job = self.lifecycle.store.get_job(request.job_id)
        if job is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"job_id: no job {request.job_id[:80]!r} (orbitctl jobs lists them)",
            )
        assert job is not None
        events = (
            history_to_pb(self.lifecycle.store.events(job.job_id)) if request.include_events else []
        )
        return jobs_pb2.GetJobResponse(job=job_to_pb(job), events=events)

    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.ListJobsResponse:
        try:
            size = validate.page_size(request.page_size)
            after = validate.page_token(request.page_token)
            states = [PB_TO_STATE[s] for s in request.states if s in PB_TO_STATE]
            if len(states) != len(request.states):
                raise validate.invalid("states: JOB_STATE_UNSPECIFIED or unknown value")
            kinds = [PB_TO_KIND[k] for k in request.kinds if k in PB_TO_KIND]
            if len(kinds) != len(request.kinds):
                raise validate.invalid("kinds: JOB_KIND_UNSPECIFIED or unknown value")
            if request.satellite_id:
                validate.satellite_id("request", request.satellite_id, self.known_satellites)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        jobs = self.lifecycle.store.list_jobs(states, kinds, request.satellite_id, after, size + 1)
        more = len(jobs) > size
        jobs = jobs[:size]
        token = str(jobs[-1].seq) if more and jobs else ""
        return jobs_pb2.ListJobsResponse(jobs=[job_to_pb(j) for j in jobs], next_page_token=token)

    async def CancelJob(
        self, request: jobs_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.CancelJobResponse:
        try:
            validate.check_job_id("request", request.job_id)
            if len(request.reason) > 500:
                raise validate.invalid("reason: at most 500 characters")
            job = self.lifecycle.cancel(request.job_id, request.reason)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        return jobs_pb2.CancelJobResponse(job=job_to_pb(job))

    async def WatchJobs(
        self, request: jobs_pb2.WatchJobsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[jobs_pb2.JobEvent]:
        try:
            if len(request.job_ids) > MAX_WATCHED_IDS:
                raise validate.invalid(f"job_ids: at most {MAX_WATCHED_IDS}")
            for job_id in request.job_ids:
                validate.check_job_id("job_ids", job_id)
            if len(self.lifecycle.watchers) >= MAX_WATCHERS:
                raise RequestError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{MAX_WATCHERS} watches are open; try again later",
                )
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        wanted = set(request.job_ids)
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        self.lifecycle.watchers.add(queue)
        try:
            if request.send_initial:
                now = self.lifecycle.clock.now_s()
                for job_id in sorted(wanted):
                    job = self.lifecycle.store.get_job(job_id)
                    if job is not None:
                        yield jobs_pb2.JobEvent(job=job_to_pb(job), time_s=now, what="current")
            while True:
                event = await queue.get()
                if not wanted or event.job.job_id in wanted:
                    yield job_event_to_pb(event)
        finally:
            self.lifecycle.watchers.discard(queue)

    async def ExplainJob(
        self, request: jobs_pb2.ExplainJobRequest, context: grpc.aio.ServicerContext
    ) -> jobs_pb2.ExplainJobResponse:
        if not request.job_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "job_id: required")
        job = self.lifecycle.store.get_job(request.job_id)
        if job is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"job_id: no job {request.job_id[:80]!r} (orbitctl jobs lists them)",
            )
        assert job is not None
        state = STATE_TO_PB[job.state]
        if job.state.terminal:
            return jobs_pb2.ExplainJobResponse(
                job_id=job.job_id, state=state, code=job.state.value.upper(), reason=job.reason
            )
        try:
            e, version = await self.inquiries.explain(job)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        return jobs_pb2.ExplainJobResponse(
            job_id=job.job_id,
            state=state,
            placed=e.placed,
            code=e.code,
            reason=e.reason,
            suggestions=[
                jobs_pb2.Suggestion(
                    change=s.change,
                    satellite_id=s.satellite,
                    start_s=s.start_s,
                    spec=spec_to_pb(replace(job.spec, **changed_fields(s.job))),
                    uncordon=s.uncordon or "",
                )
                for s in e.suggestions
            ],
            satellite_ids=list(e.satellites),
            start_s=e.start_s or 0.0,
            end_s=e.end_s or 0.0,
            value=e.value,
            station=e.station or "",
            delivery_s=e.delivery_s or 0.0,
            displaced=list(e.displaced),
            plan_version=version,
        )
