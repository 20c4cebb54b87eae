"""deploy/: the compose file, Prometheus config and rules, Grafana provisioning and dashboard,
Kubernetes manifests, image entry point, checked against the real tools and processes.

- `docker-compose config -q` validates deploy/compose.yaml (no engine needed);
- `promtool check config`, `check rules` and `test rules` pass;
- every metric name in the dashboard and the rules is in the exposition of a real
  orbit-scheduler and orbit-agent, and every dashboard expression parses in a real Prometheus;
- every container command uses flags that the real CLIs accept, and the satellite ids, ports
  and service names agree across the files (the Kubernetes manifests: test_deploy_k8s.py).

docker-compose and promtool come from Debian (`apt-get install docker-compose prometheus`);
without them those tests skip with that hint, except under CI (CI=true), where they fail.
Building and running the image is tests/test_testbed_containers.py.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterkit import NAMES, fetch, need, running_cluster, running_prometheus, wait_for

from scheduler.cluster.local import LocalCluster
from scheduler.commands import cluster as cluster_command
from scheduler.security.tls import check_listen_security, server_tls
from scheduler.server import main as scheduler_main
from scheduler.testbed import image

# Deploy checks run external tools (promtool, compose, kubeconform) and the scheduler.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
PROM_CONFIGS = (
    DEPLOY / "prometheus" / "prometheus.yml",
    DEPLOY / "prometheus" / "prometheus-local.yml",
)
RULES = DEPLOY / "prometheus" / "rules" / "orbital.yml"
RULE_TESTS = DEPLOY / "prometheus" / "rules-tests" / "orbital.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "orbital.json"
K8S = DEPLOY / "k8s"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
BIN = Path(sys.executable).parent
ROLES = ("orbit-scheduler", "orbit-agent", "orbitctl")
# What the dashboard must show (the brief of deploy/, DESIGN.md section 6).
DASHBOARD_MUST_USE = {
    "orbital_satellite_battery_soc_ratio",
    "orbital_satellite_temperature_celsius",
    "orbital_satellite_power_generated_watts",
    "orbital_satellite_power_drawn_watts",
    "orbital_satellite_sunlit_ratio",
    "orbital_satellite_in_contact",
    "orbital_jobs",
    "orbital_jobs_finished_total",
    "orbital_queue_depth",
    "orbital_solve_duration_seconds_bucket",
    "orbital_plan_objective",
    "orbital_plan_gap_ratio",
    "orbital_deadline_misses_total",
    "orbital_preemptions_total",
    "orbital_agents_connected",
    # thresholds follow the exported limits; the lost flag is shown
    "orbital_satellite_battery_floor_ratio",
    "orbital_satellite_temperature_limit_celsius",
    "orbital_satellite_lost",
}
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "group_left",
    "group_right",
    "atan2",
    "inf",
    "nan",
}


# --- helpers -------------------------------------------------------------------------------
def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False, **kw)


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _load_local_targets() -> Any:
    """deploy/prometheus/local_targets.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "local_targets", DEPLOY / "prometheus" / "local_targets.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The value of --name VALUE or --name=VALUE in a command line: the script's own parser.
flag_value = _load_local_targets().flag


def exported_names(text: str) -> set[str]:
    """Metric names of a text exposition, with the sample suffixes of each family."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {name + s for s in ("_bucket", "_sum", "_count")}
            elif kind == "summary":
                names |= {name + "_sum", name + "_count"}
            elif kind == "counter" and not name.endswith("_total"):
                names.add(name + "_total")
            elif kind == "info" and not name.endswith("_info"):
                names.add(name + "_info")
        elif line and not line.startswith("#"):
            m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line)
            assert m, line
            names.add(m.group())
    return names


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # range selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+\S+", " ", e)  # offset modifiers
    e = re.sub(r"(?<![\w:])\d[\w.]*", " ", e)  # numbers and durations
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end() :].lstrip().startswith("("):  # a function or an aggregation
            continue
        if m.group().lower() not in PROMQL_KEYWORDS:
            names.add(m.group())
    return names


def dashboard_queries(dash: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(PromQL of every panel target, metric names of the template variables)."""
    exprs: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    walk(dash["panels"])
    variable_metrics = []
    for var in dash["templating"]["list"]:
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert m, f"variable {var['name']}: unexpected query {query!r}"
        variable_metrics.append(m.group(1))
    return exprs, variable_metrics


