"""What the scheduler knows about each satellite at run time (not persisted: agents
re-announce it on hello)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from scheduler.server.messages import PlanEntry, Telemetry, ToAgent

# A None in an outbox ends the agent's stream (link down, replaced by a newer stream).
Outbox = asyncio.Queue[ToAgent | None]


@dataclass
class SatRuntime:
    name: str
    accelerators: int
    outbox: Outbox | None = None
    boot_id: str = ""
    telemetry: Telemetry | None = None
    wall_last_seen_s: float = 0.0
    # When the stream ended (or the server started, for satellites never seen).
    wall_disconnected_s: float = field(default_factory=time.time)
    applied_plan_version: int = 0
    sent_plan_version: int = 0
    # What the agent was last sent on this stream: its entries, and until when its contact
    # windows reach (a broadcast skips agents whose entries did not change).
    sent_entries: tuple[PlanEntry, ...] | None = None
    sent_contacts_end_s: float = 0.0
    last_seq: int = 0
    ever_connected: bool = False

    @property
    def connected(self) -> bool:
        return self.outbox is not None

    def send_close(self) -> None:
        """End the stream after what is queued."""
        if self.outbox is not None:
            self.outbox.put_nowait(None)

    def send(self, message: ToAgent) -> bool:
        if self.outbox is None:
            return False
        self.outbox.put_nowait(message)
        return True


@dataclass
class JobProgress:
    """Per-member progress of a job. A gang's progress is its slowest member's, over the
    members that reported recently: when a plan moves a training job to another gang, the
    old members' last reports stop counting once they are older than the window."""

    window_s: float = 180.0
    done_acc_s: dict[str, tuple[float, float]] = field(default_factory=dict)
    checkpoint_acc_s: dict[str, tuple[float, float]] = field(default_factory=dict)

    def update(self, sat: str, done: float, ckpt: float, time_s: float) -> None:
        self.done_acc_s[sat] = (done, time_s)
        if ckpt:
            self.checkpoint_acc_s[sat] = (ckpt, time_s)

    def _agg(
        self, values: dict[str, tuple[float, float]], members: tuple[str, ...], gang_size: int
    ) -> float:
        mine = [values[m] for m in members if m in values]
        if not mine:
            return 0.0
        latest = max(t for _, t in mine)
        recent = sorted((v for v, t in mine if t >= latest - self.window_s), reverse=True)
        # The gang's progress: the slowest of the gang_size members that run it now.
        return min(recent[:gang_size]) if recent else 0.0

    def done(self, members: tuple[str, ...], gang_size: int = 1) -> float:
        return self._agg(self.done_acc_s, members, gang_size)

    def checkpoint(self, members: tuple[str, ...], gang_size: int = 1) -> float:
        return self._agg(self.checkpoint_acc_s, members, gang_size)
