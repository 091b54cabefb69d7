-- Indexes are built without CONCURRENTLY: the tables are created empty in the
-- same transaction, and CONCURRENTLY cannot run inside one.

CREATE TABLE incidents (
    id              text PRIMARY KEY,
    -- The Temporal workflow that owns the incident; several incidents may
    -- share one over time when a dedup key is reused after resolve.
    workflow_id     text NOT NULL,
    title           text NOT NULL,
    description     text NOT NULL DEFAULT '',
    service         text NOT NULL,
    severity        text NOT NULL,
    status          text NOT NULL,
    dedup_key       text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    mitigated_at    timestamptz,
    resolved_at     timestamptz,
    resolved_by     text,
    -- Transitions applied so far; a projection write is accepted only when
    -- its version is newer than the row's.
    version         bigint NOT NULL,
    -- Keep in step with internal/incident: Severities and Statuses.
    CONSTRAINT incidents_severity_check
        CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
    CONSTRAINT incidents_status_check
        CHECK (status IN ('open', 'acknowledged', 'mitigated', 'resolved'))
);

CREATE INDEX idx_incidents_status_created ON incidents (status, created_at);
CREATE INDEX idx_incidents_severity_service ON incidents (severity, service);

-- Every status but resolved is active. The production guide's version of this
-- index lists only open and mitigated; acknowledged incidents still need
-- attention and are counted as active, so they belong in it too. Queries that
-- should use it repeat this predicate literally.
CREATE INDEX idx_incidents_active ON incidents (created_at DESC)
    WHERE status IN ('open', 'acknowledged', 'mitigated');

-- Newest-first keyset pagination: ORDER BY created_at DESC, id DESC with
-- (created_at, id) < (cursor) as the seek condition, unfiltered or by
-- service. id is part of both so ties in created_at need no sort.
CREATE INDEX idx_incidents_created_id ON incidents (created_at DESC, id DESC);
CREATE INDEX idx_incidents_service_created ON incidents (service, created_at DESC, id DESC);

CREATE TABLE timeline_events (
    id          bigserial PRIMARY KEY,
    incident_id text NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- Chosen by the writer and unique per incident, so a retried write of the
    -- same event is stored once.
    event_key   text NOT NULL,
    event_type  text NOT NULL,
    actor       text NOT NULL DEFAULT '',
    message     text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}',
    event_time  timestamptz NOT NULL,
    -- The writer's own order of the incident's events. Several events can
    -- share one event_time (updates handled in one workflow task), and the
    -- order they reach Postgres in is not the order they happened in.
    seq         bigint NOT NULL DEFAULT 0,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT timeline_events_incident_event_key UNIQUE (incident_id, event_key)
);

CREATE INDEX idx_timeline_incident_time ON timeline_events (incident_id, event_time, seq);
CREATE INDEX idx_timeline_event_type ON timeline_events (event_type, event_time);
