"""The control plane at constellation size: one scheduler holding 10,000 agent streams from
a few real agent-fleet processes (`orbit-agent --all --shard K/N`), all on 127.0.0.1.

    .venv/bin/python bench/streams.py [--satellites 10000] [--fleets 4] [--hold-s 180]
                                      [--telemetry 10,1] [--jobs 10000] [--replans 3]
                                      [--py-spy DIR]

A generated Walker shell at 550 km / 53 deg (10,000 = 100 planes x 100, as bench/scale.py)
with starlink-shell1's bus and stations; the scheduler at speed 1 (greedy, --agent-timeout
30, so heartbeats every 5 s), plaintext. Per telemetry interval (wall seconds, one fresh
cluster each) it prints:
  * the time until every satellite's stream is open (ListSatellites);
  * over --hold-s: the fewest streams open at any 10 s sample, satellites declared lost,
    the fleets' stream (re)connections (one each when no stream ever dropped), the
    scheduler's CPU in cores (its main process; the solver worker idles) and peak RSS;
  * plan delivery after each of --replans solves (--jobs inference jobs spread over the
    fleet first): every agent records, when it decodes the plan, its wall clock minus the
    plan's `wall_solved_s` (the scheduler's wall clock when the solve returned: the same
    clock, one machine) as `orbital_agent_plan_delivery_seconds`, scraped from each
    fleet's /metrics; p50 / p99 / max over the agents that got that plan version.
With --py-spy DIR the scheduler is sampled (py-spy record, raw collapsed stacks) during the
hold and during the replans, one file each, and the top frames are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orbitalsched.v1 import cluster_pb2, jobs_pb2  # noqa: E402

from scheduler.cluster.client import Client  # noqa: E402
from scheduler.cluster.local import LocalCluster, free_port  # noqa: E402
from scheduler.scenario import load_scenario  # noqa: E402

TICKS_S = os.sysconf("SC_CLK_TCK")
SHELLS = {1584: (72, 22), 5000: (100, 50), 10000: (100, 100)}  # planes x per plane
SERIES = re.compile(
    r"^(orbital_agent_plan_version|orbital_agent_plan_delivery_seconds|"
    r'orbital_agent_reconnects_total)\{satellite="([^"]+)"\} (\S+)$'
)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_S


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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


def scrape(port: int) -> dict[str, dict[str, float]]:
    """{series: {satellite: value}} of the fleet's plan and reconnection series."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = SERIES.match(line)
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


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
            "--agent-timeout", "30",
            "--replan-interval", "86400",
            "--telemetry-interval", str(tel_s),
            "--log-level", "INFO",
        ),
    )  # fmt: skip
    fleets: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    logs = []
    client: Client | None = None
    label = f"tel {tel_s:g} s"
    try:
        t0 = time.time()
        cluster.start_scheduler()
        assert cluster.scheduler_proc is not None
        sched = cluster.scheduler_proc.pid
        print(
            f"[{label}] scheduler up in {time.time() - t0:.1f} s ({len(names)} satellites)",
            flush=True,
        )
        client = Client(cluster.address, timeout_s=300.0)
        t0 = time.time()
        for k in range(1, args.fleets + 1):
            port = free_port()
            log = open(workdir / f"fleet-{k}.log", "ab")  # noqa: SIM115
            logs.append(log)
            fleets.append(
                subprocess.Popen(
                    [sys.executable, "-m", "agents.agent", "--all", "--shard",
                     f"{k}/{args.fleets}", "--scheduler", cluster.address,
                     "--metrics-port", str(port), "--log-level", "WARNING"],
                    stdout=log, stderr=log,
                )
            )  # fmt: skip
            ports.append(port)
        up = 0
        while up < len(names):
            time.sleep(2.0)
            up = sum(1 for s in client.satellites().satellites if s.connected)
            if time.time() - t0 > args.connect_timeout_s:
                print(
                    f"[{label}] only {up} of {len(names)} connected after "
                    f"{args.connect_timeout_s:.0f} s",
                    flush=True,
                )
                break
        connect_s = time.time() - t0
        print(f"[{label}] {up} of {len(names)} streams open after {connect_s:.1f} s", flush=True)
        spy = PySpy(sched, args.py_spy)
        spy.start(f"hold-tel{tel_s:g}")
        fleet_spy = PySpy(fleets[0].pid, args.py_spy)
        fleet_spy.start(f"fleet1-hold-tel{tel_s:g}")
        fewest, lost, rss_max = up, 0, 0.0
        cpu0, w0 = cpu_s(sched), time.time()
        fleet_cpu0 = sum(cpu_s(p.pid) for p in fleets)
        while time.time() - w0 < args.hold_s:
            time.sleep(10.0)
            sats = client.satellites().satellites
            fewest = min(fewest, sum(1 for s in sats if s.connected))
            lost = max(lost, sum(1 for s in sats if s.lost))
            rss_max = max(rss_max, rss_mb(sched))
        cpu1, w1 = cpu_s(sched), time.time()
        fleet_cores = (sum(cpu_s(p.pid) for p in fleets) - fleet_cpu0) / (w1 - w0)
        spy.stop()
        fleet_spy.stop()
        reconnects = sum(
            sum(scrape(p).get("orbital_agent_reconnects_total", {}).values()) for p in ports
        )
        print(
            f"[{label}] hold {w1 - w0:.0f} s: fewest streams open {fewest}, lost {lost}, "
            f"stream connections {reconnects:.0f} for {len(names)} satellites; scheduler "
            f"{(cpu1 - cpu0) / (w1 - w0):.3f} cores, RSS max {rss_max:.0f} MB; fleets "
            f"{fleet_cores:.2f} cores",
            flush=True,
        )
        # Plan delivery: jobs spread over the fleet, then solves that reach every agent.
        now = client.now_s()
        specs = [
            jobs_pb2.JobSpec(
                job_id=f"s-{i}", kind=jobs_pb2.JOB_KIND_INFERENCE, work_accelerator_s=600.0,
                accelerators=1, output_mb=10.0, deadline_s=now + 6 * 3600.0,
            )
            for i in range(args.jobs)
        ]  # fmt: skip
        for b in range(0, len(specs), 5000):
            client.submit(specs[b : b + 5000], request_id=f"streams-{b}")
        spy.start(f"replans-tel{tel_s:g}")
        fleet_spy.start(f"fleet1-replans-tel{tel_s:g}")
        all_d: list[float] = []
        for r in range(args.replans):
            t = time.time()
            resp = client.call(
                client.cluster.Replan, cluster_pb2.ReplanRequest(reason=f"bench {r}")
            )
            version = resp.plan.plan_version
            solve_s = time.time() - t
            time.sleep(args.settle_s)
            got: list[float] = []
            for p in ports:
                s = scrape(p)
                versions = s.get("orbital_agent_plan_version", {})
                delivery = s.get("orbital_agent_plan_delivery_seconds", {})
                got += [delivery[n] for n, v in versions.items() if v == version and n in delivery]
            all_d += got
            print(
                f"[{label}] plan v{version} ({len(resp.plan.assignments)} jobs placed, Replan "
                f"RPC {solve_s:.1f} s): {len(got)} of {len(names)} agents got it; delivery "
                f"p50 {1000 * statistics.median(got) if got else float('nan'):.0f} ms, "
                f"p99 {1000 * pct(got, 0.99):.0f} ms, max {1000 * max(got, default=0):.0f} ms",
                flush=True,
            )
        spy.stop()
        fleet_spy.stop()
        print(
            f"[{label}] delivery over {args.replans} plans: p50 "
            f"{1000 * statistics.median(all_d) if all_d else float('nan'):.0f} ms, p99 "
            f"{1000 * pct(all_d, 0.99):.0f} ms, max {1000 * max(all_d, default=0):.0f} ms",
            flush=True,
        )
    finally:
        if client is not None:
            client.close()
        for p in fleets:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in fleets:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
        cluster.stop(timeout_s=30.0)
        print(f"[{label}] logs: {workdir}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--satellites", type=int, default=10_000)
    ap.add_argument("--fleets", type=int, default=4, help="agent processes (--all --shard K/N)")
    ap.add_argument("--hold-s", type=float, default=180.0)
    ap.add_argument("--telemetry", default="10,1", help="telemetry intervals to run, wall s")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--replans", type=int, default=3)
    ap.add_argument("--settle-s", type=float, default=5.0, help="wait after a solve, then scrape")
    ap.add_argument("--connect-timeout-s", type=float, default=900.0)
    ap.add_argument("--py-spy", type=Path, default=None, metavar="DIR")
    args = ap.parse_args()
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
