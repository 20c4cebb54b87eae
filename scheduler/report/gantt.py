"""Gantt chart of what ran on each satellite, with eclipses shaded and contacts marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from scheduler.report.run_record import RunInterval

COLORS = {"inference": "#1f77b4", "training": "#ff7f0e"}
Windows = Mapping[str, Sequence[tuple[float, float]]]


def _t(s: float) -> datetime:
    return datetime.fromtimestamp(s, tz=UTC)


def _lanes(
    intervals: Sequence[RunInterval],
) -> tuple[dict[RunInterval, int], dict[str, int]]:
    """Jobs that run at the same time on a satellite get lanes of their own in its row."""
    lane: dict[RunInterval, int] = {}
    lanes: dict[str, int] = {}
    ends: dict[str, list[float]] = {}
    for iv in sorted(intervals, key=lambda x: (x.satellite, x.start_s)):
        free = ends.setdefault(iv.satellite, [])
        k = next((k for k, end in enumerate(free) if end <= iv.start_s), len(free))
        if k == len(free):
            free.append(iv.end_s)
        else:
            free[k] = iv.end_s
        lane[iv] = k
        lanes[iv.satellite] = max(lanes.get(iv.satellite, 1), k + 1)
    return lane, lanes


def plot_gantt(
    intervals: Sequence[RunInterval],
    satellites: Sequence[str],
    start_s: float,
    end_s: float,
    eclipses: Windows,
    contacts: Windows,
    path: Path,
    title: str = "What ran where",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(14, 0.45 * len(satellites) + 1.8), dpi=110)
    rows = {name: i for i, name in enumerate(satellites)}
    for name, i in rows.items():
        for a, b in eclipses.get(name, ()):
            ax.broken_barh(
                [(mdates.date2num(_t(a)), (b - a) / 86400.0)],
                (i - 0.45, 0.9),
                facecolors="#bbbbbb",
                alpha=0.45,
                zorder=0,
            )
        for a, b in contacts.get(name, ()):
            ax.broken_barh(
                [(mdates.date2num(_t(a)), (b - a) / 86400.0)],
                (i + 0.32, 0.12),
                facecolors="#2ca02c",
                zorder=1,
            )
    lane, lanes = _lanes(intervals)
    for iv in intervals:
        if iv.satellite not in rows:
            continue
        i = rows[iv.satellite]
        n = lanes[iv.satellite]
        height = 0.6 / n
        ax.broken_barh(
            [(mdates.date2num(_t(iv.start_s)), max(iv.end_s - iv.start_s, 1.0) / 86400.0)],
            (i - 0.3 + lane[iv] * height, height),
            facecolors=COLORS.get(iv.kind, "#7f7f7f"),
            edgecolors="black" if iv.outcome == "succeeded" else "red",
            linewidth=0.6,
            zorder=2,
        )
    ax.set_yticks(range(len(satellites)), labels=list(satellites), fontsize=7)
    ax.set_ylim(-0.6, len(satellites) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(float(mdates.date2num(_t(start_s))), float(mdates.date2num(_t(end_s))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_xlabel("simulation time (UTC)")
    ax.set_title(title)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=COLORS["inference"], label="inference"),
        plt.Rectangle((0, 0), 1, 1, color=COLORS["training"], label="training"),
        plt.Rectangle((0, 0), 1, 1, color="#bbbbbb", alpha=0.45, label="eclipse"),
        plt.Rectangle((0, 0), 1, 1, color="#2ca02c", label="ground contact"),
        plt.Rectangle(
            (0, 0), 1, 1, facecolor="white", edgecolor="red", label="stopped / preempted"
        ),
    ]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=5,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
