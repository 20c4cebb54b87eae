"""The container engine of this machine (podman, else docker) and how to call it.

Podman on a kernel like this one needs a containers.conf (runc, cgroupfs, file events, and
ulimits within the host's hard limits, else `error setting rlimit`). It is written to the
project's build/testbed/ and passed through CONTAINERS_CONF, never to the user's home or
/etc, unless the user set CONTAINERS_CONF already.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scheduler.errors import UserError

REPO = Path(__file__).resolve().parent.parent.parent
STATE_DIR = REPO / "build" / "testbed"
INSTALL_HINT = "install podman: apt-get install podman buildah runc podman-compose debootstrap"
NPROC_LIMIT = 32768


def containers_conf_text() -> str:
    """containers.conf for podman here: ulimits no higher than this host's hard limits."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else nofile
    nproc = NPROC_LIMIT if nproc == resource.RLIM_INFINITY else min(nproc, NPROC_LIMIT)
    return (
        "# Written by orbitctl testbed (scheduler/testbed/engine.py); used via CONTAINERS_CONF.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "\n[engine]\n"
        "# crun fails on hybrid-cgroup kernels; systemd is not PID 1 in such machines.\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )


def write_containers_conf(path: Path | None = None) -> Path:
    path = path or STATE_DIR / "containers.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = containers_conf_text()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


@dataclass(frozen=True)
class Engine:
    """A container CLI (podman or docker) and the environment to call it with."""

    binary: str
    env: dict[str, str]

    @property
    def name(self) -> str:
        return Path(self.binary).name

    def run(
        self, *args: str, check: bool = True, timeout_s: float = 600.0
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.binary, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if check and proc.returncode != 0:
            err = _without_noise(proc.stderr).strip() or proc.stdout.strip()
            raise UserError(f"{self.name} {' '.join(args[:2])} failed: {err[-2000:]}")
        return proc

    def stream(self, *args: str, timeout_s: float = 1800.0) -> None:
        """Run with output on the terminal (long builds)."""
        proc = subprocess.run([self.binary, *args], env=self.env, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            raise UserError(f"{self.name} {' '.join(args[:2])} failed (status {proc.returncode})")

    def image_exists(self, ref: str) -> bool:
        if self.name == "podman":
            return self.run("image", "exists", ref, check=False).returncode == 0
        return self.run("image", "inspect", ref, check=False).returncode == 0


def _without_noise(stderr: str) -> str:
    # podman logs this on machines without a syslog daemon; it is harmless.
    return "\n".join(
        line for line in stderr.splitlines() if "failed to connect to syslog" not in line
    )


def find_engine() -> Engine:
    """podman (with the containers.conf above), else a docker whose daemon answers.
    ORBIT_CONTAINER_ENGINE=podman|docker chooses."""
    env = dict(os.environ)
    wanted = env.get("ORBIT_CONTAINER_ENGINE", "")
    if wanted not in ("", "podman", "docker"):
        raise UserError("ORBIT_CONTAINER_ENGINE: expected podman or docker")
    podman = shutil.which("podman") if wanted in ("", "podman") else None
    if podman:
        env.setdefault("CONTAINERS_CONF", str(write_containers_conf()))
        return Engine(podman, env)
    docker = shutil.which("docker") if wanted in ("", "docker") else None
    if docker:
        ok = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
        if ok.returncode == 0:
            return Engine(docker, env)
        raise UserError(f"docker is installed but its daemon does not answer; {INSTALL_HINT}")
    raise UserError(f"no container engine found; {INSTALL_HINT}")


def engine_problem() -> str | None:
    """Why containers cannot run here (None when they can): for tests that skip."""
    try:
        engine = find_engine()
    except UserError as exc:
        return str(exc)
    probe = engine.run("info", check=False, timeout_s=60)
    if probe.returncode != 0:
        return f"{engine.name} info failed: {_without_noise(probe.stderr).strip()[-500:]}"
    return None
