"""`orbitctl testbed netns up|down`: the cluster in network namespaces whose links follow
the ground contacts (Linux, root).

One namespace per agent (PREFIX-aN), one for the scheduler (PREFIX-sched) and one holding
the bridge (PREFIX-br); a veth pair joins each to the bridge. Addresses come from
198.18.0.0/24 (the RFC 2544 benchmarking range) and exist only inside these namespaces:
nothing is added to the host's own network namespace, and no traffic leaves the machine.
The scheduler runs in the contacts link model; the link controller (linkctl.py) takes each
satellite's link down outside its contacts and shapes it to the station's downlink rate.
orbitctl on the host reaches the scheduler through a forwarder (forward.py) on 127.0.0.1.
gRPC between the namespaces is mutual TLS (certificates as `orbitctl certs` makes them).
Deleting the namespaces removes every link, bridge and qdisc made in them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scheduler.cluster.client import Client
from scheduler.cluster.local import free_port
from scheduler.errors import UserError
from scheduler.scenario import load_scenario
from scheduler.security.certs import init_ca, issue_satellite, issue_user
from scheduler.security.identity import Role
from scheduler.security.tls import ClientTls
from scheduler.testbed.engine import STATE_DIR

DEFAULT_PREFIX = "otb"
NET = "198.18.0"  # /24 of the RFC 2544 benchmarking range
SCHEDULER_IP = f"{NET}.1"
GRPC_PORT = 50051
DELAY_PORT = 50052  # the delaying forwarder, in the scheduler's namespace
READY_TIMEOUT_S = 60.0


def agent_ip(i: int) -> str:
    return f"{NET}.{10 + i}"


@dataclass
class NetnsTestbed:
    prefix: str
    satellites: list[str]
    speed: float
    isl_relay: bool
    port: int  # the forwarder's port on the host's 127.0.0.1
    agent_timeout_s: float = 1.0
    delay_ms: float = 0.0
    pids: dict[str, int] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)

    @property
    def workdir(self) -> Path:
        return STATE_DIR / f"netns-{self.prefix}"

    @property
    def bridge_ns(self) -> str:
        return f"{self.prefix}-br"

    @property
    def scheduler_ns(self) -> str:
        return f"{self.prefix}-sched"

    def agent_ns(self, i: int) -> str:
        return f"{self.prefix}-a{i}"

    def bridge_port(self, i: int) -> str:
        """The bridge-side end of agent i's veth (what the link controller sets up/down)."""
        return f"a{i}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def certs(self) -> Path:
        return self.workdir / "certs"

    def client_tls(self) -> ClientTls:
        d = self.certs
        return ClientTls(
            str(d / "ca.pem"), str(d / "user-operator.pem"), str(d / "user-operator-key.pem")
        )

    def client(self, timeout_s: float = 10.0) -> Client:
        return Client(self.address, timeout_s=timeout_s, tls=self.client_tls())

    def save(self) -> None:
        (self.workdir / "testbed.json").write_text(json.dumps(asdict(self), indent=1))


def load(prefix: str = DEFAULT_PREFIX) -> NetnsTestbed:
    path = STATE_DIR / f"netns-{prefix}" / "testbed.json"
    if not path.exists():
        raise UserError(f"netns testbed {prefix} is not up (no {path})")
    return NetnsTestbed(**json.loads(path.read_text()))


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if check and proc.returncode != 0:
        raise UserError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def problem() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "ip and tc not found: apt-get install iproute2"
    probe = f"otbprobe{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


