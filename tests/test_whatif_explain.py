"""What-if and explanations at the planner level (scheduler/planner/whatif.py, explain.py)
on the default scenario's real forecast with a seeded contended workload."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import pytest

from scheduler.planner.domain import (
    ContactWindow,
    InferenceJob,
    Plan,
    PlanItem,
    Problem,
    SatelliteState,
    Unplaced,
)
from scheduler.planner.explain import explain
from scheduler.planner.problem_builder import forecast_book, problem_at
from scheduler.planner.solve import greedy_plan
from scheduler.planner.synthetic import synthetic_jobs
from scheduler.planner.validator import validate_plan
from scheduler.planner.whatif import (
    Hypothesis,
    StationOutage,
    _cut,
    apply_hypothesis,
    compare,
    plan_value,
)
from scheduler.scenario import load_scenario

CORDONED = "sat-0-3"


@lru_cache(maxsize=1)
def contended() -> Problem:
    sc = load_scenario("default")
    book = forecast_book(sc.constellation, sc.stations, sc.bus, sc.epoch_s, 4 * 3600.0, 60.0)
    jobs = synthetic_jobs(400, sc.epoch_s, 3 * 3600.0, seed=3, n_sats=30)
    states = {n: SatelliteState(n, sc.bus.initial_soc_wh, 35.0) for n in book.names}
    states[CORDONED] = replace(states[CORDONED], available=False)
    return problem_at(book, sc.epoch_s, 180, jobs, states)


def test_outage_cuts_windows_and_splits_the_one_it_falls_in() -> None:
    w = [ContactWindow("a", 0.0, 100.0, 10.0), ContactWindow("b", 0.0, 100.0, 10.0)]
    cut = _cut(w, StationOutage("a", 40.0, 60.0))
    assert [(x.station, x.start_s, x.end_s) for x in cut] == [
        ("a", 0.0, 40.0),
        ("a", 60.0, 100.0),
        ("b", 0.0, 100.0),
    ]
    assert [x.station for x in _cut(w, StationOutage("a"))] == ["b"]


def test_hypothesis_changes_a_copy_only() -> None:
    p = contended()
    job = InferenceJob("new-1", p.now_s, p.now_s + 3600, 600.0, output_mb=10.0)
    h = Hypothesis((StationOutage("wallops"),), ("sat-1-1",), (job,))
    q = apply_hypothesis(p, h)
    assert not q.states["sat-1-1"].available and p.states["sat-1-1"].available
    assert all(w.station != "wallops" for s in q.satellites for w in s.forecast.contacts)
    assert any(w.station == "wallops" for s in p.satellites for w in s.forecast.contacts)
    assert q.jobs[-1] is job and len(p.jobs) == 400
    with pytest.raises(ValueError, match="unknown satellite 'nope'"):
        apply_hypothesis(p, Hypothesis(satellites_lost=("nope",)))
    with pytest.raises(ValueError, match="already taken"):
        apply_hypothesis(p, Hypothesis(new_jobs=(replace(job, job_id=p.jobs[0].job_id),)))


def test_compare_names_moves_losses_and_value() -> None:
    p = contended()
    a, b = p.jobs[0], p.jobs[1]
    assert isinstance(a, InferenceJob) and isinstance(b, InferenceJob)
    item = PlanItem("sat-0-0", a.job_id, "inference", p.now_s, p.now_s + 600, 1, 700.0)
    item_b = PlanItem("sat-0-1", b.job_id, "inference", p.now_s, p.now_s + 600, 1, 700.0)
    before = Plan(1, p.now_s, p.now_s, p.horizon_end_s, (item, item_b))
    after = Plan(
        2, p.now_s, p.now_s, p.horizon_end_s, (replace(item, satellite="sat-2-2"),),
        (Unplaced(b.job_id, "ACCELERATORS", "busy"),),
    )  # fmt: skip
    report = compare(p, before, after, Hypothesis(satellites_lost=("sat-0-1",)), "OK", 0.1)
    kinds = {c.job_id: (c.kind, c.code) for c in report.changes}
    assert kinds == {a.job_id: ("moved", ""), b.job_id: ("unplaced", "ACCELERATORS")}
    assert report.value_change == pytest.approx(-b.value)
    assert plan_value(p, before) == pytest.approx(a.value + b.value)


def test_lost_satellite_whatif_moves_its_work_and_keeps_the_plan_sound() -> None:
    p = contended()
    base = greedy_plan(p).plan
    lost = base.items[0].satellite
    q = apply_hypothesis(p, Hypothesis(satellites_lost=(lost,)))
    after = greedy_plan(q).plan
    assert not any(i.satellite == lost for i in after.items)
    report = compare(q, base, after, Hypothesis(satellites_lost=(lost,)), "GREEDY", 0.0)
    # Each job of the lost satellite is moved (possibly late: a move that now misses its
    # deadline is reported as "late", with where it went) or unplaced.
    moved_or_lost = {c.job_id for c in report.changes if c.kind in ("moved", "unplaced", "late")}
    assert {i.job_id for i in base.items if i.satellite == lost} <= moved_or_lost
    assert all(
        lost not in c.after.split(" at ")[0].split(",")
        for c in report.changes
        if c.kind in ("moved", "late")
    )
    assert validate_plan(q, after) == []


def test_explanations_suggest_placements_the_validator_accepts() -> None:
    """Each suggestion, added to the current plan as is, breaks no rule of the nonlinear
    validator (battery, temperature, accelerators, delivery)."""
    p = contended()
    plan = greedy_plan(p).plan
    waiting = [u.job_id for u in plan.unplaced][:8]
    assert waiting, "the workload is contended"
    suggested = 0
    for job_id in waiting:
        e = explain(p, plan, job_id, cordoned={CORDONED})
        assert not e.placed and e.code and e.reason
        for s in e.suggestions:
            q = replace(p, jobs=tuple(s.job if j.job_id == job_id else j for j in p.jobs))
            if s.uncordon:
                q = replace(
                    q,
                    states={**q.states, s.uncordon: replace(q.states[s.uncordon], available=True)},
                )
            with_it = replace(plan, items=(*plan.items, s.item), unplaced=())
            assert validate_plan(q, with_it) == [], s.change
            suggested += 1
    assert suggested >= 1


def test_placed_job_explained_with_its_delivery() -> None:
    p = contended()
    plan = greedy_plan(p).plan
    item = next(i for i in plan.items if i.kind == "inference" and i.station)
    e = explain(p, plan, item.job_id)
    assert e.placed and item.satellite in e.satellites and e.station == item.station
    assert e.start_s is not None and e.start_s <= item.start_s
    with pytest.raises(KeyError):
        explain(p, plan, "no-such-job")
