"""orbit-agent: the agent of one satellite (or of many, in one process: agents/fleet.py).

    orbit-agent --satellite ID --scheduler HOST:PORT [--metrics-port P]
                [--tls-ca FILE --tls-cert FILE --tls-key FILE]   (or ORBIT_TLS_CA/CERT/KEY)
    orbit-agent --satellites ID,ID,... | --all [--shard K/N] --scheduler HOST:PORT
                [--metrics-port P] [--tls-ca FILE --tls-cert-dir DIR]

Connects to the scheduler (one bidirectional stream), says hello, streams telemetry from its
simulated bus, and executes its time-tagged plan on its own, also while the link is down,
buffering what it must report. Reconnects with exponential backoff and jitter; on every
(re)connection it tells the scheduler what it runs, and the scheduler reconciles.

Imports only scheduler.forecast (through agents.runtime) and the generated contract, never
the planner or the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Sequence

import grpc
from orbitalsched.v1 import agent_pb2, agent_pb2_grpc
from prometheus_client import start_http_server

from agents.lease import Lease
from agents.metrics import AgentMetrics
from agents.runtime import Runtime
from scheduler.forecast import TleError
from scheduler.forecast.timeconv import SimClock
from scheduler.proc.parent import die_with_launcher
from scheduler.security.tls import (
    TlsConfigError,
    add_client_tls_arguments,
    client_tls,
    client_tls_of,
)

log = logging.getLogger("orbit-agent")
MAX_BUFFERED_REPORTS = 10_000
# Terminal reports are repeated after every reconnection (the scheduler ignores duplicates),
# so an outcome the scheduler did not commit before it crashed is not lost.
RECENT_TERMINAL_REPORTS = 256
HEARTBEATS_PER_LEASE = 3
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0
HANDSHAKE_S = 30.0  # Hello written and Welcome read within this, or the stream is retried
TICK_WALL_S = 0.1
MAX_TICK_SIM_S = 60.0  # the truth model never steps more than a simulated minute at once
K = agent_pb2.JobReportKind
TELEMETRY_MARK = agent_pb2.AgentMessage()  # in an outbox: send the newest sample here
# Refusals no retry can fix: an unknown satellite, a bad Hello, a certificate for another
# satellite or none the scheduler accepts. The agent stops with exit status 2.
PERMANENT = (
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
)


class Agent:
    def __init__(
        self,
        satellite: str,
        target: str,
        metrics: AgentMetrics,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.satellite = satellite
        self.target = target
        self.credentials = credentials  # None: plaintext
        self.metrics = metrics
        self.boot_id = uuid.uuid4().hex[:12]
        self.runtime: Runtime | None = None
        self.clock: SimClock | None = None
        self.plan_version = 0
        self.seq = 0
        self.buffer: deque[agent_pb2.JobReport] = deque()
        self.recent_terminal: deque[agent_pb2.JobReport] = deque(maxlen=RECENT_TERMINAL_REPORTS)
        self.outbox: asyncio.Queue[agent_pb2.AgentMessage] | None = None
        self.telemetry_interval_s = 60.0
        self.stopping = asyncio.Event()
        self.refused = ""  # why the scheduler refused this agent, if it did
        self.tick_wall_s = TICK_WALL_S  # executor step (a fleet of many ticks slower)
        # The lease (agents/lease.py), always-linked model only: while it has lapsed the
        # agent holds its work. After a stream ended it also waits for the plan of the new
        # stream (need_sync), which tells it what is still its own. On the same stream a
        # renewed lease is enough: the scheduler has not given its work away (it closes a
        # lost satellite's stream, and an ack's lease ends before the scheduler could
        # declare it lost), and moved jobs were cancelled on that stream. (Waiting for a
        # plan there too left agents paused for good once plans went only to the agents
        # whose entries changed.)
        self.lease: Lease | None = None
        self.need_sync = False
        # A fleet's agents share one gate: at most so many open their stream at once, so
        # thousands starting together connect in turn instead of all timing out together.
        self.connect_gate: asyncio.Semaphore | None = None
        self.streams_opened = 0  # streams that got a Welcome
        self.telemetry_out: agent_pb2.AgentMessage | None = None  # the sample to send next

    # --- autonomy: runs whether or not a link is up --------------------------------------
    def _check_lease(self) -> None:
        rt, lease = self.runtime, self.lease
        if rt is None or lease is None:
            return
        if not lease.valid():
            if not rt.paused:
                log.warning(
                    "%s: no word from the scheduler for the %.1f s lease: pausing [%s]",
                    self.satellite,
                    lease.lease_s,
                    " ".join(j.job_id for j in rt.running_jobs()),
                )
            rt.paused = True
        elif rt.paused and not self.need_sync:
            log.info("%s: lease renewed and plan confirmed: resuming", self.satellite)
            rt.paused = False
        self.metrics.paused.labels(self.satellite).set(1 if rt.paused else 0)

    def tick_s(self) -> float:
        """Wall seconds between executor steps: tick_wall_s (longer in a large fleet), but
        no longer than the telemetry interval, a third of the lease (heartbeats keep their
        pace) or a simulated minute."""
        if self.clock is None:  # not connected yet: nothing to step
            return max(TICK_WALL_S, self.tick_wall_s)
        speed = self.clock.speed or 1.0
        cap = min(self.telemetry_interval_s, MAX_TICK_SIM_S) / speed
        if self.lease is not None:
            cap = min(cap, self.lease.lease_s / HEARTBEATS_PER_LEASE)
        return max(TICK_WALL_S, min(self.tick_wall_s, cap))

    async def execute(self) -> None:
        next_telemetry_wall = 0.0
        next_heartbeat_wall = 0.0
        while not self.stopping.is_set():
            await asyncio.sleep(self.tick_s())
            if self.runtime is None or self.clock is None:
                continue
            now = self.clock.now_s()
            self._check_lease()  # before stepping: a frozen agent wakes up paused
            for report in self.runtime.step(now):
                self.emit(report)
            tel = self.runtime.telemetry(now)
            self.metrics.state(
                soc_wh=tel.battery_soc_wh,
                capacity_wh=tel.battery_capacity_wh,
                temperature_c=tel.temperature_c,
                generated_w=tel.power_generated_w,
                drawn_w=tel.power_drawn_w,
                sunlit=tel.sunlit_fraction,
                in_contact=tel.in_contact,
                busy=tel.accelerators_busy,
                protection=tel.self_protection,
            )
            wall = time.time()
            lease = self.lease
            if lease is not None and self.outbox is not None and wall >= next_heartbeat_wall:
                next_heartbeat_wall = wall + lease.lease_s / HEARTBEATS_PER_LEASE
                self.outbox.put_nowait(
                    agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(seq=lease.sent()))
                )
            if self.outbox is not None and wall >= next_telemetry_wall:
                next_telemetry_wall = wall + self.telemetry_interval_s / self.clock.speed
                # The newest sample waits in one slot (an older unsent one is replaced); the
                # queue holds a marker, so a stream the scheduler reads slowly carries its
                # heartbeats and reports between samples, not behind a pile of them.
                if self.telemetry_out is None:
                    self.outbox.put_nowait(TELEMETRY_MARK)
                self.telemetry_out = agent_pb2.AgentMessage(telemetry=tel)
                for report in self.runtime.progress_reports():
                    self.outbox.put_nowait(agent_pb2.AgentMessage(job_report=report))

    def emit(self, report: agent_pb2.JobReport) -> None:
        """Number, count and send (or buffer) one report of the executor."""
        self.seq += 1
        report.seq = self.seq
        kind = K.Name(report.kind).removeprefix("JOB_REPORT_KIND_").lower()
        self.metrics.job_reports_total.labels(self.satellite, kind).inc()
        log.info("%s: %s %s %s", self.satellite, report.job_id, kind, report.reason)
        if report.kind in (K.JOB_REPORT_KIND_SUCCEEDED, K.JOB_REPORT_KIND_FAILED):
            self.recent_terminal.append(report)
        self.report(report)

    def report(self, report: agent_pb2.JobReport) -> None:
        if self.outbox is not None:
            self.outbox.put_nowait(agent_pb2.AgentMessage(job_report=report))
            return
        if len(self.buffer) >= MAX_BUFFERED_REPORTS:
            self.buffer.popleft()
            self.metrics.dropped_reports_total.labels(self.satellite).inc()
        self.buffer.append(report)
        self.metrics.buffered_reports.labels(self.satellite).set(len(self.buffer))

    # --- the link ------------------------------------------------------------------------
    async def connect_forever(self) -> None:
        backoff = BACKOFF_MIN_S
        while not self.stopping.is_set():
            self.metrics.reconnects_total.labels(self.satellite).inc()
            started = time.time()
            wait_s: float | None = None
            try:
                wait_s = await self.session()
            except grpc.aio.AioRpcError as exc:
                log.info(
                    "%s: link to %s: %s %s",
                    self.satellite,
                    self.target,
                    exc.code().name,
                    exc.details(),
                )
                if exc.code() in PERMANENT:
                    # Permanent (see PERMANENT). Stop, exit 2.
                    log.error(
                        "%s: the scheduler refuses this agent: %s", self.satellite, exc.details()
                    )
                    self.refused = exc.details() or exc.code().name
                    self.stopping.set()
            except Exception:  # anything else: the link loop goes on (backoff), never dies
                log.exception("%s: stream to %s failed", self.satellite, self.target)
            finally:
                self.outbox = None
                self.metrics.connected.labels(self.satellite).set(0)
            if time.time() - started > 5.0:
                backoff = BACKOFF_MIN_S
            if wait_s is None:  # failure: exponential backoff with full jitter
                wait_s = random.uniform(0.5, 1.0) * backoff
                backoff = min(BACKOFF_MAX_S, backoff * 2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=max(wait_s, 0.0))

    async def session(self) -> float | None:
        """One stream; returns wall seconds to wait before reconnecting (None: backoff)."""
        channel = (
            grpc.aio.insecure_channel(self.target)
            if self.credentials is None
            else grpc.aio.secure_channel(self.target, self.credentials)
        )
        async with channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            gate = self.connect_gate or contextlib.nullcontext()
            async with gate:  # from opening the stream to the Welcome
                call = stub.Connect()
                try:
                    await asyncio.wait_for(
                        call.write(agent_pb2.AgentMessage(hello=self.hello())), HANDSHAKE_S
                    )
                    first = await asyncio.wait_for(call.read(), HANDSHAKE_S)
                except TimeoutError:  # a stuck handshake must not hold the gate
                    log.info("%s: no Welcome within %.0f s", self.satellite, HANDSHAKE_S)
                    call.cancel()
                    return None
            if first is grpc.aio.EOF:  # type: ignore[attr-defined]
                return None
            body = first.WhichOneof("body")
            if body == "link_down":
                return self.link_down_wait(first.link_down)
            if body != "welcome":
                log.error("%s: expected Welcome, got %s", self.satellite, body)
                return None
            self.welcome(first.welcome)
            self.streams_opened += 1
            outbox: asyncio.Queue[agent_pb2.AgentMessage] = asyncio.Queue()
            while self.buffer:
                outbox.put_nowait(agent_pb2.AgentMessage(job_report=self.buffer.popleft()))
            for report in self.recent_terminal:
                outbox.put_nowait(agent_pb2.AgentMessage(job_report=report))
            self.metrics.buffered_reports.labels(self.satellite).set(0)
            self.outbox = outbox
            self.metrics.connected.labels(self.satellite).set(1)
            log.info("%s: connected to %s", self.satellite, self.target)
            writer = asyncio.create_task(self._write(call, outbox))
            try:
                while True:
                    msg = await call.read()
                    if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
                        return None
                    wait = self.handle(msg)
                    if wait is not None:
                        return wait
            finally:
                self.outbox = None
                self.telemetry_out = None  # a sample is never worth sending late
                self.need_sync = True  # the next stream's plan says what is still its own
                # Reports queued but not written go back to the buffer, in order.
                pending = [m.job_report for m in _drain(outbox) if m.HasField("job_report")]
                self.buffer.extendleft(reversed(pending))
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await writer
                call.cancel()

    async def _write(
        self,
        call: grpc.aio.StreamStreamCall,
        outbox: asyncio.Queue[agent_pb2.AgentMessage],
    ) -> None:
        while True:
            msg: agent_pb2.AgentMessage | None = await outbox.get()
            if msg is TELEMETRY_MARK:
                msg, self.telemetry_out = self.telemetry_out, None
            if msg is not None:
                await call.write(msg)

    def hello(self) -> agent_pb2.Hello:
        running = self.runtime.running_jobs() if self.runtime else []
        return agent_pb2.Hello(
            satellite_id=self.satellite,
            agent_version="0.1.0",
            boot_id=self.boot_id,
            last_plan_version=self.plan_version,
            running_jobs=running,
        )

    def welcome(self, w: agent_pb2.Welcome) -> None:
        self.clock = SimClock(w.clock.sim_epoch_s, w.clock.wall_epoch_s, w.clock.speed)
        self.telemetry_interval_s = w.config.telemetry_interval_s or self.clock.speed
        if self.runtime is None:
            self.runtime = Runtime.from_config(w.config, self.clock.now_s())
        if w.lease_s > 0:
            if self.lease is None:
                self.lease = Lease(w.lease_s)
                self.runtime.paused = True  # until the first acknowledged heartbeat
            self.lease.lease_s = w.lease_s
        else:
            self.lease = None  # contacts model: silence out of contact is normal
            self.runtime.paused = False

    def link_down_wait(self, down: agent_pb2.LinkDown) -> float:
        c = down.clock
        self.clock = SimClock(c.sim_epoch_s, c.wall_epoch_s, c.speed)
        # Come back just after AOS (a second of simulated time).
        wait_s = max(0.0, (down.next_contact_start_s + 1.0 - self.clock.now_s()) / c.speed)
        log.info("%s: out of contact; next contact in %.1f s", self.satellite, wait_s)
        return wait_s

    def handle(self, msg: agent_pb2.SchedulerMessage) -> float | None:
        body = msg.WhichOneof("body")
        rt = self.runtime
        if body == "plan" and rt is not None:
            plan = msg.plan
            if plan.wall_solved_s > 0:
                delivery_s = time.time() - plan.wall_solved_s
                self.metrics.plan_delivery.labels(self.satellite).set(delivery_s)
            if plan.plan_version < self.plan_version:
                self._ack(plan.plan_version, False, "older than the applied plan")
                return None
            self.plan_version = plan.plan_version
            rt.apply_plan(plan, self.clock.now_s() if self.clock else 0.0)
            self.need_sync = False  # (a plan follows the reconciliation of every Hello)
            self.metrics.plan_version.labels(self.satellite).set(plan.plan_version)
            log.info("%s: plan v%d applied", self.satellite, plan.plan_version)
            self._ack(plan.plan_version, True, "")
        elif body == "cancel" and rt is not None:
            now = self.clock.now_s() if self.clock else 0.0
            for report in rt.cancel(msg.cancel.job_id, msg.cancel.reason, now):
                self.emit(report)
        elif body == "drain" and rt is not None:
            rt.drain(msg.drain.reason)
        elif body == "elements" and rt is not None:
            try:
                now = self.clock.now_s() if self.clock else 0.0
                rt.new_elements(msg.elements.tle_line1, msg.elements.tle_line2, now)
                self.metrics.elements_updates.labels(self.satellite).inc()
            except TleError as exc:
                log.error("new elements refused: %s", exc)
        elif body == "link_down":
            return self.link_down_wait(msg.link_down)
        elif body == "heartbeat_ack" and self.lease is not None:
            self.lease.acknowledged(msg.heartbeat_ack.seq)
        return None

    def _ack(self, version: int, accepted: bool, reason: str) -> None:
        if self.outbox is not None:
            self.outbox.put_nowait(
                agent_pb2.AgentMessage(
                    plan_ack=agent_pb2.PlanAck(
                        plan_version=version, accepted=accepted, reason=reason
                    )
                )
            )


def _drain(queue: asyncio.Queue[agent_pb2.AgentMessage]) -> list[agent_pb2.AgentMessage]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def run(args: argparse.Namespace, credentials: grpc.ChannelCredentials | None = None) -> str:
    """Run until stopped; returns why the scheduler refused this agent ("" if it did not)."""
    metrics = AgentMetrics(args.satellite)
    if args.metrics_port is not None:
        start_http_server(args.metrics_port, addr=args.metrics_host, registry=metrics.registry)
    agent = Agent(args.satellite, args.scheduler, metrics, credentials)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.stopping.set)
    print(f"orbit-agent {args.satellite} started (scheduler {args.scheduler})", flush=True)
    tasks = [asyncio.create_task(agent.execute()), asyncio.create_task(agent.connect_forever())]
    await agent.stopping.wait()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return agent.refused


def main(argv: Sequence[str] | None = None) -> int:
    die_with_launcher()
    p = argparse.ArgumentParser(prog="orbit-agent", description=__doc__.splitlines()[0])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--satellite", help="satellite id, as in the scenario")
    who.add_argument(
        "--satellites", metavar="ID,ID,...", help="run these satellites in this process"
    )
    who.add_argument(
        "--all", action="store_true", help="run every satellite the scheduler serves (or a shard)"
    )
    p.add_argument("--shard", metavar="K/N", help="with --all: every N-th satellite from the K-th")
    p.add_argument("--scheduler", default="127.0.0.1:50051", help="HOST:PORT of the scheduler")
    p.add_argument("--metrics-port", type=int, default=None)
    p.add_argument("--metrics-host", default="127.0.0.1")
    p.add_argument("--log-level", default="INFO")
    add_client_tls_arguments(p)
    p.add_argument(
        "--tls-cert-dir",
        metavar="DIR",
        help="with --satellites/--all and --tls-ca: each satellite's certificate and key as "
        "DIR/satellite-ID.pem and DIR/satellite-ID-key.pem (as orbitctl certs issues them)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.satellite is None:
        return _main_fleet(args)
    if args.shard or args.tls_cert_dir:
        sys.stderr.write(
            "orbit-agent: error: --shard and --tls-cert-dir go with --satellites/--all\n"
        )
        return 2
    try:
        tls = client_tls_of(args)
        credentials = None if tls is None else tls.credentials()
    except TlsConfigError as exc:
        sys.stderr.write(f"orbit-agent: error: {exc}\n")
        return 2
    try:
        refused = asyncio.run(run(args, credentials))
    except KeyboardInterrupt:
        return 130
    if refused:
        sys.stderr.write(f"orbit-agent: error: {refused}\n")
        return 2
    return 0


def _main_fleet(args: argparse.Namespace) -> int:
    from agents import fleet

    def fail(msg: str) -> int:
        sys.stderr.write(f"orbit-agent: error: {msg}\n")
        return 2

    if args.tls_cert or args.tls_key:
        return fail("--tls-cert/--tls-key name one satellite: use --tls-cert-dir with a fleet")
    if args.tls_cert_dir and not args.tls_ca:
        return fail("--tls-cert-dir needs --tls-ca")
    if args.shard and not args.all:
        return fail("--shard goes with --all")
    try:
        shard = fleet.parse_shard(args.shard) if args.shard else (1, 1)
        names = fleet.parse_satellites(args.satellites) if args.satellites else []
    except ValueError as exc:
        return fail(str(exc))

    def credentials_for(name: str) -> grpc.ChannelCredentials | None:
        if not args.tls_ca:
            return None
        d = args.tls_cert_dir
        cert = f"{d}/satellite-{name}.pem" if d else None
        key = f"{d}/satellite-{name}-key.pem" if d else None
        tls = client_tls(args.tls_ca, cert, key, env={})
        return None if tls is None else tls.credentials()

    try:
        lister = credentials_for(names[0]) if names else None
        if args.all:
            ca_only = client_tls(args.tls_ca, None, None, env={}) if args.tls_ca else None
            lister = ca_only.credentials() if ca_only is not None else None
            names = asyncio.run(fleet.list_satellites(args.scheduler, lister))
            names = fleet.shard_of(names, *shard)
            if not names:
                return fail(f"shard {args.shard} of the scheduler's satellites is empty")
        for name in names:  # every certificate readable before any stream opens
            credentials_for(name)
    except TlsConfigError as exc:
        return fail(str(exc))
    except grpc.aio.AioRpcError as exc:
        return fail(f"cannot list the scheduler's satellites: {exc.code().name} {exc.details()}")
    try:
        refused = asyncio.run(
            fleet.run_fleet(
                names, args.scheduler, credentials_for, args.metrics_port, args.metrics_host
            )
        )
    except KeyboardInterrupt:
        return 130
    if refused and len(refused) == len(names):
        return fail(f"the scheduler refused every satellite ({next(iter(refused.values()))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