def rules_exprs() -> tuple[list[str], set[str]]:
    """(every rule expression, the recording rule names)."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [r for g in groups for r in g["rules"]]
    return [r["expr"] for r in rules], {r["record"] for r in rules if "record" in r}


_ACCEPTED: dict[tuple[str, ...], str] = {}


def cli_rejects(argv: list[str]) -> str:
    """'' when the real CLI parses argv (flags and values), else its error. The scheduler's
    parser runs in-process; the others run through the entry point with --help appended
    (argparse converts the values before it and exits 0 at --help)."""
    key = tuple(argv)
    if key not in _ACCEPTED:
        if argv[0] == "orbit-scheduler":
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err):
                    scheduler_main.build_parser().parse_args(argv[1:])
                _ACCEPTED[key] = ""
            except SystemExit:
                _ACCEPTED[key] = err.getvalue() or "rejected"
        else:
            env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
            r = run(["sh", str(ENTRYPOINT), *argv, "--help"], env=env)
            _ACCEPTED[key] = "" if r.returncode == 0 else r.stderr or "rejected"
    return _ACCEPTED[key]


def bad_flags(argv: list[str], help_text: str) -> list[str]:
    flags = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    return [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", help_text)]


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_help() -> dict[str, str]:
    """`ROLE --help` of each real CLI, run through the image's entry point script."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = {}
    for role in ROLES:
        result = run(["sh", str(ENTRYPOINT), role, "--help"], env=env)
        assert result.returncode == 0, (role, result.stderr)
        assert f"usage: {role}" in result.stdout
        out[role] = result.stdout
    sub = run([str(BIN / "orbitctl"), "sats", "--help"])
    out["orbitctl"] += sub.stdout
    return out


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, str, str]]:
    """A real scheduler and one agent on loopback (free ports, temporary database): the
    cluster and the text of both /metrics, once the agent is connected and reporting."""
    with running_cluster(tmp_path_factory.mktemp("live"), n=1) as (cluster, client):
        name = cluster.satellites[0]
        sched_url = f"http://127.0.0.1:{cluster.scheduler_metrics_port}/metrics"
        agent_url = f"http://127.0.0.1:{cluster.agent_metrics_ports[name]}/metrics"
        wait_for(
            lambda: all(s.telemetry.time_s for s in client.satellites().satellites),
            15,
            "telemetry from the agent",
        )
        sched = wait_for(
            lambda: scrape_when(sched_url, f'satellite="{name}"'),
            10,
            "per-satellite series in the scheduler's exposition",
        )
        agent = wait_for(
            lambda: scrape_when(agent_url, f'orbital_agent_connected{{satellite="{name}"}} 1'),
            10,
            "the agent's connected gauge",
        )
        yield cluster, sched, agent


def scrape_when(url: str, marker: str) -> str:
    """The text at url if it contains marker, else ''."""
    text = fetch(url)
    return text if marker in text else ""


# --- compose ---------------------------------------------------------------------------------
def test_compose_file_validates() -> None:
    binary = need("docker-compose", "docker-compose")
    result = run([binary, "-f", str(COMPOSE), "config", "-q"], cwd=DEPLOY)
    assert result.returncode == 0, result.stderr


