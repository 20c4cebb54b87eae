"""Helpers of the trust tests: callers with each kind of certificate, and one call of every
RPC of the contract as a given caller (real gRPC over mutual TLS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from conftest import inference_pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from orbitalsched.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)

from scheduler.security import certs
from scheduler.security.identity import Role

J = jobs_pb2


@dataclass(frozen=True)
class Caller:
    name: str
    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            self.ca.read_bytes(),
            self.key.read_bytes() if self.key else None,
            self.cert.read_bytes() if self.cert else None,
        )


def make_callers(d: Path, foreign: Path) -> dict[str, Caller]:
    """no-cert, foreign-ca, no-identity, viewer, submitter, operator, satellite (sat-0-0)."""
    ca = d / "ca.pem"
    for name, role in (("vera", Role.VIEWER), ("sam", Role.SUBMITTER), ("olga", Role.OPERATOR)):
        if not (d / f"user-{name}.pem").exists():
            certs.issue_user(d, name, role)
    if not (d / "satellite-sat-0-0.pem").exists():
        certs.issue_satellite(d, "sat-0-0")
    if not (d / "plain.pem").exists():  # CA-signed, but naming no orbital identity
        certs._issue_leaf(
            d,
            "plain",
            certs._name("plain", "nobody"),
            [],
            [certs.ExtendedKeyUsageOID.CLIENT_AUTH],
        )
    if not (foreign / "ca.pem").exists():
        certs.init_ca(foreign)
        certs.issue_user(foreign, "olga", Role.OPERATOR)

    def user(stem: str, where: Path = d) -> Caller:
        return Caller(stem, ca, where / f"{stem}.pem", where / f"{stem}-key.pem")

    return {
        "no-cert": Caller("no-cert", ca),
        "foreign-ca": user("user-olga", foreign),
        "no-identity": user("plain"),
        "viewer": user("user-vera"),
        "submitter": user("user-sam"),
        "operator": user("user-olga"),
        "satellite": user("satellite-sat-0-0"),
    }


def spec(job_id: str = "") -> jobs_pb2.JobSpec:
    return inference_pb(job_id, 0.0, 600, 1, output_mb=0, deadline_in_s=None)


async def _connect(channel: grpc.aio.Channel, satellite: str) -> agent_pb2.SchedulerMessage:
    call = agent_pb2_grpc.AgentServiceStub(channel).Connect(timeout=5)
    await call.write(agent_pb2.AgentMessage(hello=agent_pb2.Hello(satellite_id=satellite)))
    first = await call.read()
    call.cancel()
    return first


async def _watch(channel: grpc.aio.Channel) -> None:
    call = jobs_pb2_grpc.JobServiceStub(channel).WatchJobs(
        J.WatchJobsRequest(job_ids=["seed"], send_initial=True), timeout=5.0
    )
    async for _ in call:
        break
    call.cancel()


def rpc_calls(
    cancel_target: Callable[[], str], satellite: str
) -> dict[str, Callable[[grpc.aio.Channel], object]]:
    """One coroutine factory per RPC of the contract (full method name -> call)."""

    def jobs(ch: grpc.aio.Channel) -> jobs_pb2_grpc.JobServiceStub:
        return jobs_pb2_grpc.JobServiceStub(ch)

    def cluster(ch: grpc.aio.Channel) -> cluster_pb2_grpc.ClusterServiceStub:
        return cluster_pb2_grpc.ClusterServiceStub(ch)

    js, cs = "/orbitalsched.v1.JobService/", "/orbitalsched.v1.ClusterService/"
    return {
        js + "SubmitJob": lambda ch: jobs(ch).SubmitJob(J.SubmitJobRequest(job=spec()), timeout=5),
        js + "SubmitJobs": lambda ch: jobs(ch).SubmitJobs(
            J.SubmitJobsRequest(jobs=[spec(), spec()]), timeout=5
        ),
        js + "GetJob": lambda ch: jobs(ch).GetJob(J.GetJobRequest(job_id="seed"), timeout=5),
        js + "ListJobs": lambda ch: jobs(ch).ListJobs(J.ListJobsRequest(), timeout=5),
        js + "CancelJob": lambda ch: jobs(ch).CancelJob(
            J.CancelJobRequest(job_id=cancel_target()), timeout=5
        ),
        js + "WatchJobs": _watch,
        cs + "ListSatellites": lambda ch: cluster(ch).ListSatellites(
            cluster_pb2.ListSatellitesRequest(), timeout=5
        ),
        cs + "GetForecast": lambda ch: cluster(ch).GetForecast(
            cluster_pb2.GetForecastRequest(satellite_id="sat-0-1", duration_s=3600), timeout=5
        ),
        cs + "GetPlan": lambda ch: cluster(ch).GetPlan(cluster_pb2.GetPlanRequest(), timeout=5),
        cs + "WhatIf": lambda ch: cluster(ch).WhatIf(
            cluster_pb2.WhatIfRequest(satellites_lost=["sat-0-2"]), timeout=60
        ),
        js + "ExplainJob": lambda ch: jobs(ch).ExplainJob(
            J.ExplainJobRequest(job_id="seed"), timeout=60
        ),
        cs + "Cordon": lambda ch: cluster(ch).Cordon(
            cluster_pb2.CordonRequest(satellite_id="sat-0-2", cordoned=False), timeout=5
        ),
        cs + "Drain": lambda ch: cluster(ch).Drain(
            cluster_pb2.DrainRequest(satellite_id="sat-0-2", reason="test"), timeout=5
        ),
        cs + "Replan": lambda ch: cluster(ch).Replan(
            cluster_pb2.ReplanRequest(reason="test"), timeout=30
        ),
        "/orbitalsched.v1.AgentService/Connect": lambda ch: _connect(ch, satellite),
        "/grpc.health.v1.Health/Check": lambda ch: health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        ),
    }


def call_as(address: str, caller: Caller, call: Callable[[grpc.aio.Channel], object]) -> str:
    """Status code name of one call (OK, or the code it failed with)."""

    async def go() -> str:
        async with grpc.aio.secure_channel(address, caller.credentials()) as ch:
            try:
                await call(ch)  # type: ignore[misc]
            except grpc.aio.AioRpcError as exc:
                return exc.code().name
            return "OK"

    return asyncio.run(go())
