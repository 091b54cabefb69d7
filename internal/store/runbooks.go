package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/runbook"
)

const runbookIDPrefix = "rb_"

const runbookColumns = `id, name, description, coalesce(service_id, ''), severities, steps, version, created_at, updated_at`

// CreateRunbook stores a new runbook at version 1, assigning its ID and
// timestamps, and returns it as stored. rb should be normalized; an invalid
// rb gives a fault.Invalid error, and so does a service_id naming no
// service.
func (s *Store) CreateRunbook(ctx context.Context, rb runbook.Runbook) (runbook.Runbook, error) {
	if err := rb.Validate(); err != nil {
		return runbook.Runbook{}, fail("create runbook", err)
	}
	steps, err := json.Marshal(rb.Steps)
	if err != nil {
		return runbook.Runbook{}, fail("create runbook: encode steps", err)
	}
	rb.ID = newID(runbookIDPrefix)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkServiceRunbooks(ctx, tx, rb); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO runbooks (id, name, description, service_id, severities, steps, version)
			VALUES ($1, $2, $3, nullif($4, ''), $5, $6, 1)
			RETURNING version, created_at, updated_at`,
			rb.ID, rb.Name, rb.Description, rb.ServiceID, severityTexts(rb.Severities), string(steps),
		).Scan(&rb.Version, &rb.CreatedAt, &rb.UpdatedAt)
	})
	if err != nil {
		return runbook.Runbook{}, fmt.Errorf("create runbook: %w", runbookWriteErr(err))
	}
	rb.CreatedAt, rb.UpdatedAt = rb.CreatedAt.UTC(), rb.UpdatedAt.UTC()
	return rb, nil
}

// GetRunbook returns one runbook. The error is a fault.NotFound when it
// does not exist.
func (s *Store) GetRunbook(ctx context.Context, id string) (runbook.Runbook, error) {
	return queryOne(ctx, s, "get runbook "+id, "runbook", scanRunbook, `SELECT `+runbookColumns+` FROM runbooks WHERE id = $1`, id)
}

// ListRunbooks returns up to MaxOncallList runbooks ordered by name, then ID.
func (s *Store) ListRunbooks(ctx context.Context) ([]runbook.Runbook, error) {
	return queryAll(ctx, s, "list runbooks", scanRunbook, `SELECT `+runbookColumns+` FROM runbooks ORDER BY name, id LIMIT $1`, MaxOncallList)
}

// UpdateRunbook replaces every field of runbook rb.ID but its ID and
// creation time, raises its version by one and returns it as stored. Runs
// in progress keep the snapshot they took. Errors are those of
// CreateRunbook, and one of code fault.NotFound when it does not exist.
func (s *Store) UpdateRunbook(ctx context.Context, rb runbook.Runbook) (runbook.Runbook, error) {
	op := fmt.Sprintf("update runbook %s", rb.ID)
	if err := rb.Validate(); err != nil {
		return runbook.Runbook{}, fail(op, err)
	}
	steps, err := json.Marshal(rb.Steps)
	if err != nil {
		return runbook.Runbook{}, fail(op+": encode steps", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkServiceRunbooks(ctx, tx, rb); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			UPDATE runbooks
			SET name = $2, description = $3, service_id = nullif($4, ''), severities = $5, steps = $6,
				version = version + 1, updated_at = now()
			WHERE id = $1
			RETURNING version, created_at, updated_at`,
			rb.ID, rb.Name, rb.Description, rb.ServiceID, severityTexts(rb.Severities), string(steps),
		).Scan(&rb.Version, &rb.CreatedAt, &rb.UpdatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return runbook.Runbook{}, fmt.Errorf("%s: %w", op, fault.Missing("runbook"))
	}
	if err != nil {
		return runbook.Runbook{}, fmt.Errorf("%s: %w", op, runbookWriteErr(err))
	}
	rb.CreatedAt, rb.UpdatedAt = rb.CreatedAt.UTC(), rb.UpdatedAt.UTC()
	return rb, nil
}

