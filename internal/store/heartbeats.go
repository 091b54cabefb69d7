package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

const heartbeatIDPrefix = "hb_"

// Bounds of a heartbeat monitor's interval. One second is far shorter than
// any real job's period and exists so that tests need not wait; seven days
// covers weekly jobs.
const (
	MinHeartbeatInterval = time.Second
	MaxHeartbeatInterval = 7 * 24 * time.Hour
)

// HeartbeatMonitor expects a ping from a job of one service at least every
// Interval; when one is missed an incident opens for the service. The row
// is the monitor's configuration: the deadline itself is kept by the
// monitor's workflow.
type HeartbeatMonitor struct {
	ID        string          `json:"id"`
	ServiceID string          `json:"service_id"`
	Name      string          `json:"name"`
	Interval  oncall.Duration `json:"interval"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// LastPingAt is absent until the first ping is recorded. A ping is this
	// write: the monitor's workflow reads it at its deadline.
	LastPingAt *time.Time `json:"last_ping_at,omitempty"`
}

const heartbeatColumns = `id, service_id, name, interval_ms, created_at, updated_at, last_ping_at`

// CreateHeartbeatMonitor stores a new monitor under a new hb_ ID and returns
// it as stored: name and service ID trimmed, the interval in whole
// milliseconds. A missing name or service, an interval outside
// [MinHeartbeatInterval, MaxHeartbeatInterval] or a service that does not
// exist gives an fault.Invalid error naming the field.
func (s *Store) CreateHeartbeatMonitor(ctx context.Context, m HeartbeatMonitor) (HeartbeatMonitor, error) {
	m.ServiceID = strings.TrimSpace(m.ServiceID)
	m.Name = strings.TrimSpace(m.Name)
	intervalMS := m.Interval.D().Milliseconds()
	m.Interval = oncall.Duration(time.Duration(intervalMS) * time.Millisecond)
	if err := checkHeartbeatMonitor(m); err != nil {
		return HeartbeatMonitor{}, fail("create heartbeat monitor", err)
	}
	m.ID = newID(heartbeatIDPrefix)
	m.LastPingAt = nil
	err := s.pool.QueryRow(ctx, `
		INSERT INTO heartbeat_monitors (id, service_id, name, interval_ms) VALUES ($1, $2, $3, $4)
		RETURNING created_at, updated_at`,
		m.ID, m.ServiceID, m.Name, intervalMS,
	).Scan(&m.CreatedAt, &m.UpdatedAt)
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return HeartbeatMonitor{}, fmt.Errorf("create heartbeat monitor: %w", fault.InvalidField("service_id", "no such service"))
	}
	if err != nil {
		return HeartbeatMonitor{}, fail("create heartbeat monitor", err)
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, nil
}

func checkHeartbeatMonitor(m HeartbeatMonitor) error {
	switch {
	case m.ServiceID == "":
		return fault.InvalidField("service_id", "is required")
	case m.Name == "":
		return fault.InvalidField("name", "is required")
	case utf8.RuneCountInString(m.Name) > oncall.MaxNameLen:
		return fault.InvalidField("name", fmt.Sprintf("is longer than %d characters", oncall.MaxNameLen))
	case m.Interval.D() < MinHeartbeatInterval || m.Interval.D() > MaxHeartbeatInterval:
		return fault.InvalidField("interval", fmt.Sprintf("must be between %s and %s", MinHeartbeatInterval, MaxHeartbeatInterval))
	}
	return nil
}

// GetHeartbeatMonitor returns one monitor. The error is a fault.NotFound when
// it does not exist.
func (s *Store) GetHeartbeatMonitor(ctx context.Context, id string) (HeartbeatMonitor, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+heartbeatColumns+` FROM heartbeat_monitors WHERE id = $1`, id)
	if err != nil {
		return HeartbeatMonitor{}, fail(fmt.Sprintf("get heartbeat monitor %s", id), err)
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanHeartbeatMonitor)
	if errors.Is(err, pgx.ErrNoRows) {
		return HeartbeatMonitor{}, fmt.Errorf("get heartbeat monitor %s: %w", id, fault.Missing("heartbeat monitor"))
	}
	if err != nil {
		return HeartbeatMonitor{}, fail(fmt.Sprintf("get heartbeat monitor %s", id), err)
	}
	return m, nil
}

// ListHeartbeatMonitors returns up to MaxOncallList monitors ordered by
// service, name, then ID.
func (s *Store) ListHeartbeatMonitors(ctx context.Context) ([]HeartbeatMonitor, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+heartbeatColumns+` FROM heartbeat_monitors
		ORDER BY service_id, name, id LIMIT $1`, MaxOncallList)
	if err != nil {
		return nil, fail("list heartbeat monitors", err)
	}
	ms, err := pgx.CollectRows(rows, scanHeartbeatMonitor)
	if err != nil {
		return nil, fail("list heartbeat monitors", err)
	}
	return ms, nil
}

// DeleteHeartbeatMonitor deletes a monitor. The error is a fault.NotFound
// when it does not exist. Stopping the monitor's workflow is the caller's.
func (s *Store) DeleteHeartbeatMonitor(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM heartbeat_monitors WHERE id = $1`, id)
	if err != nil {
		return fail(fmt.Sprintf("delete heartbeat monitor %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete heartbeat monitor %s: %w", id, fault.Missing("heartbeat monitor"))
	}
	return nil
}

