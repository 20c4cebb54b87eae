"""The scheduler assembled: `build_server(config)` wires every part at construction, and
`Server` starts and stops them (gRPC services, health, reflection, metrics endpoint, the
replanning loop and housekeeping).

    state:     Store (SQLite), SimClock, World, CurrentPlan
    agents:    AgentSessions   streams, liveness, dissemination          (sessions.py)
    jobs:      JobLifecycle    every job change, over jobs_logic         (lifecycle.py)
    planning:  Replanner       the rolling-horizon loop, solver process  (replanner.py)
    edge:      JobService, AgentService, ClusterService (protobuf <-> model types)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from orbitalsched.v1 import (
    agent_pb2,
    cluster_pb2,
    cluster_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)
from prometheus_client import start_http_server

from scheduler.errors import UserError
from scheduler.forecast.isl import isl_groups
from scheduler.forecast.screening import element_ages_s
from scheduler.scenario import load_scenario
from scheduler.security.interceptor import interceptor_for
from scheduler.security.open_listener import build_open_server, check_open_listen
from scheduler.security.tls import ServerTls, TlsConfigError, bind_server
from scheduler.server.agent_service import AgentService
from scheduler.server.clock import SimClock, load_or_create
from scheduler.server.cluster_service import ClusterService
from scheduler.server.current_plan import CurrentPlan
from scheduler.server.inquiries import Inquiries
from scheduler.server.jobs_service import JobService
from scheduler.server.lifecycle import JobLifecycle
from scheduler.server.metrics import SchedulerMetrics
from scheduler.server.replanner import ReplanConfig, Replanner
from scheduler.server.retention import DEFAULT_BATCH, DEFAULT_RETENTION_S, Compactor
from scheduler.server.sessions import AgentSessions
from scheduler.server.store import Store
from scheduler.server.triggers import ReplanRequests
from scheduler.server.wire import add_agent_service
from scheduler.server.world import World

log = logging.getLogger("orbit-scheduler")
# Largest request the server accepts; a bigger one gets RESOURCE_EXHAUSTED. 64 MiB holds a
# batch of ~500,000 job specs.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVICES = (
    jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    cluster_pb2.DESCRIPTOR.services_by_name["ClusterService"].full_name,
)
# Housekeeping (link windows, lost satellites, gauges) runs this often, wall seconds.
HOUSEKEEPING_S = 0.25
# Telemetry samples a wall second the whole fleet sends by default. Each sample costs the
# scheduler's event loop a validation, metrics and a forecast check; a stream's heartbeats
# queue behind its unread samples, so a fleet sending faster than the loop reads has every
# heartbeat acknowledged too late, every agent's lease lapsed and nothing executed (1,584
# satellites at one sample a wall second each: about 280 read a second, 0 jobs started).
FLEET_TELEMETRY_PER_WALL_S = 100.0


def default_telemetry_interval_s(n_satellites: int, speed: float) -> float:
    """Simulated seconds between one agent's samples: one wall second, longer for a fleet
    of more than FLEET_TELEMETRY_PER_WALL_S satellites."""
    return speed * max(1.0, n_satellites / FLEET_TELEMETRY_PER_WALL_S)


@dataclass(frozen=True)
class ServerConfig:
    """Everything `orbit-scheduler` takes on its command line (main.py)."""

    listen: str = "127.0.0.1:50051"
    tls: ServerTls | None = None  # None: plaintext (loopback, or --insecure)
    open_listen: str = ""  # --open-listen: health without a client certificate (TLS only)
    db: str = "orbit-scheduler.db"
    scenario: str | None = None
    satellites: int | None = None
    speed: float = 60.0
    link_model: str = "always"
    isl_relay: bool = False
    agent_timeout_s: float = 3.0
    telemetry_interval_s: float | None = None  # default: default_telemetry_interval_s
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    replan: ReplanConfig = field(default_factory=ReplanConfig)
    retention_s: float = DEFAULT_RETENTION_S  # simulated; 0 keeps every history forever
    compaction_batch: int = DEFAULT_BATCH


def split_hostport(value: str, flag: str = "--listen") -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not (port.isascii() and port.isdigit() and len(port) <= 5) or int(port) > 65535:
        raise UserError(f"{flag}: expected HOST:PORT, got {value[:80]!r}")
    return host, int(port)


@dataclass
class Server:
    config: ServerConfig
    store: Store
    world: World
    clock: SimClock
    metrics: SchedulerMetrics
    sessions: AgentSessions
    lifecycle: JobLifecycle
    replanner: Replanner
    compactor: Compactor
    grpc_server: grpc.aio.Server
    health: health.aio.HealthServicer  # type: ignore[name-defined]
    port: int = 0
    open_server: grpc.aio.Server | None = None  # --open-listen
    open_port: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # What each satellite's predicted-budget gauges were last set from (housekeeping_tick).
    _predicted_key: dict[str, tuple[int, int | None, bool]] = field(default_factory=dict)

    async def start(self) -> None:
        self.store.checkpoint_in_background()
        await self.grpc_server.start()
        if self.open_server is not None:
            await self.open_server.start()
        for name in (*SERVICES, ""):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        c = self.config
        if c.metrics_port is not None:
            start_http_server(c.metrics_port, addr=c.metrics_host, registry=self.metrics.registry)
            print(
                f"orbit-scheduler metrics on http://{c.metrics_host}:{c.metrics_port}/metrics",
                flush=True,
            )
        host, _ = split_hostport(c.listen)
        print(f"orbit-scheduler listening on {host}:{self.port}", flush=True)
        if self.open_server is not None:
            open_host, _ = split_hostport(c.open_listen, "--open-listen")
            print(
                f"orbit-scheduler open address {open_host}:{self.open_port}: health checks "
                "without a client certificate, everything else UNAUTHENTICATED",
                flush=True,
            )
        log.info(
            "%d satellites, speed %.0fx, link model %s, database %s, sim time %.0f",
            len(self.world.names),
            self.clock.speed,
            c.link_model,
            c.db,
            self.clock.now_s(),
        )
        self._tasks = [
            asyncio.create_task(self.replanner.run()),
            asyncio.create_task(self.housekeeping()),
            asyncio.create_task(self.compactor.run()),
        ]

    async def stop(self) -> None:
        log.info("stopping")
        for name in (*SERVICES, ""):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.open_server is not None:
            await self.open_server.stop(grace=0.5)
        await self.grpc_server.stop(grace=1.0)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.replanner.close()
        self.store.close()

    def housekeeping_tick(self, tick: int) -> None:
        """Link windows, lost satellites and, once a second, the job gauges."""
        self.sessions.close_unreachable()
        for sat, reason in self.sessions.find_lost():
            self.lifecycle.lose_satellite(sat, reason)
        if tick % 4 == 0:
            self.metrics.job_counts(self.store.count_by_state())
            predicted = self.replanner.predicted
            now = self.clock.now_s()
            ages_s = element_ages_s(self.world.constellation, now)
            self.metrics.element_ages(self.world.names, ages_s.tolist())
            slot = predicted.slot(now) if predicted is not None else None
            if predicted is not None and not 0 <= predicted.slot(now) < predicted.n_slots:
                slot = -1  # past the prediction: no series, set once (not each slot)
            for name in self.world.names:
                lost = self.sessions.flags[name].lost
                # The prediction is per slot: set each satellite's gauges when its slot, the
                # plan or its lost flag changed (10,000 satellites a second took 0.1 core).
                key = (id(predicted), slot, lost)
                if self._predicted_key.get(name) == key:
                    continue
                self._predicted_key[name] = key
                at = predicted.at(name, now) if predicted is not None and not lost else None
                self.metrics.predicted(name, at)

    async def housekeeping(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            tick += 1
            try:
                self.housekeeping_tick(tick)
            except Exception:
                log.exception("housekeeping failed")


def build_world(config: ServerConfig) -> tuple[World, str | None]:
    scenario = load_scenario(config.scenario)
    constellation = scenario.constellation
    if config.satellites is not None:
        if not 1 <= config.satellites <= len(constellation):
            raise UserError(f"--satellites: expected 1 to {len(constellation)}")
        constellation = constellation.subset(range(config.satellites))
    world = World(
        constellation,
        scenario.stations,
        scenario.bus,
        scenario.epoch_s,
        groups=isl_groups(scenario.constellation, constellation.names),
        relay=config.isl_relay,
    )
    return world, config.scenario


@dataclass
class Core:
    """The scheduler below the servicers: everything but gRPC (unit tests drive it as is)."""

    store: Store
    world: World
    clock: SimClock
    metrics: SchedulerMetrics
    plan: CurrentPlan
    replans: ReplanRequests
    sessions: AgentSessions
    lifecycle: JobLifecycle
    replanner: Replanner
    compactor: Compactor


def build_core(config: ServerConfig, clock: SimClock | None = None) -> Core:
    """State, sessions, lifecycle and replanner, wired once (clock: the stored one, or a new
    one, unless given)."""
    world, _ = build_world(config)
    store = Store(Path(config.db))  # StoreError (a UserError) says why it cannot be used
    stored = {n: lines for n, lines in store.element_sets().items() if n in world.names}
    if stored:  # orbitctl elements update, before a restart
        world.update_elements(stored)
    clock = clock or load_or_create(store, world.epoch_s, config.speed)
    world.prepare(clock.now_s())
    metrics = SchedulerMetrics()
    bus = world.bus
    metrics.fleet(world.names, bus.battery_floor_fraction, bus.max_temperature_c)
    replans = ReplanRequests()
    plan = CurrentPlan(store.latest_plan())
    sessions = AgentSessions(
        store,
        world,
        clock,
        metrics,
        plan,
        replans,
        link_model=config.link_model,
        agent_timeout_s=config.agent_timeout_s,
        telemetry_interval_s=(
            config.telemetry_interval_s
            or default_telemetry_interval_s(len(world.names), clock.speed)
        ),
    )
    lifecycle = JobLifecycle(store, clock, metrics, plan, sessions, replans)
    replanner = Replanner(store, lifecycle, sessions, replans, config.replan)
    compactor = Compactor(store, clock, metrics, config.retention_s, config.compaction_batch)
    return Core(
        store, world, clock, metrics, plan, replans, sessions, lifecycle, replanner, compactor
    )


def build_server(config: ServerConfig) -> Server:
    """Every part, wired once; nothing starts until Server.start()."""
    core = build_core(config)
    store, world, sessions, lifecycle, replanner = (
        core.store,
        core.world,
        core.sessions,
        core.lifecycle,
        core.replanner,
    )
    tls = config.tls
    server = grpc.aio.server(
        interceptors=[interceptor_for(tls is not None and tls.mutual)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.so_reuseport", 0),  # a second scheduler on this port fails to bind
        ],
    )
    inquiries = Inquiries(sessions, replanner)
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobService(lifecycle, world, inquiries), server)
    add_agent_service(AgentService(sessions, lifecycle), server)  # writes bytes built ahead
    cluster_pb2_grpc.add_ClusterServiceServicer_to_server(
        ClusterService(sessions, replanner, inquiries), server
    )
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICES, reflection.SERVICE_NAME, health.SERVICE_NAME), server
    )
    host, port = split_hostport(config.listen)
    try:
        bound = bind_server(server, host, port, tls)
    except TlsConfigError as exc:
        raise UserError(str(exc)) from None
    if bound == 0:
        raise UserError(f"--listen: cannot bind {host}:{port}")
    open_server, open_port = None, 0
    if config.open_listen:
        split_hostport(config.open_listen, "--open-listen")
        try:
            check_open_listen(config.open_listen, tls)
            assert tls is not None
            # What a refused caller is told to dial: a wildcard host says only the port.
            main = f"{host}:{bound}" if host not in ("0.0.0.0", "[::]", "::") else f"port {bound}"
            open_server, open_port = build_open_server(
                tls, health_servicer, main, config.open_listen
            )
        except TlsConfigError as exc:
            raise UserError(str(exc)) from None
    return Server(
        config,
        store,
        world,
        core.clock,
        core.metrics,
        sessions,
        lifecycle,
        replanner,
        core.compactor,
        server,
        health_servicer,
        bound,
        open_server,
        open_port,
    )
