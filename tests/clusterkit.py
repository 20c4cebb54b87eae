"""Helpers of the integration tests: a real local cluster on loopback with free ports,
always stopped, and polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from orbitalsched.v1 import jobs_pb2

from scheduler.client import Client
from scheduler.localcluster import LocalCluster
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
    agents: bool = True,
) -> Iterator[tuple[LocalCluster, Client]]:
    """A scheduler (solver in a worker process) and n agents; stopped whatever happens."""
    cluster = LocalCluster(
        satellites=NAMES[:n],
        workdir=workdir,
        speed=speed,
        link_model=link_model,
        scheduler_args=("--solve-time-limit", "2", "--agent-timeout", "1.5", *extra),
    )
    client: Client | None = None
    try:
        cluster.start_scheduler()
        if agents:
            for name in cluster.satellites:
                cluster.start_agent(name)
        client = Client(cluster.address, timeout_s=20.0)
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
