"""A constellation-size live cluster on this machine (a script, not a test).

    .venv/bin/python bench/live_fleet.py [--scenario starlink-shell1] [--agents-per-process 400]
                                         [--hours 6] [--speed 60] [--jobs 3000] [--insecure]

Starts a real scheduler and the agents of every satellite of the scenario, many per process
(`orbit-agent --satellites`, agents/fleet.py), waits until every satellite is connected,
submits --jobs inference jobs (priorities, deadlines over the run, outputs to the ground)
spread over the first half of the run, runs --hours simulated hours at --speed, and prints:
time for every satellite to connect; jobs by state at the end; lost jobs (accepted jobs
the scheduler no longer knows, or that ended in no terminal state while the run had time
for them: counted as submitted minus every job found); the scheduler's average CPU (cores,
from /proc, scheduler process and its solver worker) and the agent processes' CPU.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orbitalsched.v1 import jobs_pb2  # noqa: E402

from scheduler.cluster.client import Client  # noqa: E402
from scheduler.cluster.local import LocalCluster  # noqa: E402
from scheduler.scenario import load_scenario  # noqa: E402

J = jobs_pb2
TICKS_S = os.sysconf("SC_CLK_TCK")
PRIORITIES = [
    J.JOB_PRIORITY_BATCH,
    J.JOB_PRIORITY_STANDARD,
    J.JOB_PRIORITY_STANDARD,
    J.JOB_PRIORITY_CRITICAL,
]


def cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children that were waited for (utime + stime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / TICKS_S


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(p.name))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--scenario", default="starlink-shell1")
    ap.add_argument("--agents-per-process", type=int, default=400)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--solve-time-limit", type=float, default=10.0)
    ap.add_argument(
        "--agent-timeout",
        type=float,
        default=30.0,
        help="scheduler liveness, wall s (3 s flaps with hundreds of satellites per process "
        "on a loaded 2-core machine)",
    )
    ap.add_argument("--insecure", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    names = load_scenario(args.scenario).constellation.names
    workdir = Path(tempfile.mkdtemp(prefix="orbit-live-fleet-"))
    cluster = LocalCluster(
        satellites=tuple(names),
        workdir=workdir,
        scenario=args.scenario,
        speed=args.speed,
        scheduler_args=(
            "--solve-time-limit",
            str(args.solve_time_limit),
            "--agent-timeout",
            str(args.agent_timeout),
        ),
        tls=not args.insecure,
        agents_per_process=args.agents_per_process,
    )
    rng = random.Random(args.seed)
    client: Client | None = None
    try:
        t0 = time.time()
        cluster.start()
        client = Client(cluster.address, timeout_s=60.0, tls=cluster.user_tls())
        while True:
            sats = client.satellites().satellites
            up = sum(1 for s in sats if s.connected)
            if up == len(names):
                break
            if time.time() - t0 > 600:
                print(f"only {up} of {len(names)} connected after 600 s", flush=True)
                return 1
            time.sleep(2.0)
        connect_s = time.time() - t0
        print(f"{len(names)} satellites connected in {connect_s:.1f} s", flush=True)
        assert cluster.scheduler_proc is not None
        sched = cluster.scheduler_proc.pid
        agent_pids = sorted({p.pid for p in cluster.agents.values()})
        run_wall_s = args.hours * 3600.0 / args.speed
        start_wall = time.time()
        sched_cpu0 = cpu_s(sched) + sum(cpu_s(c) for c in children(sched))
        agents_cpu0 = sum(cpu_s(p) for p in agent_pids)
        submitted: list[str] = []
        batches = 10
        for b in range(batches):
            now = client.now_s()
            specs = []
            for i in range(args.jobs // batches):
                acc = rng.choice([1, 1, 2, 4])
                work_s = rng.uniform(10, 40) * 60.0 * acc
                specs.append(
                    J.JobSpec(
                        job_id=f"live-{b}-{i}",
                        kind=J.JOB_KIND_INFERENCE,
                        work_accelerator_s=work_s,
                        accelerators=acc,
                        output_mb=rng.uniform(50, 800),
                        deadline_s=now + rng.uniform(1.0, 3.0) * 3600.0,
                        priority=rng.choice(PRIORITIES),
                        value=round(acc * work_s / 3600.0 * rng.uniform(0.5, 2.0), 3),
                    )
                )
            submitted += client.submit(specs, request_id=f"live-batch-{b}")
            # Batches over the first half of the run.
            time.sleep(max(0.0, run_wall_s / 2 / batches - 1.0))
        time.sleep(max(0.0, start_wall + run_wall_s - time.time()))
        wall = time.time() - start_wall
        sched_cpu = cpu_s(sched) + sum(cpu_s(c) for c in children(sched)) - sched_cpu0
        agents_cpu = sum(cpu_s(p) for p in agent_pids) - agents_cpu0
        jobs = {j.spec.job_id: j for j in client.all_jobs()}
        states = Counter(J.JobState.Name(j.state) for j in jobs.values())
        lost = sorted(set(submitted) - set(jobs))
        print(f"run: {wall:.0f} s wall = {wall * args.speed / 3600:.2f} simulated hours")
        print(f"jobs submitted {len(submitted)}, by state: {dict(sorted(states.items()))}")
        print(f"lost (accepted, then unknown to the scheduler): {len(lost)}")
        print(
            f"scheduler CPU (with its solver worker): {sched_cpu / wall:.2f} cores average; "
            f"agents ({len(agent_pids)} processes): {agents_cpu / wall:.2f} cores",
            flush=True,
        )
        print(f"logs: {workdir}")
        return 0 if not lost else 1
    finally:
        if client is not None:
            client.close()
        cluster.stop(timeout_s=20.0)


if __name__ == "__main__":
    sys.exit(main())
