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


@dataclass(frozen=True)
class AntennaAllocation:
    """served: the contacts (possibly trimmed) that hold an antenna; trimmed / dropped
    count the passes that found every antenna busy at their AOS."""

    served: list[Contact]
    trimmed: int
    dropped: int


def allocate_antennas(
    contacts: Sequence[Contact], stations: Sequence[Station], min_served_s: float = MIN_SERVED_S
) -> AntennaAllocation:
    """The passes each station can serve with its antennas (see the module docstring);
    served contacts come back sorted by (AOS, satellite)."""
    by_station: dict[int, list[Contact]] = defaultdict(list)
    for c in contacts:
        by_station[c.station].append(c)
    served: list[Contact] = []
    trimmed = dropped = 0
    for station, passes in by_station.items():
        free_at = [float("-inf")] * stations[station].antennas  # a heap of free times
        for c in sorted(passes, key=lambda c: (c.aos_s, c.sat)):
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
    served.sort(key=lambda c: (c.aos_s, c.sat, c.station))
    return AntennaAllocation(served, trimmed, dropped)
