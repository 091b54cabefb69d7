package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
)

// Backup statuses; keep in step with backups_status_check.
const (
	BackupRunning = "running"
	BackupOK      = "ok"
	BackupFailed  = "failed"
)

// BackupRecord is one run of the scheduled backup.
type BackupRecord struct {
	ID         int64      `json:"id"`
	RunKey     string     `json:"run_key"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	File       string     `json:"file"`
	SizeBytes  int64      `json:"size_bytes"`
	Status     string     `json:"status"`
	Error      string     `json:"error,omitempty"`
}

// StartBackup records that the backup run runKey started. A second start of
// the same run (a retried activity) resets its row to running.
func (s *Store) StartBackup(ctx context.Context, runKey string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO backups (run_key, started_at) VALUES ($1, $2)
		ON CONFLICT (run_key) DO UPDATE
		SET started_at = EXCLUDED.started_at, finished_at = NULL, file = '', size_bytes = 0, status = 'running', error = ''`,
		runKey, at)
	if err != nil {
		return fail(fmt.Sprintf("start backup %s", runKey), err)
	}
	return nil
}

// FinishBackup records the outcome of the backup run runKey.
func (s *Store) FinishBackup(ctx context.Context, runKey string, at time.Time, file string, size int64, status, errText string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE backups SET finished_at = $2, file = $3, size_bytes = $4, status = $5, error = $6
		WHERE run_key = $1`, runKey, at, file, size, status, errText)
	if err != nil {
		return fail(fmt.Sprintf("finish backup %s", runKey), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("finish backup %s: %w", runKey, fault.Missing("backup run"))
	}
	return nil
}

// LastBackupSuccess is when the latest backup that finished ok finished, in
// Unix seconds; 0 when none has.
func (s *Store) LastBackupSuccess(ctx context.Context) (int64, error) {
	var at int64
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(extract(epoch FROM max(finished_at))::bigint, 0)
		FROM backups WHERE status = 'ok'`).Scan(&at)
	if err != nil {
		return 0, fail("last backup success", err)
	}
	return at, nil
}

// ListBackups returns the latest backup runs, newest first.
func (s *Store) ListBackups(ctx context.Context, limit int) ([]BackupRecord, error) {
	return queryAll(ctx, s, "list backups", func(row pgx.CollectableRow) (BackupRecord, error) {
		var b BackupRecord
		err := row.Scan(&b.ID, &b.RunKey, &b.StartedAt, &b.FinishedAt, &b.File, &b.SizeBytes, &b.Status, &b.Error)
		return b, err
	}, `SELECT id, run_key, started_at, finished_at, file, size_bytes, status, error
		FROM backups ORDER BY started_at DESC, id DESC LIMIT $1`, limit)
}

// EnsureService creates a service with no escalation policy unless one
// with the ID exists; an existing service is left as it is.
func (s *Store) EnsureService(ctx context.Context, id, name, description string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO services (id, name, description) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, id, name, description)
	if err != nil {
		return fail(fmt.Sprintf("ensure service %s", id), err)
	}
	return nil
}

// Vacuum runs VACUUM (ANALYZE) on every table of the current schema: dead
// rows are reclaimed for reuse and planner statistics refreshed. It never
// takes the exclusive lock of VACUUM FULL.
func (s *Store) Vacuum(ctx context.Context) (tables int, err error) {
	var names []string
	rows, err := s.pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		return 0, fail("vacuum: list tables", err)
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fail("vacuum: list tables", err)
	}
	if len(names) == 0 {
		return 0, nil
	}
	idents := make([]string, len(names))
	for i, n := range names {
		idents[i] = pgx.Identifier{n}.Sanitize()
	}
	// VACUUM cannot run in a transaction; Exec without arguments sends it
	// on its own.
	if _, err := s.pool.Exec(ctx, "VACUUM (ANALYZE) "+strings.Join(idents, ", ")); err != nil {
		return 0, fail("vacuum", err)
	}
	return len(names), nil
}

// PurgeResolved deletes the timeline events and notifications of incidents
// resolved before cutoff, with the SMS reply codes and used acknowledge
// links that only served them while they were active. The incident rows
// and their alerts stay, so lists and reports still count them.
func (s *Store) PurgeResolved(ctx context.Context, cutoff time.Time) (events, notifications int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM timeline_events WHERE incident_id IN
			(SELECT id FROM incidents WHERE status = 'resolved' AND resolved_at < $1)`, cutoff)
		if err != nil {
			return err
		}
		events = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM notifications WHERE incident_id IN
			(SELECT id FROM incidents WHERE status = 'resolved' AND resolved_at < $1)`, cutoff)
		if err != nil {
			return err
		}
		notifications = tag.RowsAffected()
		for _, table := range []string{"sms_reply_codes", "ack_link_uses"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE incident_id IN
				(SELECT id FROM incidents WHERE status = 'resolved' AND resolved_at < $1)`, cutoff); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fail("purge resolved incidents", err)
	}
	return events, notifications, nil
}

// ActiveRef names an active incident and the workflow that owns it.
type ActiveRef struct {
	ID         string    `json:"id"`
	WorkflowID string    `json:"workflow_id"`
	Title      string    `json:"title"`
	Service    string    `json:"service"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Superseded names a newer active incident with the same workflow ID,
	// or is empty. A workflow holds one incident at a time, so a
	// superseded incident has no workflow left, whatever Temporal says of
	// the workflow ID.
	Superseded string `json:"superseded,omitempty"`
}

// ActiveNotUpdatedSince lists up to limit active incidents whose row was
// last written before cutoff, oldest first. It reads only active rows.
func (s *Store) ActiveNotUpdatedSince(ctx context.Context, cutoff time.Time, limit int) ([]ActiveRef, error) {
	// The predicate repeats idx_incidents_active's so the planner can use it.
	return queryAll(ctx, s, "list active incidents", pgx.RowToStructByPos[ActiveRef], `
		WITH active AS (
			SELECT id, workflow_id, title, service, created_at, updated_at,
				first_value(id) OVER (PARTITION BY workflow_id ORDER BY created_at DESC, id DESC) AS current_id
			FROM incidents WHERE status IN ('open', 'acknowledged', 'mitigated'))
		SELECT id, workflow_id, title, service, updated_at,
			CASE WHEN current_id <> id THEN current_id ELSE '' END
		FROM active WHERE updated_at < $1
		ORDER BY created_at, id LIMIT $2`, cutoff, limit)
}

// CountUserTables counts the tables outside Postgres' own schemas: zero
// means the database is empty.
func (s *Store) CountUserTables(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname NOT LIKE 'pg_toast%'`).Scan(&n)
	if err != nil {
		return 0, fail("count tables", err)
	}
	return n, nil
}
