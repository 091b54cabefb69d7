-- Finds the open incident a dedup workflow ID holds, so an open whose
-- dedup key finds one joins it with a signal instead of an update.
CREATE INDEX idx_incidents_open_workflow ON incidents (workflow_id, created_at DESC)
    WHERE status <> 'resolved';
