"""Per-satellite resource accounting over the horizon, shared by the CP-SAT model (as
coefficients), the greedy planner (as fit checks) and the reasons given to unplaced jobs.

The same three linear rules everywhere: accelerators per slot; battery state of charge at
the end of monotone segments between floor and capacity (with curtailment); linear thermal
temperature (tangent at the limit, so conservative) at check points below limit - margin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from scheduler.forecast.bus import BusParams
from scheduler.planner import feasibility as fz
from scheduler.planner.domain import FloatArray, Problem, Satellite

EPS = 1e-6
_KERNELS: dict[tuple[fz.ThermalLinear, int, int, int, int], FloatArray] = {}
# The CP-SAT model rounds every load up to 0.1 Wh, 1 mK and 0.1 MB and carries the thermal
# recursion in fixed point; the ledger keeps these margins so that whatever it accepts (the
# greedy plan, used as the solver's hint) is also feasible in the model.
LEDGER_BATTERY_SLACK_WH = 5.0
LEDGER_THERMAL_SLACK_K = 0.2
LEDGER_VOLUME_SLACK_MB = 5.0


@dataclass
class SatContext:
    """Everything about one satellite that does not depend on the jobs to place."""

    index: int
    sat: Satellite
    bus: BusParams
    slot_s: float
    now_s: float
    gen_w: FloatArray
    env_w: FloatArray
    fixed_load_w: FloatArray  # baseline + committed (running) jobs, per slot
    fixed_acc: NDArray[np.int64]
    soc0_wh: float
    t0_c: float
    segments: list[fz.Segment]
    base_net_wh: FloatArray  # per segment, with fixed load only
    floor_wh: FloatArray  # effective floor per segment end (relaxed if breached anyway)
    lin: fz.ThermalLinear
    checks: NDArray[np.int64]  # slot-end indices with a thermal constraint
    thermal_budget_k: FloatArray  # extra linear rise allowed at each check
    available: bool = True
    every: int = 1  # thermal check spacing (slots) of which checks is a subset
    check_pos: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    kinds: list[str] = field(default_factory=list)
    floor_list: list[float] = field(default_factory=list)

    seg_first: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seg_stop: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.kinds = [seg.kind for seg in self.segments]
        self.floor_list = self.floor_wh.tolist()
        self.seg_first = np.array([seg.first for seg in self.segments], dtype=np.int64)
        self.seg_stop = np.array([seg.stop for seg in self.segments], dtype=np.int64)

    @property
    def n_slots(self) -> int:
        return len(self.gen_w)

    _seg_cache: dict[tuple[int, int], FloatArray] = field(default_factory=dict, repr=False)
    _heat_cache: dict[tuple[int, int], FloatArray] = field(default_factory=dict, repr=False)

    def segment_energy_wh(self, k: int, d: int, power_w: float) -> FloatArray:
        """Energy per segment (Wh) of running power_w over slots [k, k + d)."""
        unit = self._seg_cache.get((k, d))
        if unit is None:
            overlap = np.maximum(
                np.minimum(self.seg_stop, k + d) - np.maximum(self.seg_first, k), 0
            )
            unit = np.asarray(overlap * (self.slot_s / 3600.0), dtype=np.float64)
            self._seg_cache[k, d] = unit
        return np.asarray(unit * power_w, dtype=np.float64)

    def thermal_rise_k(self, k: int, d: int, power_w: float) -> FloatArray:
        """Linear temperature rise (K) at each check of running power_w over [k, k + d)."""
        unit = self._heat_cache.get((k, d))
        if unit is None:
            # The kernel over every check slot is the same for every satellite of a bus:
            # computed once, then picked at this satellite's checks.
            key = (self.lin, self.n_slots, self.every, k, d)
            full = _KERNELS.get(key)
            if full is None:
                if len(_KERNELS) > 100_000:
                    _KERNELS.clear()
                full = fz.thermal_kernel(self.lin, fz.check_slots(self.n_slots, self.every), k, d)
                _KERNELS[key] = full
            unit = full[self.check_pos]
            self._heat_cache[k, d] = unit
        return np.asarray(unit * power_w, dtype=np.float64)

    def eclipse_span(self, seg: int) -> tuple[float, float]:
        """Time span of the draining stretch around segment seg (joined with neighbours
        that are not charging), for reasons."""
        first = seg
        while first > 0 and self.segments[first - 1].kind != fz.CHARGING:
            first -= 1
        last = seg
        while last + 1 < len(self.segments) and self.segments[last + 1].kind != fz.CHARGING:
            last += 1
        start_s = self.now_s + self.segments[first].first * self.slot_s
        end_s = self.now_s + self.segments[last].stop * self.slot_s
        return start_s, end_s


def sat_context(problem: Problem, index: int) -> SatContext:
    return contexts(problem, [index])[0]


def contexts(problem: Problem, indices: Sequence[int] | None = None) -> list[SatContext]:
    """The context of every satellite (or of `indices`). The per-slot arithmetic (loads,
    linear temperatures, battery segment kinds) runs on one array per bus for all its
    satellites at once: at 10,000 satellites a loop of small numpy calls per satellite
    took most of the time."""
    idx = list(range(len(problem.satellites))) if indices is None else list(indices)
    out: list[SatContext | None] = [None] * len(idx)
    by_bus: dict[BusParams, list[int]] = {}
    for pos, i in enumerate(idx):
        by_bus.setdefault(problem.satellites[i].bus, []).append(pos)
    for bus, poss in by_bus.items():
        for pos, ctx in zip(poss, _bus_contexts(problem, bus, [idx[p] for p in poss]), strict=True):
            out[pos] = ctx
    return [c for c in out if c is not None]


def _bus_contexts(problem: Problem, bus: BusParams, indices: Sequence[int]) -> list[SatContext]:
    n = problem.n_slots
    slot_s = problem.slot_s
    sats = [problem.satellites[i] for i in indices]
    states = [problem.states[sat.name] for sat in sats]
    rows = len(sats)
    gen = np.empty((rows, n))
    env = np.empty((rows, n))
    for r, sat in enumerate(sats):
        gen[r] = sat.forecast.generation_w
        env[r] = sat.forecast.environment_heat_w
    fixed_load = np.full((rows, n), bus.baseline_power_w)
    fixed_acc = np.zeros((rows, n), dtype=np.int64)
    for r, state in enumerate(states):
        for run in state.running:
            k0 = max(0, int(np.floor((run.start_s - problem.now_s) / slot_s + 1e-9)))
            k1 = min(n, int(np.ceil((run.end_s - problem.now_s) / slot_s - 1e-9)))
            if k1 > k0:
                fixed_load[r, k0:k1] += run.power_w
                fixed_acc[r, k0:k1] += run.accelerators
    # Battery segment kinds (feasibility.battery_segments, for all rows at once).
    max_load = np.maximum(bus.full_load_w, fixed_load.max(axis=1))[:, None]
    code = np.where(gen >= max_load, 0, np.where(gen <= bus.baseline_power_w, 1, 2))
    cut = np.ones(code.shape, dtype=bool)
    cut[:, 1:] = (code[:, 1:] != code[:, :-1]) | (code[:, 1:] == 2)
    names = (fz.CHARGING, fz.DRAINING, fz.MIXED)
    net_slot_wh = (gen - fixed_load) * (slot_s / 3600.0)

    lin = fz.thermal_linear(bus, slot_s)
    every = max(1, problem.weights.thermal_check_slots)
    all_checks = fz.check_slots(n, every)
    t0 = np.array([st.temperature_c for st in states])
    free_c = fz.linear_temperature_c(lin, t0, env + fixed_load)
    upper_c = fz.linear_temperature_c(lin, t0, env + np.maximum(fixed_load, bus.full_load_w))
    out = []
    for r, (i, sat, state) in enumerate(zip(indices, sats, states, strict=True)):
        firsts = np.flatnonzero(cut[r])
        first_list = firsts.tolist()
        stops = [*first_list[1:], n]
        segments = [
            fz.Segment(a, b, names[c])
            for a, b, c in zip(first_list, stops, code[r, firsts].tolist(), strict=True)
        ]
        base_net = np.add.reduceat(net_slot_wh[r], firsts)
        soc0 = min(max(state.soc_wh, 0.0), bus.battery_capacity_wh)
        base_soc = fz.soc_at_segment_ends(soc0, base_net, segments, bus)
        floor = np.minimum(bus.battery_floor_wh, base_soc)
        margin = fz.thermal_margin_c(lin, bus, env[r], every, slot_s)
        limit = bus.max_temperature_c - margin
        needed = upper_c[r, all_checks - 1] > limit
        checks = all_checks[needed]
        out.append(
            SatContext(
                index=i,
                sat=sat,
                bus=bus,
                slot_s=slot_s,
                now_s=problem.now_s,
                gen_w=gen[r],
                env_w=env[r],
                fixed_load_w=fixed_load[r],
                fixed_acc=fixed_acc[r],
                soc0_wh=soc0,
                t0_c=state.temperature_c,
                segments=segments,
                base_net_wh=base_net,
                floor_wh=floor,
                lin=lin,
                checks=checks,
                thermal_budget_k=np.maximum(limit - free_c[r, checks - 1], 0.0),
                available=state.available,
                every=every,
                check_pos=np.flatnonzero(needed),
            )
        )
    return out


@dataclass(frozen=True)
class Misfit:
    """Why a piece of work does not fit: a code (a domain.ReasonCode value) and a sentence
    (formatted on demand, with each of times_s as UTC HH:MM)."""

    code: str
    template: str
    times_s: tuple[float, ...] = ()

    @property
    def reason(self) -> str:
        return self.template.format(*(fz.hhmm(t) for t in self.times_s))


@dataclass
class SatLedger:
    """Work placed so far on one satellite; `misfit` says whether more fits, `add` books it."""

    ctx: SatContext
    acc: NDArray[np.int64] = field(init=False)
    seg_load_wh: FloatArray = field(init=False)
    rise_k: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.acc = self.ctx.fixed_acc.copy()
        self.seg_load_wh = np.zeros(len(self.ctx.segments))
        self.rise_k = np.zeros(len(self.ctx.checks))

    def misfit(self, k: int, d: int, accelerators: int, power_w: float) -> Misfit | None:
        ctx = self.ctx
        name = ctx.sat.name
        if not ctx.available:
            return Misfit("NO_CANDIDATE_SATELLITE", f"{name} is not available")
        if k < 0 or k + d > ctx.n_slots:
            return Misfit("HORIZON", "does not fit in the horizon")
        if self.acc[k : k + d].max() + accelerators > ctx.bus.accelerators:
            t = ctx.now_s + k * ctx.slot_s
            return Misfit(
                "ACCELERATORS", f"accelerators busy on {name} {{0}}-{{1}}", (t, t + d * ctx.slot_s)
            )
        seg_wh = ctx.segment_energy_wh(k, d, power_w)
        low = _first_breach(ctx, (ctx.base_net_wh - self.seg_load_wh - seg_wh).tolist())
        if low is not None:
            span = ctx.eclipse_span(low)
            return Misfit("BATTERY", f"battery floor during eclipse {{0}}-{{1}} on {name}", span)
        if ctx.checks.size:
            rise = ctx.thermal_rise_k(k, d, power_w)
            over = np.nonzero(self.rise_k + rise > ctx.thermal_budget_k - LEDGER_THERMAL_SLACK_K)[0]
            if over.size:
                at_s = ctx.now_s + int(ctx.checks[over[0]]) * ctx.slot_s
                return Misfit("THERMAL", f"thermal limit on {name} at {{0}}", (at_s,))
        return None

    def add(self, k: int, d: int, accelerators: int, power_w: float) -> None:
        ctx = self.ctx
        self.acc[k : k + d] += accelerators
        self.seg_load_wh += ctx.segment_energy_wh(k, d, power_w)
        if ctx.checks.size:
            self.rise_k += ctx.thermal_rise_k(k, d, power_w)


# When several reasons block a job equally often, the most actionable one is named first.
_REASON_ORDER = (
    "BATTERY",
    "THERMAL",
    "ACCELERATORS",
    "DOWNLINK_VOLUME",
    "GANG",
    "NO_CONTACT",
    "DEADLINE",
    "HORIZON",
    "CAPACITY",
    "NO_CANDIDATE_SATELLITE",
)


def dominant_misfit(misfits: Counter[Misfit], fallback: Misfit) -> Misfit:
    """The reason that blocks most candidates, counted by code (ties: _REASON_ORDER), as
    its first instance."""
    if not misfits:
        return fallback
    by_code: Counter[str] = Counter()
    for m, n in misfits.items():
        by_code[m.code] += n

    def rank(code: str) -> tuple[int, int]:
        order = _REASON_ORDER.index(code) if code in _REASON_ORDER else len(_REASON_ORDER)
        return (-by_code[code], order)

    code = min(by_code, key=rank)
    return next(m for m in misfits if m.code == code)


def _first_breach(ctx: SatContext, net_wh: list[float]) -> int | None:
    """First segment whose end falls under the (effective) floor, as
    feasibility.soc_at_segment_ends computes it, in plain floats for speed."""
    soc = ctx.soc0_wh
    cap = ctx.bus.battery_capacity_wh
    floors = ctx.floor_list
    for g, kind in enumerate(ctx.kinds):
        soc += net_wh[g]
        if kind != fz.DRAINING and soc > cap:
            soc = cap
        if soc < floors[g] + LEDGER_BATTERY_SLACK_WH:
            return g
    return None
