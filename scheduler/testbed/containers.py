"""`orbitctl testbed containers up|down`: the cluster in containers on one host.

One podman (or docker) network; the scheduler (database on a volume), one container per agent
(the first N satellites of the scenario), and Debian's Prometheus in a container on the same
base scraping every one of them; the scheduler's gRPC port and Prometheus are published on
127.0.0.1 only. By default every gRPC link is mutual TLS: a CA of the testbed made with
`orbitctl certs`' code (scheduler/security/certs.py), the scheduler's certificate for the
names `scheduler`, `localhost` and 127.0.0.1, one certificate per satellite, and an operator
certificate for the host; each container sees only its own files (/etc/orbit/tls). With
insecure=True everything is plaintext. Every object carries the label
`orbital.testbed=NAME`, which is what `down` removes. Containers get fixed addresses in the
network's subnet and each other's names through --add-host, so no DNS plugin is needed
(Debian's podman with CNI has none).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scheduler.cluster.client import Client
from scheduler.errors import UserError
from scheduler.scenario import load_scenario
from scheduler.security.certs import init_ca, issue_satellite, issue_user
from scheduler.security.identity import Role
from scheduler.security.tls import ClientTls
from scheduler.testbed.engine import REPO, STATE_DIR, Engine, find_engine
from scheduler.testbed.image import (
    IMAGE,
    PROMETHEUS_IMAGE,
    build_image,
    build_prometheus_image,
    choose_base,
)

DEFAULT_NAME = "orbital-tb"
GRPC_PORT = 50051
METRICS_PORT = 9100
PROMETHEUS_PORT = 9090
READY_TIMEOUT_S = 120.0
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
TLS_DIR = "/etc/orbit/tls"  # in the containers: ca.pem, cert.pem, key.pem
IMAGE_UID = 10001  # the image's `orbit` user (deploy/Dockerfile)


@dataclass
class Testbed:
    """What `up` made (saved as JSON beside the generated Prometheus configuration)."""

    name: str
    satellites: list[str]
    grpc_port: int
    prometheus_port: int
    tls: bool = True
    subnet: str = ""
    hosts: dict[str, str] = field(default_factory=dict)  # container host name -> address

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    def container(self, role: str) -> str:
        return f"{self.name}-{role}"

    @property
    def workdir(self) -> Path:
        return STATE_DIR / self.name

    @property
    def certs_dir(self) -> Path:
        return self.workdir / "certs"

    def client_tls(self) -> ClientTls | None:
        """The operator's TLS settings for orbitctl on the host; None when plaintext."""
        if not self.tls:
            return None
        d = self.certs_dir
        return ClientTls(
            str(d / "ca.pem"), str(d / "user-operator.pem"), str(d / "user-operator-key.pem")
        )

    def client(self, timeout_s: float = 20.0) -> Client:
        return Client(self.address, timeout_s=timeout_s, tls=self.client_tls())

    def save(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "testbed.json").write_text(json.dumps(asdict(self), indent=1))


def agent_host(satellite: str) -> str:
    return f"agent-{satellite}"


def prometheus_config(satellites: list[str]) -> str:
    """Scrape configuration of the testbed (JSON, which Prometheus reads as YAML)."""
    config = {
        "global": {
            "scrape_interval": "5s",
            "evaluation_interval": "5s",
            "external_labels": {"deployment": "testbed-containers"},
        },
        "rule_files": ["/etc/prometheus/rules/*.yml"],
        "scrape_configs": [
            {
                "job_name": "orbit-scheduler",
                "static_configs": [{"targets": [f"scheduler:{METRICS_PORT}"]}],
            },
            {
                "job_name": "orbit-agent",
                "honor_labels": True,
                "static_configs": [
                    {"targets": [f"{agent_host(s)}:{METRICS_PORT}"], "labels": {"satellite": s}}
                    for s in satellites
                ],
            },
        ],
    }
    return json.dumps(config, indent=1) + "\n"


