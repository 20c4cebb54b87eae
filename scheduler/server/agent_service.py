"""AgentService: one bidirectional stream per satellite agent.

The first message must be Hello. Out of contact (link model "contacts") the stream gets a
LinkDown and ends; otherwise Welcome (the clock and the satellite's orbit and bus), any
reconciliation cancels, then the current plan, then whatever the controller queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid

import grpc
from orbitalsched.v1 import agent_pb2, agent_pb2_grpc

from scheduler.security.authz import AGENT_CONNECT, Resource, authorize
from scheduler.security.interceptor import current_principal
from scheduler.server.control import Controller
from scheduler.server.fleet import Outbox, SatRuntime
from scheduler.server.store import TransitionError

log = logging.getLogger("orbit-scheduler")
HELLO_TIMEOUT_S = 10.0
EOF = grpc.aio.EOF  # type: ignore[attr-defined]  # (missing from grpc-stubs)


class AgentService(agent_pb2_grpc.AgentServiceServicer):
    def __init__(self, controller: Controller, telemetry_interval_s: float) -> None:
        self.c = controller
        self.telemetry_interval_s = telemetry_interval_s
        self.scheduler_id = uuid.uuid4().hex[:12]

    def clock_pb(self) -> agent_pb2.Clock:
        k = self.c.clock
        return agent_pb2.Clock(
            sim_epoch_s=k.sim_epoch_s, wall_epoch_s=k.wall_epoch_s, speed=k.speed
        )

    def link_down(self, sat: str) -> agent_pb2.SchedulerMessage:
        return self.link_down_message(self.c, sat)

    @staticmethod
    def link_down_message(c: Controller, sat: str) -> agent_pb2.SchedulerMessage:
        now = c.clock.now_s()
        nxt = c.world.next_contact(sat, now + 1.0)
        start = nxt[0] if nxt is not None and nxt[0] > now else now + 60.0
        k = c.clock
        clock = agent_pb2.Clock(
            sim_epoch_s=k.sim_epoch_s, wall_epoch_s=k.wall_epoch_s, speed=k.speed
        )
        return agent_pb2.SchedulerMessage(
            link_down=agent_pb2.LinkDown(next_contact_start_s=start, clock=clock)
        )

    def welcome(self, rt: SatRuntime) -> agent_pb2.SchedulerMessage:
        world = self.c.world
        line1, line2 = world.tle_lines(rt.name)
        bus = {f.name: float(getattr(world.bus, f.name)) for f in dataclasses.fields(world.bus)}
        until = 0.0
        if self.c.link_model == "contacts":
            window = world.contact_at(rt.name, self.c.clock.now_s())
            until = window[1] if window else 0.0
        return agent_pb2.SchedulerMessage(
            welcome=agent_pb2.Welcome(
                clock=self.clock_pb(),
                config=agent_pb2.SatelliteConfig(
                    satellite_id=rt.name,
                    tle_line1=line1,
                    tle_line2=line2,
                    bus=bus,
                    telemetry_interval_s=self.telemetry_interval_s,
                ),
                scheduler_id=self.scheduler_id,
                link_model=self.c.link_model,
                link_until_s=until,
            )
        )

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        try:
            first = await asyncio.wait_for(context.read(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"no Hello within {HELLO_TIMEOUT_S:.0f} s"
            )
        if first is EOF or not first.HasField("hello"):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message on the stream must be a Hello"
            )
        hello = first.hello
        decision = authorize(
            current_principal(), AGENT_CONNECT, Resource(satellite_id=hello.satellite_id)
        )
        if not decision.allowed:
            await context.abort(decision.code, decision.reason)
        rt = self.c.sats.get(hello.satellite_id)
        if rt is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"hello.satellite_id: {hello.satellite_id[:80]!r} is not in this constellation",
            )
        assert rt is not None
        if not self.c.reachable(rt.name):
            await context.write(self.link_down(rt.name))
            return
        if rt.outbox is not None:  # a newer stream replaces the old one
            rt.outbox.put_nowait(None)
        outbox: Outbox = asyncio.Queue()
        rt.outbox = outbox
        self.c.metrics.agent_messages_total.labels("hello").inc()
        await context.write(self.welcome(rt))
        for message in self.c.hello(rt, hello):
            await context.write(message)
        self.c._send_plan(rt)
        reader = asyncio.create_task(self._read(rt, outbox, context))
        try:
            while True:
                queued = await outbox.get()
                if queued is None:
                    break
                await context.write(queued)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            if rt.outbox is outbox:
                self.c.disconnected(rt)

    async def _read(
        self, rt: SatRuntime, outbox: Outbox, context: grpc.aio.ServicerContext
    ) -> None:
        m = self.c.metrics.agent_messages_total
        try:
            while True:
                msg = await context.read()
                if msg is EOF:
                    break
                rt.wall_last_seen_s = time.time()
                body = msg.WhichOneof("body")
                m.labels(body or "empty").inc()
                if body == "telemetry":
                    self.c.telemetry(rt, msg.telemetry)
                elif body == "job_report":
                    try:
                        replies = self.c.report(rt, msg.job_report)
                    except TransitionError as exc:  # a report that cannot apply is dropped
                        log.warning("%s: report %s ignored: %s", rt.name, msg.job_report.kind, exc)
                        continue
                    for reply in replies:
                        outbox.put_nowait(reply)
                elif body == "plan_ack":
                    rt.applied_plan_version = max(
                        rt.applied_plan_version, msg.plan_ack.plan_version
                    )
                    self.c.metrics.plan_acked(msg.plan_ack.plan_version)
        except asyncio.CancelledError:
            raise
        except Exception:  # a broken stream ends the connection, never the server
            log.exception("stream of %s failed", rt.name)
        finally:
            outbox.put_nowait(None)
