package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

const slaColumns = `id, severity, service, response_ms, resolution_ms, warning_fraction, created_at, updated_at`

func ms(d oncall.Duration) int64 { return d.D().Milliseconds() }

// CreateSLAPolicy stores the targets of one severity, for every service or
// one. A second policy for the same severity and service is a fault.Conflict.
func (s *Store) CreateSLAPolicy(ctx context.Context, p oncall.SLAPolicy) (oncall.SLAPolicy, error) {
	if err := p.Validate(); err != nil {
		return oncall.SLAPolicy{}, fail("create sla policy", err)
	}
	rows, err := s.pool.Query(ctx, `
		INSERT INTO sla_policies (id, severity, service, response_ms, resolution_ms, warning_fraction)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+slaColumns,
		newID("sla_"), string(p.Severity), p.Service, ms(p.Response), ms(p.Resolution), p.WarningFraction)
	if err != nil {
		return oncall.SLAPolicy{}, fail("create sla policy", err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanSLAPolicy)
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgUniqueViolation {
		return oncall.SLAPolicy{}, fmt.Errorf("create sla policy: %w", fault.Conflictf("severity %s already has a policy%s", p.Severity, forService(p.Service)))
	}
	if err != nil {
		return oncall.SLAPolicy{}, fail("create sla policy", err)
	}
	return out, nil
}

func forService(service string) string {
	if service == "" {
		return " for every service"
	}
	return " for service " + service
}

// GetSLAPolicy returns one SLA policy; the error is a fault.NotFound.
func (s *Store) GetSLAPolicy(ctx context.Context, id string) (oncall.SLAPolicy, error) {
	return queryOne(ctx, s, "get sla policy "+id, "sla policy", scanSLAPolicy, `SELECT `+slaColumns+` FROM sla_policies WHERE id = $1`, id)
}

// ListSLAPolicies returns every SLA policy, defaults first, by severity.
func (s *Store) ListSLAPolicies(ctx context.Context) ([]oncall.SLAPolicy, error) {
	return queryAll(ctx, s, "list sla policies", scanSLAPolicy, `SELECT `+slaColumns+` FROM sla_policies ORDER BY service, array_position(ARRAY['critical','high','medium','low','info'], severity) LIMIT $1`, MaxOncallList)
}

// UpdateSLAPolicy replaces a policy's targets, severity and service.
func (s *Store) UpdateSLAPolicy(ctx context.Context, p oncall.SLAPolicy) (oncall.SLAPolicy, error) {
	if err := p.Validate(); err != nil {
		return oncall.SLAPolicy{}, fail("update sla policy", err)
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE sla_policies SET severity = $2, service = $3, response_ms = $4, resolution_ms = $5,
			warning_fraction = $6, updated_at = now()
		WHERE id = $1
		RETURNING `+slaColumns,
		p.ID, string(p.Severity), p.Service, ms(p.Response), ms(p.Resolution), p.WarningFraction)
	if err != nil {
		return oncall.SLAPolicy{}, fail(fmt.Sprintf("update sla policy %s", p.ID), err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanSLAPolicy)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return oncall.SLAPolicy{}, fmt.Errorf("update sla policy %s: %w", p.ID, fault.Missing("sla policy"))
	case err != nil:
		if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgUniqueViolation {
			return oncall.SLAPolicy{}, fmt.Errorf("update sla policy: %w", fault.Conflictf("severity %s already has a policy%s", p.Severity, forService(p.Service)))
		}
		return oncall.SLAPolicy{}, fail(fmt.Sprintf("update sla policy %s", p.ID), err)
	}
	return out, nil
}

// DeleteSLAPolicy removes a policy; its severity falls back to the default
// policy, then to the built-in targets.
func (s *Store) DeleteSLAPolicy(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sla_policies WHERE id = $1`, id)
	if err != nil {
		return fail(fmt.Sprintf("delete sla policy %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete sla policy %s: %w", id, fault.Missing("sla policy"))
	}
	return nil
}

// SLAFor returns the targets an incident of service and severity is held
// to: the service's own policy, else the default policy of the severity,
// else the built-in targets.
func (s *Store) SLAFor(ctx context.Context, service string, severity incident.Severity) (oncall.SLA, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+slaColumns+` FROM sla_policies
		WHERE severity = $1 AND service IN ($2, '') ORDER BY service DESC LIMIT 1`, string(severity), service)
	if err != nil {
		return oncall.SLA{}, fail(fmt.Sprintf("sla for %s/%s", service, severity), err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scanSLAPolicy)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.BuiltinSLA(severity), nil
	}
	if err != nil {
		return oncall.SLA{}, fail(fmt.Sprintf("sla for %s/%s", service, severity), err)
	}
	return p.SLA(), nil
}

// ResponseOverdueCount counts open incidents past their response deadline.
func (s *Store) ResponseOverdueCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM incidents
		WHERE status = 'open' AND response_due_at IS NOT NULL AND response_due_at < now()`).Scan(&n)
	if err != nil {
		return 0, fail("count overdue incidents", err)
	}
	return n, nil
}

func scanSLAPolicy(row pgx.CollectableRow) (oncall.SLAPolicy, error) {
	var p oncall.SLAPolicy
	var resp, res int64
	if err := row.Scan(&p.ID, &p.Severity, &p.Service, &resp, &res, &p.WarningFraction, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return oncall.SLAPolicy{}, err
	}
	p.Response = oncall.Duration(time.Duration(resp) * time.Millisecond)
	p.Resolution = oncall.Duration(time.Duration(res) * time.Millisecond)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}
