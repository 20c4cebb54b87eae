"""How many jobs one solve considers (`--plan-max-jobs auto`), sized from the problem.

Two bounds, the smaller wins:
  * the fleet: jobs in the order the solve takes them (placed ones, then waiting ones by
    priority and age) until their remaining work reaches OVERSUBSCRIPTION times what the
    fleet's accelerators can do over the horizon. The planner can never place more work than
    that capacity, so the window always holds more than it can place and still has a choice;
  * the time limit: JOBS_PER_LIMIT_S jobs per second of the solver's limit, about half the
    rate at which the planner makes its first plan here (`bench/planner.py`, first plan in
    CPU s: 1,000 x 5,000 0.54, 2,000 x 10,000 1.05, 5,000 x 25,000 3.09, 10,000 x 50,000
    6.92, i.e. 7,200-9,500 jobs a second), so that the first plan leaves half the limit to
    improve it.
At least MIN_JOBS. A 6-satellite fleet with 1-accelerator-hour jobs gets 144; 1,584
satellites about 76,000 of them, or 20,000 with the default 5 s limit.
"""

from __future__ import annotations

from collections.abc import Iterable

OVERSUBSCRIPTION = 2.0
JOBS_PER_LIMIT_S = 4000.0
MIN_JOBS = 100


def auto_jobs_cap(
    n_satellites: int,
    accelerators: int,
    horizon_s: float,
    time_limit_s: float,
    placed_acc_s: Iterable[float],
    waiting_acc_s: Iterable[float],
) -> int:
    """The window size: placed_acc_s and waiting_acc_s are the accelerator-seconds each job
    still needs, in the order the solve takes them."""
    placed = list(placed_acc_s)
    budget_acc_s = OVERSUBSCRIPTION * n_satellites * accelerators * horizon_s - sum(placed)
    n = len(placed)
    for need_acc_s in waiting_acc_s:
        if budget_acc_s <= 0:
            break
        budget_acc_s -= need_acc_s
        n += 1
    by_time = int(JOBS_PER_LIMIT_S * time_limit_s)
    return max(MIN_JOBS, min(n, by_time))