def existing_namespaces(prefix: str) -> list[str]:
    out = ip("netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(f"{prefix}-")]


def up(
    agents: int = 6,
    speed: float = 180.0,
    isl_relay: bool = False,
    port: int | None = None,
    prefix: str = DEFAULT_PREFIX,
    agent_timeout_s: float = 1.0,
    commissioning_s: float = 3.0,
    delay_ms: float = 0.0,
) -> NetnsTestbed:
    why = problem()
    if why:
        raise UserError(why)
    names = list(load_scenario(None).constellation.names)
    if not 1 <= agents <= min(len(names), 200):
        raise UserError(f"--agents: expected 1 to {min(len(names), 200)}")
    if not speed > 0:
        raise UserError("--speed: expected a positive number")
    if existing_namespaces(prefix):
        raise UserError(f"netns testbed {prefix} is already up; `orbitctl testbed netns down`")
    tb = NetnsTestbed(prefix, names[:agents], speed, isl_relay, port or free_port())
    tb.agent_timeout_s = agent_timeout_s
    if not 0 <= delay_ms <= 10_000:
        raise UserError("--delay-ms: expected 0 to 10000")
    tb.delay_ms = delay_ms
    shutil.rmtree(tb.workdir, ignore_errors=True)
    tb.workdir.mkdir(parents=True)
    t0 = time.monotonic()
    try:
        _network(tb)
        tb.save()
        _certificates(tb)
        _processes(tb, commissioning_s)
    except BaseException:
        tb.save()
        down(prefix, quiet=True)
        raise
    tb.save()
    tls = tb.client_tls()
    print(
        f"netns testbed {prefix} up in {time.monotonic() - t0:.0f} s: {agents} agents in "
        f"namespaces {tb.agent_ns(0)}..{tb.agent_ns(agents - 1)}, scheduler in "
        f"{tb.scheduler_ns} ({SCHEDULER_IP}:{GRPC_PORT}, contacts link model"
        f"{', ISL relay' if isl_relay else ''}), speed {speed:g}x"
        f"{f', {delay_ms:g} ms added each way' if delay_ms else ''}\n"
        f"links: {tb.workdir / 'links.jsonl'}; logs: {tb.workdir}\n"
        f"export ORBIT_TLS_CA={tls.ca} ORBIT_TLS_CERT={tls.cert} ORBIT_TLS_KEY={tls.key}\n"
        f"orbitctl --scheduler {tb.address} sats; `orbitctl testbed netns down` removes it",
        flush=True,
    )
    return tb


def _network(tb: NetnsTestbed) -> None:
    br = tb.bridge_ns
    for ns in (br, tb.scheduler_ns, *(tb.agent_ns(i) for i in range(len(tb.satellites)))):
        ip("netns", "add", ns)
        tb.namespaces.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", br, "link", "add", "br0", "type", "bridge")
    ip("-n", br, "link", "set", "br0", "up")
    ends = [("s0", tb.scheduler_ns, SCHEDULER_IP)]
    ends += [(tb.bridge_port(i), tb.agent_ns(i), agent_ip(i)) for i in range(len(tb.satellites))]
    for port, ns, addr in ends:
        ip("link", "add", port, "netns", br, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", br, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")


def _certificates(tb: NetnsTestbed) -> None:
    init_ca(tb.certs, hosts=(SCHEDULER_IP,))
    issue_user(tb.certs, "operator", Role.OPERATOR)
    for sat in tb.satellites:
        issue_satellite(tb.certs, sat)


def _spawn(tb: NetnsTestbed, role: str, cmd: list[str]) -> None:
    """Start a detached process (own session) logging to WORKDIR/ROLE.log; `down` stops it.
    posix_spawn, not Popen: nothing here waits for it, and no Popen object is left to warn."""
    path = shutil.which(cmd[0]) or cmd[0]
    log = str(tb.workdir / f"{role}.log")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tb.pids[role] = os.posix_spawn(path, cmd, env, file_actions=actions, setsid=True)
    tb.save()


def _processes(tb: NetnsTestbed, commissioning_s: float) -> None:
    py, d = sys.executable, tb.certs
    _spawn(tb, "scheduler", [
        "ip", "netns", "exec", tb.scheduler_ns, py, "-m", "scheduler.server.main",
        "--listen", f"{SCHEDULER_IP}:{GRPC_PORT}", "--db", str(tb.workdir / "scheduler.db"),
        "--satellites", str(len(tb.satellites)), "--speed", f"{tb.speed:g}",
        "--link-model", "contacts", *(["--isl-relay"] if tb.isl_relay else []),
        "--agent-timeout", f"{tb.agent_timeout_s:g}", "--solve-time-limit", "2",
        "--metrics-port", "9100", "--tls-cert", str(d / "scheduler.pem"),
        "--tls-key", str(d / "scheduler-key.pem"), "--tls-client-ca", str(d / "ca.pem"),
    ])  # fmt: skip
    _spawn(tb, "forward", [
        py, "-m", "scheduler.testbed.forward", f"127.0.0.1:{tb.port}",
        f"{SCHEDULER_IP}:{GRPC_PORT}", "--netns", tb.scheduler_ns,
    ])  # fmt: skip
    _wait_serving(tb)
    target = f"{SCHEDULER_IP}:{GRPC_PORT}"
    if tb.delay_ms > 0:  # the agents go through a delaying forwarder in the scheduler's ns
        target = f"{SCHEDULER_IP}:{DELAY_PORT}"
        _spawn(tb, "delay", [
            "ip", "netns", "exec", tb.scheduler_ns, py, "-m", "scheduler.testbed.forward",
            target, f"{SCHEDULER_IP}:{GRPC_PORT}", "--delay-ms", f"{tb.delay_ms:g}",
        ])  # fmt: skip
    for i, sat in enumerate(tb.satellites):
        _spawn(tb, f"agent-{sat}", [
            "ip", "netns", "exec", tb.agent_ns(i), py, "-m", "agents.agent",
            "--satellite", sat, "--scheduler", target,
            "--metrics-port", "9100", "--tls-ca", str(d / "ca.pem"),
            "--tls-cert", str(d / f"satellite-{sat}.pem"),
            "--tls-key", str(d / f"satellite-{sat}-key.pem"),
        ])  # fmt: skip
    _spawn(tb, "linkctl", [
        py, "-m", "scheduler.testbed.linkctl", str(tb.workdir / "testbed.json"),
        "--commissioning", f"{commissioning_s:g}",
    ])  # fmt: skip
    events = tb.workdir / "links.jsonl"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not (events.exists() and events.stat().st_size):
        if time.monotonic() > deadline or not _alive(tb.pids["linkctl"]):
            raise UserError(f"the link controller did not start; see {tb.workdir}/linkctl.log")
        time.sleep(0.1)


def _wait_serving(tb: NetnsTestbed) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    client = tb.client(timeout_s=3.0)
    try:
        while True:
            try:
                client.satellites()
                return
            except UserError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"the scheduler did not answer within {READY_TIMEOUT_S:.0f} s; see "
                        f"{tb.workdir / 'scheduler.log'}"
                    ) from None
                time.sleep(0.3)
    finally:
        client.close()


