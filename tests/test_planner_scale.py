"""The planner at scale: indexes that replace scans give the same answers as the scans,
the anytime plan keeps its time limit, and the decomposition moves work between windows
of orbital planes."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planner_cases import T0, assert_valid, problem, sat

from scheduler.planner import InferenceJob, Priority, TrainingJob, Weights
from scheduler.planner import candidates as cand
from scheduler.planner import feasibility as fz
from scheduler.planner.backends import LocalBackend, ThreadBackend, run_task
from scheduler.planner.candidates import enumerate_candidates
from scheduler.planner.domain import ContactWindow
from scheduler.planner.ledger import contexts
from scheduler.planner.solve import plan, prune_options
from scheduler.planner.synthetic import synthetic_problem
from scheduler.planner.timely import first_transfers


def scan(contacts: list[fz.RoutedContact], ready_s: float, size_mb: float) -> object:
    """The linear scan ContactIndex replaces (the oracle)."""
    for rc in contacts:
        w = rc.window
        if w.end_s < ready_s:
            continue
        done_s = max(w.start_s, ready_s) + fz.transfer_s(size_mb, w.downlink_mbps)
        if done_s <= w.end_s:
            return done_s, rc
    return None


contact_lists = st.lists(
    st.tuples(st.floats(0, 5000), st.floats(10, 900), st.sampled_from([50.0, 200.0, 1200.0])),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(contact_lists, st.floats(-100, 6000), st.floats(0, 3000))
def test_contact_index_finds_what_the_scan_finds(
    raw: list[tuple[float, float, float]], ready: float, size_mb: float
) -> None:
    windows = sorted(
        (ContactWindow("gs", T0 + a, T0 + a + d, r) for a, d, r in raw), key=lambda w: w.start_s
    )
    contacts = [fz.RoutedContact((0, i), w) for i, w in enumerate(windows)]
    index = fz.ContactIndex(contacts)
    assert index.first_transfer(T0 + ready, size_mb) == scan(contacts, T0 + ready, size_mb)
    done, where = first_transfers(index, np.array([T0 + ready]), np.array([size_mb]))
    expected = scan(contacts, T0 + ready, size_mb)
    if expected is None:
        assert where[0] == -1 and np.isnan(done[0])
    else:
        assert contacts[int(where[0])] is expected[1]  # type: ignore[index]
        assert done[0] == pytest.approx(expected[0])  # type: ignore[index]


def test_timely_starts_of_many_jobs_equal_the_scalar_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    p = synthetic_problem(120, 1200, n_slots=120, seed=11)
    ctxs = contexts(p)
    opts = prune_options(p)
    assert not opts.alone_fit  # the batch path is the one of large problems
    batch = enumerate_candidates(p, ctxs, opts=opts)
    monkeypatch.setattr(cand, "_batch_timely", lambda *a, **k: {})
    scalar = enumerate_candidates(p, ctxs, opts=opts)
    assert batch.inference == scalar.inference
    assert batch.rejected == scalar.rejected
    assert len(batch.inference) > 1000


def test_training_gangs_rotate_over_planes_and_keep_the_running_gang() -> None:
    p = synthetic_problem(40, 10, n_slots=120, seed=2, planes=8)
    ctxs = contexts(p)
    tindex = cand._training_index(p, ctxs, range(len(ctxs)))
    gix = tindex.gang_index(2, 2)
    first_planes = {ctxs[gix.pick(j, (), 3)[0][0]].sat.plane for j in range(40)}
    assert len(first_planes) >= 4  # not every job starts on the same plane
    picked = gix.pick(5, (), 3)
    assert len({ctxs[g[0]].sat.plane for g in picked}) == 3  # one gang per plane
    running = gix.gangs[7]
    assert gix.pick(5, tuple(sorted(running)), 3)[0] == running


def two_planes_one_blocking_job() -> object:
    """Two single-satellite planes. A (critical) fits either; B (standard) only on sat-0,
    whose contact is the only one early enough for B's deadline. The first fit puts A on
    sat-0 (earliest start, first satellite) and leaves B out."""
    n = 60
    sats = [
        sat("sat-0", n, contacts=[(0, 35)], plane=0),
        sat("sat-1", n, contacts=[(50, 60)], plane=1),
    ]
    a = InferenceJob(
        "a", T0, T0 + 60 * 60.0, 4 * 30 * 60.0, accelerators=4, value=1.0, priority=Priority(2)
    )
    b = InferenceJob("b", T0, T0 + 36 * 60.0, 4 * 30 * 60.0, accelerators=4, value=1.0)
    return problem(sats, [a, b], n, weights=Weights(late_grace_s=0.0))


def test_the_decomposition_moves_a_job_out_of_the_window_the_first_fit_chose() -> None:
    p = two_planes_one_blocking_job()
    greedy = plan(p, policy="greedy")  # type: ignore[arg-type]
    assert greedy.plan.placed_job_ids() == {"a"}
    # Windows of one plane each: in the first round A cannot leave sat-0's window; a later
    # round joins the planes and moves A to sat-1, which lets B in.
    result = plan(
        p,  # type: ignore[arg-type]
        time_limit_s=2.0,
        deterministic=True,
        partition_literals=15,
        backend=ThreadBackend(2),
    )
    assert result.partitions == 2
    assert result.plan.placed_job_ids() == {"a", "b"}
    on = {i.job_id: i.satellite for i in result.plan.items}
    assert on == {"a": "sat-1", "b": "sat-0"}
    assert_valid(p, result.plan)  # type: ignore[arg-type]
    assert result.best_bound >= result.objective - 1e-6


@pytest.mark.slow
def test_plan_keeps_its_time_limit_and_bounds_the_whole_problem() -> None:
    p = synthetic_problem(300, 3000, n_slots=120, seed=4)
    t = time.perf_counter()
    result = plan(p, time_limit_s=4.0, num_workers=2)
    wall_s = time.perf_counter() - t
    assert wall_s <= 4.0 + 1.0
    assert result.first_solution_s is not None and result.first_solution_s < wall_s
    assert result.partitions > 1
    assert result.objective >= result.greedy_objective - 1e-6
    assert result.best_bound >= result.objective - 1e-6
    assert 0.0 <= result.gap < 1.0
    placed = result.plan.placed_job_ids()
    assert placed | {u.job_id for u in result.plan.unplaced} == {j.job_id for j in p.jobs}
    assert_valid(p, result.plan)


@pytest.mark.slow
def test_local_process_pool_and_threads_give_the_same_plan_in_deterministic_mode() -> None:
    p = synthetic_problem(24, 160, n_slots=90, seed=6, planes=6)
    pool = LocalBackend(2)
    try:
        a = plan(p, time_limit_s=0.6, deterministic=True, partition_literals=300, backend=pool)
    finally:
        pool.shutdown()
    b = plan(
        p, time_limit_s=0.6, deterministic=True, partition_literals=300, backend=ThreadBackend(1)
    )
    assert a.partitions > 1 and a.solves > 1
    assert a.plan.to_dict() == b.plan.to_dict()
    assert a.objective == b.objective


def test_a_solve_task_that_cannot_parse_fails_loudly() -> None:
    from scheduler.planner.backends import SolveTask

    with pytest.raises(Exception, match=r"(?i)pars|text|format"):
        run_task(SolveTask("variables { domain: [0 ", (0,), 0.1))


def test_training_job_needs_connected_gang_reason_from_the_plane_index() -> None:
    sats = [sat("sat-0", 30, plane=0), sat("sat-1", 30, plane=1)]  # no ISL links
    job = TrainingJob("t", T0, gang_size=2, accelerators_per_member=2, work_acc_s=3600.0)
    result = plan(problem(sats, [job], 30), policy="greedy")
    (u,) = result.plan.unplaced
    assert u.code == "GANG" and "2 connected satellites, 1 free" in u.reason


@pytest.mark.slow
def test_ray_and_local_backends_give_the_same_plan_in_deterministic_mode() -> None:
    import ray  # the test extras include Ray (a user's install has it only with [ray])

    from scheduler.planner.backends import RayBackend

    p = synthetic_problem(24, 160, n_slots=90, seed=6, planes=6)
    local = LocalBackend(2)
    try:
        a = plan(p, time_limit_s=0.6, deterministic=True, partition_literals=300, backend=local)
    finally:
        local.shutdown()
    try:
        remote = RayBackend("local", workers=2)  # a Ray instance of its own on this machine
        b = plan(p, time_limit_s=0.6, deterministic=True, partition_literals=300, backend=remote)
    finally:
        ray.shutdown()
    assert a.solves > 1 and b.solves == a.solves
    assert a.plan.to_dict() == b.plan.to_dict()
    assert a.objective == b.objective


def test_scheduler_flags_choose_the_planner_backend() -> None:
    from scheduler.errors import UserError
    from scheduler.server.main import build_parser, config_from_args

    parser = build_parser()
    cfg = config_from_args(parser.parse_args(["--planner-backend", "thread"]))
    assert cfg.replan.planner_backend == "thread" and cfg.replan.ray_address is None
    ray_args = parser.parse_args(["--planner-backend", "ray", "--ray-address", "ray://head:10001"])
    if importlib.util.find_spec("ray") is None:  # without the extra: a clear error
        with pytest.raises(UserError, match=r"pip install 'orbital-scheduler\[ray\]'"):
            config_from_args(ray_args)
    else:
        cfg = config_from_args(ray_args)
        assert (cfg.replan.planner_backend, cfg.replan.ray_address) == ("ray", "ray://head:10001")
    with pytest.raises(UserError, match="--ray-address needs --planner-backend ray"):
        config_from_args(parser.parse_args(["--ray-address", "auto"]))
    with pytest.raises(UserError, match="--planner-workers: expected at least 1"):
        config_from_args(parser.parse_args(["--planner-workers", "0"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--planner-backend", "dask"])


def test_reasons_without_replay_keep_pruning_reasons_and_say_why_others_are_brief() -> None:
    from scheduler.planner.assemble import Selection, unplaced_reasons

    p = two_planes_one_blocking_job()
    huge = InferenceJob("huge", T0, T0 + 3600.0, 8 * 600.0, accelerators=8)
    p = problem(list(p.satellites), [*p.jobs, huge], 60)  # type: ignore[attr-defined]
    ctxs = contexts(p)
    cset = enumerate_candidates(p, ctxs)
    fast = {u.job_id: u for u in unplaced_reasons(p, ctxs, cset, Selection(), replay=False)}
    assert fast["huge"].code == "ACCELERATORS"  # from pruning, as with replay
    assert fast["a"].code == "CAPACITY" and "out of planning time" in fast["a"].reason
    assert set(fast) == {"a", "b", "huge"}


def test_jobs_per_solve_are_sized_from_the_fleet_unless_given() -> None:
    from types import SimpleNamespace

    from conftest import model_job

    from scheduler.forecast.bus import BusParams
    from scheduler.server.main import build_parser
    from scheduler.server.replanner import Replanner

    parser = build_parser()
    assert parser.parse_args([]).plan_max_jobs == 0  # auto
    assert parser.parse_args(["--plan-max-jobs", "auto"]).plan_max_jobs == 0
    assert parser.parse_args(["--plan-max-jobs", "500"]).plan_max_jobs == 500
    for bad in ("0", "-3", "many"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--plan-max-jobs", bad])

    def cap(max_jobs: int, n_sats: int) -> int:
        fake = SimpleNamespace(
            max_jobs=max_jobs,
            sessions=SimpleNamespace(sats=range(n_sats), world=SimpleNamespace(bus=BusParams())),
            horizon_s=3 * 3600.0,
            time_limit_s=30.0,
        )
        waiting = [model_job(f"j{i}", work_s=3600.0, acc=1) for i in range(200_000)]
        return Replanner.jobs_cap(fake, [], waiting)  # type: ignore[arg-type]

    # auto: twice the 1-accelerator-hour jobs the fleet's 4 accelerators run in 3 h, at most
    # 4,000 per second of the 30 s limit (tests/test_server_planning.py has the rest)
    assert cap(0, 6) == 2 * 6 * 4 * 3
    assert cap(0, 1584) == 2 * 1584 * 4 * 3
    assert cap(0, 10_000) == 120_000
    assert cap(500, 10_000) == 500


def test_window_answers_move_jobs_placed_in_other_windows_and_stay_valid() -> None:
    """On a contended load the open first round's windows take jobs the first fit placed
    in another window (they leave their old place, which is always feasible); the plan
    stays valid under the independent validator and never scores below the first fit.
    plan() now starts from the priced first fit, whose windows keep their jobs here: the
    moves are checked from the EDF first fit, with the window solves on their own."""
    from dataclasses import replace

    from scheduler.planner import feasibility as fz
    from scheduler.planner.assemble import build_plan, priority_multipliers, score
    from scheduler.planner.greedy import greedy_select
    from scheduler.planner.lns import improve
    from scheduler.planner.solve import relaxed_bound
    from scheduler.planner.synthetic import contended_jobs

    base = synthetic_problem(24, 10, n_slots=120, seed=5, planes=6)
    jobs = contended_jobs(240, 24, base.now_s, 120 * 60.0, 4, 1.5, seed=5)
    p = replace(base, jobs=tuple(jobs))
    greedy = plan(p, policy="greedy")
    result = plan(
        p, time_limit_s=4.0, deterministic=True, partition_literals=300, backend=ThreadBackend(2)
    )
    assert result.partitions >= 3
    assert result.improved >= 1
    assert result.objective >= greedy.objective - 1e-6
    assert result.best_bound >= result.objective - 1e-6
    assert_valid(p, result.plan)
    ctxs = contexts(p)
    cset = enumerate_candidates(p, ctxs, opts=prune_options(p))
    mults = priority_multipliers(p, cset)
    edf = greedy_select(p, ctxs, cset)
    selection, stats = improve(
        p,
        ctxs,
        cset,
        mults,
        edf,
        fz.route_groups(p.satellites),
        ThreadBackend(2),
        lambda sub: relaxed_bound(p, ctxs, sub, mults),
        deadline=time.perf_counter() + 4.0,
        max_literals=300,
        deterministic=True,
        det_time_s=4.0,
    )
    assert stats.improved >= 1 and stats.moved >= 1
    assert score(p, ctxs, selection, mults)[0] >= greedy.objective - 1e-6
    assert_valid(p, build_plan(p, selection, (), 1))


def test_focused_rounds_hold_the_placed_jobs_and_the_left_out_jobs_of_one_class() -> None:
    """A focused round (lns.py): the left-out jobs of the highest priority class that
    still has some fitting alone, classes in turn; one plane per window where such a job
    has a candidate; each window holds the jobs placed there and those left-out jobs, no
    other left-out job; its answers keep the plan valid and never score lower."""
    from dataclasses import replace

    from scheduler.planner import feasibility as fz
    from scheduler.planner.assemble import build_plan, priority_multipliers, score
    from scheduler.planner.greedy import greedy_select
    from scheduler.planner.ledger import SatLedger
    from scheduler.planner.lns import (
        Incumbent,
        LnsStats,
        _focus,
        _focus_windows,
        _round,
        _solve_round,
        job_groups,
    )
    from scheduler.planner.solve import relaxed_bound
    from scheduler.planner.synthetic import contended_jobs

    base = synthetic_problem(24, 10, n_slots=120, seed=5, planes=6)
    jobs = contended_jobs(240, 24, base.now_s, 120 * 60.0, 4, 1.5, seed=5)
    p = replace(base, jobs=tuple(jobs))
    ctxs = contexts(p)
    cset = enumerate_candidates(p, ctxs, opts=prune_options(p))
    mults = priority_multipliers(p, cset)
    groups = fz.route_groups(p.satellites)
    inc = Incumbent.of(greedy_select(p, ctxs, cset))
    left_out = [j for j in cset.inference if j not in inc.inference]

    def fits_alone(j: int) -> bool:
        return any(
            SatLedger(ctxs[c.sat]).misfit(c.start, c.slots, c.accelerators, c.power_w) is None
            for c in cset.inference[j]
        )

    classes = sorted({int(p.jobs[j].priority) for j in left_out if fits_alone(j)}, reverse=True)
    assert len(classes) >= 2
    for turn, cls in enumerate(classes):
        focus = _focus(p, ctxs, cset, inc, turn)
        assert focus == {j for j in left_out if int(p.jobs[j].priority) == cls and fits_alone(j)}
    focus = _focus(p, ctxs, cset, inc, 0)
    windows = _focus_windows(cset, groups, focus, mults, p)
    assert all(len(w) == 1 for w in windows)
    assert {w[0] for w in windows} == {groups[c.sat] for j in focus for c in cset.inference[j]}
    todo = _round(
        p,
        ctxs,
        cset,
        mults,
        inc,
        groups,
        job_groups(cset, groups),
        windows,
        2,
        lambda sub: relaxed_bound(p, ctxs, sub, mults),
        {},
        focus,
    )
    assert todo
    for win in todo:
        held = {*win.cset.inference, *win.cset.training}
        placed_here = {j for j, c in inc.inference.items() if groups[c.sat] in win.groups}
        placed_here |= {j for j, (o, _) in inc.training.items() if groups[o.sats[0]] in win.groups}
        assert held & focus
        assert held <= placed_here | focus
        assert placed_here & set(cset.inference) <= held
    before = score(p, ctxs, inc.selection(), mults)[0]
    stats = LnsStats()
    _solve_round(
        p,
        ctxs,
        mults,
        inc,
        todo,
        ThreadBackend(2),
        stats,
        None,
        groups,
        deadline=time.perf_counter() + 10.0,
        seed=0,
        num_workers=1,
        deterministic=True,
        det_time_s=2.0,
        rounds_left=1,
    )
    assert stats.solves == len(todo)
    assert score(p, ctxs, inc.selection(), mults)[0] >= before - 1e-6
    assert_valid(p, build_plan(p, inc.selection(), (), 1))
