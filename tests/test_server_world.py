"""The scheduler's view of links: contact windows per satellite, ISL groups, relay."""

from __future__ import annotations

import math

from sgp4.api import WGS72, Satrec
from sgp4.exporter import export_tle

from scheduler.forecast.isl import isl_groups
from scheduler.scenario import load_scenario
from scheduler.server.world import CONTACT_CHUNK_S, World, merge


def _world(n: int, relay: bool) -> World:
    sc = load_scenario(None)
    sub = sc.constellation.subset(range(n))
    groups = isl_groups(sc.constellation, sub.names)
    return World(sub, sc.stations, sc.bus, sc.epoch_s, groups=groups, relay=relay)


def test_merge_joins_overlapping_windows() -> None:
    assert merge([(5, 6), (0, 2), (1, 3)]) == [(0, 3), (5, 6)]


def test_groups_are_in_plane_components_of_the_run() -> None:
    sc = load_scenario(None)
    names = sc.constellation.names
    groups = isl_groups(sc.constellation, names[:12])  # all of plane 0, two of plane 1
    assert groups["sat-0-0"] == tuple(names[:10])
    assert groups["sat-1-0"] == ("sat-1-0", "sat-1-1")


def test_relay_makes_a_satellite_reachable_through_its_group() -> None:
    own, relay = _world(3, False), _world(3, True)
    start = own.epoch_s
    end = start + 6 * 3600
    mine = own.contacts("sat-0-0", start, end)
    group = own.contacts("sat-0-0", start, end, via_group=True)
    assert mine and len(group) > len(mine)
    others = [w for w in group if not any(a <= w[0] < b for a, b in mine)]
    a, b = others[0]
    t = 0.5 * (a + b)
    assert own.contact_at("sat-0-0", t) is None
    assert relay.contact_at("sat-0-0", t) is not None
    nxt = own.next_contact("sat-0-0", start)
    assert nxt is not None and nxt[0] >= start - 1


def test_contacts_extended_a_chunk_at_a_time_equal_those_computed_in_one_go() -> None:
    """A world queried as the clock moves (chunks computed ahead in the background, or in
    the caller, stitched at each seam) against one that computed a day in one call: the
    same merged windows and the same antenna-held downlink windows (FCFS across seams)."""
    sc = load_scenario(None)
    groups = isl_groups(sc.constellation, sc.constellation.names)
    start = sc.epoch_s + 1234.0
    day = 4 * CONTACT_CHUNK_S
    whole = World(sc.constellation, sc.stations, sc.bus, sc.epoch_s, groups=groups)
    names = whole.names
    whole.contacts(names[0], start, start + day)
    assert whole.chunks == 1
    step = World(sc.constellation, sc.stations, sc.bus, sc.epoch_s, groups=groups)
    step.prepare(start)  # as the scheduler does at start-up
    assert step._next is not None and step.chunks == 1
    t = start
    while t < start + day:
        for n in names:
            step.contact_at(n, t)
        step.downlink_windows(names[0], t, t + 3 * 3600.0)
        if step._next is not None:
            step._next[1].result()  # the background chunk, as a later call finds it
        t += 1800.0
    assert step.chunks >= 4 and step._covered[1] >= start + day
    end = start + day - 3600.0  # passes near the end of `whole` were cut there

    def close(a: list[tuple[float, ...]], b: list[tuple[float, ...]]) -> bool:
        return len(a) == len(b) and all(
            len(x) == len(y) and all(abs(p - q) < 0.05 for p, q in zip(x, y, strict=True))
            for x, y in zip(a, b, strict=True)
        )

    trimmed = 0
    for n in names:
        for via in (False, True):
            a = [w for w in whole.contacts(n, start, end, via) if w[1] < end]
            b = [w for w in step.contacts(n, start, end, via) if w[1] < end]
            assert a and close(a, b), (n, via)
        a3 = [w for w in whole.downlink_windows(n, start, end) if w[0] < end - 600.0]
        b3 = [w for w in step.downlink_windows(n, start, end) if w[0] < end - 600.0]
        assert a3 and close(a3, b3), n
        geometric = whole.contacts(n, start, end, via_group=True)
        trimmed += sum(not any(abs(s - a) < 1e-6 for a, _ in geometric) for s, _, _ in a3)
    assert trimmed > 0  # antennas were contended: served late, from another pass's LOS
    # Seams really fell inside passes, and were joined there.
    seams = [start + k * CONTACT_CHUNK_S for k in range(1, 4)]
    assert any(
        a < s - 1.0 < s < b for n in names for a, b in step.contacts(n, start, end) for s in seams
    )


def test_new_elements_forget_the_contacts_and_a_chunk_under_way() -> None:
    world = _world(3, False)
    t = world.epoch_s
    before = world.contacts("sat-0-0", t, t + 3 * 3600.0)
    assert world._next is not None  # the next chunk under way
    sat = world.constellation.satrecs[0]
    moved = Satrec()
    moved.sgp4init(
        WGS72, "i", sat.satnum, sat.jdsatepoch + sat.jdsatepochF - 2433281.5, 0.0, 0.0, 0.0,
        sat.ecco, sat.argpo, sat.inclo, (sat.mo + 1.5) % (2 * math.pi), sat.no_kozai, sat.nodeo,
    )  # fmt: skip
    m1, m2 = (str(x) for x in export_tle(moved))
    world.update_elements({"sat-0-0": (m1, m2)})
    after = world.contacts("sat-0-0", t, t + 3 * 3600.0)
    assert after and after != before
    fresh = _world(3, False)
    fresh.update_elements({"sat-0-0": (m1, m2)})
    assert after == fresh.contacts("sat-0-0", t, t + 3 * 3600.0)
    # Later chunks too come from the new elements.
    later = world.contacts("sat-0-0", t + 20 * 3600.0, t + 23 * 3600.0)
    assert later == fresh.contacts("sat-0-0", t + 20 * 3600.0, t + 23 * 3600.0)
