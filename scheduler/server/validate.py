"""Validation of requests at the boundary: protobuf in, model dataclasses out, or a
RequestError with the gRPC status and a message that says what to fix. Nothing here
touches the store, so a rejected request changes nothing.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass

import grpc
from orbitalsched.v1 import agent_pb2, jobs_pb2

from scheduler.server.messages import (
    Hello,
    JobReport,
    ReportKind,
    RunningJob,
    StopCause,
    Telemetry,
)
from scheduler.server.model import JobKindName, JobSpec

JOB_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces
# Agent messages: size and string bounds (the interceptor refuses bigger agent messages).
MAX_AGENT_MESSAGE_BYTES = 64 * 1024
MAX_RUNNING_JOBS = 256
MAX_SHORT_STRING = 128
MAX_REASON_CHARS = 500
# Reports may not claim more work than this multiple of the job's own work.
MAX_WORK_OVERRUN = 1.01
MAX_BATCH_JOBS = 100_000
MAX_LABELS = 16
MAX_LABEL_CHARS = 64
# Plausibility bounds: a week of a full constellation's accelerators is ~1e9 acc-s.
MAX_WORK_ACCELERATOR_S = 1e9
MAX_SIZE_MB = 1e7
# Value is relative (the planner weighs jobs against each other); 0 means the default 1.
MAX_VALUE = 1e6
DEFAULT_CHECKPOINT_INTERVAL_S = 900.0
DEFAULT_CHECKPOINT_COST_S = 60.0
# Priority classes of scheduler.planner.domain.Priority.
PRIORITY_BY_PB = {
    jobs_pb2.JOB_PRIORITY_BATCH: 0,
    jobs_pb2.JOB_PRIORITY_STANDARD: 1,
    jobs_pb2.JOB_PRIORITY_CRITICAL: 2,
}


class RequestError(Exception):
    """A request the server refuses; code is the gRPC status to answer with."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


@dataclass(frozen=True)
class Limits:
    """What the constellation can hold, for checks that depend on it."""

    n_satellites: int
    max_accelerators: int
    max_power_w: float


