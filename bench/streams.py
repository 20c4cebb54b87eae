"""The control plane at constellation size: one scheduler holding 10,000 agent streams from
a few real agent-fleet processes (`orbit-agent --all --shard K/N`), all on 127.0.0.1.

    .venv/bin/python bench/streams.py [--satellites 10000] [--fleets 4] [--hold-s 180]
                                      [--telemetry 10,1] [--jobs 10000] [--replans 2]
                                      [--py-spy DIR]

A generated Walker shell at 550 km / 53 deg (10,000 = 100 planes x 100, as bench/scale.py)
with starlink-shell1's bus and stations; the scheduler at speed 1 (greedy, --agent-timeout
from --agent-timeout-s, default 60, so heartbeats every 10 s), plaintext. Per telemetry
interval (wall seconds, one fresh cluster each) it prints:
  * the time until every satellite's stream is open (the fleets' status lines);
  * over --hold-s: the fewest streams open at any 10 s sample, satellites declared lost,
    the fleets' stream (re)connections (one each when no stream ever dropped), the
    scheduler's CPU in cores (its main process; the solver worker idles) and peak RSS;
  * plan delivery, in --replans rounds: --jobs fresh 4-accelerator jobs (one fills a
    satellite, so 10,000 of them give every satellite new entries), then Replan; every
    agent records, when it decodes a plan sent after a solve, its wall clock minus the
    plan's `wall_solved_s` (the scheduler's wall clock when the solve returned: one machine,
    the same clock) as `orbital_agent_plan_delivery_seconds`, scraped from each fleet's
    /metrics (bench/fleetkit.py): p50 / p99 / max over the agents that got a new plan, and
    the scheduler's own log of how long after the solve the last plan was queued.
With --py-spy DIR the scheduler and the first fleet are sampled (py-spy record, raw
collapsed stacks) during the hold and during the rounds, and the top frames are printed.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleetkit import Fleets, pct, rss_mb  # noqa: E402
from fleetkit import cpu_s as proc_cpu_s  # noqa: E402
from orbitalsched.v1 import cluster_pb2, jobs_pb2  # noqa: E402

from scheduler.cluster.client import Client  # noqa: E402
from scheduler.cluster.local import LocalCluster  # noqa: E402
from scheduler.scenario import load_scenario  # noqa: E402

SHELLS = {1584: (72, 22), 5000: (100, 50), 10000: (100, 100)}  # planes x per plane


def scenario_file(n: int, path: Path) -> Path:
    """starlink-shell1 with its Walker shell resized to n satellites."""
    planes, per_plane = SHELLS.get(n, (max(1, n // 100), 100))
    text = resources.files("scheduler.data").joinpath("starlink-shell1.toml").read_text()
    text = re.sub(r'^name = ".*"$', f'name = "walker-{n}"', text, count=1, flags=re.M)
    text = re.sub(r"^planes = \d+$", f"planes = {planes}", text, flags=re.M)
    text = re.sub(r"^sats_per_plane = \d+$", f"sats_per_plane = {per_plane}", text, flags=re.M)
    text = re.sub(r'^name_prefix = ".*"$', 'name_prefix = "w"', text, flags=re.M)
    path.write_text(text)
    return path


class PySpy:
    def __init__(self, pid: int, out_dir: Path | None) -> None:
        self.pid, self.out_dir, self.proc, self.path = pid, out_dir, None, None

    def start(self, name: str) -> None:
        if self.out_dir is None:
            return
        self.path = self.out_dir / f"{name}.txt"
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.proc = subprocess.Popen(  # type: ignore[assignment]
            [
                exe,
                "record",
                "-p",
                str(self.pid),
                "-f",
                "raw",
                "-o",
                str(self.path),
                "-r",
                "50",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is None or self.path is None:
            return
        self.proc.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
        self.proc.wait(timeout=60)  # type: ignore[attr-defined]
        self.proc = None
        print(f"  py-spy {self.path.name}: top frames (self samples, % of all)")
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()  # the project's functions, with what they call
        total = 0
        for line in self.path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():  # py-spy's own messages
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            own[frames[-1]] += n
            for f in {re.sub(r":\d+\)$", ")", f) for f in frames}:
                if "scheduler/" in f or "agents/" in f:
                    inclusive[f] += n
        for frame, n in own.most_common(10):
            print(f"    {100 * n / max(total, 1):5.1f}%  {frame[:110]}")
        print("  inclusive, project functions:")
        for frame, n in inclusive.most_common(12):
            print(f"    {100 * n / max(total, 1):5.1f}%  {frame[:110]}")


def run(args: argparse.Namespace, names: tuple[str, ...], scenario: Path, tel_s: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    cluster = LocalCluster(
        satellites=names,
        workdir=workdir,
        scenario=str(scenario),
        speed=1.0,
        metrics=True,
        scheduler_args=(
            "--policy", "greedy",
            "--solve-time-limit", "10",
            "--agent-timeout", str(args.agent_timeout_s),
            "--replan-interval", "86400",
            "--telemetry-interval", str(tel_s),
            "--log-level", "INFO",
        ),
    )  # fmt: skip
    fleets = Fleets("", args.fleets, workdir)
    client: Client | None = None
    label = f"tel {tel_s:g} s"
    try:
        t0 = time.time()
        cluster.start_scheduler()
        assert cluster.scheduler_proc is not None
        sched = cluster.scheduler_proc.pid
        print(f"[{label}] scheduler up in {time.time() - t0:.1f} s ({len(names)} satellites)",
              flush=True)  # fmt: skip
        client = Client(cluster.address, timeout_s=300.0)
        t0 = time.time()
        fleets.address = cluster.address
        fleets.start()
        up = 0
        while up < len(names):  # the fleets' status lines: ListSatellites of 10,000 is heavy
            time.sleep(1.0)
            up, paused, opened = fleets.status()
            if time.time() - t0 > args.connect_timeout_s:
                print(f"[{label}] only {up} of {len(names)} connected after "
                      f"{args.connect_timeout_s:.0f} s", flush=True)  # fmt: skip
                break
        connect_s = time.time() - t0
        sats = client.satellites().satellites
        print(f"[{label}] {up} of {len(names)} streams open after {connect_s:.1f} s (fleets' "
              f"status lines, every 10 s); scheduler: {sum(s.connected for s in sats)} "
              f"connected, {sum(s.lost for s in sats)} lost; {opened} streams opened",
              flush=True)  # fmt: skip
        spy = PySpy(sched, args.py_spy)
        fleet_spy = PySpy(fleets.procs[0].pid, args.py_spy)
        spy.start(f"hold-tel{tel_s:g}")
        fleet_spy.start(f"fleet1-hold-tel{tel_s:g}")
        fewest, most_paused, rss_max = up, 0, rss_mb(sched)
        cpu0, w0, fleet_cpu0 = proc_cpu_s(sched), time.time(), fleets.cpu_s()
        while time.time() - w0 < args.hold_s:
            time.sleep(10.0)
            up, paused, opened = fleets.status()
            fewest, most_paused = min(fewest, up), max(most_paused, paused)
            rss_max = max(rss_max, rss_mb(sched))
        cpu1, w1 = proc_cpu_s(sched), time.time()
        fleet_cores = (fleets.cpu_s() - fleet_cpu0) / (w1 - w0)
        spy.stop()
        fleet_spy.stop()
        sats = client.satellites().satellites
        print(f"[{label}] hold {w1 - w0:.0f} s: fewest streams open {fewest} (fleets, every "
              f"10 s), most agents paused {most_paused}, {opened} streams opened for "
              f"{len(names)} satellites; scheduler at the end: "
              f"{sum(s.connected for s in sats)} connected, {sum(s.lost for s in sats)} lost; "
              f"scheduler {(cpu1 - cpu0) / (w1 - w0):.3f} cores, RSS max {rss_max:.0f} MB; "
              f"fleets {fleet_cores:.2f} cores", flush=True)  # fmt: skip
        # Plan delivery: each round submits fresh jobs and asks for a plan; the satellites
        # whose entries changed get it (the others keep theirs).
        spy.start(f"replans-tel{tel_s:g}")
        fleet_spy.start(f"fleet1-replans-tel{tel_s:g}")
        all_d: list[float] = []
        version = client.plan().plan_version
        for r in range(args.replans):
            now = client.now_s()
            specs = [
                jobs_pb2.JobSpec(
                    job_id=f"s{r}-{i}", kind=jobs_pb2.JOB_KIND_INFERENCE,
                    work_accelerator_s=2400.0, accelerators=4, output_mb=10.0,
                    deadline_s=now + 6 * 3600.0,
                )
                for i in range(args.jobs)
            ]  # fmt: skip
            for b in range(0, len(specs), 5000):
                client.submit(specs[b : b + 5000], request_id=f"streams-{r}-{b}")
            t = time.time()
            resp = client.call(
                client.cluster.Replan, cluster_pb2.ReplanRequest(reason=f"bench {r}")
            )
            solve_s = time.time() - t
            time.sleep(args.settle_s)
            held = fleets.held_plans()
            got = [d for v, d in held.values() if v > version]
            by_version: dict[int, list[float]] = {}
            for v, d in held.values():
                if v > version:
                    by_version.setdefault(v, []).append(d)
            version = resp.plan.plan_version
            all_d += got
            for v, ds in sorted(by_version.items()):
                print(f"[{label}]   plan v{v}: held by {len(ds)} agents; delivery p50 "
                      f"{1000 * statistics.median(ds):.0f} ms, p99 {1000 * pct(ds, 0.99):.0f} "
                      f"ms, max {1000 * max(ds):.0f} ms", flush=True)  # fmt: skip
            print(f"[{label}] round {r + 1}: plan v{version} ({len(resp.plan.assignments)} jobs "
                  f"placed, Replan RPC {solve_s:.1f} s): {len(got)} of {len(names)} agents got "
                  f"a new plan; delivery p50 "
                  f"{1000 * statistics.median(got) if got else float('nan'):.0f} ms, "
                  f"p99 {1000 * pct(got, 0.99):.0f} ms, max {1000 * max(got, default=0):.0f} ms",
                  flush=True)  # fmt: skip
        spy.stop()
        fleet_spy.stop()
        print(f"[{label}] delivery over {args.replans} rounds ({len(all_d)} plans): p50 "
              f"{1000 * statistics.median(all_d) if all_d else float('nan'):.0f} ms, p99 "
              f"{1000 * pct(all_d, 0.99):.0f} ms, max {1000 * max(all_d, default=0):.0f} ms",
              flush=True)  # fmt: skip
        for line in (workdir / "scheduler.log").read_text().splitlines():
            if "queued to" in line:
                print(f"[{label}] scheduler: {line.split(' INFO ', 1)[-1]}")
    finally:
        if client is not None:
            client.close()
        fleets.stop()
        cluster.stop(timeout_s=30.0)
        print(f"[{label}] logs: {workdir}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--satellites", type=int, default=10_000)
    ap.add_argument("--fleets", type=int, default=4, help="agent processes (--all --shard K/N)")
    ap.add_argument("--hold-s", type=float, default=180.0)
    ap.add_argument("--telemetry", default="10,1", help="telemetry intervals to run, wall s")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument(
        "--agent-timeout-s",
        type=float,
        default=60.0,
        help="the scheduler's --agent-timeout: agents heartbeat every timeout/6 (10 s at 60)",
    )
    ap.add_argument("--replans", type=int, default=2)
    ap.add_argument("--settle-s", type=float, default=5.0, help="wait after a solve, then scrape")
    ap.add_argument("--connect-timeout-s", type=float, default=900.0)
    ap.add_argument("--py-spy", type=Path, default=None, metavar="DIR")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the cluster on the way out
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the children inherit it
    print(f"file descriptors: {hard} per process (was {soft})", flush=True)
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-streams-scenario-") as tmp:
        scenario = scenario_file(args.satellites, Path(tmp) / "shell.toml")
        names = tuple(load_scenario(str(scenario)).constellation.names)
        for tel_s in (float(x) for x in args.telemetry.split(",")):
            run(args, names, scenario, tel_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
