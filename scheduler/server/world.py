"""What the scheduler plans over: the constellation, the ground stations and the bus,
with the ground-contact windows the link model and the planner need."""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sgp4.api import Satrec
from sgp4.exporter import export_tle

from scheduler.forecast import (
    BusParams,
    Constellation,
    Contact,
    Station,
    find_contacts,
    find_eclipses,
)
from scheduler.forecast.antennas import AntennaState, allocate_antennas

log = logging.getLogger("orbit-scheduler")

# Contacts are computed for chunks of this much simulated time, then extended a chunk at a
# time (a multiple of 600 s: each chunk samples on the grid a one-shot search would use).
CONTACT_CHUNK_S = 6 * 3600.0
# The next chunk is computed in the background once a query ends less than this before
# the end of the contacts computed (next_contact looks hours past the horizon).
AHEAD_S = 2 * CONTACT_CHUNK_S


Windows = list[tuple[float, float]]
# (start_s, end_s, downlink_mbps, raw AOS of the pass): a pass an antenna serves, possibly
# trimmed at its start; the raw AOS tells which passes a later chunk decides again.
Downlink = tuple[float, float, float, float]


def merge(windows: list[tuple[float, float]]) -> Windows:
    union: Windows = []
    for a, b in sorted(windows):
        if union and a <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], b))
        else:
            union.append((a, b))
    return union


@dataclass(frozen=True)
class _Seam:
    """Where the computed contacts end, and what the next chunk needs of them: the passes
    whose antenna the next chunk may decide again (AOS at or after cut_s: those still
    under way at hi_s, which the next chunk lengthens, and every pass after the first of
    them), and the antennas' free times left by the passes before cut_s."""

    hi_s: float
    cut_s: float
    tail: tuple[Contact, ...]
    antennas: AntennaState


@dataclass(frozen=True)
class _Extension:
    """Contacts computed from a seam up to seam.hi_s (in any thread): for each list that
    changes, the index from which its old entries are replaced, and the entries."""

    seam: _Seam
    own: dict[str, tuple[int, Windows]]
    group: dict[tuple[str, ...], tuple[int, Windows]]
    downlink: dict[tuple[str, ...], tuple[int, list[Downlink]]]


def _from_merged(old: Windows, from_s: float) -> int:
    """The first merged window of `old` that ends at or after from_s."""
    k = len(old)
    while k > 0 and old[k - 1][1] >= from_s:
        k -= 1
    return k