def _number(
    where: str, name: str, value: float, *, positive: bool = False, upper: float = math.inf
) -> float:
    if not math.isfinite(value):
        raise invalid(f"{where}.{name}: must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        need = "greater than 0" if positive else "0 or more"
        raise invalid(f"{where}.{name}: must be {need}, got {value:g}")
    if value > upper:
        raise invalid(f"{where}.{name}: {value:g} is more than the limit {upper:g}")
    return float(value)


def short(value: str, n: int = 80) -> str:
    """A quotable prefix of a value a client sent (error messages never echo it whole)."""
    return repr(value[:n]) + ("..." if len(value) > n else "")


def request_id(value: str) -> str:
    if value and not REQUEST_ID_RE.match(value):
        raise invalid(
            f"request_id: {short(value, 40)} must be 1-128 printable ASCII characters, no spaces"
        )
    return value


def check_job_id(where: str, job_id: str) -> str:
    if not JOB_ID_RE.match(job_id):
        raise invalid(
            f"{where}: job_id {job_id[:80]!r} must be 1-64 characters of letters, digits, "
            "'.', '_' or '-'"
        )
    return job_id


def job_spec_from_pb(
    pb: jobs_pb2.JobSpec, now_s: float, limits: Limits, where: str = "job"
) -> JobSpec:
    """Validate one submitted JobSpec and return it with defaults filled in."""
    kind: JobKindName
    if pb.kind == jobs_pb2.JOB_KIND_INFERENCE:
        kind = "inference"
    elif pb.kind == jobs_pb2.JOB_KIND_TRAINING:
        kind = "training"
    else:
        raise invalid(f"{where}.kind: set it to JOB_KIND_INFERENCE or JOB_KIND_TRAINING")
    job_id = pb.job_id or f"{kind[:5]}-{uuid.uuid4().hex[:12]}"
    check_job_id(where, job_id)  # first: quotes only a prefix of a long id
    where = f"{where} {job_id!r}" if pb.job_id else where
    if pb.priority == jobs_pb2.JOB_PRIORITY_UNSPECIFIED:
        priority = 1 if kind == "inference" else 0
    elif pb.priority in PRIORITY_BY_PB:
        priority = PRIORITY_BY_PB[pb.priority]
    else:
        raise invalid(f"{where}.priority: unknown value {pb.priority}")
    work = _number(
        where,
        "work_accelerator_s",
        pb.work_accelerator_s,
        positive=True,
        upper=MAX_WORK_ACCELERATOR_S,
    )
    if pb.accelerators < 1:
        raise invalid(f"{where}.accelerators: must be at least 1, got {pb.accelerators}")
    if pb.accelerators > limits.max_accelerators:
        raise invalid(
            f"{where}.accelerators: {pb.accelerators} is more than any satellite has "
            f"({limits.max_accelerators})"
        )
    power = _number(where, "power_w", pb.power_w, upper=limits.max_power_w)
    input_mb = _number(where, "input_mb", pb.input_mb, upper=MAX_SIZE_MB)
    output_mb = _number(where, "output_mb", pb.output_mb, upper=MAX_SIZE_MB)
    # Absent or 0 (what clients before the field had presence sent for "none"): no deadline.
    deadline: float | None = _number(where, "deadline_s", pb.deadline_s) or None
    if deadline is not None and deadline <= now_s:
        raise invalid(
            f"{where}.deadline_s: {deadline:.0f} is not after the scheduler's current time "
            f"{now_s:.0f} (simulation time, POSIX seconds)"
        )
    gang = pb.gang_size or 1
    interval = cost = 0.0
    if kind == "inference":
        if gang != 1:
            raise invalid(f"{where}.gang_size: inference jobs run on one satellite (use 0 or 1)")
        if pb.checkpoint_interval_s or pb.checkpoint_cost_s:
            raise invalid(f"{where}: checkpoints apply to training jobs only")
    else:
        if gang < 1 or gang > limits.n_satellites:
            raise invalid(
                f"{where}.gang_size: {gang} is not between 1 and the {limits.n_satellites} "
                "satellites of the constellation"
            )
        interval = _number(where, "checkpoint_interval_s", pb.checkpoint_interval_s)
        interval = interval or DEFAULT_CHECKPOINT_INTERVAL_S
        cost = _number(where, "checkpoint_cost_s", pb.checkpoint_cost_s)
        cost = cost or DEFAULT_CHECKPOINT_COST_S
        if cost >= interval:
            raise invalid(
                f"{where}.checkpoint_cost_s: {cost:g} s must be shorter than "
                f"checkpoint_interval_s ({interval:g} s)"
            )
    job_value = _number(where, "value", pb.value, upper=MAX_VALUE) or 1.0
    if len(pb.labels) > MAX_LABELS:
        raise invalid(f"{where}.labels: at most {MAX_LABELS} labels, got {len(pb.labels)}")
    for key, value in pb.labels.items():
        if not key or len(key) > MAX_LABEL_CHARS or len(value) > MAX_LABEL_CHARS:
            raise invalid(
                f"{where}.labels: keys must be 1-{MAX_LABEL_CHARS} characters and values at "
                f"most {MAX_LABEL_CHARS} (label {key[:80]!r})"
            )
    return JobSpec(
        job_id=job_id,
        kind=kind,
        priority=priority,
        work_acc_s=work,
        accelerators=int(pb.accelerators),
        power_w=power,
        input_mb=input_mb,
        output_mb=output_mb,
        deadline_s=deadline,
        gang_size=int(gang),
        checkpoint_interval_s=interval,
        checkpoint_cost_s=cost,
        labels=dict(pb.labels),
        value=job_value,
    )


def job_specs_from_pb(pbs: list[jobs_pb2.JobSpec], now_s: float, limits: Limits) -> list[JobSpec]:
    """A batch: all valid or the first error, naming the index."""
    if not pbs:
        raise invalid("jobs: the batch is empty; send at least one JobSpec")
    if len(pbs) > MAX_BATCH_JOBS:
        raise RequestError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"jobs: {len(pbs)} jobs in one batch; send at most {MAX_BATCH_JOBS} per call",
        )
    specs = [job_spec_from_pb(pb, now_s, limits, where=f"jobs[{i}]") for i, pb in enumerate(pbs)]
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.job_id in seen:
            raise invalid(f"jobs[{i}]: job_id {spec.job_id!r} appears twice in the batch")
        seen.add(spec.job_id)
    return specs


