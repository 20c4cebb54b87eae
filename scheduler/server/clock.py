"""The scheduler's clock (forecast/timeconv.SimClock), kept in the store so a restart
continues the same timeline; the scheduler is the time authority and hands the clock to
every agent in Welcome.
"""

from __future__ import annotations

import math
import time

from scheduler.forecast.timeconv import SimClock
from scheduler.server.store import Store, StoreError

__all__ = ["SimClock", "load_or_create"]


def load_or_create(store: Store, sim_epoch_s: float, speed: float) -> SimClock:
    """The stored clock if the database has one, else a new one starting now. A stored clock
    that does not parse into finite numbers with a positive speed is a StoreError."""
    saved = store.get_meta("clock")
    if saved is not None:
        try:
            epoch, wall, stored_speed = (float(x) for x in saved.split())
        except ValueError:
            epoch = wall = stored_speed = math.nan
        if not (math.isfinite(epoch) and math.isfinite(wall) and 0 < stored_speed < math.inf):
            raise StoreError(
                f"{store.path}: the stored simulation clock is corrupt ({saved[:60]!r})"
            )
        return SimClock(epoch, wall, stored_speed)
    clock = SimClock(sim_epoch_s, time.time(), speed)
    store.set_meta("clock", f"{clock.sim_epoch_s!r} {clock.wall_epoch_s!r} {clock.speed!r}")
    return clock
