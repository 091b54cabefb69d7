-- The audit trail: one row per authenticated write to the REST API (every
-- method but GET), refused ones included, written after the request was
-- answered. Rows are only ever inserted, and deleted by the maintenance
-- schedule once older than maintenance.audit_retention.
CREATE TABLE audit_events (
    id              bigserial PRIMARY KEY,
    -- When the request arrived.
    at              timestamptz NOT NULL,
    -- Who: as timelines name the caller (a token's subject, "api-key:<name>").
    actor           text NOT NULL,
    -- The credential: its kind (user, api_key) and ID (the token's
    -- subject, the API key's ID).
    credential_kind text NOT NULL,
    credential_id   text NOT NULL,
    method          text NOT NULL,
    -- The route template ("/api/v1/users/:id") and the path requested.
    route           text NOT NULL,
    path            text NOT NULL,
    -- What was written: the route's :key_id or :id, or the created object's ID.
    target          text NOT NULL DEFAULT '',
    status          int NOT NULL,
    request_id      text NOT NULL DEFAULT '',
    -- For configuration writes: {"before": …, "after": …}, the object as the
    -- API shows it (secrets redacted), each bounded in size. NULL otherwise.
    summary         jsonb
);

-- Newest first, as GET /api/v1/audit pages, and the retention purge.
CREATE INDEX idx_audit_events_at ON audit_events (at DESC, id DESC);
CREATE INDEX idx_audit_events_actor ON audit_events (actor, at DESC, id DESC);
CREATE INDEX idx_audit_events_target ON audit_events (target, at DESC, id DESC) WHERE target <> '';
