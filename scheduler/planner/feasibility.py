"""Pure feasibility rules, each usable and tested alone.

Slots: slot k covers [now_s + k * slot_s, now_s + (k + 1) * slot_s). A job of d slots that
starts in slot k occupies slots k .. k + d - 1 and ends at now_s + (k + d) * slot_s.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from scheduler.forecast.bus import BusParams
from scheduler.forecast.constants import KELVIN_OFFSET, STEFAN_BOLTZMANN_W_M2_K4
from scheduler.forecast.isl import isl_components
from scheduler.forecast.thermal import radiated_w
from scheduler.planner.domain import ContactWindow, FloatArray, Satellite

# A segment kind: the battery can only charge (generation >= the largest possible load),
# can only drain (generation <= the smallest load), or either (a single slot).
CHARGING = "charging"
DRAINING = "draining"
MIXED = "mixed"


def hhmm(t_s: float) -> str:
    """UTC wall time of a POSIX second as HH:MM."""
    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%H:%M")


def duration_slots(duration_s: float, slot_s: float) -> int:
    """Whole slots needed to run for duration_s (at least one)."""
    return max(1, math.ceil(duration_s / slot_s - 1e-9))


def route_groups(satellites: Sequence[Satellite]) -> list[int]:
    """Group id per satellite: connected components of the ISL neighbour graph. Outputs of a
    satellite reach the ground through any member of its group that is in contact."""
    comps = isl_components({s.name: s.isl_neighbours for s in satellites})
    group = {n: k for k, comp in enumerate(comps) for n in comp}
    return [group[s.name] for s in satellites]


ContactKey = tuple[int, int]  # (satellite index, index in its forecast contacts)


@dataclass(frozen=True)
class RoutedContact:
    key: ContactKey
    window: ContactWindow


def group_contacts(
    satellites: Sequence[Satellite], groups: Sequence[int]
) -> dict[int, list[RoutedContact]]:
    """Contacts reachable by each route group, sorted by start time."""
    out: dict[int, list[RoutedContact]] = {}
    for i, sat in enumerate(satellites):
        for c_idx, window in enumerate(sat.forecast.contacts):
            out.setdefault(groups[i], []).append(RoutedContact((i, c_idx), window))
    for contacts in out.values():
        contacts.sort(key=lambda rc: (rc.window.start_s, rc.key))
    return out


def transfer_s(size_mb: float, rate_mbps: float) -> float:
    return size_mb * 8.0 / rate_mbps if size_mb > 0 else 0.0


class ContactIndex:
    """A route group's contacts sorted by start, indexed by time: the first contact that
    can still be open at a given time is found by bisection on the running maximum of end
    times (contacts overlap, so ends are not sorted), then scanned from there."""

    def __init__(self, contacts: Sequence[RoutedContact]) -> None:
        self.contacts = list(contacts)
        self.start_s = [rc.window.start_s for rc in self.contacts]
        self.end_s = [rc.window.end_s for rc in self.contacts]
        self.rate_mbps = [rc.window.downlink_mbps for rc in self.contacts]
        self.max_end_s = list(itertools.accumulate(self.end_s, max))

    def __len__(self) -> int:
        return len(self.contacts)

    def first_transfer(self, ready_s: float, size_mb: float) -> tuple[float, RoutedContact] | None:
        """Earliest-starting contact with room for size_mb from ready_s: (done_s, contact)."""
        i = bisect.bisect_left(self.max_end_s, ready_s)
        start, end, rate = self.start_s, self.end_s, self.rate_mbps
        bits = size_mb * 8.0
        for n in range(i, len(start)):
            if end[n] < ready_s:
                continue
            begin_s = start[n] if start[n] > ready_s else ready_s
            done_s = begin_s + (bits / rate[n] if size_mb > 0 else 0.0)
            if done_s <= end[n]:
                return done_s, self.contacts[n]
        return None


def contact_indexes(routed: dict[int, list[RoutedContact]]) -> dict[int, ContactIndex]:
    return {g: ContactIndex(rcs) for g, rcs in routed.items()}


def first_transfer(
    contacts: Sequence[RoutedContact] | ContactIndex, ready_s: float, size_mb: float
) -> tuple[float, RoutedContact] | None:
    """Earliest completion of a transfer of size_mb that may begin at ready_s, in one
    contact that has room for it in time: (done_s, contact) or None."""
    index = contacts if isinstance(contacts, ContactIndex) else ContactIndex(contacts)
    return index.first_transfer(ready_s, size_mb)


class Segment(NamedTuple):
    """Slots [first, stop) over which the state of charge moves one way (or one slot)
    (a named tuple: tens of thousands are made per solve at constellation scale)."""

    first: int
    stop: int
    kind: str


def battery_segments(gen_w: FloatArray, min_load_w: float, max_load_w: float) -> list[Segment]:
    """Split the horizon so that the state of charge is monotone inside each segment; the
    floor and the capacity then need checking only at segment ends."""
    g = np.asarray(gen_w, dtype=np.float64)
    code = np.where(g >= max_load_w, 0, np.where(g <= min_load_w, 1, 2))  # charging, draining
    names = (CHARGING, DRAINING, MIXED)
    # A segment starts where the kind changes, and at every mixed slot (one slot each).
    cut = np.ones(len(code), dtype=bool)
    cut[1:] = (code[1:] != code[:-1]) | (code[1:] == 2)
    firsts = np.flatnonzero(cut).tolist()
    stops = [*firsts[1:], len(code)]
    kinds = code[firsts].tolist()
    return [Segment(a, b, names[c]) for a, b, c in zip(firsts, stops, kinds, strict=True)]


def segment_overlap_slots(segments: Sequence[Segment], k: int, d: int) -> NDArray[np.int64]:
    """Slots of [k, k + d) that fall in each segment."""
    firsts = np.array([s.first for s in segments])
    stops = np.array([s.stop for s in segments])
    return np.maximum(np.minimum(stops, k + d) - np.maximum(firsts, k), 0)


def soc_at_segment_ends(
    soc0_wh: float, net_wh: FloatArray, segments: Sequence[Segment], bus: BusParams
) -> FloatArray:
    """Highest reachable state of charge at each segment end: clipped at capacity (the
    surplus is curtailed), never clipped below (a breach shows as a value under the floor).
    net_wh is (generation - load) energy per segment."""
    out = np.empty(len(segments))
    soc = soc0_wh
    cap = bus.battery_capacity_wh
    for g, seg in enumerate(segments):
        soc = soc + net_wh[g]
        if seg.kind != DRAINING:
            soc = min(soc, cap)
        out[g] = soc
    return out


@dataclass(frozen=True)
class ThermalLinear:
    """Tangent linearisation of radiation at the temperature limit Tm:
    R(T) ~ r0_w + b_w_k (T - Tm). Radiation (T^4) is convex, so the tangent lies below it:
    the linear model runs hotter than the nonlinear one and is safe to plan with.
    Over a slot with constant heat input q, u = T - Tm evolves exactly as
    u' = a u + (1 - a) (q - r0_w) / b_w_k with a = exp(-b_w_k slot_s / C)."""

    a: float
    b_w_k: float
    r0_w: float
    limit_c: float


