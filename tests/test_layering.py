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


def test_agents_import_of_the_scheduler_package_is_forecast_and_security_only() -> None:
    bad = {
        (f, m)
        for f, m in _imports(REPO / "agents")
        if m.startswith("scheduler")
        and not m.startswith(("scheduler.forecast", "scheduler.security"))
    }
    assert not bad, f"agents import more of the scheduler than forecast and security: {sorted(bad)}"
