"""Inter-satellite links: line of sight above the atmosphere, range, +Grid topology, and
the ISL groups every other part uses (server, planner, simulator): the in-plane links of a
Walker shell stay up, so the satellites of a plane form one group that relays outputs to
any member's ground contact and can host a gang together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.constants import EARTH_EQUATORIAL_RADIUS_KM, ISL_ATMOSPHERE_MARGIN_KM
from scheduler.forecast.constellation import Constellation
from scheduler.forecast.propagate import propagate_teme

FloatArray = NDArray[np.float64]

# Optical terminals in service reach ~5,000 km (SDA Tranche 1 OCT standard: 5,000 km;
# Starlink lasers are quoted at up to ~5,400 km).
DEFAULT_ISL_MAX_RANGE_KM = 5000.0


def line_clearance_km(p_km: ArrayLike, q_km: ArrayLike) -> FloatArray:
    """Smallest distance from the Earth's centre to the segment p-q, (...)."""
    p = np.asarray(p_km, dtype=np.float64)
    d = np.asarray(q_km, dtype=np.float64) - p
    d_sq = np.sum(d * d, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.clip(np.where(d_sq > 0, -np.sum(p * d, axis=-1) / d_sq, 0.0), 0.0, 1.0)
    closest = p + u[..., None] * d
    return np.asarray(np.linalg.norm(closest, axis=-1))


def link_visible(
    p_km: ArrayLike, q_km: ArrayLike, max_range_km: float = DEFAULT_ISL_MAX_RANGE_KM
) -> NDArray[np.bool_]:
    """True where the segment clears Earth + 80 km of atmosphere and is within range."""
    p = np.asarray(p_km, dtype=np.float64)
    q = np.asarray(q_km, dtype=np.float64)
    in_range = np.linalg.norm(q - p, axis=-1) <= max_range_km
    clear = line_clearance_km(p, q) >= EARTH_EQUATORIAL_RADIUS_KM + ISL_ATMOSPHERE_MARGIN_KM
    return np.asarray(in_range & clear)


def plus_grid_pairs(constellation: Constellation) -> list[tuple[int, int]]:
    """The +Grid topology of a Walker shell: each satellite links to its two in-plane
    neighbours and to the same slot in the two adjacent planes (across the seam between the
    last and the first plane the slot shifts by the phasing factor). Pairs (i, j), i < j."""
    shell = constellation.walker
    if shell is None:
        raise ValueError("+Grid topology needs a Walker shell (this constellation has none)")
    planes, per_plane, phasing = shell.planes, shell.sats_per_plane, shell.phasing
    pairs: set[tuple[int, int]] = set()

    def index(p: int, s: int) -> int:
        return p * per_plane + s % per_plane

    for p in range(planes):
        for s in range(per_plane):
            here = index(p, s)
            if per_plane > 1:
                pairs.add(tuple(sorted((here, index(p, s + 1)))))  # type: ignore[arg-type]
            if planes > 1:
                there = index(p + 1, s) if p + 1 < planes else index(0, s + phasing)
                if there != here:
                    pairs.add(tuple(sorted((here, there))))  # type: ignore[arg-type]
    return sorted(pairs)


def isl_visible(
    constellation: Constellation,
    pairs: Sequence[tuple[int, int]],
    times_s: ArrayLike,
    max_range_km: float = DEFAULT_ISL_MAX_RANGE_KM,
) -> NDArray[np.bool_]:
    """Link availability per pair and time: (n_pairs, n_t)."""
    t = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
    if not pairs:
        return np.zeros((0, len(t)), dtype=bool)
    r, _, _ = propagate_teme(constellation.satrecs, t)
    a = np.array([i for i, _ in pairs])
    b = np.array([j for _, j in pairs])
    return link_visible(r[a], r[b], max_range_km)


def in_plane_neighbours(
    constellation: Constellation, names: Sequence[str] | None = None
) -> dict[str, tuple[str, ...]]:
    """ISL neighbours that stay linked: the in-plane pairs of the +Grid topology of a Walker
    shell, among `names` (default: every satellite), each sorted; none without a shell."""
    members = list(constellation.names if names is None else names)
    out: dict[str, set[str]] = {n: set() for n in members}
    if constellation.walker is not None:
        for i, j in plus_grid_pairs(constellation):
            a, b = constellation.names[i], constellation.names[j]
            if constellation.plane[i] == constellation.plane[j] and a in out and b in out:
                out[a].add(b)
                out[b].add(a)
    return {n: tuple(sorted(out[n])) for n in members}


def isl_components(neighbours: Mapping[str, Iterable[str]]) -> list[tuple[str, ...]]:
    """Connected components of an ISL neighbour graph over its keys (links to names that
    are not keys are ignored); members in key order, components in the order of their
    first member."""
    parent = {n: n for n in neighbours}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, links in neighbours.items():
        for b in links:
            if b in parent:
                parent[find(a)] = find(b)
    comps: dict[str, list[str]] = {}
    for n in neighbours:
        comps.setdefault(find(n), []).append(n)
    return [tuple(c) for c in comps.values()]


def isl_groups(
    constellation: Constellation, names: Sequence[str] | None = None
) -> dict[str, tuple[str, ...]]:
    """The ISL group of each satellite among `names` (default: every satellite)."""
    out: dict[str, tuple[str, ...]] = {}
    for comp in isl_components(in_plane_neighbours(constellation, names)):
        out.update((n, comp) for n in comp)
    return out
