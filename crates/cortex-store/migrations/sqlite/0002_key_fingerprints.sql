-- The master keys this database was written with, by fingerprint (never the key itself:
-- `Keyring::fingerprint`). A process whose keyring contradicts these rows refuses to start
-- (`Keyring::check_recorded`), instead of failing every job later with "key … is not in the keyring".
CREATE TABLE key_fingerprints (
    key_id      TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
