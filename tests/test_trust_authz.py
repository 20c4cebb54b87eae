"""Identities and authorization without a network: certificates from `orbitctl certs` carry
the identity and role the scheduler reads (checked with cryptography's own path validator as
the oracle), and `authorize` gives the expected answer in every cell of the table."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
from pathlib import Path

import grpc
import pytest
from conftest import ORBITCTL
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from scheduler.security.authz import (
    AGENT_CONNECT,
    CANCEL_JOB,
    REQUIRED_ROLE,
    Resource,
    authorize,
)
from scheduler.security.certs import (
    CertError,
    init_ca,
    issue_satellite,
    issue_user,
    principal_of_pem,
)
from scheduler.security.identity import ANONYMOUS, Kind, Principal, Role, principal_from_names

OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTH = grpc.StatusCode.UNAUTHENTICATED

VIEWER = Principal(Kind.USER, "vera", Role.VIEWER)
SUBMITTER = Principal(Kind.USER, "sam", Role.SUBMITTER)
OPERATOR = Principal(Kind.USER, "olga", Role.OPERATOR)
SATELLITE = Principal(Kind.SATELLITE, "sat-0-0")

# Every RPC of the three services, and what each caller gets (written out by hand, not
# derived from REQUIRED_ROLE, so the table is an independent statement of the rules).
J, C = "/orbitalsched.v1.JobService/", "/orbitalsched.v1.ClusterService/"
#                     no cert  viewer  submitter operator satellite anonymous
EXPECTED = {
    J + "SubmitJob": (UNAUTH, DENIED, OK, OK, DENIED, OK),
    J + "SubmitJobs": (UNAUTH, DENIED, OK, OK, DENIED, OK),
    J + "GetJob": (UNAUTH, OK, OK, OK, DENIED, OK),
    J + "ListJobs": (UNAUTH, OK, OK, OK, DENIED, OK),
    J + "CancelJob": (UNAUTH, DENIED, OK, OK, DENIED, OK),
    J + "WatchJobs": (UNAUTH, OK, OK, OK, DENIED, OK),
    C + "ListSatellites": (UNAUTH, OK, OK, OK, DENIED, OK),
    C + "GetForecast": (UNAUTH, OK, OK, OK, DENIED, OK),
    C + "GetPlan": (UNAUTH, OK, OK, OK, DENIED, OK),
    C + "Cordon": (UNAUTH, DENIED, DENIED, OK, DENIED, OK),
    C + "Drain": (UNAUTH, DENIED, DENIED, OK, DENIED, OK),
    C + "Replan": (UNAUTH, DENIED, DENIED, OK, DENIED, OK),
    J + "ExplainJob": (UNAUTH, OK, OK, OK, DENIED, OK),
    C + "WhatIf": (UNAUTH, OK, OK, OK, DENIED, OK),
    C + "UpdateElements": (UNAUTH, DENIED, DENIED, OK, DENIED, OK),
    AGENT_CONNECT: (UNAUTH, DENIED, DENIED, DENIED, OK, OK),
    "/grpc.health.v1.Health/Check": (OK, OK, OK, OK, OK, OK),
    "/grpc.health.v1.Health/Watch": (OK, OK, OK, OK, OK, OK),
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": (
        UNAUTH,
        OK,
        OK,
        OK,
        OK,
        OK,
    ),
    "/orbitalsched.v1.JobService/NoSuchMethod": (UNAUTH, DENIED, DENIED, OK, DENIED, OK),
}
CALLERS = (None, VIEWER, SUBMITTER, OPERATOR, SATELLITE, ANONYMOUS)


def test_every_rpc_of_the_contract_is_in_the_table() -> None:
    from orbitalsched.v1 import agent_pb2, cluster_pb2, jobs_pb2

    methods = {
        f"/{svc.full_name}/{m.name}"
        for mod in (agent_pb2, cluster_pb2, jobs_pb2)
        for svc in mod.DESCRIPTOR.services_by_name.values()
        for m in svc.methods
    }
    assert methods <= set(EXPECTED), sorted(methods - set(EXPECTED))
    assert set(REQUIRED_ROLE) | {AGENT_CONNECT} == methods


@pytest.mark.parametrize("method", sorted(EXPECTED))
def test_authorization_table(method: str) -> None:
    got = tuple(authorize(p, method).code for p in CALLERS)
    assert got == EXPECTED[method], method
    for p in CALLERS:
        d = authorize(p, method)
        assert d.allowed == (d.code is OK)
        assert d.allowed or d.reason  # every refusal says why


def test_a_stream_speaks_only_for_the_satellite_its_certificate_names() -> None:
    assert authorize(SATELLITE, AGENT_CONNECT, Resource(satellite_id="sat-0-0")).allowed
    d = authorize(SATELLITE, AGENT_CONNECT, Resource(satellite_id="sat-0-1"))
    assert d.code is DENIED and "sat-0-1" in d.reason and "sat-0-0" in d.reason
    # Without TLS the anonymous operator may speak for any satellite (local use).
    assert authorize(ANONYMOUS, AGENT_CONNECT, Resource(satellite_id="sat-0-1")).allowed
    assert authorize(OPERATOR, AGENT_CONNECT, Resource(satellite_id="sat-0-1")).code is DENIED


def test_a_submitter_cancels_only_its_own_jobs() -> None:
    own, other = Resource(job_submitter=SUBMITTER.id), Resource(job_submitter="user:someone")
    assert authorize(SUBMITTER, CANCEL_JOB, own).allowed
    assert authorize(SUBMITTER, CANCEL_JOB, other).code is DENIED
    assert authorize(OPERATOR, CANCEL_JOB, other).allowed
    assert authorize(ANONYMOUS, CANCEL_JOB, other).allowed
    assert authorize(VIEWER, CANCEL_JOB, own).code is DENIED


def test_names_in_certificates_are_parsed_strictly() -> None:
    assert principal_from_names(["spiffe://orbital/satellite/s1"], []) == Principal(
        Kind.SATELLITE, "s1"
    )
    assert principal_from_names(["spiffe://orbital/user/a"], ["operator"]).role is Role.OPERATOR
    for uris, units in (
        ([], ["operator"]),  # no identity
        (["spiffe://other/user/a"], ["operator"]),  # another trust domain
        (["spiffe://orbital/user/a", "spiffe://orbital/user/b"], ["viewer"]),  # two
        (["spiffe://orbital/user/a"], []),  # a user without a role
        (["spiffe://orbital/user/a"], ["viewer", "operator"]),  # two roles
        (["spiffe://orbital/user/../x"], ["viewer"]),  # not a name
        (["spiffe://orbital/robot/a"], ["viewer"]),  # unknown kind
    ):
        with pytest.raises(ValueError):
            principal_from_names(uris, units)


def _verify_client(ca_dir: Path, stem: str) -> x509.Certificate:
    """Path validation by cryptography's X.509 verifier (the oracle): a client certificate
    issued by the CA, valid now."""
    ca = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((ca_dir / f"{stem}.pem").read_bytes())
    verifier = (
        PolicyBuilder().store(Store([ca])).time(dt.datetime.now(dt.UTC)).build_client_verifier()
    )
    verified = verifier.verify(leaf, [])
    assert verified.chain[-1] == ca
    return leaf


def test_certificates_carry_identity_and_role(tmp_path: Path) -> None:
    files = init_ca(tmp_path, ("sched.example", "10.1.2.3"))
    assert [f.name for f in files] == ["ca.pem", "ca-key.pem", "scheduler.pem", "scheduler-key.pem"]
    for key in tmp_path.glob("*-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    sched = x509.load_pem_x509_certificate((tmp_path / "scheduler.pem").read_bytes())
    san = sched.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "sched.example"}
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {
        "127.0.0.1",
        "::1",
        "10.1.2.3",
    }
    issue_satellite(tmp_path, "sat-0-3")
    issue_user(tmp_path, "alice", Role.SUBMITTER)
    leaf = _verify_client(tmp_path, "satellite-sat-0-3")
    uris = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(u) for u in uris.get_values_for_type(x509.UniformResourceIdentifier)] == [
        "spiffe://orbital/satellite/sat-0-3"
    ]
    _verify_client(tmp_path, "user-alice")
    assert principal_of_pem((tmp_path / "satellite-sat-0-3.pem").read_bytes()) == Principal(
        Kind.SATELLITE, "sat-0-3"
    )
    assert principal_of_pem((tmp_path / "user-alice.pem").read_bytes()) == Principal(
        Kind.USER, "alice", Role.SUBMITTER
    )
    with pytest.raises(CertError, match="exists"):
        issue_user(tmp_path, "alice", Role.OPERATOR)  # never overwritten
    with pytest.raises(CertError, match="already holds a CA"):
        init_ca(tmp_path)
    with pytest.raises(ValueError):
        issue_satellite(tmp_path, "../evil")


@pytest.mark.slow
def test_orbitctl_certs_commands(tmp_path: Path) -> None:
    d = str(tmp_path / "pki")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ORBITCTL, "certs", *args], capture_output=True, text=True)

    r = run("init", "--dir", d, "--host", "scheduler.internal")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].endswith("ca.pem")
    r = run("issue", "--dir", d, "--satellite", "sat-0-1")
    assert r.returncode == 0 and r.stdout.split()[0].endswith("satellite-sat-0-1.pem")
    r = run("issue", "--dir", d, "--user", "bob", "--role", "viewer")
    assert r.returncode == 0 and os.path.exists(f"{d}/user-bob-key.pem")
    for bad in (
        ("issue", "--dir", d, "--user", "carol"),  # no role
        ("issue", "--dir", d, "--satellite", "s", "--role", "operator"),
        ("issue", "--dir", str(tmp_path / "nowhere"), "--satellite", "s"),
        ("init", "--dir", d),
    ):
        r = run(*bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)
        assert "Traceback" not in r.stderr


# --- the open listener (--open-listen): no certificate, real gRPC over server-only TLS ------
def _open_listener_calls(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Every RPC of the matrix (plus reflection, an unknown method, a Health Watch and an
    oversized message) against a real open listener, as a client with no certificate and as
    one that presents an operator certificate: method -> (code name, details)."""
    import asyncio

    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    from orbitalsched.v1 import jobs_pb2, jobs_pb2_grpc
    from trustkit import make_callers, rpc_calls

    from scheduler.security.open_listener import build_open_server
    from scheduler.security.tls import ServerTls

    init_ca(tmp_path / "pki")
    callers = make_callers(tmp_path / "pki", tmp_path / "foreign")
    d = tmp_path / "pki"
    tls = ServerTls(str(d / "scheduler.pem"), str(d / "scheduler-key.pem"), str(d / "ca.pem"))

    async def reflect(ch: grpc.aio.Channel) -> None:
        call = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(timeout=5)
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        await call.read()

    async def watch_health(ch: grpc.aio.Channel) -> None:
        call = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(), timeout=5)
        async for resp in call:
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            break
        call.cancel()

    async def unknown(ch: grpc.aio.Channel) -> None:
        await ch.unary_unary("/orbitalsched.v1.JobService/NoSuchMethod")(b"", timeout=5)

    async def huge(ch: grpc.aio.Channel) -> None:
        big = jobs_pb2.GetJobRequest(job_id="x" * 100_000)
        await jobs_pb2_grpc.JobServiceStub(ch).GetJob(big, timeout=5)

    async def check(ch: grpc.aio.Channel) -> None:
        got = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert got.status == health_pb2.HealthCheckResponse.SERVING

    async def update_elements(ch: grpc.aio.Channel) -> None:
        from orbitalsched.v1 import cluster_pb2, cluster_pb2_grpc

        stub = cluster_pb2_grpc.ClusterServiceStub(ch)
        await stub.UpdateElements(cluster_pb2.UpdateElementsRequest(), timeout=5)

    calls = dict(rpc_calls(lambda: "seed", "sat-0-0"))
    calls[C + "UpdateElements"] = update_elements
    calls["/grpc.health.v1.Health/Check"] = check
    calls["/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"] = reflect
    calls["/grpc.health.v1.Health/Watch"] = watch_health
    calls["unknown method"] = unknown
    calls["100 kB GetJob"] = huge

    async def go() -> dict[str, tuple[str, str]]:
        servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        server, port = build_open_server(tls, servicer, "127.0.0.1:50999", "127.0.0.1:0")
        await server.start()
        out: dict[str, tuple[str, str]] = {}
        try:
            for who in ("no-cert", "operator"):
                creds = callers[who].credentials()
                async with grpc.aio.secure_channel(f"localhost:{port}", creds) as ch:
                    for method, call in calls.items():
                        try:
                            await call(ch)  # type: ignore[operator]
                            out[f"{who} {method}"] = ("OK", "")
                        except grpc.aio.AioRpcError as exc:
                            out[f"{who} {method}"] = (exc.code().name, exc.details() or "")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                try:
                    await check(ch)
                    out["plaintext"] = ("OK", "")
                except grpc.aio.AioRpcError as exc:
                    out["plaintext"] = (exc.code().name, "")
        finally:
            await server.stop(None)
        return out

    return asyncio.run(go())


