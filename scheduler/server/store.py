"""State store: an embedded SQLite database in WAL mode.

Holds jobs (with their state machine), plans (versions are the fencing tokens), checkpoints,
job events, satellite flags and the simulation clock, so a scheduler killed with SIGKILL
and restarted on the same file continues with nothing it accepted lost. Every method that
changes something runs in one transaction and commits before returning: a request is
acknowledged only after its change is in the WAL (synchronous=NORMAL survives a process
kill; only an OS crash can lose the last transactions).

Used from the asyncio thread of the server only; each call takes well under a millisecond
for single rows.

One scheduler per database: opening a file store takes an exclusive flock on `PATH.lock`,
which the kernel releases when the process dies (SIGKILL included), so a second scheduler
on the same --db stops with a one-line error. A file that is not a SQLite database, fails
its integrity check, or belongs to another application raises StoreError (a UserError: one
line, exit status 2).
"""

from __future__ import annotations

import dataclasses
import fcntl
import heapq
import itertools
import json
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from scheduler.errors import UserError
from scheduler.planner.domain import Plan
from scheduler.security.interceptor import current_principal
from scheduler.server.model import (
    Job,
    JobState,
    PlanRecord,
    SatelliteFlags,
    can_transition,
)
from scheduler.server.store_rows import job_from_row, plan_json, real, without_labels
from scheduler.server.store_schema import (
    ADDED_COLUMNS,
    APPLICATION_ID,
    JOB_COLUMNS,
    MIGRATIONS,
    OUR_TABLES,
    SCHEMA,
    statements,
)

JOB_KINDS = ("inference", "training")
COMPACTED_EVENT = "compacted"
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
# WAL pages past which a commit checkpoints itself (the background checkpoint keeps the WAL
# far below this; SQLite's default is 1,000).
BACKSTOP_PAGES = 20_000
# SubmitJobs request ids are remembered this long (wall seconds), at least.
REQUEST_ID_TTL_S = 7 * 24 * 3600.0


log = logging.getLogger("orbit-scheduler")


class Event(NamedTuple):
    time_s: float
    what: str
    state: str
    reason: str
    principal: str


class StoreError(UserError):
    """The state database cannot be used: locked by another scheduler, unreadable, corrupt or
    not a scheduler database. The message is one line naming the file."""


def _one_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _lock(path: str) -> int:
    """Exclusive, non-blocking flock on PATH.lock; the fd holds it until closed or death."""
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"{lock_path}: cannot open the lock file: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StoreError(
            f"{path}: another scheduler is using this database (it holds {lock_path}); "
            "stop it or pass another --db"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class DuplicateJobError(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} already exists")
        self.job_id = job_id


