"""The agent's lease: how long it may keep computing without word from the scheduler.

Always-linked model. Every heartbeat the agent sends carries a sequence number; the
scheduler acknowledges it at once. The lease runs until (the agent's monotonic send time of
the last acknowledged heartbeat) + lease_s. The scheduler hears that heartbeat no earlier
than it was sent, and declares the satellite lost only after --agent-timeout without hearing
anything; with lease_s < agent_timeout_s the agent has stopped computing (at its next
executor tick, 0.1 s) at least agent_timeout_s - lease_s - 0.1 s before the scheduler can
give its work to another satellite. So no job runs on two satellites at once, whatever
breaks: the link, the scheduler (killed, frozen), or the agent itself (frozen: on waking,
the first thing it checks is the lease). The scheduler hands lease_s = agent_timeout_s / 2
to the agent in Welcome.

Contacts model: out of contact is normal, the scheduler never moves work off a satellite for
being silent between contacts, so the lease does not apply.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# Heartbeats awaiting acknowledgement that are remembered (older ones are forgotten).
MAX_OUTSTANDING = 1024


class Lease:
    def __init__(self, lease_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_s = lease_s
        self.clock = clock
        self.until = -float("inf")  # no lease before the first acknowledgement
        self.seq = 0
        self._sent: OrderedDict[int, float] = OrderedDict()

    def sent(self) -> int:
        """Record a heartbeat being sent now; returns its sequence number."""
        self.seq += 1
        self._sent[self.seq] = self.clock()
        while len(self._sent) > MAX_OUTSTANDING:
            self._sent.popitem(last=False)
        return self.seq

    def acknowledged(self, seq: int) -> None:
        """The scheduler heard heartbeat seq: the lease runs from when it was sent."""
        sent_at = self._sent.get(seq)
        if sent_at is None:
            return  # unknown or forgotten: no renewal (a stale or forged ack)
        for old in [s for s in self._sent if s <= seq]:
            del self._sent[old]
        self.until = max(self.until, sent_at + self.lease_s)

    def valid(self) -> bool:
        return self.clock() < self.until

    def revoke(self) -> None:
        """A new stream starts without a lease until its first acknowledgement."""
        self.until = -float("inf")
        self._sent.clear()
