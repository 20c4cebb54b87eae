"""Simulation in virtual time: the rolling-horizon simulator, its seeded workloads and its
report (summary.json, plan.json, gantt.png)."""
