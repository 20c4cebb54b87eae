"""Many satellite agents in one process: `orbit-agent --satellites ID,ID,...` or
`orbit-agent --all [--shard K/N]`.

One event loop runs one `Agent` per satellite, each exactly as `orbit-agent --satellite`
runs it: its own stream to the scheduler, executor and truth model, lease, report buffer,
metrics label and reconnect backoff. A satellite the scheduler refuses stops alone; the
others go on. One process per satellite does not fit a 1,584-satellite shell on one
machine; a few processes of a few hundred satellites do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence

import grpc
from orbitalsched.v1 import cluster_pb2, cluster_pb2_grpc
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from agents import agent as single
from agents.metrics import AgentMetrics

log = logging.getLogger("orbit-agent")
# Executor ticks of a fleet: every agent steps its truth model once per tick, so the tick
# grows with the fleet (a 60x clock moves 6 simulated seconds per 0.1 s tick), up to what
# each agent allows once it knows the clock (Agent.tick_s: its telemetry interval, a third
# of its lease, a simulated minute).
FLEET_TICK_PER_SATELLITE_S = 0.002
FLEET_TICK_MAX_S = 10.0
# Streams of one fleet between Hello and Welcome at once (Agent.connect_gate).
CONNECTING_AT_ONCE = 64
STATUS_EVERY_S = 10.0  # a status line on stdout (status_line)


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' (1 <= K <= N): this process runs every N-th satellite from the K-th."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"--shard: expected K/N such as 2/8, got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard: expected 1 <= K <= N, got {text!r}")
    return k, n


def shard_of(names: Sequence[str], k: int, n: int) -> list[str]:
    return list(names[k - 1 :: n])


def parse_satellites(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise ValueError(f"--satellites: expected ID,ID,... without empty ids, got {text!r}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"--satellites: {', '.join(dup)} given more than once")
    return names


async def list_satellites(
    target: str, credentials: grpc.ChannelCredentials | None, timeout_s: float = 10.0
) -> list[str]:
    """Every satellite the scheduler serves (ClusterService.ListSatellites), in its order."""
    channel = (
        grpc.aio.secure_channel(target, credentials)
        if credentials is not None
        else grpc.aio.insecure_channel(target)
    )
    async with channel:
        stub = cluster_pb2_grpc.ClusterServiceStub(channel)
        resp = await stub.ListSatellites(cluster_pb2.ListSatellitesRequest(), timeout=timeout_s)
    return [s.satellite_id for s in resp.satellites]


class MergedRegistry(Collector):
    """The agents' registries as one: families of the same name merged, so that one
    /metrics endpoint serves every satellite of the process (series told apart by their
    `satellite` label)."""

    def __init__(self, registries: Iterable[CollectorRegistry]) -> None:
        self.registries = list(registries)

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for registry in self.registries:
            for family in registry.collect():
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                into.samples.extend(family.samples)
        yield from merged.values()


def status_line(agents: Sequence[single.Agent]) -> str:
    """One line on the fleet: streams open, agents holding their work, streams opened."""
    up = sum(1 for a in agents if a.outbox is not None)
    paused = sum(1 for a in agents if a.runtime is not None and a.runtime.paused)
    opened = sum(a.streams_opened for a in agents)
    return (
        f"orbit-agent fleet: {up} of {len(agents)} streams open, {paused} paused, "
        f"{opened} streams opened"
    )


async def report_status(agents: Sequence[single.Agent], every_s: float = STATUS_EVERY_S) -> None:
    while True:
        await asyncio.sleep(every_s)
        print(status_line(agents), flush=True)


def fleet_tick_s(n: int) -> float:
    return min(FLEET_TICK_MAX_S, max(single.TICK_WALL_S, FLEET_TICK_PER_SATELLITE_S * n))


async def run_fleet(
    names: Sequence[str],
    target: str,
    credentials_for: Callable[[str], grpc.ChannelCredentials | None],
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> dict[str, str]:
    """Run one Agent per satellite until SIGINT/SIGTERM (or until every one is refused);
    returns why the scheduler refused each refused satellite."""
    agents = [
        single.Agent(name, target, AgentMetrics(name), credentials_for(name)) for name in names
    ]
    tick_s = fleet_tick_s(len(agents))
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    for a in agents:
        a.tick_wall_s = tick_s
        a.connect_gate = gate
    if metrics_port is not None:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(MergedRegistry(a.metrics.registry for a in agents))
        start_http_server(metrics_port, addr=metrics_host, registry=registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"orbit-agent {len(agents)} satellites started (scheduler {target}, tick {tick_s:.2f} s)",
        flush=True,
    )
    tasks = [asyncio.create_task(report_status(agents))]
    for a in agents:
        tasks += [asyncio.create_task(a.execute()), asyncio.create_task(a.connect_forever())]

    async def all_refused() -> None:
        await asyncio.gather(*(a.stopping.wait() for a in agents))

    waiter = asyncio.create_task(all_refused())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for a in agents:
        a.stopping.set()
    for task in [*tasks, waiter, stopper]:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    refused = {a.satellite: a.refused for a in agents if a.refused}
    for name, why in sorted(refused.items()):
        log.error("%s: refused by the scheduler: %s", name, why)
    return refused
