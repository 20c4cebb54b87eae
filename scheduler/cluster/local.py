"""A cluster on this machine: one scheduler process and one agent process per satellite,
on loopback with free ports. Used by `orbitctl cluster up`, `orbitctl demo` and the
integration tests; every process it starts is stopped by `stop()` (or the context manager).

With `tls=True` it runs everything with mutual TLS: a throwaway CA in `workdir/certs` (kept
across restarts of the same workdir), the scheduler's certificate, one certificate per
satellite for its agent, and an operator certificate (`user-operator`) for the launcher.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from scheduler.errors import UserError
from scheduler.proc.parent import launcher_env
from scheduler.security.certs import init_ca, issue_satellite, issue_user
from scheduler.security.identity import Role
from scheduler.security.tls import ClientTls

READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    satellites: tuple[str, ...]
    workdir: Path
    scenario: str | None = None
    speed: float = 60.0
    link_model: str = "always"
    scheduler_args: tuple[str, ...] = ()
    metrics: bool = True
    metrics_port: int | None = None
    db: Path | None = None
    tls: bool = False
    address: str = ""
    scheduler_metrics_port: int | None = None
    agent_metrics_ports: dict[str, int] = field(default_factory=dict)
    scheduler_proc: subprocess.Popen[bytes] | None = None
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    agents_per_process: int = 1  # > 1: `orbit-agent --satellites` fleets of this many
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.db is None:
            self.db = self.workdir / "scheduler.db"

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log(self, name: str) -> IO[bytes]:
        f = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop())
        self._logs.append(f)
        return f

    @property
    def certs_dir(self) -> Path:
        return self.workdir / "certs"

    def _certs(self) -> Path:
        d = self.certs_dir
        if not (d / "ca.pem").exists():
            init_ca(d)
        return d

    def user_tls(self, name: str = "operator", role: Role = Role.OPERATOR) -> ClientTls | None:
        """TLS settings of a user of this cluster (issued on first use); None without TLS."""
        if not self.tls:
            return None
        d = self._certs()
        if not (d / f"user-{name}.pem").exists():
            issue_user(d, name, role)
        return ClientTls(
            str(d / "ca.pem"), str(d / f"user-{name}.pem"), str(d / f"user-{name}-key.pem")
        )

    def satellite_tls_args(self, name: str) -> list[str]:
        if not self.tls:
            return []
        d = self._certs()
        if not (d / f"satellite-{name}.pem").exists():
            issue_satellite(d, name)
        return [
            "--tls-ca",
            str(d / "ca.pem"),
            "--tls-cert",
            str(d / f"satellite-{name}.pem"),
            "--tls-key",
            str(d / f"satellite-{name}-key.pem"),
        ]

    def start(self) -> LocalCluster:
        self.start_scheduler()
        if self.agents_per_process > 1:
            n = self.agents_per_process
            for first in range(0, len(self.satellites), n):
                self.start_fleet(self.satellites[first : first + n])
        else:
            for name in self.satellites:
                self.start_agent(name)
        return self

    def start_fleet(self, names: tuple[str, ...]) -> None:
        """One agent process for several satellites (agents/fleet.py); each satellite keeps
        its own stream and identity (its own certificate under TLS)."""
        cmd = [
            sys.executable,
            "-m",
            "agents.agent",
            "--satellites",
            ",".join(names),
            "--scheduler",
            self.address,
        ]
        if self.tls:
            for name in names:
                self.satellite_tls_args(name)  # issues the certificate if missing
            d = self._certs()
            cmd += ["--tls-ca", str(d / "ca.pem"), "--tls-cert-dir", str(d)]
        if self.metrics:
            port = free_port()
            for name in names:
                self.agent_metrics_ports[name] = port
            cmd += ["--metrics-port", str(port)]
        log = self._log(f"agents-{names[0]}")
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=_env())
        for name in names:
            self.agents[name] = proc

    def start_scheduler(self, port: int | None = None) -> None:
        """Start (or restart, on the same database and address) the scheduler."""
        if port is None:
            port = int(self.address.rpartition(":")[2]) if self.address else free_port()
        if self.metrics and self.scheduler_metrics_port is None:
            self.scheduler_metrics_port = self.metrics_port or free_port()
        cmd = [
            sys.executable,
            "-m",
            "scheduler.server.main",
            "--listen",
            f"127.0.0.1:{port}",
            "--db",
            str(self.db),
            "--speed",
            str(self.speed),
            "--link-model",
            self.link_model,
            "--satellites",
            str(len(self.satellites)),
            *self.scheduler_args,
        ]
        if self.scenario:
            cmd += ["--scenario", self.scenario]
        if self.tls:
            d = self._certs()
            cmd += [
                "--tls-cert",
                str(d / "scheduler.pem"),
                "--tls-key",
                str(d / "scheduler-key.pem"),
                "--tls-client-ca",
                str(d / "ca.pem"),
            ]
        if self.scheduler_metrics_port is not None:
            cmd += ["--metrics-port", str(self.scheduler_metrics_port)]
        log = self._log("scheduler")
        for attempt in range(3):  # a restart may find its ports not yet released
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=_env())
            self.scheduler_proc = proc
            try:
                line = _wait_for_line(proc, "listening on", log)
            except UserError:
                if proc.stdout is not None:
                    proc.stdout.close()
                if attempt == 2 or proc.poll() is None:
                    raise
                time.sleep(0.5)
                continue
            self.address = f"127.0.0.1:{line.split(':')[-1]}"
            return

    def start_agent(self, name: str) -> None:
        cmd = [
            sys.executable,
            "-m",
            "agents.agent",
            "--satellite",
            name,
            "--scheduler",
            self.address,
            *self.satellite_tls_args(name),
        ]
        if self.metrics:
            port = self.agent_metrics_ports.setdefault(name, free_port())
            cmd += ["--metrics-port", str(port)]
        log = self._log(f"agent-{name}")
        self.agents[name] = subprocess.Popen(cmd, stdout=log, stderr=log, env=_env())

    def kill_agent(self, name: str) -> None:
        """SIGKILL an agent (a satellite that is gone; in a fleet, its whole process)."""
        proc = self.agents.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def kill_scheduler(self) -> None:
        assert self.scheduler_proc is not None
        self.scheduler_proc.send_signal(signal.SIGKILL)
        self.scheduler_proc.wait()
        if self.scheduler_proc.stdout is not None:
            self.scheduler_proc.stdout.close()
        self.scheduler_proc = None

    def alive(self) -> bool:
        procs = [self.scheduler_proc, *self.agents.values()]
        return all(p is not None and p.poll() is None for p in procs)

    def stop(self, timeout_s: float = 5.0) -> None:
        unique = {id(p): p for p in (*self.agents.values(), self.scheduler_proc) if p is not None}
        procs = list(unique.values())
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout_s
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout is not None:
                p.stdout.close()
        self.agents.clear()
        self.scheduler_proc = None
        for f in self._logs:
            with contextlib.suppress(OSError):
                f.close()
        self._logs.clear()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    for name in ("ORBIT_TLS_CA", "ORBIT_TLS_CERT", "ORBIT_TLS_KEY"):  # the cluster decides
        env.pop(name, None)
    return launcher_env(env)  # every process it starts dies with this one


def _wait_for_line(proc: subprocess.Popen[bytes], marker: str, log: IO[bytes]) -> str:
    """Read the process's stdout until a line containing marker; copy lines to the log."""
    assert proc.stdout is not None
    deadline = time.time() + READY_TIMEOUT_S
    buf = b""
    while time.time() < deadline:
        if proc.poll() is not None:
            raise UserError(f"scheduler exited with status {proc.returncode}; see {log.name}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        buf += chunk
        log.write(chunk)
        log.flush()
        for line in buf.decode(errors="replace").splitlines():
            if marker in line:
                return line.strip()
    raise UserError(f"scheduler did not start within {READY_TIMEOUT_S:.0f} s; see {log.name}")
