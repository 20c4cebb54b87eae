"""Control-plane benchmark: many agents' streams, batch submissions, plan delivery.

    python bench/control_plane.py [--agents 1000] [--seconds 20] [--batches 5] [--batch 10000]
                                  [--tls both|on|off]

Starts a real scheduler process (starlink-shell1 scenario cut to --agents satellites, speed
1, greedy policy) and, from separate load processes (asyncio, --processes), opens one
AgentService stream per satellite that says hello and sends 1 Hz telemetry. Measures:
  * the scheduler's CPU use (from /proc) while it serves the streams, in cores;
  * job submissions per second through SubmitJobs (batches of --batch);
  * plan delivery after a solve: the agents' receive time minus the plan's wall_queued_s
    for a plan pushed to every connected agent (triggered by ClusterService.Replan).
With --tls both (the default) it runs everything twice in the same invocation, plaintext
and then mutual TLS (a throwaway CA; each agent stream on its own TLS connection with its
satellite's certificate, submissions and replans as an operator), and prints the ratios.
Not a test: prints figures.

Cost of mutual TLS, measured 2026-11-30 (defaults, both modes in one run; the machine shared
with other work, load average 5-7, so noisy): connecting 1,000 agents 2.1 -> 6.0 s (each mTLS
agent has its own TLS connection, the plaintext ones share 4), scheduler CPU 0.19 -> 0.27
cores, SubmitJobs median 18,400 -> 11,700 jobs/s (x0.63), plan delivery p50 2.2 -> 3.6 ms
and p99 13 -> 63 ms (x4.7).

Measured on the 2-core development machine (scheduler, solver worker and the load processes
sharing the two cores), defaults (1,000 agents over 2 load processes, 20 s, 5 batches of
10,000):
  all 1,000 connected in 3.4-4.7 s; telemetry 998-1,000 messages/s;
  scheduler CPU 0.15-0.18 cores (target: under half a core);
  SubmitJobs 15,000-19,000 jobs/s median over the batches (first batch 6,600-8,700/s);
  plan delivery after a solve to 1,000 connected agents: p50 4.6 ms, p99 22 ms (target
  100 ms). With a single load process the tail is that process itself: p99 116-127 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
from orbitalsched.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    cluster_pb2,
    cluster_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)

from scheduler.cluster.local import LocalCluster
from scheduler.scenario import load_scenario
from scheduler.security.tls import ClientTls

TICKS_PER_S = 100  # /proc/<pid>/stat clock ticks (os.sysconf("SC_CLK_TCK") on Linux)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


class LoadAgent:
    """One simulated agent: hello, 1 Hz telemetry, acks plans (one writer per stream)."""

    def __init__(self, name: str, deliveries: list[float]) -> None:
        self.name = name
        self.deliveries = deliveries
        self.connected = asyncio.Event()
        self.sent = 0
        self.outbox: asyncio.Queue[agent_pb2.AgentMessage] = asyncio.Queue()

    async def run(self, channel: grpc.aio.Channel, stop: asyncio.Event) -> None:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        call = stub.Connect()
        self.outbox.put_nowait(
            agent_pb2.AgentMessage(
                hello=agent_pb2.Hello(
                    satellite_id=self.name, boot_id="bench", agent_version="bench"
                )
            )
        )
        tasks = [asyncio.create_task(self._read(call)), asyncio.create_task(self._write(call))]
        tel = agent_pb2.Telemetry(
            battery_soc_wh=1800,
            battery_capacity_wh=2200,
            temperature_c=30,
            power_generated_w=3000,
            power_drawn_w=400,
            sunlit_fraction=1.0,
        )
        await asyncio.sleep(1.0 * (hash(self.name) % 1000) / 1000)  # spread the 1 Hz ticks
        while not stop.is_set():
            tel.time_s = time.time()
            self.outbox.put_nowait(agent_pb2.AgentMessage(telemetry=tel))
            self.sent += 1
            await asyncio.sleep(1.0)
        call.cancel()
        for task in tasks:
            task.cancel()

    async def _write(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            await call.write(await self.outbox.get())

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        async for msg in call:
            if msg.HasField("welcome"):
                self.connected.set()
            elif msg.HasField("plan") and msg.plan.wall_queued_s:
                self.deliveries.append(time.time() - msg.plan.wall_queued_s)
                self.outbox.put_nowait(
                    agent_pb2.AgentMessage(
                        plan_ack=agent_pb2.PlanAck(
                            plan_version=msg.plan.plan_version, accepted=True
                        )
                    )
                )


async def _load(address: str, names: tuple[str, ...], conn: Connection, certs: str | None) -> None:
    """One load process: a stream per agent; answers the orchestrator's commands. With
    certs (a directory of satellite certificates), each agent has its own TLS connection."""
    deliveries: list[float] = []
    agents = [LoadAgent(n, deliveries) for n in names]
    stop = asyncio.Event()
    if certs is None:
        channels = [grpc.aio.insecure_channel(address) for _ in range(4)]
    else:
        d = Path(certs)
        ca = (d / "ca.pem").read_bytes()
        channels = [
            grpc.aio.secure_channel(
                address,
                grpc.ssl_channel_credentials(
                    ca,
                    (d / f"satellite-{n}-key.pem").read_bytes(),
                    (d / f"satellite-{n}.pem").read_bytes(),
                ),
            )
            for n in names
        ]
    tasks = [
        asyncio.create_task(a.run(channels[i % len(channels)], stop)) for i, a in enumerate(agents)
    ]
    await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 120)
    loop = asyncio.get_running_loop()
    conn.send("connected")
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "sent":
            conn.send(sum(a.sent for a in agents))
        elif command == "reset":
            deliveries.clear()
            conn.send(True)
        elif command == "stop":
            stop.set()
            conn.send(list(deliveries))
            break
    await asyncio.gather(*tasks, return_exceptions=True)
    for ch in channels:
        await ch.close(None)


def load_process(address: str, names: tuple[str, ...], conn: Connection, certs: str | None) -> None:
    asyncio.run(_load(address, names, conn, certs))


def _channel(address: str, tls: ClientTls | None) -> grpc.Channel:
    options = [("grpc.max_send_message_length", 64 << 20)]
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, tls.credentials(), options=options)


def streams_phase(
    address: str,
    names: tuple[str, ...],
    seconds: float,
    pid: int,
    processes: int,
    certs: str | None = None,
    tls: ClientTls | None = None,
) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    pipes = []
    procs = []
    t0 = time.time()
    for k in range(processes):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=load_process, args=(address, names[k::processes], child, certs))
        proc.start()
        pipes.append(parent)
        procs.append(proc)

    def ask(command: str) -> list[object]:
        for p in pipes:
            p.send(command)
        return [p.recv() for p in pipes]

    try:
        for p in pipes:
            if not p.poll(180):
                raise RuntimeError("load processes did not connect")
            assert p.recv() == "connected"
        connect_s = time.time() - t0
        time.sleep(3.0)  # settle
        sent0 = sum(int(x) for x in ask("sent"))  # type: ignore[call-overload]
        cpu0, w0 = cpu_seconds(pid), time.time()
        time.sleep(seconds)
        cpu1, w1 = cpu_seconds(pid), time.time()
        sent1 = sum(int(x) for x in ask("sent"))  # type: ignore[call-overload]
        # Plan delivery: each replan pushes a new plan version to every connected agent.
        ask("reset")
        channel = _channel(address, tls)
        stub = cluster_pb2_grpc.ClusterServiceStub(channel)
        for _ in range(3):
            stub.Replan(cluster_pb2.ReplanRequest(reason="bench"), timeout=120)
            time.sleep(1.5)
        channel.close()
        d = sorted(v for part in ask("stop") for v in part)  # type: ignore[attr-defined]
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return {
        "agents": len(names),
        "load_processes": processes,
        "connect_all_s": connect_s,
        "telemetry_per_s": (sent1 - sent0) / (w1 - w0),
        "scheduler_cores": (cpu1 - cpu0) / (w1 - w0),
        "plans_delivered": len(d),
        "delivery_p50_ms": 1000 * statistics.median(d) if d else float("nan"),
        "delivery_p99_ms": 1000 * d[min(len(d) - 1, int(0.99 * len(d)))] if d else float("nan"),
    }


def submit_phase(
    address: str, batches: int, batch: int, tls: ClientTls | None = None
) -> dict[str, float]:
    channel = _channel(address, tls)
    stub = jobs_pb2_grpc.JobServiceStub(channel)
    rates = []
    for b in range(batches):
        specs = [
            jobs_pb2.JobSpec(
                job_id=f"bench-{b}-{i}",
                kind=jobs_pb2.JOB_KIND_INFERENCE,
                work_accelerator_s=600,
                accelerators=1,
                output_mb=50,
            )
            for i in range(batch)
        ]
        req = jobs_pb2.SubmitJobsRequest(jobs=specs)
        t0 = time.perf_counter()
        resp = stub.SubmitJobs(req, timeout=120)
        dt = time.perf_counter() - t0
        assert len(resp.job_ids) == batch
        rates.append(batch / dt)
    channel.close()
    return {
        "batch": batch,
        "batches": batches,
        "submissions_per_s_median": statistics.median(rates),
        "submissions_per_s_min": min(rates),
    }


def run_once(args: argparse.Namespace, names: tuple[str, ...], tls: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as tmp:
        cluster = LocalCluster(
            satellites=names,
            workdir=Path(tmp),
            scenario="starlink-shell1",
            speed=1.0,
            metrics=True,
            tls=tls,
            scheduler_args=(
                "--policy",
                "greedy",
                "--agent-timeout",
                "30",
                "--replan-interval",
                "3600",
                "--plan-max-jobs",
                "500",
                "--log-level",
                "WARNING",
            ),
        )
        with cluster:
            cluster.start_scheduler()
            assert cluster.scheduler_proc is not None
            pid = cluster.scheduler_proc.pid
            op = cluster.user_tls()
            certs = None
            if tls:
                for n in names:  # issue every satellite's certificate before the clock starts
                    cluster.satellite_tls_args(n)
                certs = str(cluster.certs_dir)
            label = "mTLS" if tls else "plain"
            streams = streams_phase(
                cluster.address, names, args.seconds, pid, args.processes, certs, op
            )
            for k, v in streams.items():
                print(f"{label:5s} streams  {k:24s} {v:12.2f}", flush=True)
            subs = submit_phase(cluster.address, args.batches, args.batch, op)
            for k, v in subs.items():
                print(f"{label:5s} submit   {k:24s} {v:12.2f}", flush=True)
    return {**streams, **subs}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--processes", type=int, default=2, help="load processes for the streams")
    p.add_argument(
        "--tls",
        choices=("both", "on", "off"),
        default="both",
        help="plaintext, mutual TLS, or both in one run (default) to compare",
    )
    args = p.parse_args(argv)
    names = load_scenario("starlink-shell1").constellation.names[: args.agents]
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.tls]
    results = {tls: run_once(args, names, tls) for tls in modes}
    if len(results) == 2:
        plain, mtls = results[False], results[True]
        print("cost of mutual TLS (mTLS / plaintext, same run):")
        for key in (
            "connect_all_s",
            "scheduler_cores",
            "submissions_per_s_median",
            "delivery_p50_ms",
            "delivery_p99_ms",
        ):
            ratio = mtls[key] / plain[key] if plain[key] else float("nan")
            print(f"  {key:26s} {plain[key]:10.2f} -> {mtls[key]:10.2f}  x{ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
