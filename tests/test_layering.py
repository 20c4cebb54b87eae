"""Dependencies point one way (DESIGN.md section 2): the forecast package imports nothing
else of the project, and the agent never imports the planner or the server."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _imports(package: Path) -> set[tuple[str, str]]:
    found = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(REPO)), a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(REPO)), node.module))
    return found


def test_forecast_is_a_leaf() -> None:
    bad = {
        (f, m)
        for f, m in _imports(REPO / "scheduler" / "forecast")
        if (m.startswith(("scheduler", "agents", "orbitalsched")))
        and not m.startswith("scheduler.forecast")
    }
    assert not bad, f"scheduler.forecast imports the rest of the project: {sorted(bad)}"


def test_agents_never_import_planner_or_server() -> None:
    bad = {
        (f, m)
        for f, m in _imports(REPO / "agents")
        if m.startswith(("scheduler.planner", "scheduler.server", "scheduler.cli"))
    }
    assert not bad, f"agents import the planner or the server: {sorted(bad)}"


def test_security_is_a_leaf() -> None:
    """scheduler.security (certificates, authorization, TLS) is shared by the server, orbitctl
    and the agent, so it imports nothing else of the project."""
    bad = {
        (f, m)
        for f, m in _imports(REPO / "scheduler" / "security")
        if m.startswith(("scheduler", "agents")) and not m.startswith("scheduler.security")
    }
    assert not bad, f"scheduler.security imports the rest of the project: {sorted(bad)}"


def test_proc_is_a_leaf() -> None:
    bad = {
        (f, m)
        for f, m in _imports(REPO / "scheduler" / "proc")
        if m.startswith(("scheduler", "agents"))
    }
    assert not bad, f"scheduler.proc imports the rest of the project: {sorted(bad)}"


def test_agents_import_of_the_scheduler_package_is_forecast_and_security_only() -> None:
    bad = {
        (f, m)
        for f, m in _imports(REPO / "agents")
        if m.startswith("scheduler")
        and not m.startswith(("scheduler.forecast", "scheduler.security", "scheduler.proc"))
    }
    assert not bad, f"agents import more of the scheduler than forecast and security: {sorted(bad)}"


# The roles above the core (DESIGN.md section 2 extended by the regroup of issue 7): the
# simulator, the local cluster and demo, the reports and the command line use the core;
# the core (forecast, planner, server, agents) never imports them.
UPPER = (
    "scheduler.sim",
    "scheduler.cluster",
    "scheduler.report",
    "scheduler.commands",
    "scheduler.testbed",
)


def test_core_never_imports_the_roles_above_it() -> None:
    core = ("forecast", "planner", "server")
    found = {fm for pkg in core for fm in _imports(REPO / "scheduler" / pkg)}
    found |= _imports(REPO / "agents")
    bad = {(f, m) for f, m in found if m.startswith((*UPPER, "scheduler.cli"))}
    assert not bad, f"the core imports the simulator, cluster, reports or CLI: {sorted(bad)}"


def test_planner_never_imports_server() -> None:
    bad = {
        (f, m)
        for f, m in _imports(REPO / "scheduler" / "planner")
        if m.startswith("scheduler.server")
    }
    assert not bad, f"the planner imports the server: {sorted(bad)}"


def test_reports_draw_what_they_are_given() -> None:
    """Reports import neither the planner nor the server nor the simulator."""
    bad = {
        (f, m)
        for f, m in _imports(REPO / "scheduler" / "report")
        if m.startswith(("scheduler.planner", "scheduler.server", "scheduler.sim"))
    }
    assert not bad, f"a report imports the planner, server or simulator: {sorted(bad)}"


def test_cluster_talks_to_the_scheduler_over_grpc_only() -> None:
    """The local cluster and the demo start scheduler processes and call them; they import
    no planner and no server internals (job specs convert through server.model/convert)."""
    allowed = ("scheduler.server.model", "scheduler.server.convert")
    bad = {
        (f, m)
        for f, m in _imports(REPO / "scheduler" / "cluster")
        if m.startswith(("scheduler.planner", "scheduler.server")) and not m.startswith(allowed)
    }
    assert not bad, f"the local cluster imports planner or server internals: {sorted(bad)}"


def test_no_loose_modules_at_the_top_level() -> None:
    """scheduler/ holds packages named for their role, plus the CLI entry point, the
    scenario loader shared by all and the user-error type."""
    loose = {p.name for p in (REPO / "scheduler").glob("*.py")}
    assert loose <= {"__init__.py", "cli.py", "scenario.py", "errors.py"}, sorted(loose)


def test_testbed_is_a_front_end_only() -> None:
    """scheduler.testbed drives containers and namespaces from the outside: only the CLI
    imports it, and it uses the client, never the server, planner or agent code."""
    users = {
        (f, m)
        for pkg in ("scheduler", "agents")
        for f, m in _imports(REPO / pkg)
        if m.startswith("scheduler.testbed")
        and not f.startswith(("scheduler/testbed/", "scheduler/commands/testbed.py"))
    }
    assert not users, f"imports of the testbed outside the CLI: {sorted(users)}"
    bad = {
        (f, m)
        for f, m in _imports(REPO / "scheduler" / "testbed")
        if m.startswith(("scheduler.server", "scheduler.planner", "agents"))
    }
    assert not bad, f"the testbed imports server, planner or agent code: {sorted(bad)}"


# The server's edge: the servicers and the two modules that convert at the boundary, the
# wiring, and the transport security it plugs in. Everything else in scheduler/server works
# on model types (model.py, messages.py, the planner's Plan) and never sees a _pb2 object.
SERVER_EDGE = {
    "agent_service.py",
    "jobs_service.py",
    "cluster_service.py",
    "validate.py",
    "convert.py",
    "wire.py",  # messages to agents as bytes, built once (set on the sessions by the servicer)
    "app.py",
    "main.py",
}


def test_nothing_below_the_servicers_sees_protobuf() -> None:
    server = REPO / "scheduler" / "server"
    bad = {
        (f, m)
        for f, m in _imports(server)
        if m.startswith(("orbitalsched", "grpc_health", "grpc_reflection"))
        and Path(f).name not in SERVER_EDGE
    }
    assert not bad, f"protobuf below the servicers (convert at the boundary): {sorted(bad)}"
