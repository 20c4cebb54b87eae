"""ClusterService: satellites, forecasts, the current plan, cordon/drain, replan now."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import grpc
from orbitalsched.v1 import cluster_pb2, cluster_pb2_grpc

from scheduler.forecast.budget import BudgetSeries, budget_series, load_from_intervals
from scheduler.forecast.screening import element_epoch_s, propagation_failures
from scheduler.forecast.timeconv import iso8601
from scheduler.forecast.tle import TleError, parse_tle_records
from scheduler.planner.problem_builder import forecast_book
from scheduler.scenario import DEFAULT_MAX_ELEMENT_AGE_DAYS, stale_elements_line
from scheduler.server import validate
from scheduler.server.convert import clock_to_pb, plan_to_pb, telemetry_to_pb, window
from scheduler.server.inquiries import Inquiries
from scheduler.server.replanner import Replanner
from scheduler.server.sessions import PLACED, AgentSessions
from scheduler.server.triggers import ReplanTrigger
from scheduler.server.validate import RequestError

MAX_FORECAST_S = 7 * 86400.0
# Element updates: about 25,000 three-line element sets per call at most.
MAX_TLE_TEXT = 4 * 1024 * 1024
# GetForecast windows lie within [now - 1 day, now + 30 days] (simulation time).
FORECAST_PAST_S = 86400.0
FORECAST_FUTURE_S = 30 * 86400.0
# Forecasts computed at once (in worker threads, off the event loop); more wait their turn.
FORECAST_CONCURRENCY = 2
# The budget series of GetForecast covers at most this much of the window.
MAX_BUDGET_S = 86400.0


class ClusterService(cluster_pb2_grpc.ClusterServiceServicer):
    def __init__(self, sessions: AgentSessions, replanner: Replanner, inquiries: Inquiries) -> None:
        self.sessions = sessions
        self.replanner = replanner
        self._forecasts = asyncio.Semaphore(FORECAST_CONCURRENCY)
        self.inquiries = inquiries
        bus = sessions.world.bus
        self.limits = validate.Limits(
            n_satellites=len(sessions.world.names),
            max_accelerators=bus.accelerators,
            max_power_w=bus.full_load_w,
        )

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
        now = self.sessions.clock.now_s()
        try:
            sat = self._known(request.satellite_id)
            start = validate._number("request", "start_s", request.start_s)
            duration = validate._number(
                "request", "duration_s", request.duration_s, upper=MAX_FORECAST_S
            )
            if 0 < duration < 1.0:
                raise validate.invalid(f"duration_s: {duration:g} s; at least 1 s (or 0)")
            start = start or now
            end = start + (duration or min(self.replanner.horizon_s, MAX_FORECAST_S))
            if start < now - FORECAST_PAST_S or end > now + FORECAST_FUTURE_S:
                raise validate.invalid(
                    f"start_s/duration_s: the window [{start:.0f}, {end:.0f}) must lie within "
                    f"[now - 1 day, now + 30 days] = [{now - FORECAST_PAST_S:.0f}, "
                    f"{now + FORECAST_FUTURE_S:.0f}] (simulation time, POSIX seconds)"
                )
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        async with self._forecasts:  # in a worker thread, a bounded window, two at a time
            (eclipses, contacts), series = await asyncio.to_thread(
                self._forecast_and_budget, sat, start, end
            )
        bus = self.sessions.world.bus
        return cluster_pb2.GetForecastResponse(
            satellite_id=sat,
            start_s=start,
            end_s=end,
            eclipses=[window(a, b) for a, b in eclipses],
            contacts=[window(a, b) for a, b in contacts],
            budget=[
                cluster_pb2.BudgetSlot(
                    start_s=series.start_s + k * series.step_s,
                    sunlit_fraction=float(series.sunlit_fraction[k]),
                    generation_w=float(series.generation_w[k]),
                    load_w=float(series.load_w[k]),
                    soc_wh=float(series.soc_wh[k]),
                    temperature_c=float(series.temperature_c[k]),
                    thermal_headroom_w=float(series.headroom_w[k]),
                )
                for k in range(len(series))
            ],
            budget_step_s=series.step_s,
            headroom_interval_s=series.headroom_interval_s,
            battery_capacity_wh=bus.battery_capacity_wh,
            battery_floor_wh=bus.battery_floor_wh,
            max_temperature_c=bus.max_temperature_c,
        )

    def _forecast_and_budget(
        self, sat: str, start_s: float, end_s: float
    ) -> tuple[tuple[list[tuple[float, float]], list[tuple[float, float]]], BudgetSeries]:
        """Runs in a worker thread: touches no shared cache (World.forecast) and only reads
        the current plan record and the last telemetry sample (both replaced, never
        mutated)."""
        return self.sessions.world.forecast(sat, start_s, end_s), self._budget(sat, start_s, end_s)

    def _budget(self, sat: str, start_s: float, end_s: float) -> BudgetSeries:
        """The satellite's power and thermal budget under its current plan, from its last
        telemetry (or the bus' initial state), on the planner's slot grid, at most a day."""
        world = self.sessions.world
        slot_s = self.replanner.slot_s
        first = math.floor(start_s / slot_s) * slot_s
        n = max(1, min(math.ceil((end_s - first) / slot_s), int(MAX_BUDGET_S / slot_s)))
        c = world.constellation
        book = forecast_book(c.subset([c.index(sat)]), (), world.bus, first, n * slot_s, slot_s)
        record = self.sessions.plan.record
        items = [
            (i.start_s, i.end_s, i.power_w)
            for i in (record.plan.items if record else ())
            if i.satellite == sat
        ]
        bus = world.bus
        load = load_from_intervals(first, slot_s, book.n_slots, items, bus.baseline_power_w)
        tel = self.sessions.sats[sat].telemetry
        soc0, temp0 = bus.initial_soc_wh, bus.initial_temperature_c
        if tel is not None and tel.battery_capacity_wh > 0:
            soc0, temp0 = tel.battery_soc_wh, tel.temperature_c
        return budget_series(
            first, slot_s, book.sunlit[0], book.gen_w[0], book.env_w[0], load, soc0, temp0, bus
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

    async def WhatIf(
        self, request: cluster_pb2.WhatIfRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.WhatIfResponse:
        try:
            if len(request.stations_down) > 100 or len(request.satellites_lost) > 10_000:
                raise validate.invalid("at most 100 stations_down and 10,000 satellites_lost")
            outages = [
                (
                    o.station,
                    validate._number(f"stations_down[{i}]", "start_s", o.start_s),
                    validate._number(f"stations_down[{i}]", "end_s", o.end_s),
                )
                for i, o in enumerate(request.stations_down)
            ]
            now = self.sessions.clock.now_s()
            specs = (
                validate.job_specs_from_pb(list(request.submit), now, self.limits)
                if request.submit
                else []
            )
            limit = validate._number("request", "time_limit_s", request.time_limit_s, upper=3600.0)
            hypothesis = self.inquiries.hypothesis(outages, list(request.satellites_lost), specs)
            report, version = await self.inquiries.what_if(hypothesis, limit)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        return cluster_pb2.WhatIfResponse(
            hypothesis=report.hypothesis,
            changes=[
                cluster_pb2.JobChange(
                    job_id=c.job_id,
                    kind=c.kind,
                    before=c.before,
                    after=c.after,
                    code=c.code,
                    reason=c.reason,
                )
                for c in report.changes
            ],
            value_before=report.value_before,
            value_after=report.value_after,
            solver_status=report.status,
            solve_duration_s=report.solve_s,
            based_on_plan_version=version,
        )

    def _validated_elements(self, text: str) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """Every element set of the text, all valid or a RequestError naming what is wrong:
        TLE format and checksums, satellites of the run, SGP4 over the planning horizon."""
        if not text.strip():
            raise validate.invalid("tle_text: empty; send CelesTrak TLE text")
        if len(text) > MAX_TLE_TEXT:
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"tle_text: {len(text)} characters; at most {MAX_TLE_TEXT} per call",
            )
        notes: list[str] = []
        try:
            records = parse_tle_records(text, "tle_text", warn=notes.append)
        except TleError as exc:
            raise validate.invalid(str(exc)) from None
        world = self.sessions.world
        unknown = [r.name for r in records if r.name not in set(world.names)]
        if unknown:
            raise validate.invalid(
                f"tle_text: not satellites of this run: {', '.join(unknown[:5])}"
                + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                + " (each name line must name one; orbitctl sats lists them)"
            )
        sets = {r.name: (r.line1, r.line2) for r in records}
        now = self.sessions.clock.now_s()
        c = world.constellation.with_elements({r.name: r.satrec for r in records})
        c = c.subset([c.index(n) for n in sets])
        failures = propagation_failures(c, now, now + self.replanner.horizon_s)
        if failures:
            f = failures[0]
            raise validate.invalid(
                f"tle_text: {f.name}: SGP4 fails from {iso8601(f.time_s)}: {f.message}"
                + (f" (and {len(failures) - 1} more satellites)" if len(failures) > 1 else "")
                + "; nothing was changed"
            )
        stale = stale_elements_line(c, now, DEFAULT_MAX_ELEMENT_AGE_DAYS * 86400.0)
        return sets, [*notes, *([stale] if stale else [])]

    async def UpdateElements(
        self, request: cluster_pb2.UpdateElementsRequest, context: grpc.aio.ServicerContext
    ) -> cluster_pb2.UpdateElementsResponse:
        try:
            sets, warnings = self._validated_elements(request.tle_text)
        except RequestError as exc:
            await context.abort(exc.code, exc.message)
        s = self.sessions
        s.store.save_element_sets(sets, s.clock.now_s())  # durable before anything uses them
        s.world.update_elements(sets)
        for name in sets:
            s.send_elements(name)
        s.replans.request(ReplanTrigger.ELEMENTS, f"elements of {len(sets)} satellite(s) updated")
        epochs = {
            n: element_epoch_s(s.world.constellation.satrecs[s.world.constellation.index(n)])
            for n in sets
        }
        return cluster_pb2.UpdateElementsResponse(
            updated=[
                cluster_pb2.ElementSet(
                    satellite_id=n, tle_line1=l1, tle_line2=l2, epoch_s=epochs[n]
                )
                for n, (l1, l2) in sets.items()
            ],
            warnings=warnings,
        )
