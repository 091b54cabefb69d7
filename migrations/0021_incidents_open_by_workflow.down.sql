DROP INDEX IF EXISTS idx_incidents_open_workflow;