def test_compose_services_agree(compose: dict[str, Any], cli_help: dict[str, str]) -> None:
    services = compose["services"]
    sched = services["scheduler"]["command"]
    assert sched[0] == "orbit-scheduler"
    agents = {k: v for k, v in services.items() if v.get("command", [""])[0] == "orbit-agent"}
    assert len(agents) >= 2
    sats = [flag_value(a["command"], "--satellite") for a in agents.values()]
    # The scheduler plans over the first N satellites; the agents are exactly those.
    n = int(flag_value(sched, "--satellites") or 0)
    assert sorted(s for s in sats if s) == sorted(NAMES[:n]) and len(sats) == n
    grpc_port = (flag_value(sched, "--listen") or "").rpartition(":")[2]
    for name, svc in agents.items():
        cmd = svc["command"]
        assert flag_value(cmd, "--scheduler") == f"scheduler:{grpc_port}", name
        assert flag_value(cmd, "--metrics-host") == "0.0.0.0", name
        assert "scheduler" in svc["depends_on"]
        assert set(svc["networks"]) & set(services["scheduler"]["networks"])
    assert flag_value(sched, "--metrics-host") == "0.0.0.0"
    # The database is on the named volume.
    db = Path(flag_value(sched, "--db") or "")
    mounts = dict(v.split(":")[1::-1] for v in services["scheduler"]["volumes"])
    assert str(db.parent) in mounts and mounts[str(db.parent)] in compose["volumes"]
    # Every command line uses flags its CLI has.
    for name, svc in services.items():
        cmd = svc.get("command")
        if cmd and cmd[0] in ROLES:
            assert not bad_flags(cmd, cli_help[cmd[0]]), (name, bad_flags(cmd, cli_help[cmd[0]]))
            assert not cli_rejects(cmd), (name, cli_rejects(cmd))
    health = services["scheduler"]["healthcheck"]["test"]
    assert health[1] == "orbitctl" and not bad_flags(health[1:], cli_help["orbitctl"])
    assert not cli_rejects(health[1:])
    # Prometheus scrapes exactly these services on their metrics ports.
    prom = yaml.safe_load(PROM_CONFIGS[0].read_text())
    targets = {
        t
        for job in prom["scrape_configs"]
        for sc in job.get("static_configs", [])
        for t in sc["targets"]
    }
    expected = {f"scheduler:{flag_value(sched, '--metrics-port')}"} | {
        f"{name}:{flag_value(svc['command'], '--metrics-port')}" for name, svc in agents.items()
    }
    assert targets == expected
    # Grafana: datasource at the Prometheus service, dashboards where the provider looks.
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ][0]
    assert ds["url"] == "http://prometheus:9090" and "prometheus" in services
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/orbital.yml").read_text())[
        "providers"
    ][0]
    grafana_mounts = dict(v.split(":")[1::-1][:2] for v in services["grafana"]["volumes"])
    assert grafana_mounts[provider["options"]["path"]] == "./grafana/dashboards"
    dash = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])}
    assert uids == {ds["uid"]}


# --- Prometheus -----------------------------------------------------------------------------
def test_promtool_check_config() -> None:
    promtool = need("promtool", "prometheus")
    for config in PROM_CONFIGS:
        result = run([promtool, "check", "config", str(config)])
        assert result.returncode == 0, (config.name, result.stdout, result.stderr)
        assert "1 rule files found" in result.stdout, result.stdout


def test_promtool_check_and_test_rules() -> None:
    promtool = need("promtool", "prometheus")
    result = run([promtool, "check", "rules", str(RULES)])
    assert result.returncode == 0, (result.stdout, result.stderr)
    result = run([promtool, "test", "rules", str(RULE_TESTS)])
    assert result.returncode == 0, (result.stdout, result.stderr)


def test_local_prometheus_config_matches_orbitctl_cluster_up() -> None:
    """prometheus-local.yml scrapes the scheduler where `orbitctl cluster up` serves it."""
    parser = argparse.ArgumentParser()
    cluster_command.register(parser.add_subparsers())
    default_port = parser.parse_args(["cluster", "up"]).metrics_port
    config = yaml.safe_load(PROM_CONFIGS[1].read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["orbit-scheduler"]["static_configs"][0]["targets"] == [f"127.0.0.1:{default_port}"]
    sd_file = jobs["orbit-agent"]["file_sd_configs"][0]["files"][0]
    script = (DEPLOY / "prometheus" / "local_targets.py").read_text()
    assert f'Path("{sd_file}")' in script


# --- metric names against a real exposition ---------------------------------------------
def test_promql_extractor() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, policy) (rate(a_bucket{x="b c"}[5m]))) '
        "- on (satellite) group_left b:rec and c == bool 1e3 offset 5m"
    )
    assert promql_metric_names(expr) == {"a_bucket", "b:rec", "c"}