def test_open_listener_refuses_everything_but_health_without_a_certificate(
    tmp_path: Path,
) -> None:
    got = _open_listener_calls(tmp_path)
    health_ok = {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}
    methods = set(EXPECTED) - {"/orbitalsched.v1.JobService/NoSuchMethod"}
    for who in ("no-cert", "operator"):  # a certificate is never asked for there
        for method in methods | {"unknown method"}:
            code, details = got[f"{who} {method}"]
            expected = "OK" if method in health_ok else "UNAUTHENTICATED"
            assert code == expected, (who, method, code, details)
            if code == "UNAUTHENTICATED":
                assert "127.0.0.1:50999" in details and "--tls-cert" in details, details
        # Bigger than any health check: refused before it is decoded.
        assert got[f"{who} 100 kB GetJob"][0] == "RESOURCE_EXHAUSTED"
    assert got["plaintext"][0] == "UNAVAILABLE"  # TLS only


def test_open_listen_needs_mutual_tls(tmp_path: Path) -> None:
    from scheduler.security.open_listener import check_open_listen
    from scheduler.security.tls import ServerTls, TlsConfigError

    check_open_listen("", None)  # not asked for: nothing to check
    for tls in (None, ServerTls("c.pem", "k.pem")):
        with pytest.raises(TlsConfigError, match="--open-listen needs mutual TLS"):
            check_open_listen("0.0.0.0:8443", tls)
    check_open_listen("0.0.0.0:8443", ServerTls("c.pem", "k.pem", "ca.pem"))


@pytest.mark.slow
def test_open_listener_closes_connections_that_never_handshake(tmp_path: Path) -> None:
    """A peer that opens TCP connections to the open address and sends nothing is cut off
    after the handshake timeout (10 s), not kept forever."""
    import asyncio
    import socket
    import time

    from grpc_health.v1 import health

    from scheduler.security.open_listener import build_open_server
    from scheduler.security.tls import ServerTls

    init_ca(tmp_path)
    tls = ServerTls(str(tmp_path / "scheduler.pem"), str(tmp_path / "scheduler-key.pem"), "ca")

    async def go() -> list[float]:
        servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
        server, port = build_open_server(tls, servicer, "127.0.0.1:1", "127.0.0.1:0")
        await server.start()
        try:
            loop = asyncio.get_running_loop()

            def idle_peer() -> float:
                t0 = time.monotonic()
                with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                    assert sock.recv(1) == b""  # closed by the server
                return time.monotonic() - t0

            return list(
                await asyncio.gather(*(loop.run_in_executor(None, idle_peer) for _ in range(3)))
            )
        finally:
            await server.stop(None)

    took = asyncio.run(go())
    assert all(8.0 <= t <= 25.0 for t in took), took
