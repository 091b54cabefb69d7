-- One row per run of the scheduled backup: when it ran, the dump file it
-- wrote and whether pg_restore could read that file back.
CREATE TABLE backups (
    id          bigserial PRIMARY KEY,
    -- The workflow run that took the backup; a retried activity updates
    -- its run's row rather than adding one.
    run_key     text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    file        text NOT NULL DEFAULT '',
    size_bytes  bigint NOT NULL DEFAULT 0,
    status      text NOT NULL DEFAULT 'running',
    error       text NOT NULL DEFAULT '',
    CONSTRAINT backups_run_key UNIQUE (run_key),
    -- Keep in step with store: BackupRunning, BackupOK, BackupFailed.
    CONSTRAINT backups_status_check CHECK (status IN ('running', 'ok', 'failed'))
);

CREATE INDEX idx_backups_started ON backups (started_at DESC);
