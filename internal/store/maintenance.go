package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

const maintenanceColumns = `id, service_id, starts_at, ends_at, reason, created_at, updated_at`

// CreateMaintenanceWindow stores a window; an unknown service is a
// validation error on service_id.
func (s *Store) CreateMaintenanceWindow(ctx context.Context, w oncall.MaintenanceWindow) (oncall.MaintenanceWindow, error) {
	if err := w.Validate(); err != nil {
		return oncall.MaintenanceWindow{}, fail("create maintenance window", err)
	}
	rows, err := s.pool.Query(ctx, `
		INSERT INTO maintenance_windows (id, service_id, starts_at, ends_at, reason)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+maintenanceColumns,
		newID("mw_"), w.ServiceID, w.StartsAt, w.EndsAt, w.Reason)
	if err != nil {
		return oncall.MaintenanceWindow{}, fail("create maintenance window", err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanMaintenance)
	if err != nil {
		return oncall.MaintenanceWindow{}, fmt.Errorf("create maintenance window: %w", maintenanceWriteErr(err))
	}
	return out, nil
}

// GetMaintenanceWindow returns one window; the error is a fault.NotFound.
func (s *Store) GetMaintenanceWindow(ctx context.Context, id string) (oncall.MaintenanceWindow, error) {
	return queryOne(ctx, s, "get maintenance window "+id, "maintenance window", scanMaintenance, `SELECT `+maintenanceColumns+` FROM maintenance_windows WHERE id = $1`, id)
}

// ListMaintenanceWindows returns the windows that have not ended, soonest first.
func (s *Store) ListMaintenanceWindows(ctx context.Context) ([]oncall.MaintenanceWindow, error) {
	return queryAll(ctx, s, "list maintenance windows", scanMaintenance, `SELECT `+maintenanceColumns+` FROM maintenance_windows WHERE ends_at > now() ORDER BY starts_at, id LIMIT $1`, MaxOncallList)
}

// UpdateMaintenanceWindow replaces a window's times, reason and service.
func (s *Store) UpdateMaintenanceWindow(ctx context.Context, w oncall.MaintenanceWindow) (oncall.MaintenanceWindow, error) {
	if err := w.Validate(); err != nil {
		return oncall.MaintenanceWindow{}, fail("update maintenance window", err)
	}
	rows, err := s.pool.Query(ctx, `
		UPDATE maintenance_windows SET service_id = $2, starts_at = $3, ends_at = $4, reason = $5, updated_at = now()
		WHERE id = $1 RETURNING `+maintenanceColumns,
		w.ID, w.ServiceID, w.StartsAt, w.EndsAt, w.Reason)
	if err != nil {
		return oncall.MaintenanceWindow{}, fail(fmt.Sprintf("update maintenance window %s", w.ID), err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, scanMaintenance)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.MaintenanceWindow{}, fmt.Errorf("update maintenance window %s: %w", w.ID, fault.Missing("maintenance window"))
	}
	if err != nil {
		return oncall.MaintenanceWindow{}, fmt.Errorf("update maintenance window %s: %w", w.ID, maintenanceWriteErr(err))
	}
	return out, nil
}

// DeleteMaintenanceWindow ends a window early by removing it.
func (s *Store) DeleteMaintenanceWindow(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM maintenance_windows WHERE id = $1`, id)
	if err != nil {
		return fail(fmt.Sprintf("delete maintenance window %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete maintenance window %s: %w", id, fault.Missing("maintenance window"))
	}
	return nil
}

// MaintenanceAt returns the window a service is in at the given time.
func (s *Store) MaintenanceAt(ctx context.Context, serviceID string, at time.Time) (oncall.MaintenanceWindow, bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+maintenanceColumns+` FROM maintenance_windows
		WHERE service_id = $1 AND starts_at <= $2 AND ends_at > $2 ORDER BY ends_at DESC LIMIT 1`, serviceID, at)
	if err != nil {
		return oncall.MaintenanceWindow{}, false, fail(fmt.Sprintf("maintenance of %s", serviceID), err)
	}
	w, err := pgx.CollectExactlyOneRow(rows, scanMaintenance)
	if errors.Is(err, pgx.ErrNoRows) {
		return oncall.MaintenanceWindow{}, false, nil
	}
	if err != nil {
		return oncall.MaintenanceWindow{}, false, fail(fmt.Sprintf("maintenance of %s", serviceID), err)
	}
	return w, true, nil
}

func maintenanceWriteErr(err error) error {
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return fault.InvalidField("service_id", "no such service")
	}
	return err
}

func scanMaintenance(row pgx.CollectableRow) (oncall.MaintenanceWindow, error) {
	var w oncall.MaintenanceWindow
	if err := row.Scan(&w.ID, &w.ServiceID, &w.StartsAt, &w.EndsAt, &w.Reason, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return oncall.MaintenanceWindow{}, err
	}
	w.StartsAt, w.EndsAt = w.StartsAt.UTC(), w.EndsAt.UTC()
	w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
	return w, nil
}
