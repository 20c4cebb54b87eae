"""The scheduler's view of links: contact windows per satellite, ISL groups, relay."""

from __future__ import annotations

from scheduler.forecast.isl import isl_groups
from scheduler.scenario import load_scenario
from scheduler.server.world import World, merge


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