def kill_role(tb: NetnsTestbed, role: str) -> None:
    """SIGKILL one process of the testbed (e.g. an agent whose satellite is gone)."""
    pid = tb.pids.pop(role)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)
    tb.save()


def _ours(pid: int, marker: str) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def down(prefix: str = DEFAULT_PREFIX, quiet: bool = False) -> list[str]:
    """Stop the testbed's processes and delete its namespaces (with every veth, the bridge
    and the qdiscs in them). Returns the namespaces removed."""
    workdir = STATE_DIR / f"netns-{prefix}"
    state = workdir / "testbed.json"
    pids: dict[str, int] = json.loads(state.read_text()).get("pids", {}) if state.exists() else {}
    namespaces = existing_namespaces(prefix)
    # Our processes: the ones we recorded (checked by command line), and whatever runs inside
    # our namespaces.
    victims = {p for p in pids.values() if _ours(p, "scheduler") or _ours(p, "agents")}
    for ns in namespaces:
        out = ip("netns", "pids", ns, check=False).stdout.split()
        victims |= {int(p) for p in out if p.isdigit()}
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(_alive(p) for p in victims):
        time.sleep(0.1)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids.values():  # reap the ones this process started
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    for ns in namespaces:
        ip("netns", "del", ns, check=False)
    shutil.rmtree(workdir, ignore_errors=True)
    if not quiet:
        print(f"removed {', '.join(namespaces) if namespaces else 'nothing (not up)'}")
    return namespaces


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of ours (not yet reaped) counts as gone.
    with contextlib.suppress(OSError):
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()
    return False
