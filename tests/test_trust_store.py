"""One scheduler per database, and a one-line error (exit status 2) for any database that
cannot be used: locked by a running scheduler, not SQLite, another application's, corrupt
pages, a corrupt clock row. The lock dies with its process, SIGKILL included."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.server.clock import load_or_create
from scheduler.server.store import Store, StoreError

HOLD = """
import sys, time
from scheduler.server.store import Store
s = Store(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def _holder(db: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_store_is_refused_until_the_first_process_dies(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proc = _holder(db)
    try:
        with pytest.raises(StoreError, match="another scheduler"):
            Store(db)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    store = Store(db)  # the kernel released the lock with the killed process
    store.set_meta("k", "v")
    with pytest.raises(StoreError, match="another scheduler"):
        Store(db)  # also within one process
    store.close()
    again = Store(db)
    assert again.get_meta("k") == "v"
    again.close()


def _scheduler(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler.server.main",
            "--listen",
            "127.0.0.1:0",
            "--db",
            str(db),
            "--satellites",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _valid_db(path: Path) -> None:
    store = Store(path)
    load_or_create(store, 1.8e9, 60.0)
    for i in range(300):  # a few pages of rows
        store.set_meta(f"filler-{i}", "x" * 200)
    store.close()


def _scribble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for off in range(4096, len(data), 4096):  # every page header after the first
        data[off : off + 16] = b"\xa5" * 16
    path.write_bytes(bytes(data))


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.commit()
    db.close()


def _bad_clock(path: Path) -> None:
    _valid_db(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = 'nan tomorrow' WHERE key = 'clock'")
    db.commit()
    db.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "make", "says"),
    [
        ("garbage", lambda p: p.write_bytes(b"\x00\x01garbage" * 1000), "not a usable"),
        ("foreign", _foreign, "another application"),
        ("scribbled", lambda p: (_valid_db(p), _scribble(p)), "corrupt"),
        ("clock", _bad_clock, "clock is corrupt"),
        ("directory", lambda p: p.mkdir(), "directory"),
    ],
)
def test_unusable_databases_are_one_line_and_exit_2(
    tmp_path: Path, case: str, make: object, says: str
) -> None:
    db = tmp_path / f"{case}.db"
    make(db)  # type: ignore[operator]
    before = db.read_bytes() if db.is_file() else None
    r = _scheduler(db)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(db) in r.stderr and says in r.stderr, r.stderr
    if before is not None and case in ("garbage", "scribbled"):
        assert db.read_bytes() == before  # refused without writing


@pytest.mark.slow
def test_a_second_scheduler_on_the_same_database_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proc = _holder(db)
    try:
        r = _scheduler(db)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "another scheduler is using this database" in r.stderr
