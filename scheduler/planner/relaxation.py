"""A heat-aware upper bound of the pruned problem: the Lagrangian dual of the CP-SAT
model's linear constraints.

What it bounds: the priority-weighted value (`assemble.score` without its penalties, which
are never negative) of any selection that the CP-SAT model of `cset` admits, i.e. of the
whole *pruned* problem (every job with candidates, each on its pruned candidates: at most
`max_sats_per_job` satellites x `max_starts_per_sat` starts, and its pruned gang options).
It does not bound the unpruned problem (other satellites or start slots).

Every resource row the model states per satellite is priced (a multiplier >= 0):
- accelerators: the model's capacity rows, one per slot;
- battery: the state-of-charge chain, one row per segment,
  `soc_g - soc_{g-1} + load_g <= net_g`, with `floor_g <= soc_g <= capacity` (curtailment
  is the row's slack), so the battery refills between eclipses as in the model;
- heat: the linear thermal chain at the model's checks, `R_n >= a^(c_n - c_{n-1}) R_{n-1} +
  rise of the loads in (c_{n-1}, c_n]`, `0 <= R_n <= budget_n` (the rise the radiator leaves
  room for under limit - margin above the environment's and committed work's heat);
- downlink: the volume of each contact over the outputs routed to it.
The float coefficients here are the model's before it rounds loads up and budgets down,
so every selection the model admits satisfies these rows: the relaxation is valid.

For multipliers pi >= 0 the problem separates: each state variable (charge, rise) takes an
end of its range, and each job its best option at reduced value (value minus priced
resources), or nothing. So L(pi) = sum_rows pi rhs + sum_states max(...) + sum_jobs
max(0, best reduced value) >= the optimum, for any pi >= 0: the bound is valid after any
number of steps. The multipliers are improved by projected subgradient steps (Polyak
steps towards the incumbent's objective) on rows scaled to unit capacity.

Columns that break a satellite's battery floor or heat limit even alone (the model admits
them in no selection) earn nothing. Loads are priced per slot: every row's coefficient of
a load is a sum over its slots (accelerators, energy per segment, and heat seen at the
check ending its window, a^(check - slot - 1) (1 - a) / b per W), so a load's price is a
difference of per-slot prefix sums, whatever its length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from scheduler.planner.assemble import urgency
from scheduler.planner.candidates import CandidateSet
from scheduler.planner.cpsat_model import battery_floors_wh
from scheduler.planner.domain import Problem
from scheduler.planner.ledger import SatContext

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
# Slots per accelerator row: the sum of the model's per-slot rows over a block (valid, a
# little looser, and far fewer rows for the multipliers to settle).
ACC_BLOCK_SLOTS = 10
# Subgradient steps: the first a half Polyak step; after PATIENCE steps that found nothing
# lower, back to the best multipliers with half the step (measured on the 1,584 x 10,000
# problem of bench/scale.py: 1.0 / 4 and 0.25 / 8 ended 0.3-0.5 points of gap higher).
ALPHA0 = 0.5
PATIENCE = 2


@dataclass
class Relaxation:
    """The priced rows of a candidate set (see the module docstring).

    Columns: one per inference candidate and one per training block of a gang option;
    each has loads (satellite position, slots [k, e), accelerators, power).
    Options: an inference candidate, or a gang option (its block columns, at most `take`
    of them), sorted by job. Rows r, in this order: accelerators (satellite position x
    slot), battery segments, thermal windows, contacts; each
    `y_r - carry_r y_prev(r) + load_r(x) <= rhs_r` with y_r in [lo_r, hi_r] (lo = hi = 0
    where there is no state), `nxt_r` the row whose state follows r's (-1: none)."""

    n_slots: int
    slot_h: float
    acc_block: int  # slots per accelerator row (each row sums the model's per-slot rows)
    col_value: FloatArray
    col_option: IntArray
    option_job: IntArray
    option_take: IntArray
    load_col: IntArray
    load_sat: IntArray  # position among the satellites used
    load_k: IntArray
    load_e: IntArray
    load_acc: FloatArray
    load_pow: FloatArray
    col_contact: IntArray  # contact row offset of an output-carrying column, else -1
    col_out_mb: FloatArray
    seg_of_slot: IntArray  # (satellites, slots): battery row offset (from bat0)
    win_of_slot: IntArray  # (satellites, slots): thermal row offset (from th0), -1 past
    kappa: FloatArray  # (satellites, slots): heat per W at its window's check
    bat0: int
    th0: int
    ct0: int
    rhs: FloatArray
    lo: FloatArray
    hi: FloatArray
    prev: IntArray
    carry: FloatArray
    nxt: IntArray
    carry_nxt: FloatArray
    scale: FloatArray
    lim_cols: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lim_opt: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n_opt = len(self.option_job)
        offered = np.bincount(self.col_option, minlength=n_opt)
        limited = self.option_take < offered
        self.lim_cols = np.flatnonzero(limited[self.col_option]).astype(np.int64)
        self.lim_opt = self.col_option[self.lim_cols]
        self._starts = np.flatnonzero(np.r_[True, self.option_job[1:] != self.option_job[:-1]])
        n = self.n_slots
        self._key_k = self.load_sat * (n + 1) + self.load_k
        self._key_e = self.load_sat * (n + 1) + self.load_e
        self._has_out = np.flatnonzero(self.col_contact >= 0)
        self._win_valid = self.win_of_slot >= 0
        self.best_pi = np.zeros(len(self.rhs))

    @property
    def n_rows(self) -> int:
        return len(self.rhs)

    def value(self, pi: FloatArray) -> tuple[float, FloatArray]:
        """L(pi) for scaled multipliers pi >= 0 (the price of row r is pi_r / scale_r): an
        upper bound; and a subgradient in pi (the rows' scaled slack at the maximiser)."""
        price = pi / self.scale
        cost = self._cost(price)
        positive = np.maximum(self.col_value - cost, 0.0)
        n_opt = len(self.option_job)
        opt_val = np.bincount(self.col_option, weights=positive, minlength=n_opt)
        chosen_cols = positive > 0.0
        if self.lim_cols.size:  # gang options with fewer blocks allowed than offered
            p = positive[self.lim_cols]
            order = np.lexsort((-p, self.lim_opt))
            opt_sorted = self.lim_opt[order]
            first = np.searchsorted(opt_sorted, opt_sorted, side="left")
            rank = np.arange(len(order)) - first
            drop = order[rank >= self.option_take[opt_sorted]]
            opt_val -= np.bincount(self.lim_opt[drop], weights=p[drop], minlength=n_opt)
            chosen_cols[self.lim_cols[drop]] = False
        # Each job: its best option, if positive (the first of equals).
        starts = self._starts
        job_best = np.maximum.reduceat(opt_val, starts) if n_opt else np.zeros(0)
        jobs_total = float(np.maximum(job_best, 0.0).sum())
        best_of_opt = np.repeat(job_best, np.diff(np.r_[starts, n_opt]))
        idx = np.flatnonzero((opt_val >= best_of_opt) & (opt_val > 0.0))
        first_best = np.zeros(n_opt, dtype=bool)
        if idx.size:
            job_of = np.searchsorted(starts, idx, side="right") - 1
            _, first_idx = np.unique(job_of, return_index=True)
            first_best[idx[first_idx]] = True
        x = chosen_cols & first_best[self.col_option]
        usage = self._usage(x)
        # States: the coefficient of y_r is -price_r + carry_nxt_r price_nxt_r.
        price_next = np.where(self.nxt >= 0, price[np.maximum(self.nxt, 0)], 0.0)
        coef_y = -price + self.carry_nxt * price_next
        y = np.where(coef_y > 0.0, self.hi, self.lo)
        y_prev = np.where(self.prev >= 0, y[np.maximum(self.prev, 0)], 0.0)
        slack = self.rhs - (y - self.carry * y_prev + usage)
        total = float(np.dot(price, self.rhs)) + float(np.dot(coef_y, y)) + jobs_total
        return total, slack / self.scale

    def _cost(self, price: FloatArray) -> FloatArray:
        """Each column's resources at these prices."""
        n = self.n_slots
        n_sat = self.seg_of_slot.shape[0]
        nb = self.bat0 // max(n_sat, 1)
        acc_price = np.repeat(price[: self.bat0].reshape(n_sat, nb), self.acc_block, axis=1)[:, :n]
        pow_price = self.slot_h * price[self.bat0 + self.seg_of_slot]
        if self.ct0 > self.th0:
            th = price[self.th0 + np.maximum(self.win_of_slot, 0)]
            pow_price += np.where(self._win_valid, th, 0.0) * self.kappa
        cum_acc = np.zeros((n_sat, n + 1))
        np.cumsum(acc_price, axis=1, out=cum_acc[:, 1:])
        cum_pow = np.zeros((n_sat, n + 1))
        np.cumsum(pow_price, axis=1, out=cum_pow[:, 1:])
        ca, cp = cum_acc.ravel(), cum_pow.ravel()
        load_cost = self.load_acc * (ca[self._key_e] - ca[self._key_k])
        load_cost += self.load_pow * (cp[self._key_e] - cp[self._key_k])
        cost: FloatArray = np.bincount(
            self.load_col, weights=load_cost, minlength=len(self.col_value)
        ).astype(np.float64)
        ho = self._has_out
        cost[ho] += self.col_out_mb[ho] * price[self.ct0 + self.col_contact[ho]]
        return cost

    def _usage(self, x: NDArray[np.bool_]) -> FloatArray:
        """Every row's load of the columns chosen in x."""
        n = self.n_slots
        n_sat = self.seg_of_slot.shape[0]
        on = x[self.load_col]
        size = n_sat * (n + 1)
        acc = np.bincount(self._key_k[on], self.load_acc[on], size)
        acc -= np.bincount(self._key_e[on], self.load_acc[on], size)
        pw = np.bincount(self._key_k[on], self.load_pow[on], size)
        pw -= np.bincount(self._key_e[on], self.load_pow[on], size)
        acc_slot = np.cumsum(acc.reshape(n_sat, n + 1), axis=1)[:, :n]
        pow_slot = np.cumsum(pw.reshape(n_sat, n + 1), axis=1)[:, :n]
        usage = np.zeros(self.n_rows)
        b = self.acc_block
        nb = self.bat0 // max(n_sat, 1)
        padded = np.zeros((n_sat, nb * b))
        padded[:, :n] = acc_slot
        usage[: self.bat0] = padded.reshape(n_sat, nb, b).sum(axis=2).ravel()
        usage[self.bat0 : self.th0] = np.bincount(
            self.seg_of_slot.ravel(), (pow_slot * self.slot_h).ravel(), self.th0 - self.bat0
        )
        valid = self._win_valid
        usage[self.th0 : self.ct0] = np.bincount(
            self.win_of_slot[valid], (pow_slot * self.kappa)[valid], self.ct0 - self.th0
        )
        ho = self._has_out[x[self._has_out]]
        usage[self.ct0 :] = np.bincount(
            self.col_contact[ho], self.col_out_mb[ho], self.n_rows - self.ct0
        )
        return usage

    def bound(
        self,
        target: float,
        max_iter: int = 200,
        deadline: float = math.inf,
    ) -> tuple[float, int]:
        """The smallest L(pi) found in at most max_iter steps (or until `deadline`,
        time.perf_counter), and the steps taken. `target`: an objective some plan reaches
        (a lower bound of the optimum, what Polyak steps aim at)."""
        pi = np.zeros(self.n_rows)
        best, slack = self.value(pi)
        best_pi, best_slack = pi, slack
        alpha, stale = ALPHA0, 0
        it = 0
        for it in range(1, max_iter + 1):  # noqa: B007
            # Rows priced at zero with room to spare do not move: left out of the norm.
            moving = np.where((pi > 0.0) | (slack < 0.0), slack, 0.0)
            norm = float(np.dot(moving, moving))
            gap = best - target
            if norm <= 0.0 or gap <= 1e-9 * max(abs(best), 1.0) or time.perf_counter() > deadline:
                break
            # Polyak step towards the target. The target is only a lower bound, so full
            # steps overshoot: after PATIENCE steps that found nothing lower, back to the
            # best multipliers with half the step.
            pi = np.maximum(pi - alpha * gap / norm * slack, 0.0)
            val, slack = self.value(pi)
            if val < best - 1e-9 * abs(best):
                best, best_pi, best_slack, stale = val, pi, slack, 0
            else:
                stale += 1
                if stale >= PATIENCE:
                    alpha, stale = alpha * 0.5, 0
                    pi, slack = best_pi, best_slack
        self.best_pi = best_pi
        return best, it

    def reduced(self, pi: FloatArray) -> FloatArray:
        """Each column's value less its priced resources (the first columns are the
        inference candidates, in `inference` order)."""
        return self.col_value - self._cost(pi / self.scale)


