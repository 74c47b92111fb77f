-- cortex-store schema, PostgreSQL flavour, version 1.
--
-- Conventions: ids are UUID (job and batch ids are UUIDv7, so they sort in creation order),
-- timestamps are TIMESTAMPTZ (the store writes UTC, microsecond precision), JSON documents are
-- JSONB. The SQLite schema (migrations/sqlite) has the same tables and columns.
-- Several replicas may share this database: jobs are claimed with FOR UPDATE SKIP LOCKED, and
-- all lease times come from the database clock (now()), never from a replica's clock.
-- Never edit an applied migration: add a new numbered file.

-- A set of jobs submitted together (e.g. one job per subscription of a tenant).
CREATE TABLE batches (
    id          UUID PRIMARY KEY,
    label       TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One onboarding job and its lease.
--   state            queued | running | awaiting_approval | succeeded | failed | cancelled
--   request          the job's input (never secrets)
--   result / error   set when the job finishes
--   attempts         how many times the job was claimed
--   worker_id        the worker holding (running) or that last held the job
--   lease_until      while running: the worker must renew before this time, or another worker
--                    may claim the job
--   cancel_requested a cancel was asked for; the worker stops at the next checkpoint
--   approved         the approval gate is passed (an awaiting_approval job is claimable only
--                    when approved)
--   last_event_seq   the seq of the job's last event: appending an event increments it under the
--                    row lock, which serialises concurrent appends and keeps seq gapless
CREATE TABLE jobs (
    id                UUID PRIMARY KEY,
    batch_id          UUID REFERENCES batches (id),
    kind              TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'awaiting_approval',
                                                     'succeeded', 'failed', 'cancelled')),
    request           JSONB NOT NULL,
    result            JSONB,
    error             JSONB,
    attempts          INTEGER NOT NULL DEFAULT 0,
    worker_id         TEXT,
    lease_until       TIMESTAMPTZ,
    cancel_requested  BOOLEAN NOT NULL DEFAULT false,
    approved          BOOLEAN NOT NULL DEFAULT false,
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    last_event_seq    BIGINT NOT NULL DEFAULT 0
);
-- The claim query scans claimable jobs oldest first.
CREATE INDEX jobs_claimable ON jobs (created_at, id)
    WHERE state IN ('queued', 'awaiting_approval', 'running');
CREATE INDEX jobs_by_batch ON jobs (batch_id, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at, id);

-- The steps of a job, one row per step name (restarting a step updates its row).
--   state   running | succeeded | failed | skipped
--   output  checkpoint data for resume (never secrets)
CREATE TABLE job_steps (
    job_id       UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'skipped')),
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    output       JSONB,
    PRIMARY KEY (job_id, name)
);

-- The progress events of a job, the source of SSE replay. seq is 1-based and gapless per job;
-- the primary key is the UNIQUE (job_id, seq) constraint.
CREATE TABLE job_events (
    job_id  UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL CHECK (seq >= 1),
    at      TIMESTAMPTZ NOT NULL,
    event   JSONB NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Encrypted secrets (Azure client secrets, Prisma access keys), one per (owner, name).
--   value   'v1:<key-id>:<base64(nonce || ciphertext)>', XChaCha20-Poly1305 with the AAD bound
--           to owner and name (see src/keyring.rs)
--   key_id  the key id inside value, kept apart so rotation can find stale rows
CREATE TABLE secrets (
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner, name)
);
CREATE INDEX secrets_by_key ON secrets (key_id);

-- Who did what, append-only.
--   prisma_request_ids  the x-redlock-request-id of each Prisma call the action made
CREATE TABLE audit_log (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                  TIMESTAMPTZ NOT NULL,
    actor               TEXT NOT NULL,
    action              TEXT NOT NULL,
    target              TEXT NOT NULL,
    detail              JSONB NOT NULL,
    prisma_request_ids  TEXT[] NOT NULL DEFAULT '{}'
);
