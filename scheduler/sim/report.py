"""Simulation outputs: summary.json, plan.json, gantt.png and a short table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scheduler.report.gantt import plot_gantt
from scheduler.report.run_record import RunInterval
from scheduler.sim.simulator import SimResult


def write_outputs(result: SimResult, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
    executed = sorted(result.executed, key=lambda e: (e["satellite"], e["start_s"], e["job_id"]))
    doc = {
        "note": "the executed schedule: what each satellite actually ran",
        "items": executed,
        "last_plan": result.last_plan.to_dict() if result.last_plan else None,
    }
    (out_dir / "plan.json").write_text(json.dumps(doc, indent=1) + "\n")
    gantt(result, out_dir / "gantt.png")


def _outcome(outcome: str) -> str:
    if outcome in ("compute done", "succeeded"):
        return "succeeded"
    return "running" if outcome == "running at end" else "stopped"


def gantt(result: SimResult, path: Path) -> None:
    """One row per satellite: jobs as bars (red edge: stopped before done), eclipses shaded,
    contacts (via the ISL route) marked; the same chart as the demo's."""
    intervals = [
        RunInterval(
            e["job_id"], e["kind"], e["satellite"], e["start_s"], e["end_s"], _outcome(e["outcome"])
        )
        for e in result.executed
    ]
    s = result.summary
    plot_gantt(
        intervals,
        result.names,
        result.start_s,
        result.end_s,
        result.eclipses,
        result.contacts,
        path,
        title=f"policy {s['policy']}, seed {s['seed']}: value {s['value']:.1f}",
    )


_COLUMNS = (
    ("policy", lambda s: s["policy"]),
    ("value", lambda s: f"{s['value']:.1f}"),
    ("inf ok/late/fail", lambda s: "{succeeded}/{late}/{failed}".format(**s["jobs"]["inference"])),
    ("acc-h", lambda s: f"{s['accelerator_hours']:.1f}"),
    ("min soc Wh", lambda s: f"{s['min_soc_wh']:.0f}/{s['battery_floor_wh']:.0f}"),
    ("max T C", lambda s: f"{s['max_temperature_c']:.1f}/{s['temperature_limit_c']:.0f}"),
    ("self-prot", lambda s: str(s["self_protection_events"])),
    ("solve s", lambda s: f"{s['solve_time_s']['mean']:.2f}"),
    ("gap", lambda s: f"{s['gap']['mean']:.3f}"),
)


def table(summaries: Sequence[dict[str, Any]]) -> str:
    rows = [[h for h, _ in _COLUMNS]] + [[f(s) for _, f in _COLUMNS] for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    if len(summaries) == 2 and summaries[1]["value"] > 0:
        ratio = summaries[0]["value"] / summaries[1]["value"] - 1.0
        lines.append(f"{summaries[0]['policy']} vs {summaries[1]['policy']}: {ratio:+.1%} value")
    return "\n".join(lines)