def make_certificates(tb: Testbed) -> None:
    """A fresh CA and every certificate of the testbed, then one directory per container
    holding only its own ca.pem, cert.pem and key.pem, owned by the image's user."""
    shutil.rmtree(tb.certs_dir, ignore_errors=True)
    init_ca(tb.certs_dir, hosts=("scheduler",))
    issue_user(tb.certs_dir, "operator", Role.OPERATOR)
    own = {"scheduler": ("scheduler.pem", "scheduler-key.pem")}
    for sat in tb.satellites:
        issue_satellite(tb.certs_dir, sat)
        own[agent_host(sat)] = (f"satellite-{sat}.pem", f"satellite-{sat}-key.pem")
    for host, (cert, key) in own.items():
        d = _mount_dir(tb, host)
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for src, dst in (("ca.pem", "ca.pem"), (cert, "cert.pem"), (key, "key.pem")):
            shutil.copyfile(tb.certs_dir / src, d / dst)
            (d / dst).chmod(0o600 if dst == "key.pem" else 0o644)
            if os.geteuid() == 0:  # rootful: the container's uid is the host's
                os.chown(d / dst, IMAGE_UID, IMAGE_UID)


def _mount_dir(tb: Testbed, host: str) -> Path:
    return tb.workdir / "tls" / host


def _tls_mount(tb: Testbed, host: str) -> list[str]:
    return ["--volume", f"{_mount_dir(tb, host)}:{TLS_DIR}:ro"] if tb.tls else []


def _label(tb: Testbed) -> list[str]:
    return ["--label", f"orbital.testbed={tb.name}"]


def _network_subnet(engine: Engine, network: str) -> str:
    info = json.loads(engine.run("network", "inspect", network).stdout)[0]
    subnets = [s.get("subnet") for s in info.get("subnets") or []]  # podman 4
    subnets += [c.get("Subnet") for c in (info.get("IPAM") or {}).get("Config") or []]  # docker
    for s in subnets:
        if s and ipaddress.ip_network(s).version == 4:
            return str(s)
    raise UserError(f"network {network} has no IPv4 subnet: {info}")


def _assign_addresses(tb: Testbed) -> None:
    """scheduler .10, prometheus .11, agents from .20 on (the gateway is .1)."""
    net = ipaddress.ip_network(tb.subnet)
    if net.num_addresses < 32 + len(tb.satellites):
        raise UserError(f"subnet {tb.subnet} is too small for {len(tb.satellites)} agents")
    base = net.network_address
    tb.hosts = {"scheduler": str(base + 10), "prometheus": str(base + 11)}
    for i, sat in enumerate(tb.satellites):
        tb.hosts[agent_host(sat)] = str(base + 20 + i)


def _address(tb: Testbed, host: str) -> list[str]:
    """A fixed IP and a MAC made from it: a scheduler restarted with a new MAC on the same IP
    is unreachable until the agents' neighbour entries go stale (about 30 s)."""
    ip = ipaddress.ip_address(tb.hosts[host])
    mac = "02:00:" + ":".join(f"{b:02x}" for b in ip.packed)
    return ["--hostname", host, "--ip", str(ip), "--mac-address", mac]


def _add_hosts(tb: Testbed) -> list[str]:
    return [f"--add-host={host}:{ip}" for host, ip in tb.hosts.items()]


