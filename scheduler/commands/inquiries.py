"""orbitctl whatif | explain: questions to a running scheduler that change nothing.

whatif solves the current state under a hypothesis (stations down, satellites lost, jobs
submitted) with the scheduler's planner and prints how the plan would differ; explain says
why a job waits and what nearest change would place it, or why a placed job is where it is.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from orbitalsched.v1 import cluster_pb2, jobs_pb2

from scheduler.cluster.client import connect
from scheduler.commands.jobs import _from_file, add_scheduler_option, scheduler_of, tls_of
from scheduler.forecast.timeconv import parse_iso8601


def _outage(text: str) -> cluster_pb2.StationOutage:
    """NAME or NAME,FROM,TO (UTC ISO 8601)."""
    parts = text.split(",")
    if not parts[0] or len(parts) not in (1, 3):
        raise argparse.ArgumentTypeError(
            f"--station-down: expected NAME or NAME,FROM,TO (ISO 8601 UTC), got {text!r}"
        )
    if len(parts) == 1:
        return cluster_pb2.StationOutage(station=parts[0])
    try:
        start, end = parse_iso8601(parts[1]), parse_iso8601(parts[2])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--station-down: {exc}") from None
    if end <= start:
        raise argparse.ArgumentTypeError(f"--station-down: {text!r} ends before it starts")
    return cluster_pb2.StationOutage(station=parts[0], start_s=start, end_s=end)


def _limit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--time-limit: not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("--time-limit: expected seconds in (0, 3600]")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "whatif",
        help="how the plan would change if stations went down, satellites were lost or jobs "
        "arrived (changes nothing)",
    )
    add_scheduler_option(p)
    p.add_argument(
        "--station-down",
        type=_outage,
        action="append",
        default=[],
        metavar="NAME[,FROM,TO]",
        help="a station out of service (all horizon, or FROM-TO in UTC ISO 8601); repeatable",
    )
    p.add_argument("--satellite-lost", action="append", default=[], metavar="ID", help="repeatable")
    p.add_argument("--submit", metavar="FILE", help="jobs that would be submitted (JSON/TOML)")
    p.add_argument(
        "--time-limit",
        type=_limit,
        default=0.0,
        metavar="S",
        help="solver time limit (default and maximum: the scheduler's)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_whatif)

    p = subparsers.add_parser("explain", help="why a job waits, or why it is where it is")
    add_scheduler_option(p)
    p.add_argument("job_id", metavar="JOB")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_explain)


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t_s else "-"


def run_whatif(args: argparse.Namespace) -> int:
    request = cluster_pb2.WhatIfRequest(
        stations_down=args.station_down,
        satellites_lost=args.satellite_lost,
        submit=_from_file(args.submit) if args.submit else [],
        time_limit_s=args.time_limit,
    )
    with connect(scheduler_of(args), tls_of(args)) as client:
        resp = client.call(client.cluster.WhatIf, request)
    if args.json:
        print(json.dumps(json_format.MessageToDict(resp, preserving_proto_field_name=True)))
        return 0
    print(f"what if {resp.hypothesis} (against plan v{resp.based_on_plan_version}):")
    if not resp.changes:
        print("  no job would change")
    for c in resp.changes:
        if c.kind == "unplaced":
            print(f"  {c.job_id}: would wait [{c.code}] {c.reason} (was {c.before or '-'})")
        elif c.kind == "late":
            print(f"  {c.job_id}: would be late, {c.before} -> {c.after}")
        elif c.kind == "moved":
            print(f"  {c.job_id}: would move, {c.before} -> {c.after}")
        else:
            print(f"  {c.job_id}: would be placed, {c.after}")
    print(
        f"value {resp.value_before:.2f} -> {resp.value_after:.2f} "
        f"({resp.value_after - resp.value_before:+.2f}); solver {resp.solver_status}, "
        f"{resp.solve_duration_s:.2f} s"
    )
    return 0


def run_explain(args: argparse.Namespace) -> int:
    with connect(scheduler_of(args), tls_of(args)) as client:
        resp = client.call(client.jobs.ExplainJob, jobs_pb2.ExplainJobRequest(job_id=args.job_id))
    if args.json:
        print(json.dumps(json_format.MessageToDict(resp, preserving_proto_field_name=True)))
        return 0
    state = jobs_pb2.JobState.Name(resp.state).removeprefix("JOB_STATE_").lower()
    if resp.placed:
        print(
            f"{resp.job_id} ({state}) runs on {', '.join(resp.satellite_ids)} "
            f"from {_iso(resp.start_s)} to {_iso(resp.end_s)}, value {resp.value:g}"
        )
        if resp.station:
            print(f"  output down via {resp.station} by {_iso(resp.delivery_s)}")
        if resp.displaced:
            print(f"  holds off: {', '.join(resp.displaced)} (they would fit without it)")
        return 0
    print(f"{resp.job_id} ({state}) waits: [{resp.code}] {resp.reason}")
    if not resp.suggestions and not state.endswith(("succeeded", "failed", "cancelled")):
        print("  no single change (later deadline, fewer accelerators, uncordon) places it")
    for s in resp.suggestions:
        print(f"  {s.change}, from {_iso(s.start_s)}")
    return 0
