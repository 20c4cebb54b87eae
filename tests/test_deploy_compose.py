"""The compose stack in mutual TLS (deploy/compose.yaml, the `orbit-certs` role of
deploy/entrypoint.sh): the certificate volumes agree across the services (no engine); the
certs role with the real orbitctl; and the stack really run with podman-compose.

The run needs podman and podman-compose (`apt-get install podman podman-compose`, with the
dnsname plugin and catatonit); without them it skips with the reason, except under CI
(CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterkit import fetch, wait_for
from test_deploy import BIN, COMPOSE, ENTRYPOINT, flag_value, run

# Runs containers, or the certificate commands.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_certificate_volumes_agree(compose: dict[str, Any]) -> None:
    services = compose["services"]
    agents = {k: v for k, v in services.items() if v.get("command", [""])[0] == "orbit-agent"}
    assert len(agents) >= 2
    check_compose_certificates(compose, agents)


def check_compose_certificates(compose: dict[str, Any], agents: dict[str, Any]) -> None:
    """Mutual TLS from volumes: the certs service issues one certificate per agent into that
    agent's own volume, which only that agent mounts (read-only); the scheduler and agents
    wait for it and name the files it writes; nobody else mounts the CA."""
    services = compose["services"]
    certs = services["certs"]
    cmd = certs["command"]
    assert cmd[0] == "orbit-certs" and certs["restart"] == "no" and certs["user"] == "0:0"
    certs_mounts = dict(v.split(":")[:2] for v in certs["volumes"])  # volume -> path
    pki = flag_value(cmd, "--pki")
    assert certs_mounts["pki"] == pki
    assert "scheduler" in [a.split("=", 1)[1] for a in cmd if a.startswith("--host=")]
    issued = {a.split("=", 1)[1].split(":")[0]: a.split(":")[-1] for a in cmd
              if a.startswith("--satellite=")}  # fmt: skip
    tls_dir = "/etc/orbit/tls"
    for who, svc in {"scheduler": services["scheduler"], **agents}.items():
        dep = svc["depends_on"]["certs"]
        assert dep == {"condition": "service_completed_successfully"}, who
        mounts = {v.split(":")[1]: v.split(":") for v in svc["volumes"]}
        volume, _, mode = mounts[tls_dir]
        assert mode == "ro", who
        wait = svc["environment"]["ORBIT_WAIT_FILES"].split()
        assert wait == [f"{tls_dir}/{f}" for f in ("ca.pem", "cert.pem", "key.pem")], who
        cmd = svc["command"]
        if who == "scheduler":
            flags = {"--tls-cert": "cert.pem", "--tls-key": "key.pem", "--tls-client-ca": "ca.pem"}
            assert "--insecure" not in cmd
            assert certs_mounts[volume] == flag_value(certs["command"], "--scheduler")
        else:
            flags = {"--tls-cert": "cert.pem", "--tls-key": "key.pem", "--tls-ca": "ca.pem"}
            sat = flag_value(cmd, "--satellite") or ""
            assert certs_mounts[volume] == issued[sat], (who, volume)
        for flag, name in flags.items():
            assert flag_value(cmd, flag) == f"{tls_dir}/{name}", (who, flag)
        # Its own volume only: no other service mounts it, nobody but certs mounts the CA.
        for other, osvc in services.items():
            if other not in (who, "certs"):
                names = [v.split(":")[0] for v in osvc.get("volumes", [])]
                assert volume not in names and "pki" not in names, (who, other)
    assert set(issued) == {flag_value(a["command"], "--satellite") for a in agents.values()}


def test_entrypoint_certs_role(tmp_path: Path) -> None:
    """orbit-certs (compose's certs service) with the real orbitctl: a CA once, each
    certificate once, copies with the CA in each directory (key 0600, directory 0700, owned
    by --owner); a second run keeps the CA and the keys; bad arguments exit 64 and change
    nothing; ORBIT_WAIT_FILES waits, then exits 75 naming the file."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    owner = f"{os.getuid()}:{os.getgid()}"
    pki, sched, sat, me = (tmp_path / n for n in ("pki", "sched", "sat", "me"))

    def certs(*args: str) -> subprocess.CompletedProcess[str]:
        return run(["sh", str(ENTRYPOINT), "orbit-certs", *args], env=env)

    args = ("--pki", str(pki), "--host=scheduler", "--owner", owner, f"--scheduler={sched}",
            "--satellite", f"sat-0-1:{sat}", "--user", f"ann:viewer:{me}")  # fmt: skip
    r = certs(*args)
    assert r.returncode == 0 and "new CA" in r.stdout, r.stderr
    assert sorted(p.name for p in sat.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert sorted(p.name for p in me.iterdir()) == ["ca.pem", "user-ann-key.pem", "user-ann.pem"]
    for d, key in ((sched, "key.pem"), (sat, "key.pem"), (me, "user-ann-key.pem")):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        assert stat.S_IMODE((d / key).stat().st_mode) == 0o600
        assert (d / "ca.pem").read_bytes() == (pki / "ca.pem").read_bytes()
        assert not [f for f in d.iterdir() if ".tmp." in f.name]
    assert (sat / "key.pem").read_bytes() == (pki / "satellite-sat-0-1-key.pem").read_bytes()
    assert (sched / "cert.pem").read_bytes() == (pki / "scheduler.pem").read_bytes()
    assert "scheduler" in x509_dns_names(sched / "cert.pem")
    before = {f.name: f.read_bytes() for f in pki.iterdir()}
    r = certs(*args)
    assert r.returncode == 0 and "new CA" not in r.stdout, r.stderr
    assert {f.name: f.read_bytes() for f in pki.iterdir()} == before
    for bad in (
        ("--pki", str(pki), "--satellite", f"../x:{tmp_path / 'x'}"),
        ("--pki", str(pki), "--satellite", f"sat 1:{tmp_path / 'x'}"),
        ("--pki", str(pki), "--satellite", "sat-0-2"),
        ("--pki", str(pki), "--user", f"bob:root:{tmp_path / 'x'}"),
        ("--pki", str(pki), "--owner", "1:2:3", f"--scheduler={tmp_path / 'x'}"),
        ("--pki", str(pki), "--owner", "root", f"--scheduler={tmp_path / 'x'}"),
        ("--pki", str(pki)),
        ("--pki",),
        (f"--scheduler={tmp_path / 'x'}",),
        ("--pki", str(pki), "--frobnicate", "1"),
    ):
        r = certs(*bad)
        assert r.returncode == 64 and r.stderr.startswith("orbit-entrypoint: "), (bad, r.stderr)
    assert not (tmp_path / "x").exists()
    assert {f.name: f.read_bytes() for f in pki.iterdir()} == before
    late = tmp_path / "late.pem"
    waiting = {**env, "ORBIT_WAIT_FILES": f"{sched / 'ca.pem'} {late}", "ORBIT_WAIT_S": "1"}
    r = run(["sh", str(ENTRYPOINT), "orbitctl", "--version"], env=waiting)
    assert r.returncode == 75 and str(late) in r.stderr
    late.write_text("x")
    waiting = {**env, "ORBIT_WAIT_FILES": f"{sched / 'ca.pem'} {late}", "ORBIT_WAIT_S": "1"}
    r = run(["sh", str(ENTRYPOINT), "orbitctl", "--version"], env=waiting)
    assert r.returncode == 0 and "orbitctl" in r.stdout
    r = run(
        ["sh", str(ENTRYPOINT), "orbitctl", "--version"],
        env={**env, "ORBIT_WAIT_FILES": str(late), "ORBIT_WAIT_S": "soon"},
    )
    assert r.returncode == 64 and "ORBIT_WAIT_S" in r.stderr
    r = run(["sh", str(ENTRYPOINT), "orbitctl", "--version"],
            env={**env, "ORBIT_WAIT_FILES": str(late), "ORBIT_WAIT_S": "9" * 30})  # fmt: skip
    assert r.returncode == 64 and "ORBIT_WAIT_S" in r.stderr and r.stderr.count("\n") == 1


def x509_dns_names(path: Path) -> list[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.DNSName))


COMPOSE_SERVICES = ("certs", "scheduler", "agent-sat-0-0", "agent-sat-0-1", "agent-sat-0-2",
                    "prometheus")  # fmt: skip


def compose_engine():  # type: ignore[no-untyped-def]
    """podman and podman-compose, or skip (fail under CI) with the reason."""
    from scheduler.testbed.engine import engine_problem, find_engine

    problem = engine_problem()
    compose_bin = shutil.which("podman-compose")
    if problem is None and compose_bin is None:
        problem = "podman-compose not found: apt-get install podman-compose"
    if problem is None and find_engine().name != "podman":
        problem = "the compose stack test drives podman-compose, not docker"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(f"compose stack cannot run here: {problem}")
    return find_engine(), compose_bin


def stack_client(address: str, tls: Any = None) -> Any:
    from scheduler.cluster.client import Client

    return Client(address, timeout_s=5, tls=tls)


@pytest.mark.timeout(900)
def test_compose_stack_runs_mutual_tls(tmp_path: Path) -> None:
    """`podman-compose up` of deploy/compose.yaml: the certs service makes the certificates,
    the agents connect over mutual TLS and run jobs, a user's operator certificate made with
    the README's command works from the host, a client without one is refused, each
    container holds only its own key (uid 10001, mode 0600), Prometheus scrapes every metrics
    port in plain HTTP, and `down -v` leaves nothing."""
    from conftest import inference_pb
    from orbitalsched.v1 import jobs_pb2

    from scheduler.cluster.local import free_port
    from scheduler.errors import UserError
    from scheduler.security.tls import ClientTls
    from scheduler.testbed.image import (
        IMAGE,
        PROMETHEUS_IMAGE,
        build_image,
        build_prometheus_image,
        choose_base,
    )

    engine, compose_bin = compose_engine()
    assert build_image(engine=engine) == IMAGE
    base = choose_base(engine, None)
    if not engine.image_exists(PROMETHEUS_IMAGE):
        build_prometheus_image(engine, base)
    project = f"orbtest{os.getpid()}"
    grpc_port, prom_port = free_port(), free_port()
    env = {**engine.env, "ORBIT_GRPC_PORT": str(grpc_port),
           "ORBIT_PROMETHEUS_PORT": str(prom_port), "ORBIT_BASE_IMAGE": base}  # fmt: skip
    address = f"127.0.0.1:{grpc_port}"

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([compose_bin, "-p", project, "-f", str(COMPOSE), *args], env=env,
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip

    def container(service: str) -> str:
        return f"{project}_{service}_1"

    def left_behind() -> list[str]:
        out = []
        for kind in (("ps", "--all"), ("volume", "ls"), ("network", "ls")):
            names = engine.run(*kind, "--format", "{{.Name}}" if kind[0] != "ps" else
                               "{{.Names}}").stdout.split()  # fmt: skip
            out += [n for n in names if n.startswith(f"{project}_")]
        return out

    mine = tmp_path / "me"
    try:
        up = compose("up", "-d", "--no-build", *COMPOSE_SERVICES)
        assert up.returncode == 0, up.stderr[-3000:]
        state = wait_for(
            lambda: engine.run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                               container("certs")).stdout.split() in (["exited", "0"],
                                                                      ["stopped", "0"]),
            120, "the certs service to finish",
        )  # fmt: skip
        assert state
        # Each service holds its own ca/cert/key only: owned by 10001, key 0600, no CA key.
        for service in ("scheduler", "agent-sat-0-1"):
            listing = engine.run("exec", container(service), "sh", "-c",
                                 "cd /etc/orbit/tls && stat -c '%n %u %a' *").stdout  # fmt: skip
            files = {n: (u, m) for n, u, m in (line.split() for line in listing.splitlines())}
            expected = {"ca.pem", "cert.pem", "key.pem"}
            if service == "scheduler":
                expected |= {"user-health.pem", "user-health-key.pem"}
            assert set(files) == expected, (service, files)
            assert all(u == "10001" for u, _ in files.values()), files
            assert files["key.pem"][1] == "600" and files["cert.pem"][1] == "644", files
        # The user's operator certificate, made as deploy/README.md says.
        mine.mkdir()
        made = engine.run(
            "run", "--rm", "--user", "0:0", "-v", f"{project}_pki:/pki",
            "-v", f"{mine}:/out", IMAGE, "orbit-certs", "--pki", "/pki",
            "--owner", f"{os.getuid()}:{os.getgid()}", "--user", "tester:operator:/out",
        )  # fmt: skip
        assert made.returncode == 0
        assert (mine / "user-tester-key.pem").stat().st_mode & 0o077 == 0
        me = ClientTls(str(mine / "ca.pem"), str(mine / "user-tester.pem"),
                       str(mine / "user-tester-key.pem"))  # fmt: skip
        client = stack_client(address, me)
        try:
            sats = wait_for(
                lambda: _connected(client), 120, "the three agents to connect over mutual TLS"
            )
            assert sorted(sats) == ["sat-0-0", "sat-0-1", "sat-0-2"]
            now = client.now_s()
            ids = client.submit(
                [inference_pb(f"tls-{i}", now, 300, 1, output_mb=0, deadline_in_s=6 * 3600)
                 for i in range(3)]
            )  # fmt: skip
            wait_for(
                lambda: all(j.state == jobs_pb2.JOB_STATE_SUCCEEDED for j in client.all_jobs()
                            if j.spec.job_id in ids),
                180, "the jobs to succeed", 0.5,
            )  # fmt: skip
            got = client.call(client.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=ids[0]))
            assert got.job.submitted_by == "user:tester"
        finally:
            client.close()
        # orbitctl from the host: with the certificate it answers, without one it is refused.
        orbitctl = str(BIN / "orbitctl")
        tls_env = {**os.environ, "ORBIT_TLS_CA": str(mine / "ca.pem"),
                   "ORBIT_TLS_CERT": str(mine / "user-tester.pem"),
                   "ORBIT_TLS_KEY": str(mine / "user-tester-key.pem")}  # fmt: skip
        ok = run([orbitctl, "--scheduler", address, "sats"], env=tls_env)
        assert ok.returncode == 0 and "sat-0-2" in ok.stdout, ok.stderr
        no_cert = {k: v for k, v in tls_env.items() if k not in ("ORBIT_TLS_CERT", "ORBIT_TLS_KEY")}
        refused = run([orbitctl, "--scheduler", address, "sats"], env=no_cert)
        assert refused.returncode != 0 and "sat-0-2" not in refused.stdout
        plain = {k: v for k, v in no_cert.items() if k != "ORBIT_TLS_CA"}
        refused = run([orbitctl, "--scheduler", address, "sats"], env=plain)
        assert refused.returncode != 0 and "sat-0-2" not in refused.stdout
        with pytest.raises(UserError):  # the direct API call, too
            bare = stack_client(address, ClientTls(str(mine / "ca.pem")))
            try:
                bare.satellites()
            finally:
                bare.close()
        # The health check (inside the scheduler's container) passes with its viewer identity.
        health = yaml.safe_load(COMPOSE.read_text())["services"]["scheduler"]["healthcheck"]
        checked = engine.run("exec", container("scheduler"), *health["test"][1:], check=False)
        assert checked.returncode == 0, checked.stderr
        # A second run of certs keeps the CA (same ca.pem) and succeeds.
        before = (mine / "ca.pem").read_bytes()
        again = engine.run("start", "--attach", container("certs"), check=False)
        assert again.returncode == 0, again.stderr
        assert "new CA" not in again.stdout
        ca_now = engine.run("exec", container("scheduler"), "cat", "/etc/orbit/tls/ca.pem")
        assert ca_now.stdout.encode() == before
        # Prometheus scrapes the scheduler and the agents (plain HTTP metrics).
        query = f"http://127.0.0.1:{prom_port}/api/v1/query?query=" + urllib.parse.quote("up")

        seen: dict[str, str] = {}

        def targets_up() -> dict[str, str]:
            try:
                rows = json.loads(fetch(query))["data"]["result"]
            except OSError:
                return {}
            seen.clear()
            seen.update({r["metric"]["instance"]: r["value"][1] for r in rows})
            ok = len(seen) == 4 and set(seen.values()) == {"1"}
            return dict(seen) if ok else {}

        try:
            up_targets = wait_for(targets_up, 120, "Prometheus to scrape all four targets", 1.0)
        except AssertionError as exc:
            logs = engine.run("logs", "--tail", "5", container("prometheus"), check=False)
            raise AssertionError(f"{exc}; last `up`: {seen}; {logs.stderr[-1500:]}") from None
        assert "scheduler:9100" in up_targets
    finally:
        # The containers with their anonymous volumes (the image's VOLUME): podman-compose
        # 1.0.3's `down -v` removes only the named ones, and leaves the networks.
        ours = [n for n in engine.run("ps", "--all", "--format", "{{.Names}}").stdout.split()
                if n.startswith(f"{project}_")]  # fmt: skip
        if ours:
            engine.run("rm", "--force", "--volumes", *ours, check=False)
        down = compose("down", "-v")
        for leftover in left_behind():
            kind = "network" if leftover.endswith("_orbit") else "volume"
            engine.run(kind, "rm", "--force", leftover, check=False)
    assert down.returncode == 0, down.stderr[-2000:]
    assert left_behind() == []


def _connected(client: Any) -> list[str]:
    sats = client.satellites().satellites
    return [s.satellite_id for s in sats] if sats and all(s.connected for s in sats) else []
