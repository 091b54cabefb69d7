-- Sign-in to the web console. No password is stored: a user signs in with a
-- one-time login link (minted by `incident-server token create --login` or
-- POST /api/v1/login-links) or by pasting a user token, and gets a session
-- held server-side, so signing out (or an admin) revokes it at once. Only
-- sha256 hashes of the links' and sessions' 256-bit secrets are stored, as
-- for API keys.

CREATE TABLE login_links (
    -- ll_…: also the first part of the link's token.
    id          text PRIMARY KEY,
    secret_hash bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    -- Who signs in with it, with which role: as a user token's sub and role.
    subject     text NOT NULL,
    role        text NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    -- Who minted it: the admin's actor, or "cli" for `token create --login`.
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Set when the link is exchanged for a session: a link works once.
    used_at     timestamptz
);

-- The purge of expired links.
CREATE INDEX idx_login_links_expires ON login_links (expires_at);

CREATE TABLE console_sessions (
    -- cs_…: also the first part of the session cookie's value.
    id           text PRIMARY KEY,
    secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    subject      text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    -- How the session began: "login_link" (with its ID) or "token".
    method       text NOT NULL,
    login_link   text REFERENCES login_links (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    -- Refreshed at most once a minute.
    last_used_at timestamptz
);

CREATE INDEX idx_console_sessions_subject ON console_sessions (subject, created_at);
CREATE INDEX idx_console_sessions_expires ON console_sessions (expires_at);
