"""ClusterService: satellites, forecasts, the current plan, cordon/drain, replan now."""

from __future__ import annotations

from dataclasses import replace

import grpc
from orbitalsched.v1 import cluster_pb2, cluster_pb2_grpc

from scheduler.server import validate
from scheduler.server.convert import clock_to_pb, plan_to_pb, telemetry_to_pb, window
from scheduler.server.replanner import Replanner
from scheduler.server.sessions import PLACED, AgentSessions
from scheduler.server.triggers import ReplanTrigger
from scheduler.server.validate import RequestError

MAX_FORECAST_S = 7 * 86400.0


class ClusterService(cluster_pb2_grpc.ClusterServiceServicer):
    def __init__(self, sessions: AgentSessions, replanner: Replanner) -> None:
        self.sessions = sessions
        self.replanner = replanner

    def satellite_pb(self, name: str) -> cluster_pb2.Satellite:
        rt = self.sessions.sats[name]
        flags = self.sessions.flags[name]
        now = self.sessions.clock.now_s()
        nxt = self.sessions.world.next_contact(name, now)
        return cluster_pb2.Satellite(
            satellite_id=name,
            plane=self.sessions.world.plane(name),
            connected=rt.connected,
            lost=flags.lost,
            cordoned=flags.cordoned,
            draining=flags.draining,
            telemetry=telemetry_to_pb(rt.telemetry),
            wall_last_seen_s=rt.wall_last_seen_s,
            applied_plan_version=rt.applied_plan_version,
            next_contact=window(*nxt) if nxt else None,
            accelerators=rt.accelerators,
        )

    def _known(self, sat: str) -> str:
        return validate.satellite_id("request", sat, set(self.sessions.sats))

    async def ListSatellites(
        self, request: cluster_pb2.ListSatellitesRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.ListSatellitesResponse:
        return cluster_pb2.ListSatellitesResponse(
            satellites=[self.satellite_pb(n) for n in self.sessions.world.names],
            now_s=self.sessions.clock.now_s(),
            clock=clock_to_pb(self.sessions.clock),
        )

    async def GetForecast(
        self, request: cluster_pb2.GetForecastRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.GetForecastResponse:
        try:
            sat = self._known(request.satellite_id)
            start = validate._number("request", "start_s", request.start_s)
            duration = validate._number(
                "request", "duration_s", request.duration_s, upper=MAX_FORECAST_S
            )
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        start = start or self.sessions.clock.now_s()
        end = start + (duration or self.replanner.horizon_s)
        return cluster_pb2.GetForecastResponse(
            satellite_id=sat,
            start_s=start,
            end_s=end,
            eclipses=[window(a, b) for a, b in self.sessions.world.eclipses(sat, start, end)],
            contacts=[window(a, b) for a, b in self.sessions.world.contacts(sat, start, end)],
        )

    def _plan_pb(self) -> cluster_pb2.PlanSummary:
        record = self.sessions.plan.record
        if record is None:
            return cluster_pb2.PlanSummary()
        versions = {
            j.job_id: j.assignment_version
            for j in self.sessions.store.list_jobs(states=PLACED, limit=1_000_000)
        }
        return plan_to_pb(record, versions)

    async def GetPlan(
        self, request: cluster_pb2.GetPlanRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.GetPlanResponse:
        return cluster_pb2.GetPlanResponse(plan=self._plan_pb())

    async def Cordon(
        self, request: cluster_pb2.CordonRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.CordonResponse:
        try:
            sat = self._known(request.satellite_id)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        flags = self.sessions.flags[sat]
        new = replace(
            flags, cordoned=request.cordoned, draining=flags.draining and request.cordoned
        )
        if new != flags:
            self.sessions.set_flags(new)
            self.sessions.replans.request(
                ReplanTrigger.CORDONED,
                "satellite cordoned" if request.cordoned else "satellite uncordoned",
            )
        return cluster_pb2.CordonResponse(satellite=self.satellite_pb(sat))

    async def Drain(
        self, request: cluster_pb2.DrainRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.DrainResponse:
        try:
            sat = self._known(request.satellite_id)
            if len(request.reason) > 500:
                raise validate.invalid("reason: at most 500 characters")
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        self.sessions.set_flags(replace(self.sessions.flags[sat], cordoned=True, draining=True))
        self.sessions.drain(sat, request.reason or "drain")
        self.sessions.replans.request(ReplanTrigger.DRAINED, "satellite drained")
        return cluster_pb2.DrainResponse(satellite=self.satellite_pb(sat))

    async def Replan(
        self, request: cluster_pb2.ReplanRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.ReplanResponse:
        if len(request.reason) > 500:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "reason: at most 500 characters")
        await self.replanner.replan_now(request.reason or "replan requested")
        return cluster_pb2.ReplanResponse(plan=self._plan_pb())
