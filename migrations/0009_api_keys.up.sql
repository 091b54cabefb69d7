-- API keys: credentials for automation (chat bots, runbooks, CI) that call
-- the REST API with a role. Like integration keys, only a hash of each key's
-- secret is stored and the key is shown once, when it is created.

CREATE TABLE api_keys (
    -- ak_…: also the first part of the key, so a presented key finds its row
    -- by primary key.
    id           text PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    -- sha256 of the 256-bit random secret part of the key.
    secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    -- Who made the key: the actor of the admin request.
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- NULL: the key does not expire.
    expires_at   timestamptz,
    revoked_at   timestamptz,
    -- Refreshed at most once a minute.
    last_used_at timestamptz
);

CREATE INDEX idx_api_keys_created ON api_keys (created_at, id);
