ALTER TABLE services DROP COLUMN require_runbook_steps;
DROP TABLE runbooks;
