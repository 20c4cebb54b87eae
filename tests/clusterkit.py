"""Helpers of the integration tests: a real local cluster and a real Prometheus on loopback
with free ports, always stopped; Debian tools that must exist under CI; polling with a
deadline."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from orbitalsched.v1 import jobs_pb2

from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster, free_port
from scheduler.scenario import load_scenario

T = TypeVar("T")
NAMES = load_scenario(None).constellation.names


def wait_for(pred: Callable[[], T], timeout_s: float, what: str, every_s: float = 0.2) -> T:
    deadline = time.time() + timeout_s
    last: T = pred()
    while not last:
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)
        last = pred()
    return last


@contextmanager
def running_cluster(
    workdir: Path,
    n: int = 3,
    speed: float = 120.0,
    link_model: str = "always",
    extra: tuple[str, ...] = (),
    agents: bool | tuple[str, ...] = True,
    tls: bool = False,
) -> Iterator[tuple[LocalCluster, Client]]:
    """A scheduler (solver in a worker process) and n agents (or only the named ones);
    stopped whatever happens. Agents start before this process opens its own gRPC channel:
    forking a process whose grpc threads run can leave the child hung before its exec."""
    cluster = LocalCluster(
        satellites=NAMES[:n],
        workdir=workdir,
        speed=speed,
        link_model=link_model,
        scheduler_args=("--solve-time-limit", "2", "--agent-timeout", "1.5", *extra),
        tls=tls,
    )
    client: Client | None = None
    try:
        cluster.start_scheduler()
        names = cluster.satellites if agents is True else agents or ()
        for name in names:
            cluster.start_agent(name)
        client = Client(cluster.address, timeout_s=20.0, tls=cluster.user_tls())
        yield cluster, client
    except BaseException:
        _print_logs(workdir)  # shown by pytest with the failure
        raise
    finally:
        if client is not None:
            client.close()
        cluster.stop()


def _print_logs(workdir: Path, lines: int = 40) -> None:
    for log in sorted(workdir.glob("*.log")):
        text = log.read_text(errors="replace").splitlines()
        print(f"--- {log.name} (last {lines} lines)")
        print("\n".join(text[-lines:]))


def job_state(client: Client, job_id: str) -> int:
    return client.call(client.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id)).job.state


def all_connected(client: Client) -> bool:
    return all(s.connected for s in client.satellites().satellites)


def need(binary: str, package: str = "prometheus") -> str:
    """Path of a Debian tool; skip with an install hint without it, but fail under CI."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} not found: install it with `apt-get install {package}` (Debian)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


@contextmanager
def running_prometheus(config_text: str, workdir: Path) -> Iterator[int]:
    """A real Prometheus on 127.0.0.1 with this configuration; yields its port and always
    stops it. (A new scrape target shows up only after its 5 s target sync.)"""
    binary = need("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(config_text)
    port = free_port()
    with (workdir / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
        )
        try:
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
