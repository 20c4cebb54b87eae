"""The agent process loads neither the planner, the server nor the solver (DESIGN.md
section 2): checked on what an agent actually imports, transitively, not only on its source."""

from __future__ import annotations

import json
import subprocess
import sys


def test_agent_process_imports_no_planner_server_or_solver() -> None:
    code = (
        "import json, sys\n"
        "import agents.agent, agents.runtime, agents.metrics\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    bad = [
        m
        for m in loaded
        if m.startswith(
            (
                "scheduler.planner",
                "scheduler.server",
                "scheduler.cli",
                "scheduler.commands",
                "ortools",
            )
        )
    ]
    assert not bad, f"the agent loads {bad}"
    assert "scheduler.forecast" in loaded and "orbitalsched.v1.agent_pb2" in loaded
