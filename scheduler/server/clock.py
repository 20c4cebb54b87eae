"""The simulation clock: sim_time_s = sim_epoch_s + speed * (wall_time_s - wall_epoch_s).

The scheduler is the time authority: it creates the clock once, keeps it in the store (so a
restart continues the same timeline) and hands it to every agent in Welcome.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from scheduler.server.store import Store, StoreError


@dataclass(frozen=True)
class SimClock:
    sim_epoch_s: float
    wall_epoch_s: float
    speed: float

    def now_s(self) -> float:
        return self.sim_epoch_s + self.speed * (time.time() - self.wall_epoch_s)

    def wall_delay_s(self, sim_time_s: float) -> float:
        """Wall seconds from now until sim_time_s (negative if it has passed)."""
        return (sim_time_s - self.now_s()) / self.speed

    @staticmethod
    def load_or_create(store: Store, sim_epoch_s: float, speed: float) -> SimClock:
        """The stored clock if the database has one, else a new one starting now."""
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