@dataclass
class World:
    """relay: in the contacts link model, a satellite is reachable while any satellite of
    its ISL group has a ground contact (ISL relay), not only during its own contacts.

    Contacts are computed a chunk at a time, from the first time asked for (prepare() at
    start-up); once a query ends within AHEAD_S of their end, the next chunk is computed in
    a background thread, so that the event loop (World.contact_at and friends are called
    from it) computes none unless the clock outruns that thread."""

    constellation: Constellation
    stations: tuple[Station, ...]
    bus: BusParams
    epoch_s: float
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    relay: bool = False
    # Merged contact windows (any station) per satellite, and per ISL group.
    _contacts: dict[str, Windows] = field(default_factory=dict)
    _group_contacts: dict[tuple[str, ...], Windows] = field(default_factory=dict)
    _covered: tuple[float, float] = (0.0, 0.0)
    # Downlink windows of each ISL group: the passes a station has an antenna for
    # (forecast/antennas.py), as the planner sees them, sorted.
    _downlink: dict[tuple[str, ...], list[Downlink]] = field(default_factory=dict)
    _seam: _Seam | None = None
    _next: tuple[_Seam, Future[_Extension]] | None = None
    _pool: ThreadPoolExecutor | None = None
    # Elements that replace the scenario's, by satellite (TLE lines; store.element_sets).
    overrides: dict[str, tuple[str, str]] = field(default_factory=dict)
    chunks: int = 0  # chunks computed (tests)

    @property
    def names(self) -> tuple[str, ...]:
        return self.constellation.names

    def tle_lines(self, name: str) -> tuple[str, str]:
        if name in self.overrides:
            return self.overrides[name]
        line1, line2 = export_tle(self.constellation.satrecs[self.constellation.index(name)])
        return str(line1), str(line2)

    def update_elements(self, sets: dict[str, tuple[str, str]]) -> None:
        """Replace satellites' elements (lines already validated) and forget the contacts
        forecast with the old ones."""
        satrecs = {name: Satrec.twoline2rv(l1, l2) for name, (l1, l2) in sets.items()}
        self.constellation = self.constellation.with_elements(satrecs)
        self.overrides = {**self.overrides, **sets}
        self._seam, self._next, self._covered = None, None, (0.0, 0.0)

    def plane(self, name: str) -> int:
        return int(self.constellation.plane[self.constellation.index(name)])

    def _group(self, name: str) -> tuple[str, ...]:
        return self.groups.get(name, (name,))

    def _reset(self, lo_s: float) -> None:
        """No contacts yet, from lo_s on."""
        self._contacts = {n: [] for n in self.names}
        self._group_contacts = {self._group(n): [] for n in self.names}
        self._downlink = {self._group(n): [] for n in self.names}
        self._seam = _Seam(lo_s, lo_s - 1.0, (), {})
        self._next = None
        self._covered = (lo_s, lo_s)

    def _extend(self, seam: _Seam, hi_s: float) -> _Extension:
        """The contacts from seam.hi_s to hi_s, stitched to those before (reads the lists,
        changes nothing: safe in a worker thread while the caller reads them too)."""
        t0 = seam.hi_s - 1.0
        found = find_contacts(self.constellation, self.stations, t0, hi_s)
        names = self.names
        # A pass under way at the seam was cut there: join its two pieces.
        under_way = {(c.sat, c.station): c for c in seam.tail if c.los_s >= t0}
        joined: dict[tuple[int, int], Contact] = {}
        fresh: list[Contact] = []
        for c in found:
            key = (c.sat, c.station)
            old = under_way.get(key)
            if old is not None and key not in joined and c.aos_s <= old.los_s:
                joined[key] = Contact(
                    c.sat,
                    c.station,
                    old.aos_s,
                    max(old.los_s, c.los_s),
                    max(old.max_elevation_deg, c.max_elevation_deg),
                )
            else:
                fresh.append(c)
        replaced = {id(under_way[k]) for k in joined}
        passes = [c for c in seam.tail if id(c) not in replaced]
        passes += [*joined.values(), *fresh]
        open_aos = [c.aos_s for c in passes if c.los_s >= hi_s - 1.0]
        cut_s = min([*open_aos, hi_s - 1.0])
        alloc = allocate_antennas(passes, self.stations, resume=seam.antennas, state_at_s=cut_s)
        nxt = _Seam(hi_s, cut_s, tuple(c for c in passes if c.aos_s >= cut_s), alloc.state or {})

        new_own: dict[str, Windows] = defaultdict(list)
        for c in found:
            new_own[names[c.sat]].append((c.aos_s, c.los_s))
        own: dict[str, tuple[int, Windows]] = {}
        for name, windows in new_own.items():
            k = _from_merged(self._contacts[name], t0)
            own[name] = (k, merge(self._contacts[name][k:] + windows))  # stations overlap
        group: dict[tuple[str, ...], tuple[int, Windows]] = {}
        for g in {self._group(n) for n in new_own}:
            gw = self._group_contacts[g]
            k = _from_merged(gw, t0)
            group[g] = (k, merge(gw[k:] + [w for m in g for w in new_own.get(m, ())]))
        # Every pass from seam.cut_s on is decided again: replace those after it.
        raw_aos = {(c.sat, c.station, c.los_s): c.aos_s for c in passes}  # before trimming
        served: dict[tuple[str, ...], list[Downlink]] = defaultdict(list)
        for c in alloc.served:
            served[self._group(names[c.sat])].append(
                (
                    c.aos_s,
                    c.los_s,
                    self.stations[c.station].downlink_mbps,
                    raw_aos[c.sat, c.station, c.los_s],
                )
            )
        downlink: dict[tuple[str, ...], tuple[int, list[Downlink]]] = {}
        for g in {self._group(names[c.sat]) for c in passes}:
            old_dl = self._downlink[g]
            k = bisect.bisect_left(old_dl, (seam.cut_s,))
            keep = [w for w in old_dl[k:] if w[3] < seam.cut_s]
            downlink[g] = (k, sorted(keep + served.get(g, [])))
        return _Extension(nxt, own, group, downlink)

    def _apply(self, ext: _Extension) -> None:
        for name, (k, windows) in ext.own.items():
            self._contacts[name][k:] = windows
        for g, (k, windows) in ext.group.items():
            self._group_contacts[g][k:] = windows
        for g, (k, entries) in ext.downlink.items():
            self._downlink[g][k:] = entries
        self._seam = ext.seam
        self._covered = (self._covered[0], ext.seam.hi_s)
        self.chunks += 1

    def _take_ahead(self, wait: bool) -> bool:
        """Apply the chunk computed in the background, if it extends the contacts as they
        are (waiting for it if asked); whether one was applied."""
        ahead = self._next
        if ahead is None or (not wait and not ahead[1].done()):
            return False
        self._next = None
        try:
            ext = ahead[1].result()
        except Exception:  # computed again in the caller, where the error shows
            log.exception("contacts computed ahead failed")
            return False
        if ahead[0] is not self._seam:  # new elements meanwhile
            return False
        self._apply(ext)
        return True

    def prepare(self, from_s: float) -> None:
        """Compute the first chunk of contacts from from_s now, and the next ones in the
        background (at start-up, before the event loop serves anything)."""
        if self._seam is None:
            self._reset(from_s)
            seam = self._seam
            assert seam is not None
            self._apply(self._extend(seam, from_s + CONTACT_CHUNK_S))
            self._compute_ahead()

    def _compute_ahead(self) -> None:
        seam = self._seam
        if seam is None or self._next is not None:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="contacts")
        self._next = (seam, self._pool.submit(self._extend, seam, seam.hi_s + CONTACT_CHUNK_S))

    def _ensure_contacts(self, start_s: float, end_s: float) -> None:
        self._take_ahead(wait=False)
        lo, hi = self._covered
        t0 = time.perf_counter()
        if self._seam is None or start_s < lo:
            self._reset(min(start_s, lo) if self._seam is not None else start_s)
            lo, hi = self._covered
        while end_s > hi or hi <= lo:
            seam = self._seam
            assert seam is not None
            if not (self._next is not None and self._next[0] is seam and self._take_ahead(True)):
                chunks = max(1, math.ceil((end_s - hi) / CONTACT_CHUNK_S))
                self._apply(self._extend(seam, hi + chunks * CONTACT_CHUNK_S))
            hi = self._covered[1]
        waited_s = time.perf_counter() - t0
        if waited_s > 0.1:
            log.info("contacts to %.0f s computed in %.2f s", hi, waited_s)
        if end_s > hi - AHEAD_S:
            self._compute_ahead()

    def contacts(
        self, name: str, start_s: float, end_s: float, via_group: bool = False
    ) -> list[tuple[float, float]]:
        """Merged contact windows (any station) of one satellite overlapping [start, end);
        via_group: of any satellite of its ISL group (where its outputs can go down)."""
        self._ensure_contacts(start_s, end_s)
        table = self._windows(name, via_group)
        k = i = bisect.bisect_left(table, (end_s,))  # the first window from end_s on
        while k > 0 and table[k - 1][1] > start_s:  # merged: ends ascend too
            k -= 1
        return table[k:i]

    def downlink_windows(
        self, name: str, start_s: float, end_s: float
    ) -> list[tuple[float, float, float]]:
        """(start_s, end_s, downlink_mbps) windows overlapping [start, end) in which the
        satellite's outputs can go down through its ISL group with an antenna held."""
        self._ensure_contacts(start_s, end_s)
        entries = self._downlink[self._group(name)]
        return [(a, b, r) for a, b, r, _ in entries if b > start_s and a < end_s]

    def _windows(self, name: str, via_group: bool) -> Windows:
        return self._group_contacts[self._group(name)] if via_group else self._contacts[name]

    def contact_at(self, name: str, time_s: float) -> tuple[float, float] | None:
        """The link window containing time_s, if any (own contacts, or the ISL group's with
        relay)."""
        self._ensure_contacts(time_s, time_s + 1.0)
        windows = self._windows(name, self.relay)
        i = bisect.bisect_right(windows, (time_s, float("inf"))) - 1
        if i >= 0 and windows[i][0] <= time_s < windows[i][1]:
            return windows[i]
        return None

    def next_contact(self, name: str, time_s: float) -> tuple[float, float] | None:
        """The current contact, or the next one within a day."""
        for _ in range(4):
            current = self.contact_at(name, time_s)
            if current is not None:
                return current
            windows = self._windows(name, self.relay)
            i = bisect.bisect_right(windows, (time_s, float("inf")))
            if i < len(windows):
                return windows[i]
            self._ensure_contacts(time_s, self._covered[1] + CONTACT_CHUNK_S)
        return None

    def forecast(
        self, name: str, start_s: float, end_s: float
    ) -> tuple[list[tuple[float, float]], Windows]:
        """Eclipses and merged contact windows of one satellite over [start, end), computed
        for it alone and touching no cache (safe in a worker thread; GetForecast)."""
        sub = self.constellation.subset([self.constellation.index(name)])
        eclipses = [(e.start_s, e.end_s) for e in find_eclipses(sub, start_s, end_s)]
        found = find_contacts(sub, self.stations, start_s, end_s)
        return eclipses, merge([(c.aos_s, c.los_s) for c in found])

    def eclipses(self, name: str, start_s: float, end_s: float) -> list[tuple[float, float]]:
        sub = self.constellation.subset([self.constellation.index(name)])
        return [(e.start_s, e.end_s) for e in find_eclipses(sub, start_s, end_s)]
