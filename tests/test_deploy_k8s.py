"""deploy/k8s: the Kubernetes manifests, validated offline (no cluster here): flags the real
CLIs accept, names and ports that agree, mutual TLS from Secrets behind a NetworkPolicy, and the
init step that maps a pod's ordinal to its satellite."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterkit import NAMES
from test_deploy import (
    K8S,
    ROLES,
    bad_flags,
    cli_help,
    cli_rejects,
    flag_value,
    load_yaml_docs,
    run,
)

from scheduler.security.tls import check_listen_security, server_tls
from scheduler.server import main as scheduler_main

pytestmark = pytest.mark.slow
__all__ = ["cli_help"]  # the fixture, shared with test_deploy


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += load_yaml_docs(path)
    return docs


# --- Kubernetes ----------------------------------------------------------------------------
def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_k8s_manifests(k8s: list[dict[str, Any]], cli_help: dict[str, str]) -> None:
    kinds = sorted(d["kind"] for d in k8s)
    assert kinds == sorted(
        [
            "Namespace",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
            "Service",
            "StatefulSet",
            "ConfigMap",
            "NetworkPolicy",
        ]
    ), kinds
    namespace = by_kind(k8s, "Namespace")[0]["metadata"]["name"]
    assert all(d["metadata"].get("namespace") == namespace for d in k8s if d["kind"] != "Namespace")
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )

    deployment = by_kind(k8s, "Deployment")[0]
    statefulset = by_kind(k8s, "StatefulSet")[0]
    for workload in (deployment, statefulset):
        spec = workload["spec"]
        pod = spec["template"]
        assert spec["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        for c in pod["spec"]["containers"]:
            argv = c["args"]
            assert argv[0] in ROLES
            assert not bad_flags(argv, cli_help[argv[0]]), (c["name"], argv)
            assert not cli_rejects(argv), (c["name"], cli_rejects(argv))
    sched = deployment["spec"]["template"]["spec"]["containers"][0]
    sched_args = sched["args"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    # --satellites of the scheduler = agent replicas = first lines of satellites.txt.
    replicas = statefulset["spec"]["replicas"]
    assert int(flag_value(sched_args, "--satellites") or 0) == replicas
    config_map = by_kind(k8s, "ConfigMap")[0]
    assert config_map["data"]["satellites.txt"].split() == list(NAMES)
    assert replicas <= len(NAMES)
    # The database is on the PVC.
    pvc = by_kind(k8s, "PersistentVolumeClaim")[0]["metadata"]["name"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in sched["volumeMounts"]}
    db_dir = str(Path(flag_value(sched_args, "--db") or "").parent)
    assert volumes[mounts[db_dir]]["persistentVolumeClaim"]["claimName"] == pvc
    # Agents reach the scheduler through its Service; the ports agree.
    services = {s["metadata"]["name"]: s for s in by_kind(k8s, "Service")}
    grpc_port = int((flag_value(sched_args, "--listen") or "").rpartition(":")[2])
    sched_ports = {p["name"]: p for p in sched["ports"]}
    assert sched_ports["grpc"]["containerPort"] == grpc_port
    assert sched_ports["metrics"]["containerPort"] == int(
        flag_value(sched_args, "--metrics-port") or 0
    )
    agent = statefulset["spec"]["template"]["spec"]["containers"][0]
    host, _, port = (flag_value(agent["args"], "--scheduler") or "").partition(":")
    svc_ports = {p["name"]: p["port"] for p in services[host]["spec"]["ports"]}
    assert svc_ports["grpc"] == int(port)
    assert services[host]["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert statefulset["spec"]["serviceName"] in services
    # No --satellite in the agent's args: the entry point takes it from the init container.
    assert flag_value(agent["args"], "--satellite") is None
    env = {e["name"]: e.get("value") for e in agent["env"]}
    init = statefulset["spec"]["template"]["spec"]["initContainers"][0]
    init_env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["ORBIT_SATELLITE_FILE"] == init_env["ORBIT_SATELLITE_FILE"]


def test_k8s_runs_mutual_tls_behind_a_network_policy(k8s: list[dict[str, Any]]) -> None:
    """The scheduler serves mutual TLS from the Secret orbit-tls-scheduler (passing the
    listen security check without --insecure); each agent gets its own certificate from the
    init container; only agents (gRPC) and Prometheus (metrics) may reach the scheduler."""
    deployment = by_kind(k8s, "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    sched = pod["containers"][0]
    args = scheduler_main.build_parser().parse_args(sched["args"][1:])
    tls = server_tls(args.tls_cert, args.tls_key, args.tls_client_ca)
    assert tls is not None and tls.mutual and not args.insecure
    check_listen_security(args.listen.rpartition(":")[0], tls, args.insecure)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in sched["volumeMounts"]}
    for path in (args.tls_cert, args.tls_key, args.tls_client_ca):
        secret = volumes[mounts[str(Path(path).parent)]]["secret"]
        assert secret["secretName"] == "orbit-tls-scheduler"
    for probe in ("readinessProbe", "livenessProbe"):  # kubelet's gRPC probe has no TLS
        assert "grpc" not in sched[probe]
    statefulset = by_kind(k8s, "StatefulSet")[0]
    agent_pod = statefulset["spec"]["template"]["spec"]
    agent = agent_pod["containers"][0]
    tls_dir = {
        str(Path(flag_value(agent["args"], f"--tls-{k}") or "").parent)
        for k in ("ca", "cert", "key")
    }
    init = agent_pod["initContainers"][0]
    init_env = {e["name"]: e.get("value") for e in init["env"]}
    assert tls_dir == {init_env["TLS_DIR"]}
    agent_mounts = {m["mountPath"] for m in agent["volumeMounts"]}
    assert init_env["TLS_SOURCE_DIR"] not in agent_mounts  # the agent sees its own files only
    (policy,) = by_kind(k8s, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    admitted = {
        (rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], p["port"])
        for rule in spec["ingress"]
        for p in rule["ports"]
    }
    grpc_port = int(args.listen.rpartition(":")[2])
    assert admitted == {("orbit-agent", grpc_port), ("prometheus", args.metrics_port)}


def test_k8s_init_step_maps_ordinal_to_satellite(k8s: list[dict[str, Any]], tmp_path: Path) -> None:
    data = by_kind(k8s, "ConfigMap")[0]["data"]
    (tmp_path / "satellites.txt").write_text(data["satellites.txt"])
    (tmp_path / "satellite-id.sh").write_text(data["satellite-id.sh"])
    out = tmp_path / "satellite"

    def init(pod: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "POD_NAME": pod,
            "SATELLITES_FILE": str(tmp_path / "satellites.txt"),
            "ORBIT_SATELLITE_FILE": str(out),
        }
        return run(["sh", str(tmp_path / "satellite-id.sh")], env=env)

    for ordinal in (0, 1, 11, len(NAMES) - 1):
        result = init(f"orbit-agent-{ordinal}")
        assert result.returncode == 0, result.stderr
        assert out.read_text().strip() == NAMES[ordinal]
    assert init(f"orbit-agent-{len(NAMES)}").returncode != 0
    assert init("orbit-agent").returncode != 0
    # With the agents' Secret: the pod's own certificate, and nothing else, lands in TLS_DIR.
    source, own = tmp_path / "all", tmp_path / "own"
    source.mkdir()
    own.mkdir()
    (source / "ca.pem").write_text("ca")
    for name in NAMES[:3]:
        (source / f"satellite-{name}.pem").write_text(f"cert {name}")
        (source / f"satellite-{name}-key.pem").write_text(f"key {name}")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "POD_NAME": "orbit-agent-1",
        "SATELLITES_FILE": str(tmp_path / "satellites.txt"),
        "ORBIT_SATELLITE_FILE": str(out),
        "TLS_SOURCE_DIR": str(source),
        "TLS_DIR": str(own),
    }
    result = run(["sh", str(tmp_path / "satellite-id.sh")], env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in own.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert (own / "cert.pem").read_text() == f"cert {NAMES[1]}"
    assert (own / "key.pem").stat().st_mode & 0o077 == 0
    result = run(
        ["sh", str(tmp_path / "satellite-id.sh")], env={**env, "POD_NAME": "orbit-agent-5"}
    )
    assert result.returncode != 0 and "satellite-" in result.stderr  # no certificate for it