def existing(engine: Engine, name: str) -> list[str]:
    out = engine.run(
        "ps", "--all", "--filter", f"label=orbital.testbed={name}", "--format", "{{.Names}}"
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def up(
    agents: int = 4,
    speed: float = 60.0,
    port: int = GRPC_PORT,
    prometheus_port: int = PROMETHEUS_PORT,
    name: str = DEFAULT_NAME,
    scheduler_args: tuple[str, ...] = (),
    insecure: bool = False,
    engine: Engine | None = None,
) -> Testbed:
    engine = engine or find_engine()
    names = list(load_scenario(None).constellation.names)
    if not 1 <= agents <= len(names):
        raise UserError(f"--agents: expected 1 to {len(names)}")
    if speed <= 0 or speed != speed:
        raise UserError("--speed: expected a positive number")
    if existing(engine, name):
        raise UserError(f"testbed {name} is already up; `orbitctl testbed containers down` first")
    t0 = time.monotonic()
    if not engine.image_exists(IMAGE):
        build_image(engine=engine)
    if not engine.image_exists(PROMETHEUS_IMAGE):
        build_prometheus_image(engine, choose_base(engine, None))
    tb = Testbed(name, names[:agents], port, prometheus_port, tls=not insecure)
    tb.workdir.mkdir(parents=True, exist_ok=True)
    if tb.tls:
        make_certificates(tb)
    try:
        _start(engine, tb, speed, scheduler_args)
    except BaseException:
        down(name, keep_data=True, engine=engine, quiet=True)
        raise
    tb.save()
    print(
        f"testbed {name} up in {time.monotonic() - t0:.0f} s: scheduler {tb.address} "
        f"({'mutual TLS' if tb.tls else 'plaintext'}), {agents} agents, Prometheus "
        f"{tb.prometheus_url}; `orbitctl testbed containers down` removes it",
        flush=True,
    )
    tls = tb.client_tls()
    if tls is not None:
        print(
            f"as operator: export ORBIT_TLS_CA={tls.ca} ORBIT_TLS_CERT={tls.cert} "
            f"ORBIT_TLS_KEY={tls.key}"
        )
    print(f"then: orbitctl --scheduler {tb.address} sats", flush=True)
    return tb


def _start(engine: Engine, tb: Testbed, speed: float, scheduler_args: tuple[str, ...]) -> None:
    network = tb.name
    if engine.run("network", "inspect", network, check=False).returncode != 0:
        engine.run("network", "create", *_label(tb), network)
    tb.subnet = _network_subnet(engine, network)
    _assign_addresses(tb)
    volume = f"{tb.name}-db"
    for vol in (volume, f"{tb.name}-prometheus"):
        if engine.run("volume", "inspect", vol, check=False).returncode != 0:
            engine.run("volume", "create", *_label(tb), vol)
        else:
            print(f"volume {vol} kept from an earlier run: continuing it", flush=True)
    common = ["run", "--detach", *_label(tb), "--network", network, *_add_hosts(tb)]
    engine.run(
        *common, "--name", tb.container("scheduler"), *_address(tb, "scheduler"),
        *_tls_mount(tb, "scheduler"), "--volume", f"{volume}:/var/lib/orbit",
        "--publish", f"127.0.0.1:{tb.grpc_port}:{GRPC_PORT}", IMAGE,
        "orbit-scheduler", f"--listen=0.0.0.0:{GRPC_PORT}", "--metrics-host=0.0.0.0",
        f"--metrics-port={METRICS_PORT}", "--db=/var/lib/orbit/scheduler.db",
        f"--satellites={len(tb.satellites)}", f"--speed={speed:g}", *_scheduler_tls(tb),
        *scheduler_args,
    )  # fmt: skip
    wait_serving(tb, engine)
    for sat in tb.satellites:
        host = agent_host(sat)
        engine.run(
            *common, "--name", tb.container(host), *_address(tb, host), *_tls_mount(tb, host),
            IMAGE, "orbit-agent", f"--satellite={sat}", f"--scheduler=scheduler:{GRPC_PORT}",
            "--metrics-host=0.0.0.0", f"--metrics-port={METRICS_PORT}", *_agent_tls(tb),
        )  # fmt: skip
    config = tb.workdir / "prometheus.yml"
    config.write_text(prometheus_config(tb.satellites))
    engine.run(
        *common, "--name", tb.container("prometheus"), *_address(tb, "prometheus"),
        "--volume", f"{tb.name}-prometheus:/prometheus",
        "--volume", f"{config}:/etc/prometheus/prometheus.yml:ro",
        "--volume", f"{RULES_DIR}:/etc/prometheus/rules:ro",
        "--publish", f"127.0.0.1:{tb.prometheus_port}:{PROMETHEUS_PORT}", PROMETHEUS_IMAGE,
        "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
        f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}",
    )  # fmt: skip


