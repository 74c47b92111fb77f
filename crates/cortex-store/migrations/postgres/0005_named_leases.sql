-- Named leases: one holder at a time for work that is not a job. The engine takes one per
-- tenant's shared Azure identity (`tenant-identity/<environment>/<tenant>`), so two batches in
-- one tenant, in one process or in two replicas, never run two Terraform applies on its state.
-- A holder renews while it works; a lease that expired (its process died) can be taken over.
CREATE TABLE named_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
