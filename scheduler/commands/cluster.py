"""orbitctl cluster up | sats | plan: a local cluster, and the scheduler's view of it."""

from __future__ import annotations

import argparse
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orbitalsched.v1 import agent_pb2

from scheduler.cluster.client import connect
from scheduler.cluster.local import LocalCluster
from scheduler.commands.jobs import (
    add_scheduler_option,
    print_table,
    reason_code_name,
    scheduler_of,
    tls_of,
)
from scheduler.errors import UserError
from scheduler.scenario import load_scenario


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("cluster", help="run a local cluster")
    sub = p.add_subparsers(dest="cluster_command", required=True)
    up = sub.add_parser("up", help="scheduler + agent processes (one per satellite by default)")
    up.add_argument("--scenario", help="scenario TOML file or built-in name (default: default)")
    up.add_argument("--satellites", type=int, help="run the first N satellites only")
    up.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    up.add_argument("--link-model", choices=("always", "contacts"), default="always")
    up.add_argument(
        "--isl-relay",
        action="store_true",
        help="contacts link model: reach satellites through ISL neighbours in contact",
    )
    up.add_argument("--port", type=int, default=50051, help="scheduler gRPC port")
    up.add_argument(
        "--metrics-port",
        type=int,
        default=9100,
        help="scheduler metrics port (default 9100; 9090 is Prometheus' own)",
    )
    up.add_argument(
        "--agents-per-process",
        type=int,
        default=1,
        metavar="N",
        help="run the agents N satellites to a process (orbit-agent --satellites; default 1)",
    )
    up.add_argument("--db", help="state database (default: a new one under --workdir)")
    up.add_argument("--workdir", help="logs and database (default: a temporary directory)")
    up.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext gRPC (default: mutual TLS with a throwaway CA in WORKDIR/certs)",
    )
    up.set_defaults(func=cluster_up)

    p = subparsers.add_parser("sats", help="list satellites with their link and telemetry")
    add_scheduler_option(p)
    p.set_defaults(func=sats)

    p = subparsers.add_parser("plan", help="show the current plan and unplaced jobs")
    add_scheduler_option(p)
    p.set_defaults(func=plan)


def hhmm(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%H:%M:%S") if t_s else "-"


def cluster_up(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    names = scenario.constellation.names
    n = args.satellites or len(names)
    if not 1 <= n <= len(names):
        raise UserError(f"--satellites: expected 1 to {len(names)}")
    if args.agents_per_process < 1:
        raise UserError(f"--agents-per-process: expected at least 1, got {args.agents_per_process}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="orbit-cluster-"))
    cluster = LocalCluster(
        satellites=names[:n],
        workdir=workdir,
        scenario=args.scenario,
        speed=args.speed,
        link_model=args.link_model,
        metrics_port=args.metrics_port,
        db=Path(args.db) if args.db else None,
        scheduler_args=("--isl-relay",) if args.isl_relay else (),
        tls=not args.insecure,
        agents_per_process=args.agents_per_process,
    )
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    with cluster:
        cluster.start_scheduler(args.port)
        for name in cluster.satellites:
            cluster.start_agent(name)
        print(f"scheduler  {cluster.address}  (orbitctl --scheduler {cluster.address} jobs)")
        op = cluster.user_tls()
        if op is not None:
            print(f"mutual TLS certificates in {cluster.certs_dir}; as operator:")
            print(f"  export ORBIT_TLS_CA={op.ca} ORBIT_TLS_CERT={op.cert} ORBIT_TLS_KEY={op.key}")
        print(f"metrics    http://127.0.0.1:{cluster.scheduler_metrics_port}/metrics")
        ports = sorted(cluster.agent_metrics_ports.values())
        print(f"agents     {n} processes, metrics on ports {ports[0]}-{ports[-1]}")
        print(f"logs, db   {workdir}")
        print("Ctrl-C stops every process.", flush=True)
        try:
            while not stop:
                time.sleep(0.5)
                if (
                    not cluster.alive()
                    and cluster.scheduler_proc is not None
                    and cluster.scheduler_proc.poll() is not None
                ):
                    raise UserError(f"the scheduler exited; see {workdir}/scheduler.log")
        except KeyboardInterrupt:
            pass
        print("stopping ...", flush=True)
    return 0


def sats(args: argparse.Namespace) -> int:
    with connect(scheduler_of(args), tls_of(args)) as client:
        resp = client.satellites()
    rows = []
    for s in resp.satellites:
        t: agent_pb2.Telemetry = s.telemetry
        link = "lost" if s.lost else ("up" if s.connected else "down")
        flags = ",".join(f for f, on in (("cordoned", s.cordoned), ("draining", s.draining)) if on)
        soc = (
            f"{100 * t.battery_soc_wh / t.battery_capacity_wh:.0f}%"
            if t.battery_capacity_wh
            else "-"
        )
        rows.append(
            (
                s.satellite_id,
                link,
                flags or "-",
                soc,
                f"{t.temperature_c:.1f}" if t.time_s else "-",
                f"{t.sunlit_fraction:.2f}" if t.time_s else "-",
                ",".join(t.running_job_ids) or "-",
                f"{hhmm(s.next_contact.start_s)}-{hhmm(s.next_contact.end_s)}"
                if s.next_contact.end_s
                else "-",
            )
        )
    print(f"simulation time {datetime.fromtimestamp(resp.now_s, tz=UTC):%Y-%m-%d %H:%M:%S} UTC")
    print_table(
        ("SATELLITE", "LINK", "FLAGS", "SOC", "TEMP_C", "SUNLIT", "RUNNING", "CONTACT"), rows
    )
    return 0


def plan(args: argparse.Namespace) -> int:
    with connect(scheduler_of(args), tls_of(args)) as client:
        p = client.plan()
    if not p.plan_version:
        print("no plan yet")
        return 0
    print(
        f"plan v{p.plan_version} ({p.trigger}) {p.solver_status}: objective "
        f"{p.objective:.2f}, bound {p.best_bound:.2f}, gap {100 * p.gap_ratio:.1f}%, solved "
        f"in {p.solve_duration_s:.2f} s; horizon {hhmm(p.horizon_start_s)}-"
        f"{hhmm(p.horizon_end_s)} UTC"
    )
    print_table(
        ("JOB", "SATELLITES", "START", "END", "VERSION"),
        [
            (
                a.job_id,
                ",".join(a.satellite_ids),
                hhmm(a.start_s),
                hhmm(a.end_s),
                str(a.assignment_version),
            )
            for a in p.assignments
        ],
    )
    if p.unplaced:
        print(f"\n{len(p.unplaced)} unplaced:")
        print_table(
            ("JOB", "CODE", "REASON"),
            [(u.job_id, reason_code_name(u.code), u.reason) for u in p.unplaced],
        )
    return 0