class TransitionError(Exception):
    """A state change the state machine does not allow."""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        self._lock_fd = None if memory else _lock(self.path)
        self._checkpointer: tuple[threading.Event, threading.Thread] | None = None
        # Committed transactions so far: a reader that kept what it read at generation G
        # knows nothing changed while the generation is still G (sessions.placed_jobs).
        self.generation = 0
        try:
            if not memory and os.path.isdir(self.path):
                raise StoreError(f"{self.path}: is a directory, not a database file")
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._open(memory)
        except StoreError:
            self._unlock()
            raise
        except sqlite3.Error as exc:
            self._unlock()
            what = (
                "the database is corrupt"
                if "malformed" in str(exc)
                else "not a usable scheduler database"
            )
            raise StoreError(f"{self.path}: {what} ({_one_line(exc)})") from None

    def _open(self, memory: bool) -> None:
        db = self._db
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        tables.discard("sqlite_sequence")
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        if tables and app_id != APPLICATION_ID and not tables >= OUR_TABLES:
            raise StoreError(
                f"{self.path}: a SQLite database of another application (tables "
                f"{', '.join(sorted(tables)[:5])}); pass another --db"
            )
        if tables:
            problems = [r[0] for r in db.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                detail = " ".join(
                    " ".join(problems).replace("*** in database main ***", "").split()
                )
                raise StoreError(f"{self.path}: the database is corrupt ({detail[:120]})")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if not memory and str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode})")
        db.execute("PRAGMA synchronous=NORMAL")
        # A WAL that grew during a burst (compaction, a large batch) shrinks back to this
        # at the next reset instead of keeping its largest size.
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
        for table, columns in ADDED_COLUMNS.items():
            have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
            for name, definition in columns:
                if name not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
        if app_id != APPLICATION_ID:
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        self._migrate()

    def _migrate(self) -> None:
        """Apply the MIGRATIONS this database has not had, each all or nothing."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = int(row[0]) if row and str(row[0]).isdigit() else 1
        for target, script in enumerate(MIGRATIONS[version - 1 :], start=version + 1):
            with self._tx() as db:
                for statement in statements(script):
                    db.execute(statement)
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (str(target),)
                )

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def checkpoint_in_background(self, every_s: float = 1.0) -> None:
        """Copy the WAL into the database from a thread with a connection of its own, so
        that no commit on the event loop pays for a checkpoint (in WAL mode readers and
        writers go on during one); the connection's auto-checkpoint stays as a backstop
        for a WAL past BACKSTOP_PAGES. Stopped by close()."""
        if self.path == ":memory:" or self._checkpointer is not None:
            return
        self._db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        stop = threading.Event()
        con = sqlite3.connect(self.path, check_same_thread=False)

        def run() -> None:
            try:
                while not stop.wait(every_s):
                    try:
                        con.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.Error as exc:  # busy or broken: the backstop remains
                        log.warning("WAL checkpoint failed: %s", _one_line(exc))
            finally:
                con.close()

        thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
        thread.start()
        self._checkpointer = (stop, thread)

    def close(self) -> None:
        if self._checkpointer is not None:
            stop, thread = self._checkpointer
            stop.set()
            thread.join()
            self._checkpointer = None
        self._db.close()
        self._unlock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self.generation += 1

    # --- meta -------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def next_plan_version(self) -> int:
        """Reserve the next plan version (monotonic across restarts)."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'plan_version'").fetchone()
            version = (int(row[0]) if row else 0) + 1
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('plan_version', ?)",
                (str(version),),
            )
        return version

    # --- jobs -------------------------------------------------------------------------
    def insert_jobs(
        self, jobs: Sequence[Job], time_s: float, request_id: str = "", wall_time_s: float = 0.0
    ) -> None:
        """Insert new jobs, all or none; DuplicateJobError names the first id that exists.
        With a request_id, the ids are remembered under (submitter, request_id) in the same
        transaction (see submitted_ids). A job without submitted_by is recorded as submitted
        by the caller of the RPC being served."""
        caller = current_principal().id
        jobs = [j if j.submitted_by else dataclasses.replace(j, submitted_by=caller) for j in jobs]
        rows = [
            (
                job.job_id,
                job.spec.kind,
                json.dumps(dataclasses.asdict(job.spec)),
                job.state.value,
                job.submit_time_s,
                job.submitted_by,
            )
            for job in jobs
        ]
        try:
            with self._tx() as db:
                db.executemany(
                    "INSERT INTO jobs (job_id, kind, spec, state, submit_time_s, submitted_by) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                db.executemany(
                    "INSERT INTO job_events (job_id, time_s, what, state, principal) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (job.job_id, time_s, "submitted", job.state.value, job.submitted_by)
                        for job in jobs
                    ],
                )
                if request_id:
                    principal = jobs[0].submitted_by if jobs else ""
                    db.execute(
                        "DELETE FROM submit_requests WHERE wall_time_s < ?",
                        (wall_time_s - REQUEST_ID_TTL_S,),
                    )
                    db.execute(
                        "INSERT INTO submit_requests (request_id, principal, job_ids, "
                        "wall_time_s) VALUES (?, ?, ?, ?)",
                        (request_id, principal, json.dumps([j.job_id for j in jobs]), wall_time_s),
                    )
        except sqlite3.IntegrityError:  # rolled back; name the first id that exists
            taken = self.existing_ids(j.job_id for j in jobs)
            first = next((j.job_id for j in jobs if j.job_id in taken), jobs[0].job_id)
            raise DuplicateJobError(first) from None

    def held(self, job_id: str, satellite_id: str, version: int) -> bool:
        """Did satellite_id ever hold a placement of job_id under fencing token version?"""
        row = self._db.execute(
            "SELECT 1 FROM memberships WHERE job_id = ? AND satellite_id = ? AND version = ?",
            (job_id, satellite_id, version),
        ).fetchone()
        return row is not None

    def submitted_ids(self, principal: str, request_id: str) -> list[str] | None:
        """The job ids a SubmitJobs with this request id created (None if none did)."""
        row = self._db.execute(
            "SELECT job_ids FROM submit_requests WHERE principal = ? AND request_id = ?",
            (principal, request_id),
        ).fetchone()
        return None if row is None else [str(x) for x in json.loads(row[0])]

    def get_job(self, job_id: str) -> Job | None:
        row = self._db.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        return None if row is None else job_from_row(row)

    def get_jobs(self, job_ids: Iterable[str]) -> dict[str, Job]:
        """The jobs of these ids that exist, by id (chunks of 500 through the id index)."""
        ids = list(job_ids)
        out: dict[str, Job] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE job_id IN ({marks})", chunk
            )
            for row in rows:
                job = job_from_row(row)
                out[job.job_id] = job
        return out

    def existing_ids(self, job_ids: Iterable[str]) -> set[str]:
        ids = list(job_ids)
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT job_id FROM jobs WHERE job_id IN ({marks})", chunk)
            found.update(r[0] for r in rows)
        return found

    def list_jobs(
        self,
        states: Sequence[JobState] = (),
        kinds: Sequence[str] = (),
        satellite_id: str = "",
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs after after_seq in submission order (keyset pagination), at most limit,
        filtered; every filter is served from an index (see _page_seqs)."""
        seqs = self._page_seqs(states, kinds, satellite_id, after_seq, limit)
        jobs: list[Job] = []
        for i in range(0, len(seqs), 500):
            chunk = seqs[i : i + 500]
            rows = self._db.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE seq IN ({','.join('?' * len(chunk))}) "
                "ORDER BY seq",
                chunk,
            )
            jobs.extend(job_from_row(r) for r in rows)
        return jobs

    def _page_seqs(
        self,
        states: Sequence[JobState],
        kinds: Sequence[str],
        satellite_id: str,
        after_seq: int,
        limit: int,
    ) -> list[int]:
        """The seqs of one page. A satellite's jobs come from job_satellites, unless only
        active states are asked for (few jobs: checked against job_satellites one by one);
        states and kinds from one keyset range per (state, kind) of the jobs_state_kind
        index, merged (an IN over several states would sort every match)."""
        db = self._db
        active_only = bool(states) and not any(s.terminal for s in states)
        if satellite_id and not active_only:
            where, args = ["js.satellite_id = ?", "js.seq > ?"], [satellite_id, after_seq]
            if states:
                where.append(f"j.state IN ({','.join('?' * len(states))})")
                args.extend(s.value for s in states)
            if kinds:
                where.append(f"j.kind IN ({','.join('?' * len(kinds))})")
                args.extend(kinds)
            rows = db.execute(
                "SELECT js.seq FROM job_satellites js JOIN jobs j ON j.seq = js.seq "
                f"WHERE {' AND '.join(where)} ORDER BY js.seq LIMIT ?",
                (*args, limit),
            )
            return [r[0] for r in rows]
        if not states and not kinds:
            rows = db.execute(
                "SELECT seq FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
            )
            return [r[0] for r in rows]
        on_sat = (
            " AND EXISTS (SELECT 1 FROM job_satellites WHERE satellite_id = ? AND seq = jobs.seq)"
            if satellite_id
            else ""
        )
        ranges = []
        for state in dict.fromkeys(states or JobState):
            for kind in dict.fromkeys(kinds or JOB_KINDS):
                pair: tuple[object, ...] = (state.value, kind, after_seq)
                rows = db.execute(
                    "SELECT seq FROM jobs WHERE state = ? AND kind = ? AND seq > ?"
                    f"{on_sat} ORDER BY seq LIMIT ?",
                    (*pair, *([satellite_id] if satellite_id else []), limit),
                )
                ranges.append([r[0] for r in rows])
        return list(itertools.islice(heapq.merge(*ranges), limit))

    def job_ids(self, states: Sequence[JobState]) -> set[str]:
        """The ids of the jobs in these states (no record decoded)."""
        marks = ",".join("?" * len(states))
        rows = self._db.execute(
            f"SELECT job_id FROM jobs WHERE state IN ({marks})", [s.value for s in states]
        )
        return {r[0] for r in rows}

    def active_jobs(self) -> list[Job]:
        """Every job not in a terminal state, in submission order."""
        return self.list_jobs(
            states=(JobState.PENDING, JobState.PLANNED, JobState.RUNNING, JobState.CHECKPOINTED),
            limit=1_000_000_000,
        )

    def count_by_state(self) -> dict[tuple[str, str], int]:
        """Jobs by (kind, state), from the counts the triggers keep (no scan)."""
        rows = self._db.execute("SELECT kind, state, n FROM job_counts WHERE n != 0")
        return {(k, s): n for k, s, n in rows}

    def update_job(self, job: Job, what: str, time_s: float, actor: str | None = None) -> Job:
        """Write a changed job and record the event; the state change must be allowed."""
        return self.update_jobs([(job, what)], time_s, actor)[0]

    def update_jobs(
        self, changes: Sequence[tuple[Job, str]], time_s: float, actor: str | None = None
    ) -> list[Job]:
        """actor: the principal that caused the changes (default: the caller of the RPC being
        served, or the scheduler itself outside one; see scheduler.security)."""
        who = actor or current_principal().id
        updates: list[tuple[object, ...]] = []
        members: list[tuple[str, str, int]] = []
        events: list[tuple[object, ...]] = []
        with self._tx() as db:
            # One read of the stored states, then the changes in order (a job changed twice
            # is checked against its first change), written with executemany: a plan that
            # moves 10,000 jobs is four statements per chunk instead of four per job.
            states = self._states(db, {job.job_id for job, _ in changes})
            for job, what in changes:
                old = states.get(job.job_id)
                if old is None:
                    raise KeyError(job.job_id)
                if not can_transition(old, job.state):
                    raise TransitionError(
                        f"job {job.job_id}: {old.value} -> {job.state.value} is not allowed"
                    )
                states[job.job_id] = job.state
                updates.append(
                    (
                        job.state.value,
                        job.reason,
                        job.start_time_s,
                        job.end_time_s,
                        json.dumps(list(job.satellite_ids)),
                        job.planned_start_s,
                        job.planned_end_s,
                        job.done_acc_s,
                        job.checkpoint_acc_s,
                        job.assignment_version,
                        job.preemptions,
                        json.dumps([list(m) for m in job.member_versions]),
                        job.reason_code.value if job.reason_code else "",
                        job.job_id,
                    )
                )
                # every placement a satellite ever held (held())
                members.extend((job.job_id, sat, v) for sat, v in job.member_versions)
                if what:
                    events.append((job.job_id, time_s, what, job.state.value, job.reason, who))
            db.executemany(
                "UPDATE jobs SET state=?, reason=?, start_time_s=?, end_time_s=?, "
                "satellite_ids=?, planned_start_s=?, planned_end_s=?, done_accelerator_s=?, "
                "checkpoint_accelerator_s=?, assignment_version=?, preemptions=?, "
                "member_versions=?, reason_code=? "
                "WHERE job_id=?",
                updates,
            )
            if members:
                db.executemany(
                    "INSERT OR IGNORE INTO memberships (job_id, satellite_id, version) "
                    "VALUES (?, ?, ?)",
                    members,
                )
            if events:
                db.executemany(
                    "INSERT INTO job_events (job_id, time_s, what, state, reason, principal) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    events,
                )
        return [job for job, _ in changes]

    @staticmethod
    def _states(db: sqlite3.Connection, job_ids: Iterable[str]) -> dict[str, JobState]:
        ids = list(job_ids)
        out: dict[str, JobState] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = db.execute(
                f"SELECT job_id, state FROM jobs WHERE job_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.update((r[0], JobState(r[1])) for r in rows)
        return out

    def compact(self, before_s: float, now_s: float, limit: int) -> int:
        """Compact at most `limit` terminal jobs that ended before before_s, oldest first, in
        one transaction (a kill leaves each job either whole or compacted): drop their
        events, checkpoints, fencing memberships and labels, keep the row (final state,
        reason and its code, times, work done, placement, submitter, the rest of the spec)
        with compacted_s = now_s. Returns how many it compacted."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT seq, job_id, spec FROM jobs INDEXED BY jobs_to_compact "
                "WHERE compacted_s = 0 "
                "AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND end_time_s < ? "
                "ORDER BY end_time_s LIMIT ?",
                (before_s, limit),
            ).fetchall()
            if not rows:
                return 0
            ids = [r[1] for r in rows]
            marks = ",".join("?" * len(ids))
            for table in ("job_events", "checkpoints", "memberships"):
                db.execute(f"DELETE FROM {table} WHERE job_id IN ({marks})", ids)
            db.executemany(
                "UPDATE jobs SET spec = ?, member_versions = '[]', compacted_s = ? WHERE seq = ?",
                [(without_labels(spec), now_s, seq) for seq, _, spec in rows],
            )
        return len(rows)

    def drop_plans(self, before_s: float, limit: int) -> int:
        """Delete at most `limit` stored plans made before before_s, oldest first; the
        latest plan always stays (it is the one in force; nothing reads older ones). Plans
        are made in version order, so only the `limit` oldest are looked at."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM plans WHERE created_s < ? AND version IN (SELECT version FROM "
                "plans WHERE version < (SELECT MAX(version) FROM plans) ORDER BY version LIMIT ?)",
                (before_s, limit),
            )
        return int(cur.rowcount)

    def compactable(self, before_s: float) -> int:
        """Terminal jobs that ended before before_s and are not compacted yet (an index
        count: tests and benchmarks)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM jobs INDEXED BY jobs_to_compact WHERE compacted_s = 0 "
            "AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND end_time_s < ?",
            (before_s,),
        ).fetchone()
        return int(row[0])

    def size_bytes(self) -> tuple[int, int]:
        """(database pages in use and free, free pages) in bytes; the WAL not included."""
        db = self._db
        page = int(db.execute("PRAGMA page_size").fetchone()[0])
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        return pages * page, free * page

    def events(self, job_id: str, limit: int = 10_000) -> list[Event]:
        """(time_s, what, state, reason, principal) of one job, oldest first. A compacted
        job's history is one COMPACTED_EVENT at the time it was compacted."""
        job = self._db.execute(
            "SELECT compacted_s, state, reason FROM jobs WHERE job_id = ?", (job_id,)
        ).fetchone()
        if job is not None and job[0] > 0:
            return [Event(job[0], COMPACTED_EVENT, job[1], job[2], "scheduler")][:limit]
        rows = self._db.execute(
            "SELECT time_s, what, state, reason, principal FROM job_events WHERE job_id = ? "
            "ORDER BY id LIMIT ?",
            (job_id, limit),
        )
        return [Event(*r) for r in rows]

    def record_checkpoint(
        self, job_id: str, satellite_id: str, time_s: float, accelerator_s: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO checkpoints (job_id, satellite_id, time_s, accelerator_s) "
                "VALUES (?, ?, ?, ?)",
                (job_id, satellite_id, time_s, accelerator_s),
            )

    def checkpoints(self, job_id: str) -> list[tuple[str, float, float]]:
        rows = self._db.execute(
            "SELECT satellite_id, time_s, accelerator_s FROM checkpoints WHERE job_id = ? "
            "ORDER BY id",
            (job_id,),
        )
        return [tuple(r) for r in rows]

    # --- plans ------------------------------------------------------------------------
    def save_plan(self, record: PlanRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO plans (version, created_s, horizon_start_s, horizon_end_s, trigger, "
                "status, objective, best_bound, gap_ratio, solve_duration_s, plan_json, unplaced) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.version,
                    record.created_s,
                    record.horizon_start_s,
                    record.horizon_end_s,
                    record.trigger,
                    record.status,
                    real(record.objective),
                    real(record.best_bound),
                    real(record.gap_ratio),
                    record.solve_duration_s,
                    plan_json(record.plan),
                    json.dumps([[u.job_id, u.code, u.reason] for u in record.unplaced]),
                ),
            )

    def latest_plan(self) -> PlanRecord | None:
        row = self._db.execute(
            "SELECT version, created_s, horizon_start_s, horizon_end_s, trigger, status, "
            "objective, best_bound, gap_ratio, solve_duration_s, plan_json "
            "FROM plans ORDER BY version DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return PlanRecord(
            version=row[0],
            created_s=row[1],
            horizon_start_s=row[2],
            horizon_end_s=row[3],
            trigger=row[4],
            status=row[5],
            objective=math.nan if row[6] is None else row[6],
            best_bound=math.nan if row[7] is None else row[7],
            gap_ratio=math.nan if row[8] is None else row[8],
            solve_duration_s=row[9],
            plan=Plan.from_dict(json.loads(row[10])),
        )

    # --- satellites -------------------------------------------------------------------
    def satellite_flags(self) -> dict[str, SatelliteFlags]:
        rows = self._db.execute("SELECT satellite_id, cordoned, draining, lost FROM satellites")
        return {r[0]: SatelliteFlags(r[0], bool(r[1]), bool(r[2]), bool(r[3])) for r in rows}

    def element_sets(self) -> dict[str, tuple[str, str]]:
        """Elements that replace the scenario's (orbitctl elements update), by satellite."""
        rows = self._db.execute("SELECT satellite_id, line1, line2 FROM elements")
        return {r[0]: (r[1], r[2]) for r in rows}

    def save_element_sets(self, sets: dict[str, tuple[str, str]], now_s: float) -> None:
        """Store new elements of several satellites in one transaction (all or nothing)."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO elements (satellite_id, line1, line2, updated_s) "
                "VALUES (?, ?, ?, ?)",
                [(name, l1, l2, now_s) for name, (l1, l2) in sets.items()],
            )

    def set_satellite_flags(self, flags: SatelliteFlags) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO satellites (satellite_id, cordoned, draining, lost) "
                "VALUES (?, ?, ?, ?)",
                (flags.satellite_id, int(flags.cordoned), int(flags.draining), int(flags.lost)),
            )
