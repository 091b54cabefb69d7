DROP INDEX IF EXISTS idx_incidents_response_due;
ALTER TABLE incidents
    DROP COLUMN IF EXISTS resolution_due_at,
    DROP COLUMN IF EXISTS response_due_at;
DROP TABLE IF EXISTS sla_policies;