def thermal_linear(bus: BusParams, slot_s: float) -> ThermalLinear:
    tm_k = bus.max_temperature_c + KELVIN_OFFSET
    r0 = float(radiated_w(tm_k, bus))
    b = 4.0 * bus.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * bus.radiator_area_m2 * tm_k**3
    return ThermalLinear(
        math.exp(-b * slot_s / bus.heat_capacity_j_k), b, r0, bus.max_temperature_c
    )


def linear_temperature_c(
    lin: ThermalLinear, t0_c: float | FloatArray, heat_in_w: FloatArray
) -> FloatArray:
    """Linear-model temperature at every slot end (n values) for heat input per slot:
    u_k = a^k (u_0 + sum_{t<k} a^-(t+1) (1 - a) (q_t - r0) / b), as a cumulative sum (in
    chunks, so that a^-t stays well inside float range)."""
    q = np.asarray(heat_in_w, dtype=np.float64)
    out = np.empty(q.shape)
    # Many satellites at once: one row each (t0_c one per row), along the last axis.
    u: Any = np.asarray(t0_c, dtype=np.float64) - lin.limit_c
    if q.ndim > 1:
        u = np.broadcast_to(u, q.shape[:-1])[..., None]
    n = q.shape[-1]
    chunk = 256
    for first in range(0, n, chunk):
        part = q[..., first : first + chunk]
        m = part.shape[-1]
        powers = lin.a ** np.arange(1, m + 1)
        drive = (1.0 - lin.a) * (part - lin.r0_w) / lin.b_w_k
        out[..., first : first + m] = powers * (u + np.cumsum(drive / powers, axis=-1))
        u = out[..., first + m - 1 : first + m] if q.ndim > 1 else out[first + m - 1]
    return out + lin.limit_c


def thermal_kernel(lin: ThermalLinear, checks: NDArray[np.int64], k: int, d: int) -> FloatArray:
    """Temperature rise (K per W of extra load) at each check (slot-end index n: the end of
    slot n - 1) caused by running over slots [k, k + d)."""
    n = checks.astype(np.float64)
    e = np.minimum(k + d, checks).astype(np.float64)
    active = checks > k
    rise = np.where(active, lin.a ** (n - e) * (1.0 - lin.a ** np.maximum(e - k, 0.0)), 0.0)
    return rise / lin.b_w_k


def thermal_margin_c(
    lin: ThermalLinear, bus: BusParams, env_w: FloatArray, check_every: int, slot_s: float
) -> float:
    """Margin below the limit at check points that covers the unchecked slot ends between
    them: the fastest heating rate near the limit times the check spacing, plus 0.1 K."""
    near_k = bus.max_temperature_c - 5.0 + KELVIN_OFFSET
    rate_k_s = (float(np.max(env_w)) + bus.full_load_w - float(radiated_w(near_k, bus))) / (
        bus.heat_capacity_j_k
    )
    return max(rate_k_s, 0.0) * (check_every - 1) * slot_s + 0.1


def check_slots(n_slots: int, every: int) -> NDArray[np.int64]:
    """Slot-end indices (1..n_slots) where the linear thermal limit is enforced."""
    checks = list(range(every, n_slots + 1, every))
    if not checks or checks[-1] != n_slots:
        checks.append(n_slots)
    return np.array(checks, dtype=np.int64)
