-- cortex-store schema, SQLite flavour, version 1.
--
-- Conventions (SQLite has no native UUID, timestamp, boolean or JSON types):
--   * ids are TEXT: lowercase hyphenated UUIDs. Job and batch ids are UUIDv7, so their text
--     order is their creation order.
--   * timestamps are TEXT, always UTC and always the fixed-width form
--     'YYYY-MM-DDTHH:MM:SS.ffffffZ' (microseconds), so comparing the text compares the times.
--   * booleans are INTEGER 0/1; JSON documents are TEXT.
-- The PostgreSQL schema (migrations/postgres) has the same tables and columns.
-- Never edit an applied migration: add a new numbered file.

-- A set of jobs submitted together (e.g. one job per subscription of a tenant).
CREATE TABLE batches (
    id          TEXT PRIMARY KEY NOT NULL,
    label       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- One onboarding job and its lease.
--   state            queued | running | awaiting_approval | succeeded | failed | cancelled
--   request          the job's input (JSON, never secrets)
--   result / error   set when the job finishes (JSON)
--   attempts         how many times the job was claimed
--   worker_id        the worker holding (running) or that last held the job
--   lease_until      while running: the worker must renew before this time, or another worker
--                    may claim the job
--   cancel_requested a cancel was asked for; the worker stops at the next checkpoint
--   approved         the approval gate is passed (an awaiting_approval job is claimable only
--                    when approved)
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY NOT NULL,
    batch_id          TEXT REFERENCES batches (id),
    kind              TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'awaiting_approval',
                                                     'succeeded', 'failed', 'cancelled')),
    request           TEXT NOT NULL,
    result            TEXT,
    error             TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    worker_id         TEXT,
    lease_until       TEXT,
    cancel_requested  INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    approved          INTEGER NOT NULL DEFAULT 0 CHECK (approved IN (0, 1)),
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
-- The claim query scans claimable jobs oldest first.
CREATE INDEX jobs_claimable ON jobs (created_at, id)
    WHERE state IN ('queued', 'awaiting_approval', 'running');
CREATE INDEX jobs_by_batch ON jobs (batch_id, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at, id);

-- The steps of a job, one row per step name (restarting a step updates its row).
--   state   running | succeeded | failed | skipped
--   output  checkpoint data for resume (JSON, never secrets)
CREATE TABLE job_steps (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'skipped')),
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    output       TEXT,
    PRIMARY KEY (job_id, name)
);

-- The progress events of a job, the source of SSE replay. seq is 1-based and gapless per job;
-- the primary key is the UNIQUE (job_id, seq) constraint.
CREATE TABLE job_events (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL CHECK (seq >= 1),
    at      TEXT NOT NULL,
    event   TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- Encrypted secrets (Azure client secrets, Prisma access keys), one per (owner, name).
--   value   'v1:<key-id>:<base64(nonce || ciphertext)>', XChaCha20-Poly1305 with the AAD bound
--           to owner and name (see src/keyring.rs)
--   key_id  the key id inside value, kept apart so rotation can find stale rows
CREATE TABLE secrets (
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (owner, name)
);
CREATE INDEX secrets_by_key ON secrets (key_id);

-- Who did what, append-only.
--   detail              JSON
--   prisma_request_ids  JSON array of strings (the x-redlock-request-id of each Prisma call)
CREATE TABLE audit_log (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  TEXT NOT NULL,
    actor               TEXT NOT NULL,
    action              TEXT NOT NULL,
    target              TEXT NOT NULL,
    detail              TEXT NOT NULL,
    prisma_request_ids  TEXT NOT NULL DEFAULT '[]'
);