def test_dashboard_and_rules_use_exported_metrics(live: tuple[LocalCluster, str, str]) -> None:
    _, sched, agent = live
    exported = exported_names(sched) | exported_names(agent)
    assert "orbital_solve_duration_seconds_bucket" in exported  # suffixes handled
    rule_exprs, recorded = rules_exprs()
    known = exported | recorded | PROMETHEUS_OWN
    dash_exprs, variable_metrics = dashboard_queries(json.loads(DASHBOARD.read_text()))
    used_by_dashboard = set(variable_metrics)
    for expr in dash_exprs:
        used_by_dashboard |= promql_metric_names(expr)
    used_by_rules = set().union(*(promql_metric_names(e) for e in rule_exprs))
    assert not used_by_dashboard - known, f"dashboard: unknown {used_by_dashboard - known}"
    assert not used_by_rules - known, f"rules: unknown {used_by_rules - known}"
    assert not DASHBOARD_MUST_USE - used_by_dashboard, DASHBOARD_MUST_USE - used_by_dashboard
    assert recorded <= used_by_dashboard | used_by_rules | {"orbital:jobs_finished:rate5m"}


def test_local_targets_finds_running_agents(
    live: tuple[LocalCluster, str, str], tmp_path: Path
) -> None:
    cluster, _, _ = live
    out = tmp_path / "targets.json"
    script = DEPLOY / "prometheus" / "local_targets.py"
    result = run([sys.executable, str(script), "--output", str(out)])
    assert result.returncode == 0, result.stderr
    targets = json.loads(out.read_text())
    for name, port in cluster.agent_metrics_ports.items():
        assert {"targets": [f"127.0.0.1:{port}"], "labels": {"satellite": name}} in targets


def test_dashboard_expressions_parse_in_prometheus(tmp_path: Path) -> None:
    config = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
    with running_prometheus(config, tmp_path) as port:
        base = f"http://127.0.0.1:{port}/api/v1/query?query="

        def ready() -> bool:
            try:
                return bool(fetch(base + "1"))
            except OSError:
                return False

        wait_for(ready, 10, "Prometheus ready", 0.1)
        exprs, _ = dashboard_queries(json.loads(DASHBOARD.read_text()))
        errors = []
        for expr in exprs:
            query = expr.replace("$satellite", ".*")
            try:
                body = json.loads(fetch(base + urllib.parse.quote(query)))
            except urllib.error.HTTPError as exc:
                body = json.loads(exc.read().decode())
            if body.get("status") != "success":
                errors.append((expr, body.get("error")))
        assert not errors, errors