def page_size(value: int) -> int:
    if value == 0:
        return 100
    if not 1 <= value <= 1000:
        raise invalid(f"page_size: must be between 1 and 1000 (or 0 for 100), got {value}")
    return value


def page_token(token: str) -> int:
    """Page tokens are the last submission sequence number seen, as decimal text."""
    if not token:
        return 0
    if not (token.isascii() and token.isdigit()) or len(token) > 18:  # not "²"
        raise invalid(f"page_token: {token[:40]!r} is not a token this server returned")
    return int(token)


def satellite_id(where: str, value: str, known: set[str]) -> str:
    if not value:
        raise invalid(f"{where}.satellite_id: required")
    if value not in known:
        raise RequestError(
            grpc.StatusCode.NOT_FOUND,
            f"{where}.satellite_id: no satellite {value[:80]!r} in this constellation "
            "(orbitctl sats lists them)",
        )
    return value


# --- agent messages ----------------------------------------------------------------------
REPORT_KIND_BY_PB = {
    agent_pb2.JOB_REPORT_KIND_STARTED: ReportKind.STARTED,
    agent_pb2.JOB_REPORT_KIND_PROGRESS: ReportKind.PROGRESS,
    agent_pb2.JOB_REPORT_KIND_CHECKPOINTED: ReportKind.CHECKPOINTED,
    agent_pb2.JOB_REPORT_KIND_STOPPED: ReportKind.STOPPED,
    agent_pb2.JOB_REPORT_KIND_SUCCEEDED: ReportKind.SUCCEEDED,
    agent_pb2.JOB_REPORT_KIND_FAILED: ReportKind.FAILED,
}
STOP_CAUSE_BY_PB = {
    agent_pb2.STOP_CAUSE_WINDOW_ENDED: StopCause.WINDOW_ENDED,
    agent_pb2.STOP_CAUSE_SELF_PROTECTION: StopCause.SELF_PROTECTION,
    agent_pb2.STOP_CAUSE_CANCELLED: StopCause.CANCELLED,
}
_TELEMETRY_NUMBERS = (
    "time_s",
    "battery_soc_wh",
    "battery_capacity_wh",
    "temperature_c",
    "power_generated_w",
    "power_drawn_w",
    "sunlit_fraction",
)


def telemetry_problem(tel: agent_pb2.Telemetry) -> str:
    """What is wrong with a telemetry sample ("" when nothing)."""
    if len(tel.running_job_ids) > MAX_RUNNING_JOBS:
        return f"more than {MAX_RUNNING_JOBS} running_job_ids"
    if any(not JOB_ID_RE.match(j) for j in tel.running_job_ids):
        return "a running_job_id is not a job id"
    if len(tel.self_protection) > MAX_REASON_CHARS:
        return f"self_protection longer than {MAX_REASON_CHARS} characters"
    if not 0 <= tel.accelerators_busy <= 10_000:
        return f"accelerators_busy {tel.accelerators_busy} is not plausible"
    for name in _TELEMETRY_NUMBERS:
        if not math.isfinite(getattr(tel, name)):
            return f"{name} is not a finite number"
    if tel.battery_capacity_wh <= 0 or not 0 <= tel.battery_soc_wh <= tel.battery_capacity_wh:
        return "battery_soc_wh must lie between 0 and battery_capacity_wh > 0"
    if not 0 <= tel.sunlit_fraction <= 1 or tel.power_generated_w < 0 or tel.power_drawn_w < 0:
        return "sunlit_fraction outside [0, 1] or a negative power"
    if not -150 <= tel.temperature_c <= 250:
        return f"temperature_c {tel.temperature_c:g} is not plausible"
    return ""


def telemetry_from_pb(tel: agent_pb2.Telemetry) -> Telemetry:
    """A telemetry sample, or RequestError saying what is wrong with it."""
    problem = telemetry_problem(tel)
    if problem:
        raise invalid(f"telemetry: {problem}")
    return Telemetry(
        time_s=tel.time_s,
        battery_soc_wh=tel.battery_soc_wh,
        battery_capacity_wh=tel.battery_capacity_wh,
        temperature_c=tel.temperature_c,
        power_generated_w=tel.power_generated_w,
        power_drawn_w=tel.power_drawn_w,
        sunlit_fraction=tel.sunlit_fraction,
        in_contact=tel.in_contact,
        running_job_ids=tuple(tel.running_job_ids),
        accelerators_busy=tel.accelerators_busy,
        self_protection=tel.self_protection,
    )