def build_relaxation(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    mults: dict[int, int],
) -> Relaxation:
    """The rows and columns of cset's model (see the module docstring)."""
    n = problem.n_slots
    jobs = problem.jobs
    # --- columns: inference candidates, then training blocks ---
    inf = [c for j in sorted(cset.inference) for c in cset.inference[j]]
    n_inf = len(inf)
    opts = [o for j in sorted(cset.training) for o in cset.training[j]]
    if inf:
        f = list(zip(*inf, strict=True))
        job = np.array(f[0], dtype=np.int64)
        sat = np.array(f[1], dtype=np.int64)
        start = np.array(f[2], dtype=np.int64)
        slots = np.array(f[3], dtype=np.int64)
        acc = np.array(f[4], dtype=np.float64)
        power = np.array(f[5], dtype=np.float64)
        mult = np.array([mults[int(jobs[j].priority)] for j in f[0]], dtype=np.float64)
        disc = 1.0 - problem.weights.start_discount * start / max(n, 1)
        inf_value = mult * np.array(f[6], dtype=np.float64) * disc
    else:
        job = sat = start = slots = np.zeros(0, dtype=np.int64)
        acc = power = inf_value = np.zeros(0)
    # Options: each inference candidate, then each gang option; keyed by job.
    opt_job = [*job.tolist(), *(o.job for o in opts)]
    opt_take = [1] * n_inf + [o.max_blocks for o in opts]
    col_option = list(range(n_inf))
    col_value = inf_value.tolist()
    # Loads: (column, satellite, start, slots, accelerators, power) per satellite used.
    l_col, l_sat, l_k, l_d, l_acc, l_p = (
        list(range(n_inf)),
        sat.tolist(),
        start.tolist(),
        slots.tolist(),
        acc.tolist(),
        power.tolist(),
    )
    col = n_inf
    for i, o in enumerate(opts):
        m = mults[int(jobs[o.job].priority)]
        for k in o.blocks:
            col_option.append(n_inf + i)
            col_value.append(m * o.value_per_block * urgency(problem, k))
            for s in o.sats:
                l_col.append(col)
                l_sat.append(s)
                l_k.append(k)
                l_d.append(o.block_slots)
                l_acc.append(float(o.accelerators))
                l_p.append(o.power_w)
            col += 1
    ld_col = np.array(l_col, dtype=np.int64)
    ld_sat = np.array(l_sat, dtype=np.int64)
    ld_k = np.array(l_k, dtype=np.int64)
    ld_d = np.array(l_d, dtype=np.int64)
    ld_acc = np.array(l_acc, dtype=np.float64)
    ld_p = np.array(l_p, dtype=np.float64)
    ld_e = ld_k + ld_d
    sats = np.unique(ld_sat)
    sat_list = sats.tolist()
    n_sat = len(sat_list)
    sat_pos = np.full(len(ctxs), -1, dtype=np.int64)
    sat_pos[sats] = np.arange(n_sat)
    rows = _Rows()

    # --- accelerators: one row per satellite and slot ---
    free = np.array([ctxs[s].bus.accelerators for s in sat_list], dtype=np.float64)[:, None]
    free = free - np.stack([ctxs[s].fixed_acc for s in sat_list])
    free = np.add.reduceat(free, np.arange(0, n, ACC_BLOCK_SLOTS), axis=1).ravel()
    zeros = np.zeros(len(free))
    rows.add(free, zeros, zeros, zeros, np.zeros(len(free), dtype=bool), np.maximum(free, 1.0))

    # --- battery: the state-of-charge chain per satellite ---
    slot_h = problem.slot_s / 3600.0
    n_seg = np.array([len(ctxs[s].segments) for s in sat_list], dtype=np.int64)
    seg_sat = np.repeat(sats, n_seg)
    seg_start = np.r_[True, seg_sat[1:] != seg_sat[:-1]]
    seg_first = np.concatenate([ctxs[s].seg_first for s in sat_list]).astype(np.int64)
    seg_key = seg_sat * (n + 1) + seg_first
    net = np.concatenate([ctxs[s].base_net_wh for s in sat_list]).astype(np.float64)
    soc0 = np.repeat([ctxs[s].soc0_wh for s in sat_list], n_seg)
    cap = np.repeat([ctxs[s].bus.battery_capacity_wh for s in sat_list], n_seg)
    # The model's floors (rounded, and never above what the committed work alone leaves),
    # when lower than the ledger's: the relaxation must admit all the model admits.
    floor = np.minimum(
        np.concatenate(
            [np.minimum(ctxs[s].floor_wh, battery_floors_wh(ctxs[s])) for s in sat_list]
        ),
        cap,
    )
    rhs = net + np.where(seg_start, soc0, 0.0)
    bat0 = rows.count
    rows.add(rhs, floor, cap, np.ones(len(net)), ~seg_start, cap)
    seg_stop = np.r_[seg_first[1:], n]
    seg_stop[np.r_[seg_start[1:], True]] = n
    seg_of_slot: IntArray = np.repeat(
        np.arange(len(net), dtype=np.int64), seg_stop - seg_first
    ).reshape(n_sat, n)
    # Loads that break the floor even alone: the highest charge without them, the surplus
    # curtailed in each segment, and the charge each load takes from every segment it
    # overlaps (and carries on while nothing refills it).
    soc = _highest_soc(rhs, cap, seg_start)
    curt = np.maximum(np.where(seg_start, soc0, np.r_[0.0, soc[:-1]]) + net - soc, 0.0)
    g0 = np.searchsorted(seg_key, ld_sat * (n + 1) + ld_k, side="right") - 1
    g1 = np.searchsorted(seg_key, ld_sat * (n + 1) + ld_e - 1, side="right") - 1
    src, g = _expand(g0, g1)
    over = np.minimum(seg_stop[g], ld_e[src]) - np.maximum(seg_first[g], ld_k[src])
    bat_wh = np.maximum(over, 0) * ld_p[src] * slot_h
    seg_last = np.searchsorted(seg_key, ld_sat * (n + 1) + n, side="right") - 1
    alone_bad = _alone_breach(g0, seg_last, src, bat_wh, curt, soc - floor, thermal=False)

    # --- heat: the linear thermal chain at the model's checks ---
    th0 = rows.count
    win_flat = np.full(n_sat * n, -1, dtype=np.int64)
    kappa_flat = np.zeros(n_sat * n)
    n_chk = np.array([len(ctxs[s].checks) for s in sat_list], dtype=np.int64)
    if n_chk.sum():
        hsat = np.repeat(sats, n_chk)
        h_start = np.r_[True, hsat[1:] != hsat[:-1]]
        hhi = np.concatenate([ctxs[s].checks for s in sat_list]).astype(np.int64)
        hlo = np.where(h_start, 0, np.r_[0, hhi[:-1]])
        a_ids, a_of_sat = np.unique([ctxs[s].lin.a for s in sat_list], return_inverse=True)
        # a^k for whole k, per distinct bus (a table instead of powers of millions).
        powers = np.asarray(a_ids, dtype=np.float64)[:, None] ** np.arange(n + 1)[None, :]
        haid = np.repeat(np.asarray(a_of_sat, dtype=np.int64).ravel(), n_chk)
        hb = np.repeat([ctxs[s].lin.b_w_k for s in sat_list], n_chk)
        budget = np.maximum(np.concatenate([ctxs[s].thermal_budget_k for s in sat_list]), 0.0)
        carry = np.where(h_start, 0.0, powers[haid, hhi - hlo])
        with_chk = n_chk[n_chk > 0]
        scale_h = np.repeat(
            np.maximum(np.maximum.reduceat(budget, np.flatnonzero(h_start)), 1.0), with_chk
        )
        # y = -R in [-budget, 0]: y_n - a^(c_n - c_{n-1}) y_{n-1} + rise <= 0.
        rows.add(np.zeros(len(hhi)), -budget, np.zeros(len(hhi)), carry, ~h_start, scale_h)
        # Per slot: its window, and the rise at the window's check per W in the slot.
        w_of, t = _expand(hlo, hhi - 1)
        flat = sat_pos[hsat[w_of]] * n + t
        win_flat[flat] = w_of
        a_w = powers[haid[w_of], 1]
        kappa_flat[flat] = powers[haid[w_of], hhi[w_of] - t - 1] * (1.0 - a_w) / hb[w_of]
        # Loads that break the heat limit even alone: the rise each load adds at every
        # check from its first window to the satellite's last.
        hk = hsat * (n + 1) + hhi
        w0 = np.searchsorted(hk, ld_sat * (n + 1) + ld_k, side="right")
        w1 = np.searchsorted(hk, ld_sat * (n + 1) + ld_e - 1, side="right")
        last = np.searchsorted(hk, ld_sat * (n + 1) + n, side="right") - 1
        w1 = np.minimum(w1, last)
        ok = (w0 < len(hk)) & (w0 <= w1)
        ok[ok] = hsat[w0[ok]] == ld_sat[ok]
        okw = np.flatnonzero(ok)
        src, w = _expand(w0[okw], w1[okw])
        src = okw[src]
        k1 = np.maximum(ld_k[src], hlo[w])
        e1 = np.minimum(ld_e[src], hhi[w])
        aw = haid[w]
        rise = np.where(
            e1 > k1,
            powers[aw, hhi[w] - e1] * (1.0 - powers[aw, np.maximum(e1 - k1, 0)]) / hb[w],
            0.0,
        )
        pos = np.empty(len(ld_k), dtype=np.int64)
        pos[okw] = np.arange(len(okw))
        alone_bad[okw] |= _alone_breach(
            w0[okw], last[okw], pos[src], rise * ld_p[src], carry, budget, thermal=True
        )
    win_of_slot: IntArray = win_flat.reshape(n_sat, n)
    kappa: FloatArray = kappa_flat.reshape(n_sat, n)

    # --- downlink volume per contact ---
    ct0 = rows.count
    n_cols = len(col_value)
    col_contact = np.full(n_cols, -1, dtype=np.int64)
    col_out_mb = np.zeros(n_cols)
    if n_inf:
        out_mb = np.array([getattr(jobs[j], "output_mb", 0.0) for j in job.tolist()])
        has = np.flatnonzero(out_mb > 0)
        if has.size:
            key_of: dict[tuple[int, int], int] = {}
            cid = np.array([key_of.setdefault(inf[i].contact, len(key_of)) for i in has.tolist()])
            vol = np.array([cset.contacts[k].volume_mb for k in key_of])
            z = np.zeros(len(vol))
            rows.add(vol, z, z, z, np.zeros(len(vol), dtype=bool), np.maximum(vol, 1.0))
            col_contact[has] = cid
            col_out_mb[has] = out_mb[has]

    # A column that breaks the battery floor or the heat limit of one of its satellites
    # even alone is in no selection the model admits: it earns nothing here.
    values = np.array(col_value, dtype=np.float64)
    col_bad = np.bincount(ld_col[alone_bad], minlength=n_cols) > 0
    values[col_bad] = 0.0
    live = ~col_bad[ld_col]
    col_contact[col_bad] = -1
    # Options sorted by job (stable), columns renumbered to follow.
    opt_job_a = np.array(opt_job, dtype=np.int64)
    order = np.argsort(opt_job_a, kind="stable")
    new_of = np.empty_like(order)
    new_of[order] = np.arange(len(order))
    rhs_r, lo_r, hi_r, prev, carry_r, nxt, carry_nxt, scale = rows.arrays()
    return Relaxation(
        n_slots=n,
        slot_h=slot_h,
        acc_block=ACC_BLOCK_SLOTS,
        col_value=values,
        col_option=new_of[np.array(col_option, dtype=np.int64)],
        option_job=opt_job_a[order],
        option_take=np.array(opt_take, dtype=np.int64)[order],
        load_col=ld_col[live],
        load_sat=sat_pos[ld_sat[live]],
        load_k=ld_k[live],
        load_e=ld_e[live],
        load_acc=ld_acc[live],
        load_pow=ld_p[live],
        col_contact=col_contact,
        col_out_mb=col_out_mb,
        seg_of_slot=seg_of_slot,
        win_of_slot=win_of_slot,
        kappa=kappa,
        bat0=bat0,
        th0=th0,
        ct0=ct0,
        rhs=rhs_r,
        lo=lo_r,
        hi=hi_r,
        prev=prev,
        carry=carry_r,
        nxt=nxt,
        carry_nxt=carry_nxt,
        scale=scale,
    )


