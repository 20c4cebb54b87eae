"""What the scheduler plans over: the constellation, the ground stations and the bus,
with the ground-contact windows the link model and the planner need."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from sgp4.api import Satrec
from sgp4.exporter import export_tle

from scheduler.forecast import (
    BusParams,
    Constellation,
    Station,
    find_contacts,
    find_eclipses,
)
from scheduler.forecast.antennas import allocate_antennas

# Contacts are computed for windows of this much simulated time, then extended.
CONTACT_CHUNK_S = 6 * 3600.0


Windows = list[tuple[float, float]]


def merge(windows: list[tuple[float, float]]) -> Windows:
    union: Windows = []
    for a, b in sorted(windows):
        if union and a <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], b))
        else:
            union.append((a, b))
    return union


@dataclass
class World:
    """relay: in the contacts link model, a satellite is reachable while any satellite of
    its ISL group has a ground contact (ISL relay), not only during its own contacts."""

    constellation: Constellation
    stations: tuple[Station, ...]
    bus: BusParams
    epoch_s: float
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    relay: bool = False
    _contacts: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _group_contacts: dict[str, Windows] = field(default_factory=dict)
    _covered: tuple[float, float] = (0.0, 0.0)
    # Downlink windows of each satellite's ISL group: the passes a station has an antenna
    # for (forecast/antennas.py), (start_s, end_s, downlink_mbps), as the planner sees them.
    _downlink: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)
    # Elements that replace the scenario's, by satellite (TLE lines; store.element_sets).
    overrides: dict[str, tuple[str, str]] = field(default_factory=dict)

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
        self._contacts, self._group_contacts, self._covered = {}, {}, (0.0, 0.0)
        self._downlink = {}

    def plane(self, name: str) -> int:
        return int(self.constellation.plane[self.constellation.index(name)])

    def _ensure_contacts(self, start_s: float, end_s: float) -> None:
        lo, hi = self._covered
        if lo <= start_s and end_s <= hi and hi > lo:
            return
        new_lo = min(start_s, lo) if hi > lo else start_s
        new_hi = max(end_s, hi, start_s + CONTACT_CHUNK_S)
        found = find_contacts(self.constellation, self.stations, new_lo - 1.0, new_hi)
        merged: dict[str, list[tuple[float, float]]] = {n: [] for n in self.names}
        for c in found:
            merged[self.names[c.sat]].append((c.aos_s, c.los_s))
        self._contacts = {name: merge(w) for name, w in merged.items()}  # stations overlap
        self._group_contacts = {
            name: merge([w for m in self.groups.get(name, (name,)) for w in self._contacts[m]])
            for name in self.names
        }
        own: dict[str, list[tuple[float, float, float]]] = {n: [] for n in self.names}
        for c in allocate_antennas(found, self.stations).served:
            own[self.names[c.sat]].append(
                (c.aos_s, c.los_s, self.stations[c.station].downlink_mbps)
            )
        self._downlink = {
            name: sorted(w for m in self.groups.get(name, (name,)) for w in own[m])
            for name in self.names
        }
        self._covered = (new_lo, new_hi)

    def contacts(
        self, name: str, start_s: float, end_s: float, via_group: bool = False
    ) -> list[tuple[float, float]]:
        """Merged contact windows (any station) of one satellite overlapping [start, end);
        via_group: of any satellite of its ISL group (where its outputs can go down)."""
        self._ensure_contacts(start_s, end_s)
        table = self._group_contacts if via_group else self._contacts
        return [(a, b) for a, b in table[name] if b > start_s and a < end_s]

    def downlink_windows(
        self, name: str, start_s: float, end_s: float
    ) -> list[tuple[float, float, float]]:
        """(start_s, end_s, downlink_mbps) windows overlapping [start, end) in which the
        satellite's outputs can go down through its ISL group with an antenna held."""
        self._ensure_contacts(start_s, end_s)
        return [w for w in self._downlink[name] if w[1] > start_s and w[0] < end_s]

    def contact_at(self, name: str, time_s: float) -> tuple[float, float] | None:
        """The link window containing time_s, if any (own contacts, or the ISL group's with
        relay)."""
        self._ensure_contacts(time_s, time_s + 1.0)
        windows = (self._group_contacts if self.relay else self._contacts)[name]
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
            table = self._group_contacts if self.relay else self._contacts
            later = [w for w in table[name] if w[0] > time_s]
            if later:
                return later[0]
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
