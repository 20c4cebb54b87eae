"""Fuzzing the scheduler over gRPC, as a hostile or broken client would (used by
tests/test_trust_fuzz.py and bench/fuzz.py).

Inputs: protobuf requests generated from each method's descriptor by hypothesis (NaN, inf,
huge and negative numbers, unknown enum values, long and odd strings, deep and repeated
fields), agent streams (a Hello, then any messages), and raw bytes that may not parse at
all (including invalid UTF-8 in a string field). Every input goes to a real scheduler
process. The oracle, per input: the status is one a client can act on (never UNKNOWN or
INTERNAL, no unary call takes longer than its deadline), the server stays healthy, and an
input the server rejects changes nothing in the store (a snapshot of the database through a
read-only connection, taken before and after; the planner's own fields are left out since
it runs meanwhile). At the end the scheduler's log must hold no traceback.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor as pbd
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import strategies as st
from orbitalsched.v1 import agent_pb2, cluster_pb2, jobs_pb2

# Statuses a client can act on. UNKNOWN / INTERNAL (a server bug, usually a traceback),
# UNAVAILABLE (the server died) and a unary DEADLINE_EXCEEDED (unbounded cost) are failures.
ACCEPTABLE = {
    "OK",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "FAILED_PRECONDITION",
    "OUT_OF_RANGE",
    "RESOURCE_EXHAUSTED",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "UNIMPLEMENTED",
    "CANCELLED",
}
REJECTED = ACCEPTABLE - {"OK", "CANCELLED"}
UNARY_DEADLINE_S = 10.0

UNARY: dict[str, type[Message]] = {
    "/orbitalsched.v1.JobService/SubmitJob": jobs_pb2.SubmitJobRequest,
    "/orbitalsched.v1.JobService/SubmitJobs": jobs_pb2.SubmitJobsRequest,
    "/orbitalsched.v1.JobService/GetJob": jobs_pb2.GetJobRequest,
    "/orbitalsched.v1.JobService/ListJobs": jobs_pb2.ListJobsRequest,
    "/orbitalsched.v1.JobService/CancelJob": jobs_pb2.CancelJobRequest,
    "/orbitalsched.v1.ClusterService/ListSatellites": cluster_pb2.ListSatellitesRequest,
    "/orbitalsched.v1.ClusterService/GetForecast": cluster_pb2.GetForecastRequest,
    "/orbitalsched.v1.ClusterService/GetPlan": cluster_pb2.GetPlanRequest,
    "/orbitalsched.v1.ClusterService/Cordon": cluster_pb2.CordonRequest,
    "/orbitalsched.v1.ClusterService/Drain": cluster_pb2.DrainRequest,
    "/orbitalsched.v1.ClusterService/Replan": cluster_pb2.ReplanRequest,
    "/orbitalsched.v1.ClusterService/WhatIf": cluster_pb2.WhatIfRequest,
    "/orbitalsched.v1.JobService/ExplainJob": jobs_pb2.ExplainJobRequest,
}
WATCH = "/orbitalsched.v1.JobService/WatchJobs"
MUTATING = {
    "/orbitalsched.v1.JobService/SubmitJob",
    "/orbitalsched.v1.JobService/SubmitJobs",
    "/orbitalsched.v1.JobService/CancelJob",
    "/orbitalsched.v1.ClusterService/Cordon",
    "/orbitalsched.v1.ClusterService/Drain",
    "/orbitalsched.v1.ClusterService/Replan",
    "/orbitalsched.v1.AgentService/Connect",
}
CONNECT = "/orbitalsched.v1.AgentService/Connect"
ALL_METHODS = (*UNARY, WATCH, CONNECT)

# Values that break naive code, mixed with ordinary ones.
EDGE_FLOATS = [0.0, -0.0, -1.0, 1.0, 1e-300, 1e300, 1e308, -1e308, 1.8e9, 3600.0]
EDGE_INTS = [0, 1, -1, 2, 2**31 - 1, -(2**31), 2**53 + 1]
NAMES = ["", "sat-0-0", "sat-0-1", "seed", "x", "../etc", "a\x00b", "🛰", " sat-0-0"]


def _bounds(f: pbd.FieldDescriptor) -> tuple[int, int]:
    t = f.type
    if t in (f.TYPE_INT32, f.TYPE_SINT32, f.TYPE_SFIXED32):
        return -(2**31), 2**31 - 1
    if t in (f.TYPE_UINT32, f.TYPE_FIXED32):
        return 0, 2**32 - 1
    if t in (f.TYPE_UINT64, f.TYPE_FIXED64):
        return 0, 2**64 - 1
    return -(2**63), 2**63 - 1


def _scalar(f: pbd.FieldDescriptor, depth: int, small: bool = False) -> st.SearchStrategy[Any]:
    """Values of one field; small (inside repeated fields) keeps strings short, so that a
    batch stays within what a client can build."""
    t = f.type
    if t in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
        return st.one_of(
            st.sampled_from([*EDGE_FLOATS, float("nan"), float("inf"), float("-inf")]),
            st.floats(width=32 if t == f.TYPE_FLOAT else 64),
        )
    if t == f.TYPE_BOOL:
        return st.booleans()
    if t == f.TYPE_STRING:
        if small:
            return st.one_of(
                st.sampled_from(NAMES), st.text(st.characters(codec="utf-8"), max_size=40)
            )
        return st.one_of(
            st.sampled_from(NAMES),
            st.text(st.characters(codec="utf-8"), max_size=40),
            st.integers(1, 6).map(lambda k: "é" * (10**k)),  # up to 2 MB of UTF-8
        )
    if t == f.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == f.TYPE_ENUM:
        return st.one_of(
            st.sampled_from([v.number for v in f.enum_type.values]), st.integers(-3, 40)
        )
    if t == f.TYPE_MESSAGE:
        return _message(f.message_type, depth + 1, small)
    lo, hi = _bounds(f)
    return st.one_of(st.sampled_from([v for v in EDGE_INTS if lo <= v <= hi]), st.integers(lo, hi))


@st.composite
def _message(draw: st.DrawFn, desc: pbd.Descriptor, depth: int, small: bool = False) -> Message:
    from google.protobuf import message_factory

    msg = message_factory.GetMessageClass(desc)()
    if depth > 3:
        return msg
    oneofs = {o.name: o for o in desc.oneofs if not o.name.startswith("_")}
    chosen = {name: draw(st.sampled_from(list(o.fields))) for name, o in oneofs.items()}
    for f in desc.fields:
        o = f.containing_oneof
        if o is not None and not o.name.startswith("_") and chosen[o.name] is not f:
            continue
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            continue
        if not draw(st.booleans()) and o is None:
            continue  # leave unset
        if f.is_repeated:
            size = draw(st.one_of(st.integers(0, 4), st.sampled_from([0, 50, 3000])))
            values = [draw(_scalar(f, depth, small=True)) for _ in range(min(size, 5))]
            values = (values * (size // max(len(values), 1) + 1))[:size] if values else []
            target = getattr(msg, f.name)
            if f.type == f.TYPE_MESSAGE:
                for v in values:
                    target.add().CopyFrom(v)
            else:
                target.extend(values)
        elif f.type == f.TYPE_MESSAGE:
            getattr(msg, f.name).CopyFrom(draw(_scalar(f, depth, small)))
        else:
            setattr(msg, f.name, draw(_scalar(f, depth, small)))
    return msg


def message_strategy(desc: pbd.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    return _message(desc, depth)


def _invalid_utf8(data: bytes) -> bytes:
    """A length-delimited field 1 whose bytes are not UTF-8 (job_id, satellite_id, ...)."""
    body = b"\xff\xfe" + data[:20] + b"\xc3\x28"
    return b"\x0a" + bytes([len(body)]) + body


raw_bytes = st.one_of(
    st.binary(max_size=200), st.binary(max_size=20).map(_invalid_utf8), st.just(b"\xff" * 7)
)


@dataclass
class Input:
    method: str
    raw: bytes | None = None  # undecodable bytes, or
    message: Message | None = None  # one request, or
    stream: list[Message] = field(default_factory=list)  # an agent stream

    def describe(self) -> str:
        what = "raw" if self.raw is not None else "stream" if self.stream else "message"
        return f"{self.method.rpartition('/')[2]} ({what})"


@st.composite
def inputs(draw: st.DrawFn, methods: tuple[str, ...] = ALL_METHODS) -> Input:
    method = draw(st.sampled_from(methods))
    if draw(st.integers(0, 4)) == 0:
        return Input(method, raw=draw(raw_bytes))
    if method == CONNECT:
        hello = draw(message_strategy(agent_pb2.Hello.DESCRIPTOR))
        first = agent_pb2.AgentMessage(hello=hello)
        if draw(st.integers(0, 5)) == 0:
            first = draw(message_strategy(agent_pb2.AgentMessage.DESCRIPTOR))
        rest = draw(st.lists(message_strategy(agent_pb2.AgentMessage.DESCRIPTOR), max_size=4))
        return Input(method, stream=[first, *rest])
    if method == WATCH:
        return Input(method, message=draw(message_strategy(jobs_pb2.WatchJobsRequest.DESCRIPTOR)))
    return Input(method, message=draw(message_strategy(UNARY[method].DESCRIPTOR)))


def snapshot(db: Path | sqlite3.Connection) -> tuple[object, ...]:
    """What a rejected input must not change: jobs (not the planner's fields), satellite
    flags, checkpoints, and the idempotency keys when the store has them. db: the file, or
    an open read-only connection (each query sees the latest commit, WAL)."""
    own = not isinstance(db, sqlite3.Connection)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) if own else db
    assert isinstance(con, sqlite3.Connection)
    try:
        jobs = con.execute(
            "SELECT job_id, spec, CASE WHEN state IN ('PENDING','PLANNED') THEN 'queued' "
            "ELSE state END, start_time_s, end_time_s, done_accelerator_s, "
            "checkpoint_accelerator_s FROM jobs ORDER BY seq"
        ).fetchall()
        sats = con.execute("SELECT * FROM satellites ORDER BY satellite_id").fetchall()
        ckpt = con.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        keys = (
            con.execute("SELECT COUNT(*) FROM submit_requests").fetchone()
            if "submit_requests" in tables
            else None
        )
    finally:
        if own:
            con.close()
    return (tuple(jobs), tuple(sats), ckpt, keys)


def _identity(b: bytes) -> bytes:
    return b


class Fuzzer:
    """Sends inputs to a running scheduler and keeps the counts."""

    def __init__(self, address: str, db: Path, channel: grpc.Channel | None = None) -> None:
        self.address = address
        self.db = db
        self.channel = channel or grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_send_message_length", 64 << 20),
                ("grpc.max_receive_message_length", 64 << 20),
            ],
        )
        self._con = sqlite3.connect(
            f"file:{db}?mode=ro", uri=True, timeout=10, isolation_level=None
        )
        self.outcomes: Counter[str] = Counter()  # "Method CODE"
        self.failures: list[str] = []
        self.tried = 0

    def close(self) -> None:
        self.channel.close()
        self._con.close()

    def _unary(self, method: str, data: bytes) -> str:
        fn = self.channel.unary_unary(
            method, request_serializer=_identity, response_deserializer=_identity
        )
        try:
            fn(data, timeout=UNARY_DEADLINE_S)
        except grpc.RpcError as exc:
            return exc.code().name  # type: ignore[attr-defined,no-any-return]
        return "OK"

    def _watch(self, data: bytes) -> str:
        fn = self.channel.unary_stream(
            WATCH, request_serializer=_identity, response_deserializer=_identity
        )
        call = fn(data, timeout=0.3)
        try:
            for _ in call:
                break
        except grpc.RpcError as exc:
            code = exc.code().name  # type: ignore[attr-defined]
            return "OK" if code == "DEADLINE_EXCEEDED" else code  # a live watch: fine
        call.cancel()
        return "OK"

    def _connect(self, messages: list[bytes], timeout_s: float = 0.3) -> tuple[str, bool]:
        """(final status, whether the scheduler welcomed the stream)."""
        fn = self.channel.stream_stream(
            CONNECT, request_serializer=_identity, response_deserializer=_identity
        )
        call = fn(iter(messages), timeout=timeout_s)
        welcomed = False
        try:
            for raw in call:
                reply = agent_pb2.SchedulerMessage.FromString(raw)
                if reply.HasField("welcome") or reply.HasField("link_down"):
                    welcomed = True
        except grpc.RpcError as exc:
            code = exc.code().name  # type: ignore[attr-defined]
            return ("OK" if code == "DEADLINE_EXCEEDED" and welcomed else code), welcomed
        return "OK", welcomed

    def run(self, item: Input) -> str:
        # Read-only methods are checked on every 50th input only (the snapshot is the cost).
        check = item.method in MUTATING or self.tried % 50 == 0
        before = snapshot(self._con) if check else None
        t0 = time.perf_counter()
        welcomed = False
        if item.method == CONNECT:
            data = (
                [item.raw] if item.raw is not None else [m.SerializeToString() for m in item.stream]
            )
            code, welcomed = self._connect(data)
            if code == "DEADLINE_EXCEEDED" and not welcomed:  # a busy machine: once more
                code, welcomed = self._connect(data, timeout_s=5.0)
        else:
            data_one = item.raw if item.raw is not None else item.message.SerializeToString()  # type: ignore[union-attr]
            code = (
                self._watch(data_one)
                if item.method == WATCH
                else self._unary(item.method, data_one)
            )
        took = time.perf_counter() - t0
        self.tried += 1
        name = item.method.rpartition("/")[2]
        self.outcomes[f"{name} {code}"] += 1
        if code not in ACCEPTABLE:
            self.failures.append(f"{item.describe()}: {code} after {took:.1f} s")
        rejected = code in REJECTED and not welcomed
        if check and rejected and snapshot(self._con) != before:
            self.failures.append(f"{item.describe()}: rejected with {code} but changed the store")
        return code

    def healthy(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        except grpc.RpcError:
            return False
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)


def tracebacks(log: Path) -> list[str]:
    text = log.read_text(errors="replace")
    return [chunk[:400] for chunk in text.split("Traceback")[1:]]


def report(fuzz: Fuzzer, say: Callable[[str], None] = print) -> None:
    say(f"inputs tried: {fuzz.tried}")
    for key, n in sorted(fuzz.outcomes.items()):
        say(f"  {key:45s} {n:8d}")
    say(f"failures: {len(fuzz.failures)}")
    for f in fuzz.failures[:20]:
        say(f"  {f}")