class _Rows:
    """Rows being collected (see Relaxation)."""

    def __init__(self) -> None:
        self.rhs: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.carry: list[FloatArray] = []
        self.chained: list[NDArray[np.bool_]] = []
        self.scale: list[FloatArray] = []
        self.count = 0

    def add(
        self,
        rhs: FloatArray,
        lo: FloatArray,
        hi: FloatArray,
        carry: FloatArray,
        linked: NDArray[np.bool_],
        scale: FloatArray,
    ) -> None:
        """Rows with states in [lo, hi]; `linked`: the row's state follows the row before
        it (carry times it); lo = hi = 0 for rows without a state. One scale per chain."""
        self.rhs.append(np.asarray(rhs, dtype=np.float64))
        self.lo.append(np.asarray(lo, dtype=np.float64))
        self.hi.append(np.asarray(hi, dtype=np.float64))
        self.carry.append(np.where(linked, carry, 0.0))
        self.chained.append(np.asarray(linked, dtype=bool))
        self.scale.append(np.asarray(scale, dtype=np.float64))
        self.count += len(rhs)

    def arrays(
        self,
    ) -> tuple[
        FloatArray, FloatArray, FloatArray, IntArray, FloatArray, IntArray, FloatArray, FloatArray
    ]:
        """(rhs, lo, hi, prev, carry, nxt, carry_nxt, scale)."""
        linked = np.concatenate(self.chained)
        m = len(linked)
        prev = np.where(linked, np.arange(m) - 1, -1).astype(np.int64)
        nxt = np.full(m, -1, dtype=np.int64)
        nxt[prev[prev >= 0]] = np.flatnonzero(prev >= 0)
        carry = np.concatenate(self.carry)
        carry_nxt = np.where(nxt >= 0, carry[np.maximum(nxt, 0)], 0.0)
        return (
            np.concatenate(self.rhs),
            np.concatenate(self.lo),
            np.concatenate(self.hi),
            prev,
            carry,
            nxt,
            carry_nxt,
            np.concatenate(self.scale),
        )


