-- The alerts of each incident, one row per fingerprint, and whether a
-- service's incidents resolve themselves when all their alerts resolve.

CREATE TABLE alerts (
    incident_id text NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    title       text NOT NULL DEFAULT '',
    source      text NOT NULL DEFAULT '',
    status      text NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    -- How many times the alert was received: written as the workflow's own
    -- count, so a retried write never adds to it.
    count       bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (incident_id, fingerprint),
    CONSTRAINT alerts_status_check CHECK (status IN ('firing', 'resolved'))
);

CREATE INDEX idx_alerts_last_seen ON alerts (last_seen);

ALTER TABLE services ADD COLUMN auto_resolve boolean NOT NULL DEFAULT true;