// PingHeartbeat records a ping at at from a job of service for monitor id,
// in one statement: the monitor's last ping moves to at (never back), and
// the monitor and the ping before this one (nil for the first) come back.
// A monitor that does not exist, or belongs to another service, is a
// fault.NotFound: a key cannot probe another service's monitors.
func (s *Store) PingHeartbeat(ctx context.Context, id, service string, at time.Time) (HeartbeatMonitor, *time.Time, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE heartbeat_monitors m SET last_ping_at = greatest(m.last_ping_at, $3)
		FROM (SELECT last_ping_at FROM heartbeat_monitors WHERE id = $1 FOR UPDATE) AS before
		WHERE m.id = $1 AND m.service_id = $2
		RETURNING m.id, m.service_id, m.name, m.interval_ms, m.created_at, m.updated_at, m.last_ping_at, before.last_ping_at`,
		id, service, at)
	if err != nil {
		return HeartbeatMonitor{}, nil, fail(fmt.Sprintf("ping heartbeat monitor %s", id), err)
	}
	var previous *time.Time
	m, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (HeartbeatMonitor, error) {
		var m HeartbeatMonitor
		var intervalMS int64
		if err := row.Scan(&m.ID, &m.ServiceID, &m.Name, &intervalMS, &m.CreatedAt, &m.UpdatedAt, &m.LastPingAt, &previous); err != nil {
			return HeartbeatMonitor{}, err
		}
		m.Interval = oncall.Duration(time.Duration(intervalMS) * time.Millisecond)
		return m, nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return HeartbeatMonitor{}, nil, fmt.Errorf("ping heartbeat monitor %s: %w", id, fault.Missing("heartbeat monitor"))
	}
	if err != nil {
		return HeartbeatMonitor{}, nil, fail(fmt.Sprintf("ping heartbeat monitor %s", id), err)
	}
	m.CreatedAt, m.UpdatedAt, m.LastPingAt, previous = m.CreatedAt.UTC(), m.UpdatedAt.UTC(), utc(m.LastPingAt), utc(previous)
	return m, previous, nil
}

// HeartbeatLastPing returns monitor id's last ping (nil before the first)
// and whether the monitor exists.
func (s *Store) HeartbeatLastPing(ctx context.Context, id string) (last *time.Time, exists bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT last_ping_at FROM heartbeat_monitors WHERE id = $1`, id).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fail(fmt.Sprintf("read last ping of %s", id), err)
	}
	return utc(last), true, nil
}

// RecordHeartbeatPing sets the monitor's last ping time to at, unless a
// later one is recorded already: pings written out of order never move it
// back. The error is a fault.NotFound when the monitor does not exist.
func (s *Store) RecordHeartbeatPing(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE heartbeat_monitors SET last_ping_at = greatest(last_ping_at, $2)
		WHERE id = $1`, id, at)
	if err != nil {
		return fail(fmt.Sprintf("record heartbeat ping %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("record heartbeat ping %s: %w", id, fault.Missing("heartbeat monitor"))
	}
	return nil
}

func scanHeartbeatMonitor(row pgx.CollectableRow) (HeartbeatMonitor, error) {
	var m HeartbeatMonitor
	var intervalMS int64
	if err := row.Scan(&m.ID, &m.ServiceID, &m.Name, &intervalMS, &m.CreatedAt, &m.UpdatedAt, &m.LastPingAt); err != nil {
		return HeartbeatMonitor{}, err
	}
	m.Interval = oncall.Duration(time.Duration(intervalMS) * time.Millisecond)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	if m.LastPingAt != nil {
		t := m.LastPingAt.UTC()
		m.LastPingAt = &t
	}
	return m, nil
}
