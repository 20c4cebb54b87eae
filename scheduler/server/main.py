"""orbit-scheduler: the scheduler process (gRPC server, state store, replanning, metrics).

    orbit-scheduler [--listen HOST:PORT] [--metrics-port P] [--db PATH] [--scenario FILE]
                    [--speed X] [--link-model always|contacts] [--retention-s S]
                    [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--insecure]
                    [--open-listen HOST:PORT]

Prints one line `orbit-scheduler listening on HOST:PORT` once it serves (launchers wait
for it), and stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence

from scheduler.errors import UserError
from scheduler.planner.backends import BACKENDS
from scheduler.proc.parent import die_with_launcher
from scheduler.security.open_listener import check_open_listen
from scheduler.security.tls import TlsConfigError, add_server_tls_arguments, server_tls_of
from scheduler.server.app import ServerConfig, build_server, split_hostport
from scheduler.server.replanner import ReplanConfig
from scheduler.server.retention import (
    DEFAULT_BATCH,
    DEFAULT_RETENTION_S,
    MAX_BATCH,
    MAX_RETENTION_S,
)

log = logging.getLogger("orbit-scheduler")
# Largest --plan-max-jobs: far above what one solve can take in any time limit.
MAX_PLAN_JOBS = 10_000_000


def _seconds(low_s: float, high_s: float, low_means: str = "") -> Callable[[str], float]:
    """An argparse type: seconds from low_s to high_s (refusing NaN and inf)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds, got {text[:40]!r}") from None
        if not (low_s <= value <= high_s):  # also refuses nan and inf
            raise argparse.ArgumentTypeError(
                f"{value:g}: expected {low_s:g}{low_means} to {high_s:g} seconds"
            )
        return value

    return parse


_positive_seconds = _seconds(0.1, 86400.0)
_retention_seconds = _seconds(0.0, MAX_RETENTION_S, " (keep forever)")


def _count(low: int, high: int, auto: bool = False) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high; with auto, "auto" gives 0."""
    or_auto = " (or auto)" if auto else ""

    def parse(text: str) -> int:
        if auto and text == "auto":
            return 0
        try:
            value = int(text)
        except ValueError:
            expected = "a count or auto" if auto else "a count"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value}: expected {low:,} to {high:,}{or_auto}")
        return value

    return parse


_batch = _count(1, MAX_BATCH)
_max_jobs = _count(1, MAX_PLAN_JOBS, auto=True)  # --plan-max-jobs; auto: sized from the problem


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
        type=_positive_seconds,
        default=3.0,
        help="wall seconds a reachable satellite may stay unheard (any message) before it is "
        "lost; agents hold their work after half of it without word from the scheduler (the "
        "lease, always-linked model)",
    )
    p.add_argument(
        "--telemetry-interval",
        type=float,
        default=None,
        help="simulated seconds between agent telemetry (default: 1 wall second, longer "
        "above 100 satellites: the fleet sends at most 100 samples a wall second)",
    )
    p.add_argument(
        "--plan-max-jobs",
        type=_max_jobs,
        default=0,
        metavar="N|auto",
        help="jobs one solve considers (placed ones, then pending by priority and age); "
        "default auto: until their work is twice what the fleet's accelerators do over the "
        "horizon, at most 4,000 per second of --solve-time-limit, at least 100",
    )
    p.add_argument(
        "--retention-s",
        type=_retention_seconds,
        default=DEFAULT_RETENTION_S,
        metavar="S",
        help="simulated seconds a finished job keeps its event history; older ones are "
        "compacted in the background to their final state (default 604800, 7 days; "
        "0 keeps everything forever)",
    )
    p.add_argument(
        "--compaction-batch",
        type=_batch,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"at most N jobs per compaction transaction (default {DEFAULT_BATCH}; each is "
        "also sized to about 5 ms)",
    )
    p.add_argument(
        "--planner-backend",
        choices=BACKENDS,
        default="local",
        help="where partition solves run: a local process pool (one process per core), "
        "threads of the solver process, or Ray tasks (pip install 'orbital-scheduler[ray]')",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to join with --planner-backend ray (e.g. ray://head:10001 or auto; "
        "default: a local Ray instance)",
    )
    p.add_argument(
        "--planner-workers",
        type=int,
        default=None,
        help="partition solves at once (default: one per core, or the Ray cluster's CPUs)",
    )
    p.add_argument(
        "--solver-in-thread",
        action="store_true",
        help="solve in a thread instead of a worker process (tests, profiling)",
    )
    add_server_tls_arguments(p)
    p.add_argument("--log-level", default="INFO")
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    host, _ = split_hostport(args.listen)
    if args.ray_address and args.planner_backend != "ray":
        raise UserError("--ray-address needs --planner-backend ray")
    if args.planner_backend == "ray" and importlib.util.find_spec("ray") is None:
        raise UserError("--planner-backend ray needs Ray: pip install 'orbital-scheduler[ray]'")
    if args.planner_workers is not None and args.planner_workers < 1:
        raise UserError(f"--planner-workers: expected at least 1, got {args.planner_workers}")
    try:
        tls = server_tls_of(args, host)
        if args.open_listen:
            split_hostport(args.open_listen, "--open-listen")
            check_open_listen(args.open_listen, tls)
    except TlsConfigError as exc:
        raise UserError(str(exc)) from None
    return ServerConfig(
        listen=args.listen,
        tls=tls,
        open_listen=args.open_listen,
        db=args.db,
        scenario=args.scenario,
        satellites=args.satellites,
        speed=args.speed,
        link_model=args.link_model,
        isl_relay=args.isl_relay,
        agent_timeout_s=args.agent_timeout,
        telemetry_interval_s=args.telemetry_interval,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        retention_s=args.retention_s,
        compaction_batch=args.compaction_batch,
        replan=ReplanConfig(
            scenario=args.scenario,
            policy=args.policy,
            time_limit_s=args.solve_time_limit,
            slot_s=args.slot,
            n_slots=args.horizon_slots,
            interval_s=args.replan_interval,
            startup_grace_s=2 * args.agent_timeout,
            in_process=args.solver_in_thread,
            max_jobs=args.plan_max_jobs,
            planner_backend=args.planner_backend,
            ray_address=args.ray_address,
            planner_workers=args.planner_workers,
        ),
    )


async def serve(config: ServerConfig) -> None:
    """Serve until SIGINT or SIGTERM."""
    server = build_server(config)
    await server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    die_with_launcher()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        asyncio.run(serve(config_from_args(args)))
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
