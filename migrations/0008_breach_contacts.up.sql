-- Users every SLA warning and breach of a service's incidents alerts,
-- beside the escalation step's targets.
ALTER TABLE services ADD COLUMN breach_user_ids text[] NOT NULL DEFAULT '{}';
