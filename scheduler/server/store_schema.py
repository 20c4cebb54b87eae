"""The state database's schema: the tables of the first release, the columns and migrations
added since (applied by Store on open), and what marks a file as a scheduler database."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    submit_time_s REAL NOT NULL,
    start_time_s REAL NOT NULL DEFAULT 0,
    end_time_s REAL NOT NULL DEFAULT 0,
    satellite_ids TEXT NOT NULL DEFAULT '[]',
    planned_start_s REAL NOT NULL DEFAULT 0,
    planned_end_s REAL NOT NULL DEFAULT 0,
    done_accelerator_s REAL NOT NULL DEFAULT 0,
    checkpoint_accelerator_s REAL NOT NULL DEFAULT 0,
    assignment_version INTEGER NOT NULL DEFAULT 0,
    preemptions INTEGER NOT NULL DEFAULT 0,
    member_versions TEXT NOT NULL DEFAULT '[]',
    reason_code TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    time_s REAL NOT NULL,
    what TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job_id);
CREATE TABLE IF NOT EXISTS plans (
    version INTEGER PRIMARY KEY,
    created_s REAL NOT NULL,
    horizon_start_s REAL NOT NULL,
    horizon_end_s REAL NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    objective REAL,
    best_bound REAL,
    gap_ratio REAL,
    solve_duration_s REAL NOT NULL,
    plan_json TEXT NOT NULL,
    unplaced TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    satellite_id TEXT NOT NULL,
    time_s REAL NOT NULL,
    accelerator_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
    job_id TEXT NOT NULL,
    satellite_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (job_id, satellite_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS submit_requests (
    request_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    job_ids TEXT NOT NULL,
    wall_time_s REAL NOT NULL,
    PRIMARY KEY (principal, request_id)
);
CREATE TABLE IF NOT EXISTS satellites (
    satellite_id TEXT PRIMARY KEY,
    cordoned INTEGER NOT NULL DEFAULT 0,
    draining INTEGER NOT NULL DEFAULT 0,
    lost INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS elements (
    satellite_id TEXT PRIMARY KEY,
    line1 TEXT NOT NULL,
    line2 TEXT NOT NULL,
    updated_s REAL NOT NULL
);
"""

JOB_COLUMNS = (
    "seq, job_id, spec, state, reason, submit_time_s, start_time_s, end_time_s, satellite_ids, "
    "planned_start_s, planned_end_s, done_accelerator_s, checkpoint_accelerator_s, "
    "assignment_version, preemptions, member_versions, submitted_by, reason_code, compacted_s"
)
# Columns added after the first release, with their definitions: added on open if missing.
ADDED_COLUMNS = {
    "jobs": (
        ("submitted_by", "TEXT NOT NULL DEFAULT ''"),
        ("reason_code", "TEXT NOT NULL DEFAULT ''"),
    ),
    "job_events": (("principal", "TEXT NOT NULL DEFAULT 'scheduler'"),),
}

# Schema changes after the first release, applied in order on open, each in one transaction
# with the version it reaches (meta key 'schema'). Version 2 serves a store of millions of
# jobs without scanning it: an index by (state, kind) (its implicit seq column makes each
# pair a keyset range in submission order), job counts kept by triggers (the gauges read 14
# rows instead of counting every job a second) and a satellite -> job index kept by triggers
# (ListJobs by satellite).
MIGRATIONS: tuple[str, ...] = (
    """
DROP INDEX IF EXISTS jobs_state;
CREATE INDEX IF NOT EXISTS jobs_state_kind ON jobs (state, kind);
CREATE TABLE IF NOT EXISTS job_counts (
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (kind, state)
) WITHOUT ROWID;
DELETE FROM job_counts;
INSERT INTO job_counts (kind, state, n) SELECT kind, state, COUNT(*) FROM jobs GROUP BY 1, 2;
CREATE TRIGGER IF NOT EXISTS job_counts_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (kind, state, n) VALUES (new.kind, new.state, 1)
        ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS job_counts_update AFTER UPDATE OF state ON jobs
WHEN old.state != new.state BEGIN
    UPDATE job_counts SET n = n - 1 WHERE kind = old.kind AND state = old.state;
    INSERT INTO job_counts (kind, state, n) VALUES (new.kind, new.state, 1)
        ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS job_counts_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE kind = old.kind AND state = old.state;
END;
CREATE TABLE IF NOT EXISTS job_satellites (
    satellite_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (satellite_id, seq)
) WITHOUT ROWID;
DELETE FROM job_satellites;
INSERT OR IGNORE INTO job_satellites (satellite_id, seq)
    SELECT value, seq FROM jobs, json_each(jobs.satellite_ids) WHERE satellite_ids != '[]';
CREATE TRIGGER IF NOT EXISTS job_satellites_insert AFTER INSERT ON jobs
WHEN new.satellite_ids != '[]' BEGIN
    INSERT OR IGNORE INTO job_satellites (satellite_id, seq)
        SELECT value, new.seq FROM json_each(new.satellite_ids);
END;
CREATE TRIGGER IF NOT EXISTS job_satellites_update AFTER UPDATE OF satellite_ids ON jobs
WHEN old.satellite_ids != new.satellite_ids BEGIN
    DELETE FROM job_satellites WHERE seq = old.seq
        AND satellite_id IN (SELECT value FROM json_each(old.satellite_ids));
    INSERT OR IGNORE INTO job_satellites (satellite_id, seq)
        SELECT value, new.seq FROM json_each(new.satellite_ids);
END;
CREATE TRIGGER IF NOT EXISTS job_satellites_delete AFTER DELETE ON jobs BEGIN
    DELETE FROM job_satellites WHERE seq = old.seq
        AND satellite_id IN (SELECT value FROM json_each(old.satellite_ids));
END;
""",
    # 3: retention. A job compacted at compacted_s (0: never) keeps its row; the partial
    # index holds only the terminal jobs still to compact, oldest end first.
    """
ALTER TABLE jobs ADD COLUMN compacted_s REAL NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS jobs_to_compact ON jobs (end_time_s)
    WHERE compacted_s = 0 AND state IN ('SUCCEEDED', 'FAILED', 'CANCELLED');
CREATE INDEX IF NOT EXISTS checkpoints_job ON checkpoints (job_id);
""",
    # 4: request ids are pruned by age on every SubmitJobs with one.
    """
CREATE INDEX IF NOT EXISTS submit_requests_time ON submit_requests (wall_time_s);
""",
)

# PRAGMA application_id of scheduler databases ("ORBT").
APPLICATION_ID = 0x4F524254
# Tables every scheduler database has (also those written before APPLICATION_ID was set).
OUR_TABLES = frozenset({"meta", "jobs", "job_events", "plans", "checkpoints", "satellites"})


def statements(script: str) -> list[str]:
    """The statements of a script (triggers keep their inner semicolons)."""
    out: list[str] = []
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip())
            pending = ""
    return out
