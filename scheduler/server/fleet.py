"""What the scheduler knows about each satellite at run time (not persisted: agents
re-announce it on hello)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from orbitalsched.v1 import agent_pb2

# A None in an outbox ends the agent's stream (link down, replaced by a newer stream).
Outbox = asyncio.Queue[agent_pb2.SchedulerMessage | None]


@dataclass
class SatRuntime:
    name: str
    accelerators: int
    outbox: Outbox | None = None
    boot_id: str = ""
    telemetry: agent_pb2.Telemetry | None = None
    wall_last_seen_s: float = 0.0
    # When the stream ended (or the server started, for satellites never seen).
    wall_disconnected_s: float = field(default_factory=time.time)
    applied_plan_version: int = 0
    sent_plan_version: int = 0
    last_seq: int = 0
    ever_connected: bool = False

    @property
    def connected(self) -> bool:
        return self.outbox is not None

    def send_close(self) -> None:
        """End the stream after what is queued."""
        if self.outbox is not None:
            self.outbox.put_nowait(None)

    def send(self, message: agent_pb2.SchedulerMessage) -> bool:
        if self.outbox is None:
            return False
        self.outbox.put_nowait(message)
        return True


@dataclass
class JobProgress:
    """Per-member progress of a job (a gang's progress is its slowest member's)."""

    done_accelerator_s: dict[str, float] = field(default_factory=dict)
    checkpoint_accelerator_s: dict[str, float] = field(default_factory=dict)

    def done(self, members: tuple[str, ...]) -> float:
        values = [self.done_accelerator_s.get(m, 0.0) for m in members]
        return min(values) if values else 0.0

    def checkpoint(self, members: tuple[str, ...]) -> float:
        values = [self.checkpoint_accelerator_s.get(m, 0.0) for m in members]
        return min(values) if values else 0.0