def _scheduler_tls(tb: Testbed) -> list[str]:
    if not tb.tls:
        return ["--insecure"]  # plaintext off loopback, on the testbed's own network
    return [
        f"--tls-cert={TLS_DIR}/cert.pem",
        f"--tls-key={TLS_DIR}/key.pem",
        f"--tls-client-ca={TLS_DIR}/ca.pem",
    ]


def _agent_tls(tb: Testbed) -> list[str]:
    if not tb.tls:
        return []
    return [
        f"--tls-ca={TLS_DIR}/ca.pem",
        f"--tls-cert={TLS_DIR}/cert.pem",
        f"--tls-key={TLS_DIR}/key.pem",
    ]


def wait_serving(tb: Testbed, engine: Engine) -> None:
    """Until the scheduler answers ListSatellites through the published port."""
    address, container = tb.address, tb.container("scheduler")
    deadline = time.monotonic() + READY_TIMEOUT_S
    client = tb.client(timeout_s=3.0)
    try:
        while True:
            try:
                client.satellites()
                return
            except UserError:
                state = engine.run(
                    "inspect", "--format", "{{.State.Status}}", container, check=False
                ).stdout.strip()
                if state not in ("running", "created", "configured"):
                    logs = engine.run("logs", container, check=False)
                    raise UserError(
                        f"{container} is {state or 'gone'}: {(logs.stdout + logs.stderr)[-1500:]}"
                    ) from None
                if time.monotonic() > deadline:
                    raise UserError(
                        f"the scheduler did not answer at {address} within "
                        f"{READY_TIMEOUT_S:.0f} s; see `{engine.name} logs {container}`"
                    ) from None
                time.sleep(0.5)
    finally:
        client.close()


def load(name: str = DEFAULT_NAME) -> Testbed:
    path = STATE_DIR / name / "testbed.json"
    if not path.exists():
        raise UserError(f"testbed {name} is not up (no {path})")
    return Testbed(**json.loads(path.read_text()))


def down(
    name: str = DEFAULT_NAME,
    keep_data: bool = False,
    engine: Engine | None = None,
    quiet: bool = False,
) -> list[str]:
    """Remove every container and network of the testbed, and its volumes unless keep_data.
    Returns what it removed."""
    engine = engine or find_engine()
    removed = []
    containers = existing(engine, name)
    if containers:
        # --volumes: the anonymous ones (the images declare VOLUMEs); named ones stay.
        engine.run("rm", "--force", "--volumes", "--time", "5", *containers, timeout_s=120)
        removed += containers
    label = f"label=orbital.testbed={name}"
    if not keep_data:
        volumes = engine.run("volume", "ls", "--quiet", "--filter", label).stdout.split()
        if volumes:
            engine.run("volume", "rm", "--force", *volumes)
            removed += volumes
    if engine.run("network", "inspect", name, check=False).returncode == 0:
        engine.run("network", "rm", name)
        removed.append(name)
    workdir = STATE_DIR / name
    for f in ("testbed.json", "prometheus.yml"):
        (workdir / f).unlink(missing_ok=True)
    for d in ("tls", "certs"):
        shutil.rmtree(workdir / d, ignore_errors=True)
    if workdir.exists() and not any(workdir.iterdir()):
        workdir.rmdir()
    if not quiet:
        print(f"removed {', '.join(removed) if removed else 'nothing (testbed was not up)'}")
    return removed
