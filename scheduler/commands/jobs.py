"""orbitctl submit | jobs | cancel: jobs on a running scheduler."""

from __future__ import annotations

import argparse
import json
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from orbitalsched.v1 import jobs_pb2

from scheduler.cluster.client import DEFAULT_SCHEDULER, connect
from scheduler.errors import UserError
from scheduler.security.tls import (
    ClientTls,
    TlsConfigError,
    add_client_tls_arguments,
    client_tls_of,
)
from scheduler.server.convert import spec_to_pb
from scheduler.sim.workload import batch_workload

KINDS = {"inference": jobs_pb2.JOB_KIND_INFERENCE, "training": jobs_pb2.JOB_KIND_TRAINING}
PRIORITIES = {
    "batch": jobs_pb2.JOB_PRIORITY_BATCH,
    "standard": jobs_pb2.JOB_PRIORITY_STANDARD,
    "critical": jobs_pb2.JOB_PRIORITY_CRITICAL,
}
STATES = {n.removeprefix("JOB_STATE_").lower(): v for n, v in jobs_pb2.JobState.items() if v}


def add_scheduler_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        default=argparse.SUPPRESS,
        help=f"HOST:PORT of the scheduler (default {DEFAULT_SCHEDULER})",
    )
    add_client_tls_arguments(p, suppress=True)


def scheduler_of(args: argparse.Namespace) -> str:
    return str(getattr(args, "scheduler", None) or DEFAULT_SCHEDULER)


def tls_of(args: argparse.Namespace) -> ClientTls | None:
    """TLS settings from --tls-ca/--tls-cert/--tls-key or ORBIT_TLS_* (None: plaintext)."""
    try:
        return client_tls_of(args)
    except TlsConfigError as exc:
        raise UserError(str(exc)) from None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "submit", help="submit a job (flags), jobs from a JSON/TOML file, or a generated batch"
    )
    add_scheduler_option(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", help="JSON or TOML: one JobSpec, or {jobs = [...]}")
    src.add_argument("--generate", type=int, metavar="N", help="a mixed batch of N jobs")
    p.add_argument("--seed", type=int, default=0, help="seed of --generate")
    p.add_argument("--kind", choices=sorted(KINDS), default="inference")
    p.add_argument("--id", dest="job_id", default="", help="job id (generated when absent)")
    p.add_argument("--priority", choices=sorted(PRIORITIES))
    p.add_argument("--work-acc-s", type=float, default=3600.0, help="work in accelerator-seconds")
    p.add_argument("--accelerators", type=int, default=1)
    p.add_argument("--power-w", type=float, default=0.0)
    p.add_argument("--input-mb", type=float, default=0.0)
    p.add_argument("--output-mb", type=float, default=0.0)
    p.add_argument(
        "--deadline-in-s",
        type=float,
        default=0.0,
        help="deadline, simulated seconds from the scheduler's now",
    )
    p.add_argument("--gang", type=int, default=0, help="training: satellites in the gang")
    p.add_argument("--checkpoint-interval-s", type=float, default=0.0)
    p.add_argument("--checkpoint-cost-s", type=float, default=0.0)
    p.add_argument(
        "--request-id",
        default="",
        help="idempotency key: a retry with the same key returns the same job ids",
    )
    p.set_defaults(func=submit)

    p = subparsers.add_parser("jobs", help="list jobs, or show one (with --events, its history)")
    add_scheduler_option(p)
    p.add_argument("job", nargs="?", help="one job: its record (and with --events its history)")
    p.add_argument(
        "--events",
        action="store_true",
        help="with JOB: every event of the job, with the principal that caused it",
    )
    p.add_argument("--state", action="append", choices=sorted(STATES), default=[])
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=list_jobs)

    p = subparsers.add_parser("cancel", help="cancel a job")
    add_scheduler_option(p)
    p.add_argument("job_id")
    p.add_argument("--reason", default="")
    p.set_defaults(func=cancel)


def _from_file(path: str) -> list[jobs_pb2.JobSpec]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        data: Any = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except OSError as exc:
        raise UserError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{file}: not valid {file.suffix.lstrip('.') or 'JSON'}: {exc}") from None
    items = data.get("jobs", [data]) if isinstance(data, dict) else data
    specs = []
    for i, item in enumerate(items):
        try:
            specs.append(json_format.ParseDict(item, jobs_pb2.JobSpec()))
        except json_format.ParseError as exc:
            raise UserError(f"{file}: job {i}: {exc}") from None
    return specs


