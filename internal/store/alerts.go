package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// UpsertAlerts writes an incident's alerts as its workflow holds them. The
// values are absolute (the count is the workflow's count), and a row only
// moves forward in time, so a retried or late write changes nothing. An
// incident that does not exist (yet) is a fault.NotFound.
func (s *Store) UpsertAlerts(ctx context.Context, incidentID string, alerts []incident.AlertState) error {
	batch := &pgx.Batch{}
	for _, a := range alerts {
		batch.Queue(`
			INSERT INTO alerts (incident_id, fingerprint, title, source, status, first_seen, last_seen, count)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (incident_id, fingerprint) DO UPDATE SET
				title = EXCLUDED.title, status = EXCLUDED.status,
				last_seen = EXCLUDED.last_seen, count = EXCLUDED.count
			WHERE alerts.last_seen <= EXCLUDED.last_seen AND alerts.count <= EXCLUDED.count`,
			incidentID, a.Fingerprint, truncateUTF8(a.Title, 1024), string(a.Source), string(a.Status), a.FirstSeen, a.LastSeen, int64(a.Count))
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
			return fmt.Errorf("upsert alerts: %w", fault.Missing("incident"))
		}
		return fail("upsert alerts", err)
	}
	return nil
}

// ListAlerts returns an incident's alerts in the order they first fired.
func (s *Store) ListAlerts(ctx context.Context, incidentID string) ([]incident.AlertState, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT fingerprint, title, source, status, first_seen, last_seen, count
		FROM alerts WHERE incident_id = $1 ORDER BY first_seen, fingerprint`, incidentID)
	if err != nil {
		return nil, fail(fmt.Sprintf("list alerts %s", incidentID), err)
	}
	alerts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[incident.AlertState])
	if err != nil {
		return nil, fail(fmt.Sprintf("list alerts %s", incidentID), err)
	}
	for i := range alerts {
		alerts[i].FirstSeen, alerts[i].LastSeen = alerts[i].FirstSeen.UTC(), alerts[i].LastSeen.UTC()
	}
	return alerts, nil
}
