-- cortex-store schema, version 6 (SQLite flavour): the desired state of managed accounts, and drift.
--
-- Times are epoch milliseconds (BIGINT); JSON is TEXT, so the statements are the same on both
-- backends (`drift.rs`).
--
-- desired_states: what the product keeps an account at, when it is not simply what the
-- account's onboarding job asked for (that is read from the job): an account adopted from
-- elsewhere (origin 'adopted', no job), or an onboarded one whose current configuration was
-- adopted as the new desired state (source 'adopt_current', bound to the job it overrides).
--   account_key  'prisma:<connection>:<account id>' (as the health watch names it)
--   connection   the platform connection's name; NULL is the default connection
--   origin       onboarded | adopted
--   source       adoption | adopt_current
--   desired      JSON {"enabled", "features", "account_groups", "flow_logs", "scope_filters"}
CREATE TABLE desired_states (
    account_key     TEXT PRIMARY KEY,
    platform        TEXT NOT NULL,
    connection      TEXT,
    account_id      TEXT NOT NULL,
    account_name    TEXT NOT NULL,
    origin          TEXT NOT NULL CHECK (origin IN ('onboarded', 'adopted')),
    job_id          TEXT,
    source          TEXT NOT NULL,
    desired         TEXT NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);

-- drift_findings: each managed account's latest comparison of desired and current
-- configuration (the watch's, or one asked for).
--   fingerprint  '' when there is no drift; else a digest of the differences (a new
--                fingerprint is a new finding: notified once)
--   differences  JSON array of {"field", "desired", "current"}
CREATE TABLE drift_findings (
    account_key     TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    account_name    TEXT NOT NULL,
    checked_at_ms   BIGINT NOT NULL,
    fingerprint     TEXT NOT NULL,
    differences     TEXT NOT NULL,
    error           TEXT
);
