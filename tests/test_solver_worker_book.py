"""The solver worker's forecast book: built ahead (at warm-up, and the next one in the
background before the horizon leaves the current one), reused by solves, rebuilt for new
elements; and the vectorised sunlight it is made of against SGP4 at every sample."""

from __future__ import annotations

import asyncio
import math

import numpy as np
from sgp4 import exporter
from sgp4.api import WGS72, Satrec

from scheduler.forecast import altitude_km, sunlit_fraction
from scheduler.forecast.eclipse import sampled_sunlight
from scheduler.forecast.timeconv import julian_date
from scheduler.scenario import load_scenario
from scheduler.server import solver_worker
from scheduler.server.app import Core
from scheduler.server.solver_worker import BOOK_HORIZONS, BookKey, BookShelf, compute_book

SC = load_scenario(None)
NAMES = SC.constellation.names[:4]
KEY = BookKey(None, NAMES, 60.0, 3 * 3600.0)


def test_sampled_sunlight_matches_sgp4_at_every_sample() -> None:
    """Interpolated positions (SGP4 every 300 s) against SGP4 at each of 2 days of 20 s
    samples, through eclipses and penumbrae."""
    c = SC.constellation.subset(range(0, len(SC.constellation), 5))
    first, step, n = SC.epoch_s + 10.0, 20.0, 2 * 86400 // 20
    sun, alt = sampled_sunlight(c, first, step, n)
    times = first + step * np.arange(n)
    exact = sunlit_fraction(c, times)
    assert 0 < exact.mean() < 1 and ((exact > 0) & (exact < 1)).any()  # penumbrae sampled
    assert np.abs(sun - exact).max() < 1e-3
    assert np.abs(alt - altitude_km(c, times)).max() < 0.01  # 10 m
    one, alt1 = sampled_sunlight(c, first, step, 1)  # a single sample
    assert np.allclose(one[:, 0], exact[:, 0], atol=1e-3) and alt1.shape == (len(c), 1)


def test_the_book_is_built_ahead_and_the_next_one_in_the_background() -> None:
    shelf = BookShelf()
    t0 = SC.epoch_s + 125.0
    shelf.prefetch(KEY, t0)
    book = shelf.get(KEY, t0 + 300.0)
    assert shelf.builds == 1 and book.start_s == math.floor(t0 / 60.0) * 60.0
    again = compute_book(KEY, t0)
    assert np.array_equal(book.sunlit, again.sunlit) and book.contacts == again.contacts
    # Solves inside the book reuse it; once less than NEXT_BOOK_MARGIN horizons remain
    # after the request, the next one is started in the background.
    end_s = book.start_s + book.n_slots * 60.0
    assert shelf.get(KEY, t0 + 3600.0) is book and shelf.builds == 1
    late = end_s - 2.2 * KEY.horizon_s
    assert shelf.get(KEY, late) is book and shelf.builds == 2
    assert shelf._next is not None
    shelf._next[1].result()  # built meanwhile
    # The horizon leaves the first book: the next one takes over without a build.
    beyond = end_s - 0.9 * KEY.horizon_s  # its horizon ends past the first book
    nxt = shelf.get(KEY, beyond)
    assert nxt is not book and shelf.builds == 2 and nxt.start_s <= beyond
    assert nxt.start_s + nxt.n_slots * 60.0 >= beyond + KEY.horizon_s
    assert nxt.n_slots == BOOK_HORIZONS * 180
    # A jump past both books builds one at once.
    far = shelf.get(KEY, beyond + 10 * 86400.0)
    assert shelf.builds == 3 and far.start_s <= beyond + 10 * 86400.0


def _shifted_elements(name: str, shift_deg: float) -> tuple[str, str, str]:
    old = SC.constellation.satrecs[SC.constellation.index(name)]
    s = Satrec()
    s.sgp4init(
        WGS72, "i", old.satnum, float(julian_date(SC.epoch_s)) - 2433281.5, 0.0, 0.0, 0.0,
        old.ecco, old.argpo, old.inclo, (old.mo + math.radians(shift_deg)) % (2 * math.pi),
        old.no_kozai, old.nodeo,
    )  # fmt: skip
    l1, l2 = exporter.export_tle(s)
    return name, l1, l2


def test_new_elements_rebuild_the_book_and_a_pending_one_is_not_taken() -> None:
    shelf = BookShelf()
    t0 = SC.epoch_s
    base = shelf.get(KEY, t0)
    assert shelf.builds == 1
    moved = BookKey(None, NAMES, 60.0, KEY.horizon_s, (_shifted_elements(NAMES[0], 90.0),))
    shelf.prefetch(KEY, t0)  # a book for the old elements under way
    book = shelf.get(moved, t0 + 60.0)
    assert shelf.builds == 3 and book is not base
    assert not np.array_equal(book.sunlit[0], base.sunlit[0])  # the moved satellite
    assert np.allclose(book.sunlit[1:, :-1], base.sunlit[1:, 1:], atol=1e-3)  # the others
    assert book.contacts[0] != base.contacts[0]
    # Back to the scenario's elements: the book built for them meanwhile, not the moved one.
    back = shelf.get(KEY, t0 + 120.0)
    assert back is not book and shelf.builds == 3 and np.array_equal(back.sunlit, base.sunlit)


def test_a_solve_after_warm_up_waits_for_no_book(core: Core) -> None:
    """The scheduler's warm-up starts the book; the startup solve finds it, and a solve
    with new elements builds its own."""
    rp = core.replanner
    builds0 = solver_worker.book_builds()
    asyncio.run(rp.start_worker())
    assert solver_worker.book_builds() == builds0 + 1
    shelf = solver_worker._shelf
    assert shelf._next is not None
    shelf._next[1].result()  # what the startup grace gives it time for
    out = solver_worker.solve(rp.request(core.sessions.clock.now_s()))
    assert solver_worker.book_builds() == builds0 + 1
    assert out.forecast_s < 0.5, out.forecast_s
    name, l1, l2 = _shifted_elements(core.sessions.world.names[0], 45.0)
    core.sessions.world.update_elements({name: (l1, l2)})
    out = solver_worker.solve(rp.request(core.sessions.clock.now_s()))
    assert solver_worker.book_builds() == builds0 + 2