# --- image -----------------------------------------------------------------------------------
def test_entrypoint_dispatches_roles(tmp_path: Path) -> None:
    """With stand-ins for the CLIs on PATH: what the entry point execs."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for role in ROLES:
        stub = stubs / role
        stub.write_text(f'#!/bin/sh\necho {role} "$@"\n')
        stub.chmod(0o755)
    base = {"PATH": f"{stubs}{os.pathsep}{os.environ.get('PATH', '')}"}

    def entry(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(["sh", str(ENTRYPOINT), *args], env={**base, **env})

    r = entry("orbit-scheduler", "--listen", "0.0.0.0:50051")
    assert (r.returncode, r.stdout.strip()) == (0, "orbit-scheduler --listen 0.0.0.0:50051")
    r = entry("orbit-agent", "--satellite=sat-0-1", "--scheduler", "s:1")
    assert r.stdout.strip() == "orbit-agent --satellite=sat-0-1 --scheduler s:1"
    r = entry("orbit-agent", "--scheduler", "s:1", ORBIT_SATELLITE="sat-0-2")
    assert r.stdout.strip() == "orbit-agent --satellite sat-0-2 --scheduler s:1"
    (tmp_path / "sat").write_text("sat-2-9\n")
    r = entry("orbit-agent", "--scheduler", "s:1", ORBIT_SATELLITE_FILE=str(tmp_path / "sat"))
    assert r.stdout.strip() == "orbit-agent --satellite sat-2-9 --scheduler s:1"
    r = entry("orbit-agent", "--scheduler", "s:1")
    assert r.returncode == 64 and "ORBIT_SATELLITE" in r.stderr
    for bad in ((), ("bash",), ("orbit-scheduler-typo",)):
        r = entry(*bad)
        assert r.returncode == 64 and "usage" in r.stderr, bad


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_scheduler_commands_pass_the_listen_security_check(compose: dict[str, Any]) -> None:
    """The scheduler refuses a non-loopback --listen without mutual TLS or --insecure; the
    image's default command and compose's both pass that check, in mutual TLS."""
    ins = dockerfile_instructions()
    cmds = {
        "Dockerfile CMD": json.loads([rest for word, rest in ins if word == "CMD"][-1]),
        "compose": compose["services"]["scheduler"]["command"],
    }
    for where, cmd in cmds.items():
        args = scheduler_main.build_parser().parse_args(cmd[1:])
        host = args.listen.rpartition(":")[0]
        tls = server_tls(args.tls_cert, args.tls_key, args.tls_client_ca)
        check_listen_security(host, tls, args.insecure)  # raises if refused
        assert tls is not None and tls.mutual and not args.insecure, where


def test_dockerfile_and_dockerignore(cli_help: dict[str, str]) -> None:
    ins = dockerfile_instructions()
    froms = [rest for word, rest in ins if word == "FROM"]
    # Every stage starts from the base (ARG BASE_IMAGE, default python:3.11-slim; `make image`
    # passes a local Debian base where no registry answers) or from an earlier stage.
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in ins[: ins.index(("FROM", froms[0]))]
    stages: set[str] = set()
    for f in froms:
        assert f.split()[0] in {"${BASE_IMAGE}", *stages}, f
        if " AS " in f.upper():
            stages.add(f.split()[-1])
    final = ins[max(i for i, (w, _) in enumerate(ins) if w == "FROM") :]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    entrypoint = json.loads(next(rest for word, rest in final if word == "ENTRYPOINT"))
    copies = [shlex.split(rest) for word, rest in final if word == "COPY"]
    assert any(c[-2] == "deploy/entrypoint.sh" and c[-1] == entrypoint[0] for c in copies)
    assert os.access(ENTRYPOINT, os.X_OK)
    cmd = json.loads(next(rest for word, rest in final if word == "CMD"))
    assert cmd[0] in ROLES and not bad_flags(cmd, cli_help[cmd[0]])
    assert not cli_rejects(cmd), cli_rejects(cmd)
    # What the build copies exists and is not excluded from the context.
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for word, rest in ins:
        if word == "COPY" and "--from" not in rest:
            for src in shlex.split(rest)[:-1]:
                if src.startswith("--"):
                    continue
                if src.startswith("build/wheels/"):
                    # made on the host by `make image` (scheduler/testbed/image.py)
                    assert (REPO / src).parent == image.WHEELS and "!build/wheels" in ignored
                    continue
                assert (REPO / src).exists(), src
                assert src.split("/")[0] not in ignored, src
    assert {".venv", "out", ".git", "**/__pycache__", ".mypy_cache", ".pytest_cache"} <= ignored


def test_dashboard_thresholds_follow_the_exported_limits() -> None:
    """Battery and temperature thresholds come from the scheduler's limit gauges through
    Grafana's config-from-query transformation, not from numbers in the dashboard."""
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    for title, metric in (
        ("Battery state of charge", "orbital_satellite_battery_floor_ratio"),
        ("Temperature", "orbital_satellite_temperature_limit_celsius"),
    ):
        panel = panels[title]
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps] == [None], (title, steps)
        (transform,) = panel["transformations"]
        assert transform["id"] == "configFromData"
        ref = transform["options"]["configRefId"]
        config_query = next(t for t in panel["targets"] if t["refId"] == ref)
        assert metric in config_query["expr"]
        (mapping,) = transform["options"]["mappings"]
        assert mapping["handlerKey"] == "threshold1"
        assert mapping["fieldName"] == config_query["legendFormat"]
    lost = panels["Lost satellites"]
    assert lost["targets"][0]["expr"].startswith("orbital_satellite_lost{")
