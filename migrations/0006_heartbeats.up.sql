-- Heartbeat monitors: a service expects a ping at least every interval, and
-- an incident opens when one is missed. Each monitor has one Temporal
-- workflow (heartbeat/<id>) that keeps the deadline; the row is its
-- configuration and a record of the last ping.

CREATE TABLE heartbeat_monitors (
    -- hb_…, assigned by the store.
    id           text PRIMARY KEY,
    -- Deleting a service deletes its monitors.
    service_id   text NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    name         text NOT NULL,
    -- From one second (for tests) to seven days.
    interval_ms  bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Written best effort after each accepted ping: a projection for
    -- people, never what the deadline is kept by.
    last_ping_at timestamptz,
    CONSTRAINT heartbeat_monitors_interval_check CHECK (interval_ms BETWEEN 1000 AND 604800000)
);

CREATE INDEX idx_heartbeat_monitors_service ON heartbeat_monitors (service_id, created_at);
