"""AgentService: one bidirectional stream per satellite agent.

The first message must be Hello. Out of contact (link model "contacts") the stream gets a
LinkDown and ends; otherwise Welcome (the clock and the satellite's orbit and bus), any
reconciliation cancels, then the current plan, then whatever the sessions queue. Messages
are converted to model types here (validate.py) and back (convert.py): the sessions and the
lifecycle below never see protobuf.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid

import grpc
from orbitalsched.v1 import agent_pb2, agent_pb2_grpc

from scheduler.security.authz import AGENT_CONNECT, Resource, authorize
from scheduler.security.identity import Kind, Principal
from scheduler.security.interceptor import Undecodable, act_as, current_principal, rate_log
from scheduler.server import validate
from scheduler.server.convert import clock_to_pb, to_agent_pb
from scheduler.server.fleet import Outbox, SatRuntime
from scheduler.server.lifecycle import JobLifecycle
from scheduler.server.messages import SatellitePlan
from scheduler.server.sessions import AgentSessions
from scheduler.server.store import TransitionError
from scheduler.server.validate import RequestError
from scheduler.server.wire import PlanEncoder

log = logging.getLogger("orbit-scheduler")
HELLO_TIMEOUT_S = 10.0
# Telemetry samples processed per event-loop turn (AgentService.process_telemetry).
TELEMETRY_BATCH = 256
EOF = grpc.aio.EOF  # type: ignore[attr-defined]  # (missing from grpc-stubs)


class AgentService(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, sessions: AgentSessions, lifecycle: JobLifecycle) -> None:
        self.sessions = sessions
        self.lifecycle = lifecycle
        self.scheduler_id = uuid.uuid4().hex[:12]
        sessions.plan_encoder = PlanEncoder  # broadcasts serialise each plan once
        # The newest unprocessed telemetry sample of each satellite, oldest first: reading a
        # stream only files its sample here, so heartbeats, reports and acks on the same
        # streams are handled as they arrive, and a scheduler that falls behind keeps one
        # sample per satellite (the newest) instead of a growing queue.
        self.pending_telemetry: dict[str, agent_pb2.Telemetry] = {}
        self._telemetry_ready = asyncio.Event()
        self._telemetry_task: asyncio.Task[None] | None = None

    def welcome(self, rt: SatRuntime) -> agent_pb2.SchedulerMessage:
        s = self.sessions
        line1, line2 = s.world.tle_lines(rt.name)
        bus = {f.name: float(getattr(s.world.bus, f.name)) for f in dataclasses.fields(s.world.bus)}
        return agent_pb2.SchedulerMessage(
            welcome=agent_pb2.Welcome(
                clock=clock_to_pb(s.clock),
                config=agent_pb2.SatelliteConfig(
                    satellite_id=rt.name,
                    tle_line1=line1,
                    tle_line2=line2,
                    bus=bus,
                    telemetry_interval_s=s.telemetry_interval_s,
                ),
                scheduler_id=self.scheduler_id,
                link_model=s.link_model,
                link_until_s=s.link_until_s(rt.name),
                lease_s=s.lease_s,
            )
        )

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        try:
            first = await asyncio.wait_for(context.read(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"no Hello within {HELLO_TIMEOUT_S:.0f} s"
            )
        if isinstance(first, Undecodable):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"not an AgentMessage: {first.error}"
            )
        if first is EOF or not first.HasField("hello"):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message on the stream must be a Hello"
            )
        decision = authorize(
            current_principal(),
            AGENT_CONNECT,
            Resource(satellite_id=first.hello.satellite_id[: validate.MAX_SHORT_STRING + 1]),
        )
        if not decision.allowed:
            await context.abort(decision.code, decision.reason)
        try:
            hello = validate.hello_from_pb(first.hello)  # before anything changes
        except RequestError as exc:
            rate_log.warning("hello", "refused a Hello from %s: %s", context.peer(), exc.message)
            await context.abort(exc.code, exc.message)
        principal = current_principal()
        if principal.kind in (Kind.ANONYMOUS, Kind.SCHEDULER):  # no TLS: the Hello names it
            act_as(Principal(Kind.SATELLITE, hello.satellite_id))
        s = self.sessions
        if hello.satellite_id not in s.sats:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"hello.satellite_id: {hello.satellite_id[:80]!r} is not in this constellation",
            )
        if not s.reachable(hello.satellite_id):
            await context.write(to_agent_pb(s.link_down(hello.satellite_id), s.clock))
            return
        rt, outbox = s.connect(hello)
        s.metrics.agent_messages_total.labels("hello").inc()
        await context.write(self.welcome(rt))
        self.lifecycle.reconcile(rt.name, hello.running)  # cancels go to the outbox first
        s.send_plan(rt.name)
        failure: list[RequestError] = []
        reader = asyncio.create_task(self._read(rt, outbox, context, failure))
        try:
            while True:
                queued = await outbox.get()
                if queued is None:
                    break
                if isinstance(queued, SatellitePlan) and queued.wire:
                    try:
                        await context.write(queued.wire)  # bytes: wire.serialize_to_agent
                    finally:
                        s.plan_written(queued)
                else:
                    await context.write(to_agent_pb(queued, s.clock))
        finally:
            while not outbox.empty():  # broadcast plans this stream will never write
                left = outbox.get_nowait()
                if isinstance(left, SatellitePlan):
                    s.plan_written(left)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            s.disconnected(rt, outbox)
        if failure:
            await context.abort(failure[0].code, failure[0].message)

    def file_telemetry(self, sat: str, sample: agent_pb2.Telemetry) -> None:
        """Keep a sample for process_telemetry (replacing an older one not yet processed)."""
        pending = self.pending_telemetry
        if pending.pop(sat, None) is not None:
            self.sessions.metrics.agent_messages_total.labels("telemetry_superseded").inc()
        pending[sat] = sample
        self._telemetry_ready.set()
        if self._telemetry_task is None or self._telemetry_task.done():
            self._telemetry_task = asyncio.create_task(self.process_telemetry())

    def process_pending_telemetry(self, limit: int) -> int:
        """Validate and apply up to `limit` filed samples, oldest first; returns how many.
        An invalid sample is dropped and counted, changing nothing."""
        pending, s = self.pending_telemetry, self.sessions
        done = 0
        while pending and done < limit:
            sat = next(iter(pending))
            sample = pending.pop(sat)
            done += 1
            try:
                tel = validate.telemetry_from_pb(sample)
            except RequestError as exc:  # agents are validated like any client
                s.metrics.agent_messages_total.labels("invalid").inc()
                rate_log.warning(f"tel:{sat}", "%s: telemetry ignored: %s", sat, exc.message)
                continue
            s.telemetry(sat, tel)
        return done

    async def process_telemetry(self) -> None:
        """Apply filed telemetry, TELEMETRY_BATCH samples per event-loop turn."""
        while True:
            await self._telemetry_ready.wait()
            self._telemetry_ready.clear()
            while self.pending_telemetry:
                if self.sessions.plans_first():  # a broadcast's writes go first
                    await asyncio.sleep(0.02)
                    continue
                try:
                    self.process_pending_telemetry(TELEMETRY_BATCH)
                except Exception:  # a bad sample must not end the processing of the rest
                    log.exception("telemetry processing failed")
                await asyncio.sleep(0)

    async def _read(
        self,
        rt: SatRuntime,
        outbox: Outbox,
        context: grpc.aio.ServicerContext,
        failure: list[RequestError],
    ) -> None:
        """Reads the stream until it ends; a message that cannot be decoded ends it (with
        INVALID_ARGUMENT, through failure); an invalid report or telemetry sample is
        dropped and counted, changing nothing."""
        s = self.sessions
        m = s.metrics.agent_messages_total
        try:
            while True:
                msg = await context.read()
                if msg is EOF:
                    break
                if isinstance(msg, Undecodable):
                    rate_log.warning("agent-decode", "%s: undecodable message", rt.name)
                    failure.append(validate.invalid(f"not an AgentMessage: {msg.error}"))
                    break
                s.seen(rt.name)
                body = msg.WhichOneof("body")
                m.labels(body or "empty").inc()
                if body == "telemetry":
                    self.file_telemetry(rt.name, msg.telemetry)
                elif body == "job_report":
                    report = validate.report_from_pb(msg.job_report)
                    if report is None:
                        m.labels("invalid").inc()
                        rate_log.warning(
                            f"rep:{rt.name}",
                            "%s: report ignored: %s",
                            rt.name,
                            validate.report_problem(msg.job_report),
                        )
                        continue
                    if report.kind != "progress":  # the periodic ones would flood the log
                        log.info("%s: %s %s report", rt.name, report.job_id, report.kind.value)
                    try:
                        self.lifecycle.report(rt.name, report)
                    except TransitionError as exc:  # a report that cannot apply is dropped
                        log.warning("%s: report %s ignored: %s", rt.name, report.kind, exc)
                elif body == "plan_ack":
                    if 0 <= msg.plan_ack.plan_version <= s.plan.version:
                        s.plan_acked(rt.name, msg.plan_ack.plan_version)
                elif body == "heartbeat":
                    s.heartbeat(rt.name, msg.heartbeat.seq)
        except asyncio.CancelledError:
            raise
        except Exception:  # a broken stream ends the connection, never the server
            log.exception("stream of %s failed", rt.name)
        finally:
            outbox.put_nowait(None)
