package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Alert is one alert (fingerprint) of an incident.
type Alert struct {
	IncidentID  string    `json:"incident_id"`
	Fingerprint string    `json:"fingerprint"`
	Title       string    `json:"title"`
	Source      string    `json:"source"`
	Status      string    `json:"status"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Count       int64     `json:"count"`
}

// UpsertAlerts writes alerts as their incident's workflow holds them. The
// values are absolute (the count is the workflow's count), and a row only
// moves forward in time, so a retried or late write changes nothing.
func (s *Store) UpsertAlerts(ctx context.Context, alerts []Alert) error {
	batch := &pgx.Batch{}
	for _, a := range alerts {
		batch.Queue(`
			INSERT INTO alerts (incident_id, fingerprint, title, source, status, first_seen, last_seen, count)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (incident_id, fingerprint) DO UPDATE SET
				title = EXCLUDED.title, status = EXCLUDED.status,
				last_seen = EXCLUDED.last_seen, count = EXCLUDED.count
			WHERE alerts.last_seen <= EXCLUDED.last_seen AND alerts.count <= EXCLUDED.count`,
			a.IncidentID, a.Fingerprint, truncateUTF8(a.Title, 1024), a.Source, a.Status, a.FirstSeen, a.LastSeen, a.Count)
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
			return fmt.Errorf("upsert alerts: %w", ErrNotFound)
		}
		return fmt.Errorf("upsert alerts: %w", err)
	}
	return nil
}

// ListAlerts returns an incident's alerts in the order they first fired.
func (s *Store) ListAlerts(ctx context.Context, incidentID string) ([]Alert, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT incident_id, fingerprint, title, source, status, first_seen, last_seen, count
		FROM alerts WHERE incident_id = $1 ORDER BY first_seen, fingerprint`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("list alerts %s: %w", incidentID, err)
	}
	alerts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Alert])
	if err != nil {
		return nil, fmt.Errorf("list alerts %s: %w", incidentID, err)
	}
	for i := range alerts {
		alerts[i].FirstSeen, alerts[i].LastSeen = alerts[i].FirstSeen.UTC(), alerts[i].LastSeen.UTC()
	}
	return alerts, nil
}
