-- Integration keys: credentials a monitoring system sends alerts for one
-- service with. Only a hash of each key's secret is stored; the key itself is
-- shown once, when it is created. A revoked key keeps its row, so the list
-- still says when it was revoked.

CREATE TABLE integration_keys (
    -- ik_…: also the first part of the key, so a presented key finds its row
    -- by primary key.
    id           text PRIMARY KEY,
    -- Deleting a service deletes its keys: a key never outlives the one
    -- service it may send alerts for.
    service_id   text NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    -- sha256 of the secret part of the key. The secret holds 256 random bits,
    -- so an unsalted fast hash is enough: there is nothing to guess.
    secret_hash  bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    -- Refreshed at most once a minute, so a busy sender does not write a row
    -- per alert.
    last_used_at timestamptz,
    CONSTRAINT integration_keys_secret_hash_check CHECK (octet_length(secret_hash) = 32)
);

CREATE INDEX idx_integration_keys_service ON integration_keys (service_id, created_at);
