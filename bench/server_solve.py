"""The server's own solve at constellation size: a real `orbit-scheduler` on a generated
Walker shell (bench/streams.py's shells: 1,584 = 72 x 22, 10,000 = 100 x 100, with
starlink-shell1's bus and stations), no agents, greedy, contacts link model.

    .venv/bin/python bench/server_solve.py [--satellites 1584,10000] [--jobs 5000]
                                           [--replans 6] [--speed 600] [--gap-s 15]
                                           [--time-limit 10]

Per size, one fresh scheduler: the startup solve, then --jobs fresh inference jobs and
--replans rounds of Replan, --gap-s wall seconds apart. At --speed 600 the simulated clock
runs 10 minutes a wall second, so the rounds cross the solver's forecast book (4 horizons
of 3 h) and the world's 6 h contact chunks. Per solve it prints:
  * the Replan RPC's wall time (request to plan adopted and sent) against the time limit;
  * the scheduler's own log line of the solve: solve wall and the forecast seconds;
  * event-loop stalls: a thread calls GetJob (a cheap RPC) every 20 ms throughout; the
    slowest call during the solve and the calls over 100 ms. Between solves too. Stalls
    have many causes (adopting a plan writes every job it moves); the scheduler logs the
    times its world computed contacts on the event loop for over 0.1 s, counted at the end
    (the code before these were computed ahead logs nothing: its recomputation of every
    contact happened on each extension).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleetkit import cpu_s, rss_mb  # noqa: E402
from orbitalsched.v1 import cluster_pb2, jobs_pb2  # noqa: E402
from streams import scenario_file  # noqa: E402

from scheduler.cluster.client import Client  # noqa: E402
from scheduler.cluster.local import LocalCluster  # noqa: E402
from scheduler.errors import UserError  # noqa: E402
from scheduler.scenario import load_scenario  # noqa: E402

CONTACTS_LINE = re.compile(r"contacts to \d+ s computed in ([\d.]+) s")
PLAN_LINE = re.compile(r"plan v(\d+) \((.*?)\): .* ([\d.]+) s \(forecast ([\d.]+) s\)")


class Prober(threading.Thread):
    """GetJob every period_s; (wall start, latency) of each call."""

    def __init__(self, address: str, job_id: str, period_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.client = Client(address, timeout_s=120.0)
        self.job_id, self.period_s = job_id, period_s
        self.samples: list[tuple[float, float]] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        req = jobs_pb2.GetJobRequest(job_id=self.job_id)
        while not self.stop_flag.is_set():
            t = time.time()
            try:
                self.client.call(self.client.jobs.GetJob, req)
            except UserError as e:  # DEADLINE_EXCEEDED: a stall of 120 s or more
                print(f"GetJob failed after {time.time() - t:.1f} s: {e}", flush=True)
            self.samples.append((t, time.time() - t))
            time.sleep(self.period_s)
        self.client.close()

    def between(self, t0: float, t1: float) -> list[float]:
        return [d for t, d in list(self.samples) if t0 <= t < t1]


def plan_lines(log: Path) -> dict[int, tuple[str, float, float]]:
    out = {}
    for line in log.read_text().splitlines():
        m = PLAN_LINE.search(line)
        if m:
            out[int(m.group(1))] = (m.group(2), float(m.group(3)), float(m.group(4)))
    return out


def stall_text(lat: list[float]) -> str:
    if not lat:
        return "no probes"
    over = sum(d > 0.1 for d in lat)
    return (
        f"GetJob p50 {1000 * statistics.median(lat):.0f} ms, max {1000 * max(lat):.0f} ms, "
        f"{over} of {len(lat)} over 100 ms"
    )


def run(args: argparse.Namespace, n: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-server-solve-"))
    scenario = scenario_file(n, workdir / f"walker-{n}.toml")
    names = load_scenario(str(scenario)).constellation.names
    cluster = LocalCluster(
        satellites=names,
        workdir=workdir,
        scenario=str(scenario),
        speed=args.speed,
        link_model="contacts",
        scheduler_args=(
            "--policy", "greedy",
            "--solve-time-limit", str(args.time_limit),
            "--agent-timeout", "60",
            "--replan-interval", "86400",
            "--log-level", "INFO",
        ),
    )  # fmt: skip
    label = f"{n} sats"
    log = workdir / "scheduler.log"
    client: Client | None = None
    prober: Prober | None = None
    try:
        t0 = time.time()
        cluster.start_scheduler()
        assert cluster.scheduler_proc is not None
        pid = cluster.scheduler_proc.pid
        client = Client(cluster.address, timeout_s=600.0)
        ids = client.submit(
            [jobs_pb2.JobSpec(job_id="probe", kind=jobs_pb2.JOB_KIND_INFERENCE,
                              work_accelerator_s=60.0, accelerators=1)],
            request_id="probe",
        )  # fmt: skip
        prober = Prober(cluster.address, ids[0])
        prober.start()
        # The startup solve (asked for at once: with no agents the scheduler would wait out
        # its start-up grace, 2 x --agent-timeout).
        resp = client.call(client.cluster.Replan, cluster_pb2.ReplanRequest(reason="startup"))
        _, wall, fc = plan_lines(log)[resp.plan.plan_version]
        print(f"[{label}] startup solve: {wall:.1f} s (forecast {fc:.1f} s), plan "
              f"{time.time() - t0:.1f} s after the scheduler started; limit "
              f"{args.time_limit:g} s; {stall_text(prober.between(t0, time.time()))}",
              flush=True)  # fmt: skip
        now = client.now_s()
        specs = [
            jobs_pb2.JobSpec(
                job_id=f"j{i}", kind=jobs_pb2.JOB_KIND_INFERENCE,
                work_accelerator_s=1200.0 + 60.0 * (i % 40), accelerators=1 + i % 4,
                output_mb=10.0, priority=1 + i % 3, deadline_s=now + 24 * 3600.0,
            )
            for i in range(args.jobs)
        ]  # fmt: skip
        for b in range(0, len(specs), 5000):
            client.submit(specs[b : b + 5000], request_id=f"bench-{b}")
        walls: list[float] = []
        last_end = time.time()
        for r in range(args.replans):
            time.sleep(args.gap_s)
            between = prober.between(last_end, time.time())
            sim0 = client.now_s()
            t = time.time()
            resp = client.call(
                client.cluster.Replan, cluster_pb2.ReplanRequest(reason=f"bench {r}")
            )
            t1 = time.time()
            rpc_s = t1 - t
            v = resp.plan.plan_version
            _, wall, fc = plan_lines(log).get(v, ("?", float("nan"), float("nan")))
            if r > 0:
                walls.append(rpc_s)
            print(f"[{label}] replan {r + 1} (sim +{(sim0 - now) / 3600.0:.1f} h): plan v{v}, "
                  f"Replan RPC {rpc_s:.1f} s, solve {wall:.1f} s (forecast {fc:.2f} s), "
                  f"limit {args.time_limit:g} s, {len(resp.plan.assignments)} jobs placed; "
                  f"during: {stall_text(prober.between(t, t1))}; before it: "
                  f"{stall_text(between)}", flush=True)  # fmt: skip
            last_end = t1
        solves = plan_lines(log)
        later = [w for v, (_, w, _) in solves.items() if v > 1]
        print(f"[{label}] all {len(solves)} solves (Replan's and those jobs triggered): "
              f"solve wall after the first max {max(later, default=0):.1f} s; forecast s "
              f"{', '.join(f'{f:.2f}' for _, _, f in solves.values())}", flush=True)  # fmt: skip
        waits = [float(m) for m in CONTACTS_LINE.findall(log.read_text())]
        print(f"[{label}] contacts computed on the event loop over 0.1 s: {len(waits)} times"
              f"{f', max {max(waits):.2f} s' if waits else ''}", flush=True)  # fmt: skip
        print(f"[{label}] Replan RPC after the first: max {max(walls, default=0):.1f} s, "
              f"median {statistics.median(walls) if walls else float('nan'):.1f} s; "
              f"scheduler CPU {cpu_s(pid):.0f} s, RSS {rss_mb(pid):.0f} MB; whole run: "
              f"{stall_text(prober.between(0, time.time()))}", flush=True)  # fmt: skip
        stalls = ", ".join(f"{t - t0:.1f}: {1000 * d:.0f}" for t, d in prober.samples if d > 0.1)
        print(f"[{label}] calls over 100 ms (s after start: ms): {stalls}", flush=True)
    finally:
        if prober is not None:
            prober.stop_flag.set()
            prober.join(timeout=30)
        if client is not None:
            client.close()
        cluster.stop(timeout_s=30.0)
        print(f"[{label}] logs: {workdir}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--satellites", default="1584,10000")
    p.add_argument("--jobs", type=int, default=5000)
    p.add_argument("--replans", type=int, default=6)
    p.add_argument("--speed", type=float, default=600.0)
    p.add_argument("--gap-s", type=float, default=15.0)
    p.add_argument("--time-limit", type=float, default=10.0)
    args = p.parse_args()
    for n in (int(x) for x in args.satellites.split(",")):
        run(args, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
