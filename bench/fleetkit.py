"""The benchmarks' load harness: real agent fleets (`orbit-agent --all --shard K/N`,
agents/fleet.py) against a running scheduler, their /metrics, and what the agents measured.

Each agent records, when it decodes a plan sent after a solve, its wall clock minus the
plan's `wall_solved_s` (the scheduler's wall clock when the solve returned; both on this
machine, so the same clock) as `orbital_agent_plan_delivery_seconds`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from scheduler.cluster.local import free_port

TICKS_S = os.sysconf("SC_CLK_TCK")
SERIES = re.compile(
    r"^(orbital_agent_plan_version|orbital_agent_plan_delivery_seconds|"
    r'orbital_agent_reconnects_total|orbital_agent_connected)\{satellite="([^"]+)"\} (\S+)$'
)


STATUS = re.compile(
    r"orbit-agent fleet: (\d+) of \d+ streams open, (\d+) paused, (\d+) streams opened"
)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_S


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def scrape(port: int) -> dict[str, dict[str, float]]:
    """{series: {satellite: value}} of a fleet's plan, connection and reconnection series."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = SERIES.match(line)
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return out


@dataclass
class Fleets:
    """N agent processes, each `--all --shard K/N` of the scheduler's satellites (or, given
    names, `--satellites` of every N-th name from the K-th: the same shard, listed)."""

    address: str
    processes: int
    workdir: Path
    tls_dir: Path | None = None  # with: --tls-ca DIR/ca.pem --tls-cert-dir DIR
    names: tuple[str, ...] = ()
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(self) -> Fleets:
        for k in range(1, self.processes + 1):
            port = free_port()
            log = open(self.workdir / f"fleet-{k}.log", "ab")  # noqa: SIM115 (closed in stop)
            self._logs.append(log)
            who = (
                ["--satellites", ",".join(self.names[k - 1 :: self.processes])]
                if self.names
                else ["--all", "--shard", f"{k}/{self.processes}"]
            )
            cmd = [
                sys.executable, "-m", "agents.agent", *who, "--scheduler", self.address,
                "--metrics-port", str(port), "--log-level", "WARNING",
            ]  # fmt: skip
            if self.tls_dir is not None:
                cmd += [
                    "--tls-ca",
                    str(self.tls_dir / "ca.pem"),
                    "--tls-cert-dir",
                    str(self.tls_dir),
                ]
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=log))
            self.ports.append(port)
        return self

    def status(self) -> tuple[int, int, int]:
        """(streams open, agents paused, streams opened) over the fleets, from the status
        line each prints every 10 s (agents/fleet.py): nothing asked of the scheduler."""
        total = [0, 0, 0]
        for k in range(1, len(self.procs) + 1):
            text = (self.workdir / f"fleet-{k}.log").read_text(errors="replace")
            found = STATUS.findall(text)
            if found:
                for i, value in enumerate(found[-1]):
                    total[i] += int(value)
        return total[0], total[1], total[2]

    def cpu_s(self) -> float:
        return sum(cpu_s(p.pid) for p in self.procs if p.poll() is None)

    def series(self) -> dict[str, dict[str, float]]:
        merged: dict[str, dict[str, float]] = {}
        for port in self.ports:
            for name, values in scrape(port).items():
                merged.setdefault(name, {}).update(values)
        return merged

    def deliveries(self, newer_than: int) -> dict[str, float]:
        """Each satellite's delivery latency of the plan it holds, if newer than a version."""
        return {n: d for n, (v, d) in self.held_plans().items() if v > newer_than}

    def held_plans(self) -> dict[str, tuple[int, float]]:
        """(plan version, its delivery latency) of each satellite that got a plan after a
        solve: the latency is that of the last such plan, the one it holds."""
        s = self.series()
        versions = s.get("orbital_agent_plan_version", {})
        delivery = s.get("orbital_agent_plan_delivery_seconds", {})
        return {n: (int(v), delivery[n]) for n, v in versions.items() if n in delivery}

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self._logs:
            log.close()
        self.procs.clear()
