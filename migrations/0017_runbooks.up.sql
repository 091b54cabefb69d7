-- Runbooks: resolution steps that start with a service's incidents, or by
-- hand, each run a child workflow of its incident that works through a
-- snapshot. The table holds each runbook's current version; the runs and
-- their steps are in the incidents' workflows and timelines.
CREATE TABLE runbooks (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    -- The service whose incidents start the runbook when they open; NULL:
    -- started by hand only. Deleting the service detaches its runbooks.
    service_id  text REFERENCES services (id) ON DELETE SET NULL,
    -- Narrows service_id to incidents of these severities; empty: every one.
    severities  text[] NOT NULL DEFAULT '{}',
    -- []runbook.Step as JSON: [{"name":…,"kind":"manual","instructions":…}, …].
    steps       jsonb NOT NULL,
    -- 1 on create, +1 on every update; runs record the version they snapshotted.
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What an opening incident loads: the runbooks of its service.
CREATE INDEX idx_runbooks_service ON runbooks (service_id, name, id) WHERE service_id IS NOT NULL;
CREATE INDEX idx_runbooks_name ON runbooks (name, id);

-- The resolve policy: while set, resolving an incident of the service is
-- refused until the required steps of its runbooks are done.
ALTER TABLE services ADD COLUMN require_runbook_steps boolean NOT NULL DEFAULT false;
