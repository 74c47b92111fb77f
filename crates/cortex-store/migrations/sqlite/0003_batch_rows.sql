-- cortex-store schema, SQLite flavour, version 2: the rows a batch came from.
--
-- One row per data row of the batch's source (a CSV file: the header is row 1, so the first
-- subscription is row 2), kept so that later anyone can tell which rows became which job and
-- which were skipped, and why.
--   row_number  the row's ORIGINAL number in its source
--   job_id      the job the row became; NULL for a skipped (invalid) row
--   account_id  the subscription (or tenant) as written in the row
--   name        the account name the row asked for (may be empty for a skipped row)
--   problems    JSON array of {"field", "message"}: why the row was skipped ('[]' for a job row)
-- A batch submitted without a source (e.g. the API's JSON rows) has no batch_rows.
CREATE TABLE batch_rows (
    batch_id    TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    row_number  INTEGER NOT NULL CHECK (row_number >= 1),
    job_id      TEXT REFERENCES jobs (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    problems    TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (batch_id, row_number)
);
CREATE UNIQUE INDEX batch_rows_by_job ON batch_rows (job_id) WHERE job_id IS NOT NULL;
