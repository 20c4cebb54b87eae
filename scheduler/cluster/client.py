"""A small synchronous client of the scheduler for orbitctl and the demo: gRPC errors become
UserErrors with the server's message."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc
from orbitalsched.v1 import cluster_pb2, cluster_pb2_grpc, jobs_pb2, jobs_pb2_grpc

from scheduler.errors import UserError
from scheduler.security.tls import ClientTls, TlsConfigError

DEFAULT_SCHEDULER = "127.0.0.1:50051"
T = TypeVar("T")


class Client:
    def __init__(self, address: str, timeout_s: float = 30.0, tls: ClientTls | None = None) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.tls = tls
        options = [
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ]
        if tls is None:
            self.channel = grpc.insecure_channel(address, options=options)
        else:
            try:
                creds = tls.credentials()
            except TlsConfigError as exc:
                raise UserError(str(exc)) from None
            self.channel = grpc.secure_channel(address, creds, options=options)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.cluster = cluster_pb2_grpc.ClusterServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def call(self, fn: Callable[..., T], request: object) -> T:
        try:
            return fn(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            code = exc.code()
            details = exc.details()
            if code == grpc.StatusCode.UNAVAILABLE:
                hint = (
                    "start one with `orbitctl cluster up`, or pass --scheduler HOST:PORT; if it "
                    "uses TLS, pass --tls-ca/--tls-cert/--tls-key or set ORBIT_TLS_CA/CERT/KEY"
                    if self.tls is None
                    else "or the TLS handshake failed: check --tls-ca/--tls-cert/--tls-key"
                )
                raise UserError(f"no scheduler answers at {self.address} ({hint})") from None
            raise UserError(f"{code.name}: {details}") from None

    def submit(self, specs: list[jobs_pb2.JobSpec], request_id: str = "") -> list[str]:
        """Submit jobs; with a request_id a retry (same id) returns the same job ids."""
        if len(specs) == 1:
            r = self.call(
                self.jobs.SubmitJob,
                jobs_pb2.SubmitJobRequest(job=specs[0], request_id=request_id),
            )
            return [r.job.spec.job_id]
        resp = self.call(
            self.jobs.SubmitJobs, jobs_pb2.SubmitJobsRequest(jobs=specs, request_id=request_id)
        )
        return list(resp.job_ids)

    def all_jobs(self, **filters: object) -> Iterator[jobs_pb2.Job]:
        token = ""
        while True:
            resp = self.call(
                self.jobs.ListJobs,
                jobs_pb2.ListJobsRequest(page_size=1000, page_token=token, **filters),  # type: ignore[arg-type]
            )
            yield from resp.jobs
            token = resp.next_page_token
            if not token:
                return

    def satellites(self) -> cluster_pb2.ListSatellitesResponse:
        return self.call(self.cluster.ListSatellites, cluster_pb2.ListSatellitesRequest())

    def plan(self) -> cluster_pb2.PlanSummary:
        return self.call(self.cluster.GetPlan, cluster_pb2.GetPlanRequest()).plan

    def now_s(self) -> float:
        return self.satellites().now_s


@contextmanager
def connect(address: str, tls: ClientTls | None = None) -> Iterator[Client]:
    client = Client(address, tls=tls)
    try:
        yield client
    finally:
        client.close()
