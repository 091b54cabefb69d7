-- SLA targets per severity, optionally per service, and each incident's
-- deadlines as its workflow set them.

CREATE TABLE sla_policies (
    id               text PRIMARY KEY,
    severity         text NOT NULL,
    -- '' is the default for every service; a service name overrides it.
    service          text NOT NULL DEFAULT '',
    response_ms      bigint NOT NULL DEFAULT 0,
    resolution_ms    bigint NOT NULL DEFAULT 0,
    warning_fraction double precision NOT NULL DEFAULT 0.75,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sla_policies_severity_check CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
    CONSTRAINT sla_policies_severity_service UNIQUE (severity, service)
);

ALTER TABLE incidents
    ADD COLUMN response_due_at   timestamptz,
    ADD COLUMN resolution_due_at timestamptz;

-- Active incidents past their response target without a response: the
-- incidents_response_overdue gauge counts them on every scrape.
CREATE INDEX idx_incidents_response_due ON incidents (response_due_at)
    WHERE status = 'open' AND response_due_at IS NOT NULL;