def report_problem(rep: agent_pb2.JobReport) -> str:
    """What is wrong with a job report ("" when nothing)."""
    if rep.kind not in REPORT_KIND_BY_PB:
        return f"kind {rep.kind} is not a report kind"
    if not JOB_ID_RE.match(rep.job_id):
        return f"job_id {short(rep.job_id, 40)} is not a job id"
    for name in ("time_s", "done_accelerator_s", "checkpoint_accelerator_s"):
        value = getattr(rep, name)
        if not math.isfinite(value) or value < 0:
            return f"{name} must be a finite number, 0 or more, got {value!r}"
    if rep.checkpoint_accelerator_s > rep.done_accelerator_s + 1e-6 and rep.done_accelerator_s:
        return "checkpoint_accelerator_s is more than done_accelerator_s"
    if rep.assignment_version < 0:
        return "assignment_version is negative"
    if len(rep.reason) > MAX_REASON_CHARS:
        return f"reason longer than {MAX_REASON_CHARS} characters"
    return ""


def report_from_pb(rep: agent_pb2.JobReport) -> JobReport | None:
    """A job report; None for one that says nothing usable (report_problem says why)."""
    kind = REPORT_KIND_BY_PB.get(rep.kind)
    if kind is None or report_problem(rep):
        return None
    return JobReport(
        job_id=rep.job_id,
        kind=kind,
        time_s=rep.time_s,
        assignment_version=rep.assignment_version,
        done_acc_s=rep.done_accelerator_s,
        checkpoint_acc_s=rep.checkpoint_accelerator_s,
        reason=rep.reason,
        stop_cause=STOP_CAUSE_BY_PB.get(rep.stop_cause, StopCause.UNKNOWN),
    )


def hello_problem(hello: agent_pb2.Hello) -> str:
    """What is wrong with a Hello ("" when nothing): every number finite and not negative,
    strings and lists bounded."""
    if not hello.satellite_id:
        return "hello.satellite_id: required"
    if len(hello.satellite_id) > MAX_SHORT_STRING:
        return f"hello.satellite_id: longer than {MAX_SHORT_STRING} characters"
    for name in ("boot_id", "agent_version"):
        if len(getattr(hello, name)) > MAX_SHORT_STRING:
            return f"hello.{name}: longer than {MAX_SHORT_STRING} characters"
    if hello.last_plan_version < 0:
        return "hello.last_plan_version: negative"
    if len(hello.running_jobs) > MAX_RUNNING_JOBS:
        return f"hello.running_jobs: more than {MAX_RUNNING_JOBS}"
    for i, r in enumerate(hello.running_jobs):
        where = f"hello.running_jobs[{i}]"
        if not JOB_ID_RE.match(r.job_id):
            return f"{where}.job_id: {short(r.job_id, 40)} is not a job id"
        if r.assignment_version < 0:
            return f"{where}.assignment_version: negative"
        for name in ("done_accelerator_s", "checkpoint_accelerator_s"):
            value = getattr(r, name)
            if not math.isfinite(value) or value < 0:
                return f"{where}.{name}: must be a finite number, 0 or more, got {value!r}"
    caps = hello.capabilities
    if caps.accelerators < 0 or not (
        math.isfinite(caps.accelerator_power_w) and caps.accelerator_power_w >= 0
    ):
        return "hello.capabilities: negative or not finite"
    return ""


def hello_from_pb(hello: agent_pb2.Hello) -> Hello:
    """A Hello, or RequestError (INVALID_ARGUMENT) saying what is wrong with it."""
    problem = hello_problem(hello)
    if problem:
        raise invalid(problem)
    return Hello(
        satellite_id=hello.satellite_id,
        boot_id=hello.boot_id,
        last_plan_version=hello.last_plan_version,
        running=tuple(
            RunningJob(
                r.job_id, r.assignment_version, r.done_accelerator_s, r.checkpoint_accelerator_s
            )
            for r in hello.running_jobs
        ),
    )
