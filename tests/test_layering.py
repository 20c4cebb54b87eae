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
