"""Mutual TLS end to end, with real processes: every RPC x every kind of caller gets the
status the authorization table says; a satellite certificate cannot speak for another
satellite (nor kick the real one off); orbitctl and orbit-agent take their certificates from
flags or ORBIT_TLS_*; the scheduler will not serve a non-loopback address without mutual TLS
unless told --insecure."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from clusterkit import running_cluster, wait_for
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from trustkit import Caller, call_as, make_callers, rpc_calls, spec

from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster, free_port
from scheduler.security.tls import ClientTls

J_ = "/orbitalsched.v1.JobService/"
C_ = "/orbitalsched.v1.ClusterService/"
CONNECT = "/orbitalsched.v1.AgentService/Connect"
HEALTH = "/grpc.health.v1.Health/Check"
# Refused at the TLS handshake: no certificate, or one from another CA (the client sees
# UNAVAILABLE; grpc's Python server can only require or not request client certificates).
HANDSHAKE = "UNAVAILABLE"
U, D, OK = "UNAUTHENTICATED", "PERMISSION_DENIED", "OK"
CALLERS = ("no-cert", "foreign-ca", "no-identity", "viewer", "submitter", "operator", "satellite")
MATRIX = {
    J_ + "SubmitJob": (HANDSHAKE, HANDSHAKE, U, D, OK, OK, D),
    J_ + "SubmitJobs": (HANDSHAKE, HANDSHAKE, U, D, OK, OK, D),
    J_ + "GetJob": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    J_ + "ListJobs": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    J_ + "CancelJob": (HANDSHAKE, HANDSHAKE, U, D, OK, OK, D),
    J_ + "WatchJobs": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    C_ + "ListSatellites": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    C_ + "GetForecast": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    C_ + "GetPlan": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    C_ + "WhatIf": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    J_ + "ExplainJob": (HANDSHAKE, HANDSHAKE, U, OK, OK, OK, D),
    C_ + "Cordon": (HANDSHAKE, HANDSHAKE, U, D, D, OK, D),
    C_ + "Drain": (HANDSHAKE, HANDSHAKE, U, D, D, OK, D),
    C_ + "Replan": (HANDSHAKE, HANDSHAKE, U, D, D, OK, D),
    CONNECT: (HANDSHAKE, HANDSHAKE, U, D, D, D, OK),
    HEALTH: (HANDSHAKE, HANDSHAKE, OK, OK, OK, OK, OK),
}


@pytest.fixture(scope="module")
def tls_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalCluster, Client, dict[str, Caller]]]:
    work = tmp_path_factory.mktemp("tls")
    # The real agent of sat-0-1 starts before this process opens any gRPC channel (a fork
    # next to grpc's event engine threads can hang the child before its exec).
    extra = ("--policy", "greedy", "--open-listen", f"127.0.0.1:{free_port()}")
    with running_cluster(work / "c", n=3, agents=("sat-0-1",), tls=True, extra=extra) as (
        cluster,
        client,
    ):
        callers = make_callers(cluster.certs_dir, work / "foreign")
        client.submit([spec("seed")])
        yield cluster, client, callers


@pytest.mark.slow
def test_every_rpc_for_every_caller(
    tls_cluster: tuple[LocalCluster, Client, dict[str, Caller]],
) -> None:
    cluster, client, callers = tls_cluster
    counter = itertools.count()

    def own_job(caller: str) -> str:
        """A fresh job to cancel: the caller's own when it may submit, else the operator's."""
        job_id = f"victim-{next(counter)}"
        if caller in ("submitter", "operator"):

            async def as_caller(ch: grpc.aio.Channel) -> None:
                from orbitalsched.v1 import jobs_pb2, jobs_pb2_grpc

                await jobs_pb2_grpc.JobServiceStub(ch).SubmitJob(
                    jobs_pb2.SubmitJobRequest(job=spec(job_id)), timeout=5
                )

            assert call_as(cluster.address, callers[caller], as_caller) == "OK"
        else:
            client.submit([spec(job_id)])
        return job_id

    got: dict[str, list[str]] = {m: [] for m in MATRIX}
    for c in CALLERS:
        target = own_job(c)
        calls = rpc_calls(lambda target=target: target, "sat-0-0")  # type: ignore[misc]
        assert set(calls) == set(MATRIX)
        for method in MATRIX:
            got[method].append(call_as(cluster.address, callers[c], calls[method]))
    wrong = {m: (tuple(got[m]), MATRIX[m]) for m in MATRIX if tuple(got[m]) != MATRIX[m]}
    assert not wrong, "\n".join(f"{m}: got {g}, expected {e}" for m, (g, e) in wrong.items())


@pytest.mark.slow
def test_the_open_listener_answers_health_and_refuses_the_rest_with_unauthenticated(
    tls_cluster: tuple[LocalCluster, Client, dict[str, Caller]],
) -> None:
    """The scheduler's --open-listen: without a certificate (the main port fails such a
    client at the handshake) every RPC gets UNAUTHENTICATED naming the main address, and
    health answers; a certificate sent there is not asked for, so it changes nothing."""
    cluster, client, callers = tls_cluster
    open_address = cluster.scheduler_args[cluster.scheduler_args.index("--open-listen") + 1]
    before = len(list(client.all_jobs()))
    calls = rpc_calls(lambda: "seed", "sat-0-0")
    for who in ("no-cert", "operator", "satellite"):
        got = {m: call_as(open_address, callers[who], calls[m]) for m in MATRIX}
        expected = {m: OK if m == HEALTH else U for m in MATRIX}
        assert got == expected, who
    assert len(list(client.all_jobs())) == before  # the refused submissions created nothing
    r = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "--scheduler", open_address, "jobs"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "ORBIT_TLS_CA": str(cluster.certs_dir / "ca.pem")},
    )  # fmt: skip
    assert r.returncode == 2 and "UNAUTHENTICATED" in r.stderr, r.stderr
    assert cluster.address.rpartition(":")[2] in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.slow
def test_a_submitter_cancels_its_own_jobs_only_and_events_name_their_principal(
    tls_cluster: tuple[LocalCluster, Client, dict[str, Caller]],
) -> None:
    cluster, client, callers = tls_cluster
    client.submit([spec("olgas-job")])  # by the cluster's own operator (user:operator)
    cancel = rpc_calls(lambda: "olgas-job", "")[J_ + "CancelJob"]
    assert call_as(cluster.address, callers["submitter"], cancel) == D
    assert call_as(cluster.address, callers["viewer"], cancel) == D
    assert call_as(cluster.address, callers["operator"], cancel) == OK
    from orbitalsched.v1 import jobs_pb2

    got = client.call(
        client.jobs.GetJob, jobs_pb2.GetJobRequest(job_id="olgas-job", include_events=True)
    )
    assert got.job.submitted_by == "user:operator"
    mine = [(e.what, e.principal) for e in got.events if e.what in ("submitted", "cancelled")]
    assert mine == [
        ("submitted", "user:operator"),
        ("cancelled", "user:olga"),  # another operator may cancel it
    ]
    # Whatever the planner did meanwhile, it did as the scheduler.
    assert {e.principal for e in got.events if e.what not in ("submitted", "cancelled")} <= {
        "scheduler"
    }


@pytest.mark.slow
def test_reflection_only_for_authenticated_principals(
    tls_cluster: tuple[LocalCluster, Client, dict[str, Caller]],
) -> None:
    cluster, _, callers = tls_cluster

    async def list_services(ch: grpc.aio.Channel) -> None:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        call = stub.ServerReflectionInfo(timeout=5)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        resp = await call.read()
        assert any("JobService" in s.name for s in resp.list_services_response.service)
        await call.done_writing()

    assert call_as(cluster.address, callers["viewer"], list_services) == "OK"
    assert call_as(cluster.address, callers["satellite"], list_services) == "OK"
    assert call_as(cluster.address, callers["no-identity"], list_services) == U


@pytest.mark.slow
def test_impersonation_is_refused_and_does_not_disturb_the_real_agent(
    tls_cluster: tuple[LocalCluster, Client, dict[str, Caller]],
) -> None:
    cluster, client, callers = tls_cluster
    sat = lambda: {s.satellite_id: s for s in client.satellites().satellites}["sat-0-1"]  # noqa: E731
    wait_for(lambda: sat().connected, 30, "sat-0-1 to connect")
    reconnects = (cluster.workdir / "agent-sat-0-1.log").read_text().count("connected to")
    impostor = rpc_calls(lambda: "", "sat-0-1")[CONNECT]
    for _ in range(5):
        assert call_as(cluster.address, callers["satellite"], impostor) == D
    time.sleep(1.0)
    assert sat().connected
    assert (cluster.workdir / "agent-sat-0-1.log").read_text().count("connected to") == reconnects
    # The agent itself, given another satellite's certificate, stops with a one-line error.
    d = cluster.certs_dir
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "agents.agent",
            "--satellite",
            "sat-0-2",
            "--scheduler",
            cluster.address,
        ],
        env={
            **os.environ,
            "ORBIT_TLS_CA": str(d / "ca.pem"),
            "ORBIT_TLS_CERT": str(d / "satellite-sat-0-0.pem"),
            "ORBIT_TLS_KEY": str(d / "satellite-sat-0-0-key.pem"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "orbit-agent: error:" in r.stderr and "sat-0-0" in r.stderr


@pytest.mark.slow
def test_orbitctl_over_mutual_tls(
    tls_cluster: tuple[LocalCluster, Client, dict[str, Caller]],
) -> None:
    cluster, _, callers = tls_cluster
    base = [sys.executable, "-m", "scheduler.cli", "--scheduler", cluster.address]

    def run(caller: str | None, *args: str, env: bool = False) -> subprocess.CompletedProcess[str]:
        flags: list[str] = []
        extra: dict[str, str] = {}
        if caller is not None:
            c = callers[caller]
            files = {"ca": str(c.ca), "cert": str(c.cert), "key": str(c.key)}
            if env:
                extra = {f"ORBIT_TLS_{k.upper()}": v for k, v in files.items()}
            else:
                flags = [f"--tls-{k}={v}" for k, v in files.items()]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_TLS_")}
        return subprocess.run(
            [*base, *flags, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**clean, **extra},
        )

    r = run("viewer", "jobs")
    assert r.returncode == 0 and "seed" in r.stdout, r.stderr
    r = run("viewer", "submit", "--work-acc-s", "60")
    assert r.returncode == 2 and "PERMISSION_DENIED" in r.stderr and "viewer" in r.stderr
    r = run("submitter", "submit", "--id", "by-sam", "--work-acc-s", "60", env=True)
    assert r.returncode == 0 and r.stdout.split() == ["by-sam"], r.stderr
    r = run("viewer", "jobs", "by-sam", "--events")
    assert r.returncode == 0, r.stderr
    assert "submitted by user:sam" in r.stdout
    assert any(line.split()[2:4] == ["submitted", "PENDING"] for line in r.stdout.splitlines())
    assert "user:sam" in r.stdout.split("BY", 1)[1]
    r = run("viewer", "jobs", "--events")
    assert r.returncode == 2 and "needs a JOB" in r.stderr
    r = run(None, "jobs")  # plaintext against a TLS port
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "TLS" in r.stderr


def _scheduler(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler.server.main",
            "--db",
            str(tmp_path / "s.db"),
            "--satellites",
            "2",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_no_public_listening_without_mutual_tls(tmp_path: Path) -> None:
    from scheduler.security import certs

    certs.init_ca(tmp_path / "pki")
    d = tmp_path / "pki"
    for args in (
        ("--listen", "0.0.0.0:0"),
        ("--listen", "[::]:0"),
        (
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            str(d / "scheduler.pem"),
            "--tls-key",
            str(d / "scheduler-key.pem"),
        ),
        ("--listen", "127.0.0.1:0", "--tls-cert", str(d / "scheduler.pem")),
        ("--listen", "127.0.0.1:0", "--tls-client-ca", str(d / "ca.pem")),
        (
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            str(d / "nope.pem"),
            "--tls-key",
            str(d / "scheduler-key.pem"),
        ),
    ):
        r = _scheduler(tmp_path, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    # --open-listen: only beside mutual TLS, and a HOST:PORT.
    server_only = (
        "--tls-cert",
        str(d / "scheduler.pem"),
        "--tls-key",
        str(d / "scheduler-key.pem"),
    )
    mutual = (*server_only, "--tls-client-ca", str(d / "ca.pem"))
    for args, says in (
        (("--listen", "127.0.0.1:0", "--open-listen", "127.0.0.1:0"), "needs mutual TLS"),
        (("--insecure", "--listen", "0.0.0.0:0", "--open-listen", "0.0.0.0:0"), "mutual TLS"),
        (("--listen", "127.0.0.1:0", *server_only, "--open-listen", "0.0.0.0:0"), "mutual"),
        (("--listen", "127.0.0.1:0", *mutual, "--open-listen", "nonsense"), "HOST:PORT"),
        (("--listen", "127.0.0.1:0", *mutual, "--open-listen", "h:99999"), "HOST:PORT"),
        (("--listen", "127.0.0.1:0", *mutual, "--open-listen", "h:" + "9" * 5000), "HOST:PORT"),
        (("--listen", "127.0.0.1:" + "9" * 5000, *mutual), "HOST:PORT"),
    ):
        r = _scheduler(tmp_path, *args)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and len(r.stderr) < 400, r.stderr
    assert not (tmp_path / "s.db").exists()  # refused before touching anything
    # The same address twice: the open listener cannot bind it.
    port = free_port()
    r = _scheduler(
        tmp_path, "--listen", f"127.0.0.1:{port}", *mutual, "--open-listen", f"127.0.0.1:{port}"
    )
    # (grpc's core logs its own line about the bind first)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "--open-listen: cannot bind" in last, r.stderr
    assert "Traceback" not in r.stderr, r.stderr


def test_client_tls_settings_are_checked(tmp_path: Path) -> None:
    from scheduler.security.tls import TlsConfigError, client_tls

    assert client_tls(None, None, None, env={}) is None
    got = client_tls(
        None, None, None, env={"ORBIT_TLS_CA": "a", "ORBIT_TLS_CERT": "b", "ORBIT_TLS_KEY": "c"}
    )
    assert got == ClientTls("a", "b", "c")
    assert client_tls("x", None, None, env={"ORBIT_TLS_CA": "a"}) == ClientTls("x")
    for bad in ((None, "b", "c"), ("a", "b", None), ("a", None, "c")):
        with pytest.raises(TlsConfigError):
            client_tls(*bad, env={})
    with pytest.raises(TlsConfigError, match="not a PEM"):
        (tmp_path / "x.pem").write_text("hello")
        ClientTls(str(tmp_path / "x.pem")).credentials()
