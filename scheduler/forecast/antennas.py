"""Ground-station antennas: which passes a station can actually serve.

A station tracks at most `antennas` satellites at once. Passes are served first come,
first served: in order of AOS (then satellite index), a pass takes the antenna that frees
up first; if that antenna is still busy at AOS, the pass is served from the moment it
frees up (trimmed), or dropped when less than MIN_SERVED_S of it would remain. The
result is what the planner's delivery model and the simulated executor both use, so the
plan never counts on an antenna that another satellite holds.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scheduler.forecast.contacts import Contact
from scheduler.forecast.stations import Station

# A trimmed pass shorter than this is not worth acquiring (lock-on takes tens of seconds).
MIN_SERVED_S = 60.0


# The free times of each station's antennas (a heap per station index) part-way through
# an allocation: passes from then on are allocated as if those before had just been.
AntennaState = dict[int, list[float]]


@dataclass(frozen=True)
class AntennaAllocation:
    """served: the contacts (possibly trimmed) that hold an antenna; trimmed / dropped
    count the passes that found every antenna busy at their AOS; state: the antennas'
    free times after the passes with AOS before `state_at_s` (allocate_antennas)."""

    served: list[Contact]
    trimmed: int
    dropped: int
    state: AntennaState | None = None


def allocate_antennas(
    contacts: Sequence[Contact],
    stations: Sequence[Station],
    min_served_s: float = MIN_SERVED_S,
    resume: AntennaState | None = None,
    state_at_s: float | None = None,
) -> AntennaAllocation:
    """The passes each station can serve with its antennas (see the module docstring);
    served contacts come back sorted by (AOS, satellite).

    resume: the antennas' free times left by the passes before these (an earlier call's
    `state`), so that a long span is allocated in pieces exactly as in one go; state_at_s:
    return the free times after the passes with AOS before it."""
    by_station: dict[int, list[Contact]] = defaultdict(list)
    for c in contacts:
        by_station[c.station].append(c)
    served: list[Contact] = []
    trimmed = dropped = 0
    state: AntennaState = {}
    for station in sorted(set(by_station) | set(resume or ())):
        if resume is not None and station in resume:
            free_at = list(resume[station])
        else:
            free_at = [float("-inf")] * stations[station].antennas  # a heap of free times
        snapshot: list[float] | None = None
        for c in sorted(by_station.get(station, ()), key=lambda c: (c.aos_s, c.sat)):
            if snapshot is None and state_at_s is not None and c.aos_s >= state_at_s:
                snapshot = list(free_at)
            earliest = free_at[0]
            if earliest <= c.aos_s:
                heapq.heapreplace(free_at, c.los_s)
                served.append(c)
            elif c.los_s - earliest >= min_served_s:
                heapq.heapreplace(free_at, c.los_s)
                served.append(replace(c, aos_s=earliest))
                trimmed += 1
            else:
                dropped += 1
        state[station] = free_at if snapshot is None else snapshot
    served.sort(key=lambda c: (c.aos_s, c.sat, c.station))
    return AntennaAllocation(served, trimmed, dropped, state if state_at_s is not None else None)