def _highest_soc(rhs: FloatArray, cap: FloatArray, start: NDArray[np.bool_]) -> FloatArray:
    """Highest charge reachable at each segment end with no further load (the model's
    chain with every surplus above capacity curtailed), for the chains of all satellites
    (`start` marks each one's first segment, whose rhs includes the initial charge): one
    step per segment index, over every satellite at once."""
    firsts = np.flatnonzero(start)
    length = np.diff(np.r_[firsts, len(rhs)])
    out = np.empty(len(rhs))
    soc = np.zeros(len(firsts))
    for g in range(int(length.max(initial=0))):
        live = length > g
        idx = firsts[live] + g
        soc[live] = np.minimum(soc[live] + rhs[idx], cap[idx])
        out[idx] = soc[live]
    return out


def _alone_breach(
    first: IntArray,
    last: IntArray,
    src: IntArray,
    load: FloatArray,
    carry_or_curt: FloatArray,
    room: FloatArray,
    thermal: bool,
) -> NDArray[np.bool_]:
    """Per load i (on chain rows first[i]..last[i], its loads `load` on consecutive rows
    from first[i], given as pairs with source index src, sorted by src): whether it alone
    breaks the chain's limit.
    Heat: R = carry R_prev + load, breach where R > room (the budget).
    Battery: the charge lost D = max(D_prev + load - curtailed, 0), breach where D > room
    (the highest charge without the load minus the floor).
    A tolerance keeps float error on the safe side (a breach must be clear)."""
    m = len(first)
    bad = np.zeros(m, dtype=bool)
    if not m:
        return bad
    count = np.bincount(src, minlength=m)
    start = np.cumsum(count) - count
    state = np.zeros(m)
    act = np.flatnonzero(last >= first)
    t = 0
    padded = np.r_[load, 0.0]
    while act.size:
        idx = first[act] + t
        here = np.where(t < count[act], padded[np.minimum(start[act] + t, len(load))], 0.0)
        if thermal:
            state[act] = carry_or_curt[idx] * state[act] + here
        else:
            state[act] = np.maximum(state[act] + here - carry_or_curt[idx], 0.0)
        bad[act] |= state[act] > room[idx] + 1e-6
        t += 1
        keep = (idx + 1 <= last[act]) & ~bad[act] & ((state[act] > 1e-9) | (t < count[act]))
        act = act[keep]
    return bad


def _expand(first: IntArray, last: IntArray) -> tuple[IntArray, IntArray]:
    """(source index, value) for every value in first[i]..last[i] (inclusive)."""
    count = np.maximum(last - first + 1, 0)
    src = np.repeat(np.arange(len(first), dtype=np.int64), count)
    offset = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(count) - count, count
    )
    return src, first[src] + offset


def heat_aware_bound(
    problem: Problem,
    ctxs: Sequence[SatContext],
    cset: CandidateSet,
    mults: dict[int, int],
    target: float,
    max_iter: int = 200,
    deadline: float = math.inf,
) -> float:
    """An upper bound of the pruned problem's priority-weighted value (module docstring);
    `target`: an objective a plan reaches."""
    if not (cset.inference or cset.training):
        return 0.0
    rel = build_relaxation(problem, ctxs, cset, mults)
    return rel.bound(target, max_iter=max_iter, deadline=deadline)[0]
