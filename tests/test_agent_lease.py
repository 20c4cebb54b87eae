"""The agent's lease (agents/lease.py) with a fake monotonic clock."""

from __future__ import annotations

from agents.lease import Lease


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_lease_runs_from_the_send_time_of_the_acknowledged_heartbeat() -> None:
    clock = FakeClock()
    lease = Lease(1.5, clock)
    assert not lease.valid()  # nothing acknowledged yet
    seq = lease.sent()
    clock.t += 1.0  # the ack arrives a second later
    lease.acknowledged(seq)
    assert lease.valid()
    clock.t = 100.0 + 1.5 - 1e-6
    assert lease.valid()
    clock.t = 100.0 + 1.5
    assert not lease.valid()  # 1.5 s after sending, not after the ack arrived


def test_unknown_or_old_acks_do_not_renew() -> None:
    clock = FakeClock()
    lease = Lease(2.0, clock)
    a = lease.sent()
    clock.t += 1.0
    b = lease.sent()
    lease.acknowledged(b)
    assert lease.until == 101.0 + 2.0
    lease.acknowledged(a)  # older than b: already dropped, no effect
    lease.acknowledged(999)  # never sent
    assert lease.until == 101.0 + 2.0
    lease.revoke()
    assert not lease.valid()
    lease.acknowledged(b)  # acks from before the revocation count no more
    assert not lease.valid()


def test_a_frozen_agent_wakes_up_without_a_lease() -> None:
    clock = FakeClock()
    lease = Lease(1.5, clock)
    lease.acknowledged(lease.sent())
    assert lease.valid()
    clock.t += 60.0  # SIGSTOP ... SIGCONT
    assert not lease.valid()
