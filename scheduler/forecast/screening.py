"""Screening a catalogue before a forecast: element age, and satellites SGP4 cannot follow.

Real catalogues hold decayed and out-of-range element sets; SGP4 answers those with an
error code (and NaN positions) at some times. Far from their epoch, elements of a decaying
satellite can also make SGP4 diverge without an error code (a Starlink element set a month
old put its satellite at 51,000 km, jumping by 1,000 km per step): such states count as
failures too, as do positions below 100 km altitude (re-entered).

The forecast engine samples every satellite on one uniform grid, so a satellite is usable
over a window exactly when SGP4 succeeds at every grid time of that window: this module
checks the same grid, once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sgp4.api import SGP4_ERRORS, Satrec

from scheduler.forecast.constants import JD_UNIX_EPOCH, SECONDS_PER_DAY
from scheduler.forecast.constellation import Constellation
from scheduler.forecast.propagate import DEFAULT_PROPAGATION_STEP_S, propagate_teme

_CHUNK = 2048
# Codes of the failures SGP4 does not report itself (SGP4's own codes are 1..6).
DIVERGED = -1
REENTERED = -2
_EXTRA_ERRORS = {
    DIVERGED: "SGP4 diverged: radius more than 10% beyond the apogee of the elements",
    REENTERED: "altitude below 100 km: re-entered",
}
_REENTRY_ALTITUDE_KM = 100.0


def element_epoch_s(satrec: Satrec) -> float:
    """The epoch of a satellite's elements, POSIX seconds."""
    return ((satrec.jdsatepoch - JD_UNIX_EPOCH) + satrec.jdsatepochF) * SECONDS_PER_DAY


def element_ages_s(constellation: Constellation, at_s: float) -> NDArray[np.float64]:
    """Age of each satellite's elements at `at_s` (negative: epoch after at_s)."""
    epochs = np.array([element_epoch_s(s) for s in constellation.satrecs], dtype=np.float64)
    return np.asarray(at_s - epochs)


@dataclass(frozen=True)
class PropagationFailure:
    """SGP4 failed for satellite `sat` first at `time_s` with `code` (see sgp4.api)."""

    sat: int
    name: str
    time_s: float
    code: int

    @property
    def message(self) -> str:
        return _EXTRA_ERRORS.get(self.code) or SGP4_ERRORS.get(self.code, f"error {self.code}")


def propagation_failures(
    constellation: Constellation,
    start_s: float,
    end_s: float,
    step_s: float = DEFAULT_PROPAGATION_STEP_S,
) -> list[PropagationFailure]:
    """Satellites whose SGP4 propagation fails anywhere on the engine's grid over
    [start_s, end_s] (the grid StateGrid.propagate uses), with the first failure: an SGP4
    error code, or DIVERGED / REENTERED (see the module docstring)."""
    n = max(1, int(np.ceil((end_s - start_s) / step_s))) + 1
    times = start_s + step_s * np.arange(n)
    out: list[PropagationFailure] = []
    for lo in range(0, len(constellation), _CHUNK):
        satrecs = constellation.satrecs[lo : lo + _CHUNK]
        r, _, errors = propagate_teme(satrecs, times)
        radius_km = np.linalg.norm(r, axis=-1)
        earth_km = np.array([s.radiusearthkm for s in satrecs])[:, None]
        apogee_km = np.array([(1.0 + s.alta) * s.radiusearthkm for s in satrecs])[:, None]
        with np.errstate(invalid="ignore"):
            codes = np.where(radius_km > 1.1 * apogee_km, DIVERGED, 0)
            codes = np.where(radius_km < earth_km + _REENTRY_ALTITUDE_KM, REENTERED, codes)
        codes = np.where(~np.isfinite(radius_km), 6, codes)  # NaN without a code: decayed
        codes = np.where(errors != 0, errors, codes)
        for row in np.flatnonzero((codes != 0).any(axis=1)):
            k = int(np.argmax(codes[row] != 0))
            code = int(codes[row, k])
            sat = lo + int(row)
            out.append(PropagationFailure(sat, constellation.names[sat], float(times[k]), code))
    return out


def without(constellation: Constellation, failures: list[PropagationFailure]) -> Constellation:
    """The constellation minus the failed satellites (the same object when none failed)."""
    if not failures:
        return constellation
    dropped = {f.sat for f in failures}
    return constellation.subset([i for i in range(len(constellation)) if i not in dropped])
