"""orbit-scheduler: the scheduler process (gRPC server, state store, replanning, metrics).

    orbit-scheduler [--listen HOST:PORT] [--metrics-port P] [--db PATH] [--scenario FILE]
                    [--speed X] [--link-model always|contacts]
                    [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--insecure]

Prints one line `orbit-scheduler listening on HOST:PORT` once it serves (launchers wait
for it), and stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from orbitalsched.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)
from prometheus_client import start_http_server

from scheduler.errors import UserError
from scheduler.forecast.isl import isl_groups
from scheduler.scenario import load_scenario
from scheduler.security.interceptor import interceptor_for
from scheduler.security.tls import (
    TlsConfigError,
    add_server_tls_arguments,
    bind_server,
    server_tls_of,
)
from scheduler.server.agent_service import AgentService
from scheduler.server.clock import load_or_create
from scheduler.server.cluster_service import ClusterService
from scheduler.server.control import Controller
from scheduler.server.jobs_service import JobService
from scheduler.server.metrics import SchedulerMetrics
from scheduler.server.replanner import Replanner
from scheduler.server.store import Store
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orbit-scheduler", description=__doc__.splitlines()[0])
    p.add_argument(
        "--listen",
        default="127.0.0.1:50051",
        help="gRPC address (HOST:PORT; port 0 picks a free one)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (off when not given)",
    )
    p.add_argument("--metrics-host", default="127.0.0.1")
    p.add_argument("--db", default="orbit-scheduler.db", help="SQLite state file (WAL mode)")
    p.add_argument("--scenario", default=None, help="scenario TOML file or built-in name")
    p.add_argument(
        "--satellites",
        type=int,
        default=None,
        help="plan over the first N satellites of the scenario only",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="simulated seconds per wall second (a new database only)",
    )
    p.add_argument("--link-model", choices=("always", "contacts"), default="always")
    p.add_argument(
        "--isl-relay",
        action="store_true",
        help="contacts link model: reachable while any satellite of the ISL group has contact",
    )
    p.add_argument("--policy", choices=("cpsat", "greedy"), default="cpsat")
    p.add_argument("--solve-time-limit", type=float, default=5.0, help="wall seconds per solve")
    p.add_argument("--slot", type=float, default=60.0, help="planning slot, simulated seconds")
    p.add_argument("--horizon-slots", type=int, default=180)
    p.add_argument(
        "--replan-interval",
        type=float,
        default=600.0,
        help="periodic replanning, simulated seconds",
    )
    p.add_argument(
        "--agent-timeout",
        type=float,
        default=3.0,
        help="wall seconds without a stream before a reachable satellite is lost",
    )
    p.add_argument(
        "--telemetry-interval",
        type=float,
        default=None,
        help="simulated seconds between agent telemetry (default: 1 wall second)",
    )
    p.add_argument(
        "--plan-max-jobs",
        type=int,
        default=2000,
        help="jobs one solve considers (placed ones, then pending by priority and age)",
    )
    p.add_argument(
        "--solver-in-thread",
        action="store_true",
        help="solve in a thread instead of a worker process (tests, profiling)",
    )
    add_server_tls_arguments(p)
    p.add_argument("--log-level", default="INFO")
    return p


def _split_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--listen: expected HOST:PORT, got {value!r}")
    return host, int(port)


async def serve(args: argparse.Namespace) -> None:
    host, port = _split_hostport(args.listen)
    try:
        tls = server_tls_of(args, host)
    except TlsConfigError as exc:
        raise UserError(str(exc)) from None
    scenario = load_scenario(args.scenario)
    constellation = scenario.constellation
    if args.satellites is not None:
        if not 1 <= args.satellites <= len(constellation):
            raise UserError(f"--satellites: expected 1 to {len(constellation)}")
        constellation = constellation.subset(range(args.satellites))
    world = World(
        constellation,
        scenario.stations,
        scenario.bus,
        scenario.epoch_s,
        groups=isl_groups(scenario.constellation, constellation.names),
        relay=args.isl_relay,
    )
    store = Store(Path(args.db))  # StoreError (a UserError) says why it cannot be used
    clock = load_or_create(store, scenario.epoch_s, args.speed)
    metrics = SchedulerMetrics()
    metrics.fleet(world.names, scenario.bus.battery_floor_fraction, scenario.bus.max_temperature_c)
    controller = Controller(store, world, clock, metrics, args.link_model, args.agent_timeout)
    replanner = Replanner(
        controller,
        args.scenario,
        policy=args.policy,
        time_limit_s=args.solve_time_limit,
        slot_s=args.slot,
        n_slots=args.horizon_slots,
        interval_s=args.replan_interval,
        startup_grace_s=2 * args.agent_timeout,
        in_process=args.solver_in_thread,
        max_jobs=args.plan_max_jobs,
    )
    telemetry_s = args.telemetry_interval or clock.speed
    controller.telemetry_interval_s = telemetry_s

    server = grpc.aio.server(
        interceptors=[interceptor_for(tls is not None and tls.mutual)],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobService(controller), server)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentService(controller, telemetry_s), server)
    cluster_pb2_grpc.add_ClusterServiceServicer_to_server(
        ClusterService(controller, replanner), server
    )
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICES, reflection.SERVICE_NAME, health.SERVICE_NAME), server
    )
    try:
        bound = bind_server(server, host, port, tls)
    except TlsConfigError as exc:
        raise UserError(str(exc)) from None
    if bound == 0:
        raise UserError(f"--listen: cannot bind {host}:{port}")
    await server.start()
    for name in (*SERVICES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if args.metrics_port is not None:
        start_http_server(args.metrics_port, addr=args.metrics_host, registry=metrics.registry)
        print(
            f"orbit-scheduler metrics on http://{args.metrics_host}:{args.metrics_port}/metrics",
            flush=True,
        )
    print(f"orbit-scheduler listening on {host}:{bound}", flush=True)
    log.info(
        "%d satellites, speed %.0fx, link model %s, database %s, sim time %.0f",
        len(world.names),
        clock.speed,
        args.link_model,
        args.db,
        clock.now_s(),
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(replanner.run()), asyncio.create_task(_housekeeping(controller))]
    await stop.wait()
    log.info("stopping")
    for name in (*SERVICES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(grace=1.0)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    replanner.close()
    store.close()


async def _housekeeping(c: Controller) -> None:
    """Link windows, lost satellites and gauges, four times a wall second."""
    tick = 0
    while True:
        await asyncio.sleep(0.25)
        tick += 1
        try:
            if c.link_model == "contacts":
                for rt in c.sats.values():
                    if rt.connected and not c.reachable(rt.name):
                        rt.send(AgentService.link_down_message(c, rt.name))
                        rt.send_close()
            c.check_lost()
            if tick % 4 == 0:
                c.metrics.job_counts(c.store.count_by_state())
        except Exception:
            log.exception("housekeeping failed")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except UserError as exc:
        sys.stderr.write(f"orbit-scheduler: error: {exc}\n")
        return 2
    except sqlite3.DatabaseError as exc:  # a database that breaks while serving
        first = (str(exc).splitlines() or ["?"])[0]
        sys.stderr.write(f"orbit-scheduler: error: --db {args.db}: database error: {first}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
