"""The agent's executor against its simulated bus: job events, downlink, checkpoints and
self-protection whatever the plan says."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from agents.bus import SimulatedBus
from agents.executor import ExecItem, Executor, JobEvent
from scheduler.forecast.bus import BusParams

T0 = 1_796_083_200.0
BUS = BusParams()


def executor(
    sunlit: float, soc_wh: float, temperature_c: float = 30.0, bus: BusParams = BUS, n: int = 120
) -> Executor:
    truth = SimulatedBus(
        bus,
        T0,
        60.0,
        np.full(n, sunlit),
        np.full(n, 550.0),
        soc_wh=soc_wh,
        temperature_c=temperature_c,
        seed=1,
    )
    return Executor("sat-0", truth, downlink_mbps=100.0)


def run(ex: Executor, minutes: int) -> list[JobEvent]:
    events: list[JobEvent] = []
    for k in range(minutes):
        events += ex.advance(T0 + 60.0 * k, 60.0)
    return events


def test_inference_runs_then_succeeds_when_its_output_is_downlinked() -> None:
    ex = executor(sunlit=1.0, soc_wh=1800.0)
    item = ExecItem(
        "inf",
        "inference",
        T0 + 60,
        T0 + 660,
        2,
        1400.0,
        work_acc_s=1200.0,
        output_mb=600.0,
        deadline_s=T0 + 3600,
    )
    assert ex.apply_plan([item], 1, contacts=[(T0 + 1200, T0 + 1500)])
    events = run(ex, 30)
    kinds = [(e.kind, e.reason) for e in events]
    assert kinds == [
        ("started", ""),
        ("progress", "compute done"),
        ("succeeded", "output downlinked"),
    ]
    started, done, ok = events
    assert started.time_s == T0 + 60 and done.time_s == T0 + 660
    # 600 MB at 100 Mbit/s take 48 s: down within the first minute of the contact.
    assert ok.time_s == T0 + 1260 and ok.done_acc_s == 1200.0


def test_older_plan_versions_are_ignored_and_new_ones_replace_pending_entries() -> None:
    ex = executor(sunlit=1.0, soc_wh=1800.0)
    a = ExecItem("a", "inference", T0 + 600, T0 + 1200, 1, 700.0, work_acc_s=600.0)
    b = replace(a, job_id="b")
    assert ex.apply_plan([a], 2)
    assert not ex.apply_plan([b], 1)
    assert ex.apply_plan([b], 3)
    started = [e.job_id for e in run(ex, 15) if e.kind == "started"]
    assert started == ["b"]


def test_battery_self_protection_sheds_work_whatever_the_plan_says() -> None:
    # In eclipse 100 Wh above the floor: 3.1 kW for 10 min would take 517 Wh.
    ex = executor(sunlit=0.0, soc_wh=BUS.battery_floor_wh + 100.0)
    item = ExecItem("big", "inference", T0, T0 + 600, 4, 2800.0, work_acc_s=2400.0)
    ex.apply_plan([item], 1)
    events = run(ex, 10)
    stops = [e for e in events if e.kind == "stopped"]
    assert stops and stops[0].reason == "self-protection: battery below floor"
    assert ex.self_protection_events >= 1
    assert ex.bus.min_soc_wh >= BUS.battery_floor_wh
    assert ex.bus.floor_violations == 0


def test_thermal_self_protection() -> None:
    hot = replace(BUS, battery_capacity_wh=1e6)
    ex = executor(sunlit=1.0, soc_wh=5e5, temperature_c=59.0, bus=hot)
    ex.apply_plan([ExecItem("hot", "inference", T0, T0 + 1800, 4, 2800.0, work_acc_s=7200.0)], 1)
    events = run(ex, 30)
    assert any(e.reason == "self-protection: temperature limit" for e in events)
    assert ex.bus.max_temperature_c <= hot.max_temperature_c
    assert ex.bus.temperature_violations == 0


def test_training_checkpoints_and_loses_only_uncheckpointed_progress() -> None:
    ex = executor(sunlit=1.0, soc_wh=2000.0)
    train = ExecItem(
        "tr",
        "training",
        T0,
        T0 + 1800,
        2,
        1400.0,
        checkpoint_times_s=(T0 + 600, T0 + 1200, T0 + 1800),
        checkpoint_cost_s=60.0,
    )
    ex.apply_plan([train], 1)
    events = run(ex, 15)
    cps = [e for e in events if e.kind == "checkpointed"]
    assert [e.time_s for e in cps] == [T0 + 600]
    assert cps[0].checkpoint_acc_s == 2 * (600.0 - 60.0)
    (stop,) = ex.cancel("tr", T0 + 900, "cancelled")
    assert stop.kind == "stopped" and stop.checkpoint_acc_s == 2 * 540.0
    assert stop.done_acc_s > stop.checkpoint_acc_s  # the work since then is lost


def test_next_training_block_from_a_new_plan_follows_the_running_one() -> None:
    ex = executor(sunlit=1.0, soc_wh=2000.0)
    block = ExecItem(
        "tr",
        "training",
        T0,
        T0 + 600,
        2,
        1400.0,
        checkpoint_times_s=(T0 + 600,),
        checkpoint_cost_s=60.0,
    )
    ex.apply_plan([block], 1)
    run(ex, 5)
    nxt = replace(block, start_s=T0 + 600, end_s=T0 + 1200, checkpoint_times_s=(T0 + 1200,))
    ex.apply_plan([nxt], 2)  # sent while the first block runs
    events = [e for k in range(5, 20) for e in ex.advance(T0 + 60.0 * k, 60.0)]
    assert [e.time_s for e in events if e.kind == "checkpointed"] == [T0 + 600, T0 + 1200]
    # The second block goes on from the first one's checkpoint (its entry, sent before that
    # checkpoint, says 0): 2 accelerators x (600 - 60) s per block.
    cps = [e.checkpoint_acc_s for e in events if e.kind == "checkpointed"]
    assert cps == [2 * 540.0, 2 * 1080.0]


def test_a_later_block_of_the_same_placement_resumes_from_the_checkpoint_made_here() -> None:
    """Chaos (bench/chaos.py seed 0) once recorded 974 accelerator-s to redo against one
    checkpoint interval of 600 + 30: a training job's second block, planned before its first
    block's checkpoint, restarted from the plan's older resume_from and redid the first
    block. The executor now resumes a block of the same placement from its own newest
    checkpoint; a new placement (another token) or a cancelled job follows the plan."""
    ex = executor(sunlit=1.0, soc_wh=2000.0)
    first = ExecItem(
        "tr", "training", T0, T0 + 600, 1, 700.0, resume_from_acc_s=100.0,
        checkpoint_times_s=(T0 + 600,), checkpoint_cost_s=30.0, assignment_version=4,
    )  # fmt: skip
    second = replace(first, start_s=T0 + 1200, end_s=T0 + 1800, checkpoint_times_s=(T0 + 1800,))
    ex.apply_plan([first, second], 7)  # one plan, both entries with the same resume_from
    events = run(ex, 31)
    starts = [e for e in events if e.kind == "started"]
    cps = [e for e in events if e.kind == "checkpointed"]
    assert [e.done_acc_s for e in starts] == [100.0, 670.0]
    assert starts[0].reason == ""
    assert starts[1].reason == "resumed from its own checkpoint at 670 (the plan said 100)"
    assert [e.checkpoint_acc_s for e in cps] == [670.0, 1240.0]
    # Never more than one interval of work between the checkpoint a block resumes from and
    # the next one: the redo after a loss stays within checkpoint_interval + cost.
    assert all(b.checkpoint_acc_s - a.done_acc_s <= 600.0 for a, b in zip(starts, cps, strict=True))

    # Under another token (the job left and came back) the plan's resume_from rules.
    ex = executor(sunlit=1.0, soc_wh=2000.0)
    ex.apply_plan([first], 1)
    run(ex, 11)
    moved = replace(second, assignment_version=9, resume_from_acc_s=300.0)
    ex.apply_plan([moved], 2)
    again = [e for k in range(11, 31) for e in ex.advance(T0 + 60.0 * k, 60.0)]
    assert [e.done_acc_s for e in again if e.kind == "started"] == [300.0]

    # A cancel forgets the checkpoint: a later entry under the same token (a replayed plan)
    # resumes where the scheduler says.
    ex = executor(sunlit=1.0, soc_wh=2000.0)
    ex.apply_plan([first, second], 1)
    run(ex, 11)
    assert ex.cancel("tr", T0 + 660, "moved") == []  # nothing runs between the blocks
    ex.apply_plan([second], 2)
    again = [e for k in range(11, 31) for e in ex.advance(T0 + 60.0 * k, 60.0)]
    assert [e.done_acc_s for e in again if e.kind == "started"] == [100.0]


def test_outputs_go_down_by_deadline_and_those_without_one_last() -> None:
    # One minute of contact moves 750 MB at 100 Mbit/s: one of the two 600 MB outputs.
    ex = executor(sunlit=1.0, soc_wh=1800.0)
    whenever = ExecItem(
        "whenever", "inference", T0 + 60, T0 + 660, 1, 700.0, work_acc_s=300.0, output_mb=600.0
    )
    due = replace(whenever, job_id="due", deadline_s=T0 + 1800)
    assert ex.apply_plan([whenever, due], 1, contacts=[(T0 + 1200, T0 + 1260)])
    down = [e.job_id for e in run(ex, 30) if e.kind == "succeeded"]
    assert down == ["due"]
