"""Inter-satellite links: analytic line-of-sight cases and the +Grid topology."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.forecast import parse_tle, plus_grid_pairs, walker_delta
from scheduler.forecast.constants import EARTH_EQUATORIAL_RADIUS_KM, ISL_ATMOSPHERE_MARGIN_KM
from scheduler.forecast.isl import line_clearance_km, link_visible

R_KM = 7000.0
FLOOR_KM = EARTH_EQUATORIAL_RADIUS_KM + ISL_ATMOSPHERE_MARGIN_KM


def _on_circle(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([R_KM * math.cos(a), R_KM * math.sin(a), 0.0])


def test_chord_clearance_is_r_cos_half_angle() -> None:
    for separation_deg in (10.0, 30.0, 60.0, 90.0):
        clearance = line_clearance_km(_on_circle(0.0), _on_circle(separation_deg))
        assert clearance == pytest.approx(R_KM * math.cos(math.radians(separation_deg / 2)))


def test_visibility_needs_clearance_and_range() -> None:
    p = _on_circle(0.0)
    # 30 deg apart: chord 3,623 km, clearance 6,761 km > 6,458 km.
    assert link_visible(p, _on_circle(30.0), max_range_km=5000.0)
    assert not link_visible(p, _on_circle(30.0), max_range_km=3000.0)
    # 60 deg apart: clearance 6,062 km, the atmosphere is in the way.
    assert not link_visible(p, _on_circle(60.0), max_range_km=1e5)


@given(st.floats(0.0, 360.0), st.floats(0.1, 179.0))
def test_clearance_is_symmetric_and_never_beyond_the_ends(a_deg: float, sep_deg: float) -> None:
    p, q = _on_circle(a_deg), _on_circle(a_deg + sep_deg)
    c1, c2 = line_clearance_km(p, q), line_clearance_km(q, p)
    assert c1 == pytest.approx(c2, rel=1e-9)
    assert c1 <= R_KM + 1e-6
    assert (c1 >= FLOOR_KM) == bool(link_visible(p, q, max_range_km=1e9))


def test_plus_grid_has_four_neighbours_per_satellite() -> None:
    c = walker_delta(550, 53, 4, 8, 1, 1.8e9)
    pairs = plus_grid_pairs(c)
    assert len(pairs) == 2 * len(c)  # each satellite has degree 4
    degree = np.bincount(np.array(pairs).ravel(), minlength=len(c))
    assert (degree == 4).all()
    name = {v: k for k, v in enumerate(c.names)}
    assert (name["sat-0-0"], name["sat-0-1"]) in pairs  # in-plane
    assert (name["sat-0-0"], name["sat-1-0"]) in pairs  # cross-plane
    # Across the seam the slot shifts by the phasing factor (1).
    assert (name["sat-0-1"], name["sat-3-0"]) in pairs


def test_plus_grid_needs_a_walker_shell() -> None:
    from sgp4 import exporter

    c = walker_delta(550, 53, 1, 2, 0, 1.8e9)
    text = "\n".join(line for s in c.satrecs for line in exporter.export_tle(s))
    with pytest.raises(ValueError, match="Walker"):
        plus_grid_pairs(parse_tle(text))


def test_isl_components_ignore_links_outside_the_graph() -> None:
    from scheduler.forecast.isl import isl_components

    graph = {"a": ("b",), "b": ("a", "x"), "c": (), "d": ("c",)}
    assert isl_components(graph) == [("a", "b"), ("c", "d")]
    assert isl_components({}) == []


def test_in_plane_neighbours_of_a_walker_shell_form_one_ring_per_plane() -> None:
    from scheduler.forecast.isl import in_plane_neighbours, isl_groups
    from scheduler.scenario import load_scenario

    c = load_scenario(None).constellation
    assert c.walker is not None
    nbrs = in_plane_neighbours(c)
    assert all(len(v) == 2 for v in nbrs.values())  # a ring of 10 per plane
    groups = isl_groups(c)
    assert len(set(groups.values())) == c.walker.planes
    assert all(c.plane[c.index(m)] == c.plane[c.index(n)] for n in groups for m in groups[n])
    # restricted to a subset: links to satellites outside it are dropped
    assert in_plane_neighbours(c, ["sat-0-0", "sat-0-1"]) == {
        "sat-0-0": ("sat-0-1",),
        "sat-0-1": ("sat-0-0",),
    }
