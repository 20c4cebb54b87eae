"""Children that die with their parent, even when the parent is SIGKILLed (Linux prctl
PR_SET_PDEATHSIG), so no agent, scheduler or solver outlives what started it.

The child sets this up itself, first thing in its `main()`: a `preexec_fn` would run Python
between fork and exec, which can hang when the parent has other threads (grpc's) holding
locks at the fork.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
LAUNCHER_PID_ENV = "ORBIT_LAUNCHER_PID"


def die_with_parent(parent_pid: int, sig: int = signal.SIGTERM) -> None:
    """Get `sig` when the parent dies; exit now if it already died before the prctl."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent_pid:
        os._exit(0)


def launcher_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for a child that should die with this process."""
    return {**env, LAUNCHER_PID_ENV: str(os.getpid())}


def die_with_launcher() -> None:
    """Called first in `main()` of a process a launcher (LocalCluster) started with
    `launcher_env`. The variable is removed so this process's own children do not inherit
    it; without it (started by a user, a container or systemd) this does nothing."""
    pid = os.environ.pop(LAUNCHER_PID_ENV, "")
    if pid.isdigit():
        die_with_parent(int(pid))
