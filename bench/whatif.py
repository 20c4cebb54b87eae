"""Benchmark: what-if latency on the default scenario under load (a script, not a test).

A real scheduler process (all 30 satellites of the default scenario, solver in its worker
process, --solve-time-limit S) with the first --agents agents running, a batch of --jobs
jobs (scheduler.sim.workload.batch_workload) and periodic replanning every simulated
minute at 60x (a solve every second of wall time at most: the loop is always busy). Then
WhatIf over gRPC, --repeat times each: one satellite lost, one station down for the
horizon, 20 jobs submitted; the wall time of each call (client side) and the scheduler's
own solve durations meanwhile (orbital_solve_duration_seconds, scraped).

    nice .venv/bin/python bench/whatif.py
    nice .venv/bin/python bench/whatif.py --jobs 300 --agents 10 --repeat 3

The machine is shared (2 cores): figures measured while others run are noisy.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from orbitalsched.v1 import cluster_pb2

from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster
from scheduler.scenario import load_scenario
from scheduler.server.convert import spec_to_pb
from scheduler.sim.workload import batch_workload


def _solve_stats(port: int) -> tuple[float, float]:
    """(count, sum) of the scheduler's solve durations so far."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    count = sum(
        float(m) for m in re.findall(r"^orbital_solve_duration_seconds_count\S* (\S+)$", text, re.M)
    )
    total = sum(
        float(m) for m in re.findall(r"^orbital_solve_duration_seconds_sum\S* (\S+)$", text, re.M)
    )
    return count, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=5.0)
    args = parser.parse_args(argv)
    names = load_scenario(None).constellation.names
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(
            satellites=names,
            workdir=Path(tmp),
            speed=60.0,
            scheduler_args=("--solve-time-limit", str(args.time_limit), "--replan-interval", "60"),
        )
        try:
            cluster.start_scheduler()
            for name in names[: args.agents]:
                cluster.start_agent(name)
            client = Client(cluster.address, timeout_s=120.0, tls=cluster.user_tls())
            now = client.now_s()
            specs = [spec_to_pb(s) for s in batch_workload(args.jobs, now, seed=1)]
            for i in range(0, len(specs), 500):
                client.submit(specs[i : i + 500])
            deadline = time.time() + 120
            while client.plan().plan_version < 1 and time.time() < deadline:
                time.sleep(0.5)
            hypotheses = {
                "satellite lost": cluster_pb2.WhatIfRequest(satellites_lost=[names[0]]),
                "station down": cluster_pb2.WhatIfRequest(
                    stations_down=[cluster_pb2.StationOutage(station="wallops")]
                ),
                "20 jobs submitted": cluster_pb2.WhatIfRequest(),  # filled in at each call
            }
            count0, sum0 = _solve_stats(cluster.scheduler_metrics_port or 0)
            latencies: dict[str, list[float]] = {k: [] for k in hypotheses}
            changes: dict[str, int] = {}
            for _ in range(args.repeat):
                for label, request in hypotheses.items():
                    if label == "20 jobs submitted":  # deadlines from the clock of now
                        fresh = batch_workload(20, client.now_s(), seed=99, prefix="whatif")
                        request = cluster_pb2.WhatIfRequest(submit=[spec_to_pb(s) for s in fresh])
                    t0 = time.perf_counter()
                    resp = client.call(client.cluster.WhatIf, request)
                    latencies[label].append(time.perf_counter() - t0)
                    changes[label] = len(resp.changes)
            count1, sum1 = _solve_stats(cluster.scheduler_metrics_port or 0)
            client.close()
        finally:
            cluster.stop()
    every = [x for v in latencies.values() for x in v]
    print(
        f"what-if on the default scenario (30 satellites, {args.agents} agents, {args.jobs} jobs, "
        f"solver time limit {args.time_limit:g} s, replanning every simulated minute):"
    )
    for label, xs in latencies.items():
        print(
            f"  {label}: median {statistics.median(xs):.2f} s, max {max(xs):.2f} s "
            f"({changes[label]} job changes)"
        )
    print(f"  all: median {statistics.median(every):.2f} s, max {max(every):.2f} s")
    solves = count1 - count0
    if solves:
        print(
            f"  meanwhile the loop made {solves:.0f} plans, "
            f"mean solve {(sum1 - sum0) / solves:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
