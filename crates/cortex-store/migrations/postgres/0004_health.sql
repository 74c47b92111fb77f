-- cortex-store schema, PostgreSQL flavour, version 4: the health watch and its notifications.
--
-- Times are epoch milliseconds (BIGINT) from the writing process's clock; JSON is TEXT, so the
-- statements are the same on both backends (`health.rs`).
--
-- watch_leases: which replica checks an account in a round. A round is the health watch's
-- interval number (epoch seconds / interval); a replica checks an account only after winning
-- its row for that round, and marks it done. An expired, unfinished lease can be won again in
-- the same round (its replica died mid-check).
--   account_key  'prisma:<connection>:<account id>' (the platform's name for the account)
CREATE TABLE watch_leases (
    account_key     TEXT PRIMARY KEY,
    round           BIGINT NOT NULL,
    holder          TEXT NOT NULL,
    lease_until_ms  BIGINT NOT NULL,
    done            BIGINT NOT NULL DEFAULT 0 CHECK (done IN (0, 1))
);

-- health_checks: the history, one row per account per round (never two: the unique key).
--   status        ok | warning | error | unknown (the check itself failed: see error)
--   capabilities  JSON array of {"capability", "status", "message", "remediation"}
--   changes       JSON array of {"capability", "from", "to"} against the account's previous row
CREATE TABLE health_checks (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_key     TEXT NOT NULL,
    platform        TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    account_name    TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    round           BIGINT NOT NULL,
    checked_at_ms   BIGINT NOT NULL,
    status          TEXT NOT NULL,
    capabilities    TEXT NOT NULL,
    changes         TEXT NOT NULL,
    error           TEXT,
    UNIQUE (account_key, round)
);
CREATE INDEX health_checks_by_account ON health_checks (account_key, id);

-- notifications: each one once, whichever replica noticed first (dedupe_key is unique), e.g.
-- 'degraded:<account_key>:<round>' or 'secret:<account_key>:<end date>:7'.
--   payload  the JSON body sinks receive (never a secret)
CREATE TABLE notifications (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    account_key     TEXT,
    payload         TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL
);

-- deliveries: one per notification and sink.
--   state  pending | delivered | dead (retries spent: the dead-letter list)
CREATE TABLE deliveries (
    notification_id BIGINT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    sink            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (notification_id, sink)
);
CREATE INDEX deliveries_by_state ON deliveries (state, updated_at_ms);
