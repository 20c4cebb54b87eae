"""Simulation outputs: summary.json, plan.json, gantt.png and a short table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.simulate import STEP_S, SimResult


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


def gantt(result: SimResult, path: Path) -> None:
    """One row per satellite: jobs as bars, eclipses shaded, contacts (via ISL route) marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result.names
    hours = float(result.summary["hours"])
    t0 = result.book_start_s
    fig, ax = plt.subplots(figsize=(14, 0.28 * len(names) + 1.5))
    n_steps = int(hours * 3600 / STEP_S)
    for row, _name in enumerate(names):
        dark = np.asarray(result.book_sunlit[row, :n_steps]) < 0.5
        k = 0
        while k < n_steps:
            if dark[k]:
                stop = k
                while stop < n_steps and dark[stop]:
                    stop += 1
                ax.fill_between(
                    [k * STEP_S / 3600, stop * STEP_S / 3600],
                    row - 0.45,
                    row + 0.45,
                    color="0.85",
                    lw=0,
                )
                k = stop
            k += 1
        for a, b in result.contacts[row]:
            if (a - t0) / 3600 < hours:
                ax.plot(
                    [(a - t0) / 3600, (b - t0) / 3600],
                    [row - 0.42, row - 0.42],
                    color="tab:green",
                    lw=2,
                    solid_capstyle="butt",
                )
    colors = {"inference": "tab:blue", "training": "tab:orange"}
    index = {n: i for i, n in enumerate(names)}
    for e in result.executed:
        row = index[e["satellite"]]
        x0 = (e["start_s"] - t0) / 3600
        width = max((e["end_s"] - e["start_s"]) / 3600, 1e-3)
        shed = "self-protection" in str(e.get("outcome", ""))
        ax.broken_barh(
            [(x0, width)],
            (row - 0.3, 0.6),
            facecolors=colors[e["kind"]],
            edgecolors="red" if shed else "none",
            alpha=0.8,
        )
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set_xlim(0, hours)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("hours since epoch (UTC)")
    s = result.summary
    ax.set_title(
        f"policy {s['policy']}, seed {s['seed']}: value {s['value']:.1f}; grey = eclipse, "
        "green = contact via ISL route, blue = inference, orange = training"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