// DeleteRunbook deletes a runbook; runs in progress go on with their
// snapshot. The error is a fault.NotFound when it does not exist.
func (s *Store) DeleteRunbook(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM runbooks WHERE id = $1`, id)
	if err != nil {
		return fail(fmt.Sprintf("delete runbook %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete runbook %s: %w", id, fault.Missing("runbook"))
	}
	return nil
}

// RunbooksFor returns what an opening incident of service and severity
// starts with: the service's runbooks that apply to the severity, ordered
// by name, then ID, and the service's resolve policy. An unknown service
// has neither. One statement, one snapshot.
func (s *Store) RunbooksFor(ctx context.Context, service string, severity incident.Severity) ([]runbook.Runbook, bool, error) {
	op := fmt.Sprintf("runbooks for %s/%s", service, severity)
	var (
		out     []runbook.Runbook
		require bool
	)
	rows, err := s.pool.Query(ctx, `
		SELECT s.require_runbook_steps, r.id, r.name, r.description, r.severities, r.steps, r.version, r.created_at, r.updated_at
		FROM services s LEFT JOIN runbooks r ON r.service_id = s.id
			AND (cardinality(r.severities) = 0 OR $2 = ANY (r.severities))
		WHERE s.id = $1
		ORDER BY r.name, r.id`, service, string(severity))
	if err != nil {
		return nil, false, fail(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                *string
			rb                runbook.Runbook
			severities        []string
			steps             []runbook.Step
			version           *int64
			name, description *string
			created, updated  *time.Time
		)
		if err := rows.Scan(&require, &id, &name, &description, &severities, &steps, &version, &created, &updated); err != nil {
			return nil, false, fail(op, err)
		}
		if id == nil {
			continue // a service without runbooks
		}
		rb.ID, rb.Name, rb.Description, rb.ServiceID, rb.Steps, rb.Version = *id, *name, *description, service, steps, *version
		rb.Severities = severitiesOf(severities)
		rb.CreatedAt, rb.UpdatedAt = created.UTC(), updated.UTC()
		out = append(out, rb)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fail(op, err)
	}
	return out, require, nil
}

// maxContextAlerts bounds how many alert events RunbookContext reads.
const maxContextAlerts = 100

// RunbookContext returns what an action's templates know of an incident:
// its fields, and the labels and annotations its alerts arrived with (from
// their timeline events, the first alert's value winning where they
// differ). The error is a fault.NotFound when the incident does not exist.
func (s *Store) RunbookContext(ctx context.Context, incidentID string) (runbook.Context, error) {
	op := "runbook context of " + incidentID
	var (
		c      runbook.Context
		alerts []struct {
			Labels  map[string]string `json:"labels"`
			Details map[string]any    `json:"details"`
		}
	)
	err := s.pool.QueryRow(ctx, `
		SELECT i.id, i.title, i.description, i.service, i.severity, i.status,
			coalesce((SELECT json_agg(json_build_object('labels', e.data->'labels', 'details', e.data->'details') ORDER BY e.seq)
				FROM (SELECT data, seq FROM timeline_events
					WHERE incident_id = i.id AND event_type = $2 ORDER BY seq LIMIT $3) e), '[]')
		FROM incidents i WHERE i.id = $1`, incidentID, string(incident.EventAlert), maxContextAlerts,
	).Scan(&c.Incident.ID, &c.Incident.Title, &c.Incident.Description, &c.Incident.Service, &c.Incident.Severity,
		&c.Incident.Status, &alerts)
	if errors.Is(err, pgx.ErrNoRows) {
		return runbook.Context{}, fmt.Errorf("%s: %w", op, fault.Missing("incident"))
	}
	if err != nil {
		return runbook.Context{}, fail(op, err)
	}
	c.Labels, c.Annotations = map[string]string{}, map[string]string{}
	for _, a := range alerts {
		for k, v := range a.Labels {
			if _, ok := c.Labels[k]; !ok {
				c.Labels[k] = v
			}
		}
		for k, v := range a.Details {
			if _, ok := c.Annotations[k]; ok {
				continue
			}
			if str, ok := v.(string); ok {
				c.Annotations[k] = str
				continue
			}
			raw, err := json.Marshal(v)
			if err != nil {
				continue
			}
			c.Annotations[k] = string(raw)
		}
	}
	return c, nil
}

func scanRunbook(row pgx.CollectableRow) (runbook.Runbook, error) {
	var rb runbook.Runbook
	var severities []string
	if err := row.Scan(&rb.ID, &rb.Name, &rb.Description, &rb.ServiceID, &severities, &rb.Steps, &rb.Version, &rb.CreatedAt, &rb.UpdatedAt); err != nil {
		return runbook.Runbook{}, err
	}
	rb.Severities = severitiesOf(severities)
	rb.CreatedAt, rb.UpdatedAt = rb.CreatedAt.UTC(), rb.UpdatedAt.UTC()
	return rb, nil
}

// severityTexts is a runbook's severities as the column stores them.
func severityTexts(ss []incident.Severity) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func severitiesOf(ss []string) []incident.Severity {
	if len(ss) == 0 {
		return nil
	}
	out := make([]incident.Severity, len(ss))
	for i, s := range ss {
		out[i] = incident.Severity(s)
	}
	return out
}

// checkServiceRunbooks refuses to attach rb to a service that has
// runbook.MaxPerService others, and names a service that does not exist.
// It locks the service's row until tx ends, so two attachments cannot both
// pass the count.
func checkServiceRunbooks(ctx context.Context, tx pgx.Tx, rb runbook.Runbook) error {
	if rb.ServiceID == "" {
		return nil
	}
	var n int
	err := tx.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM runbooks WHERE service_id = s.id AND id <> $2)
		FROM services s WHERE s.id = $1 FOR UPDATE`, rb.ServiceID, rb.ID).Scan(&n)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fault.InvalidField("service_id", "no such service")
	case err != nil:
		return fail("count the service's runbooks", err)
	case n >= runbook.MaxPerService:
		return fault.Conflictf("service %s has %d runbooks, the most one may have", rb.ServiceID, n)
	}
	return nil
}

// runbookWriteErr turns the one foreign key of runbooks, to its service,
// into a validation error.
func runbookWriteErr(err error) error {
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return fault.InvalidField("service_id", "no such service")
	}
	return fail("write runbook", err)
}