def submit(args: argparse.Namespace) -> int:
    with connect(scheduler_of(args), tls_of(args)) as client:
        if args.file:
            specs = _from_file(args.file)
        elif args.generate:
            specs = [
                spec_to_pb(s)
                for s in batch_workload(
                    args.generate, client.now_s(), seed=args.seed, prefix=f"gen{args.seed}"
                )
            ]
        else:
            deadline = client.now_s() + args.deadline_in_s if args.deadline_in_s else None
            specs = [
                jobs_pb2.JobSpec(
                    job_id=args.job_id,
                    kind=KINDS[args.kind],
                    priority=PRIORITIES[args.priority]
                    if args.priority
                    else jobs_pb2.JOB_PRIORITY_UNSPECIFIED,
                    work_accelerator_s=args.work_acc_s,
                    accelerators=args.accelerators,
                    power_w=args.power_w,
                    input_mb=args.input_mb,
                    output_mb=args.output_mb,
                    deadline_s=deadline,
                    gang_size=args.gang,
                    checkpoint_interval_s=args.checkpoint_interval_s,
                    checkpoint_cost_s=args.checkpoint_cost_s,
                )
            ]
        ids = client.submit(specs, request_id=args.request_id)
    for job_id in ids[:20]:
        print(job_id)
    if len(ids) > 20:
        print(f"... {len(ids)} jobs submitted")
    return 0


JOB_HEADER = ("JOB", "KIND", "STATE", "SATELLITES", "DONE", "CODE", "REASON")


def job_row(job: jobs_pb2.Job) -> tuple[str, ...]:
    s = job.spec
    return (
        s.job_id,
        jobs_pb2.JobKind.Name(s.kind).removeprefix("JOB_KIND_").lower(),
        jobs_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_"),
        ",".join(job.satellite_ids) or "-",
        f"{100 * job.done_accelerator_s / s.work_accelerator_s:.0f}%"
        if s.work_accelerator_s
        else "-",
        reason_code_name(job.reason_code),
        job.reason[:60],
    )


def reason_code_name(code: int) -> str:
    """BATTERY, HORIZON, ... ("-" when unset)."""
    return jobs_pb2.ReasonCode.Name(code).removeprefix("REASON_CODE_") if code else "-"


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def show_job(args: argparse.Namespace) -> int:
    with connect(scheduler_of(args), tls_of(args)) as client:
        resp = client.call(
            client.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=args.job, include_events=args.events)
        )
    if args.json:
        print(json.dumps(json_format.MessageToDict(resp), sort_keys=True))
        return 0
    print_table(JOB_HEADER, [job_row(resp.job)])
    print(f"submitted by {resp.job.submitted_by or '-'}")
    if resp.job.compacted_time_s:
        at = datetime.fromtimestamp(resp.job.compacted_time_s, tz=UTC)
        print(f"history compacted {at:%Y-%m-%d %H:%M:%S} (sim, past the scheduler's --retention-s)")
    if args.events:
        print()
        rows = [
            (
                datetime.fromtimestamp(e.time_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
                e.what or "-",
                jobs_pb2.JobState.Name(e.state).removeprefix("JOB_STATE_"),
                e.principal or "-",
                e.reason[:60],
            )
            for e in resp.events
        ]
        print_table(("TIME (UTC, SIM)", "EVENT", "STATE", "BY", "REASON"), rows)
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    if args.job:
        return show_job(args)
    if args.events:
        raise UserError("--events needs a JOB (orbitctl jobs JOB --events)")
    with connect(scheduler_of(args), tls_of(args)) as client:
        jobs = list(client.all_jobs(states=[STATES[s] for s in args.state]))
    if args.json:
        for job in jobs:
            print(json.dumps(json_format.MessageToDict(job), sort_keys=True))
        return 0
    print_table(
        JOB_HEADER,
        [job_row(j) for j in jobs],
    )
    return 0


def cancel(args: argparse.Namespace) -> int:
    with connect(scheduler_of(args), tls_of(args)) as client:
        resp = client.call(
            client.jobs.CancelJob, jobs_pb2.CancelJobRequest(job_id=args.job_id, reason=args.reason)
        )
    print(f"{resp.job.spec.job_id}: {jobs_pb2.JobState.Name(resp.job.state)} ({resp.job.reason})")
    return 0
