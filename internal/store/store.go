// Package store is the Postgres projection of incidents: the queryable record
// that workflow activities write and the API reads. All SQL lives here.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is wrapped by every error about an incident that does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalidCursor is wrapped by ListIncidents when the cursor cannot be decoded.
var ErrInvalidCursor = errors.New("invalid cursor")

// ErrConflict is wrapped by errors for a write that the current data
// forbids: deleting a policy a service uses, a duplicate unique value. The
// wrapping message says which.
var ErrConflict = errors.New("conflict")

// PoolOptions sizes the connection pool. The zero value is valid: every zero
// field takes the default from the production guide's database settings.
// Set fields take precedence over pool_* parameters in the database URL.
type PoolOptions struct {
	// MaxConns caps open connections. Default 25.
	MaxConns int32
	// MinConns keeps this many connections open even when idle. Default 0.
	MinConns int32
	// MaxConnLifetime closes a connection this long after it was opened.
	// Default 5m.
	MaxConnLifetime time.Duration
	// MaxConnIdleTime closes a connection idle for this long. Default 5m.
	MaxConnIdleTime time.Duration
}

// Pool defaults; see PoolOptions.
const (
	DefaultMaxConns        = 25
	DefaultMaxConnLifetime = 5 * time.Minute
	DefaultMaxConnIdleTime = 5 * time.Minute
)

// Store reads and writes the projection. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url and checks the connection with ctx.
// It does not apply migrations.
func Open(ctx context.Context, url string, opt PoolOptions) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.MaxConns = DefaultMaxConns
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	cfg.MinConns = max(opt.MinConns, 0)
	cfg.MaxConnLifetime = DefaultMaxConnLifetime
	if opt.MaxConnLifetime > 0 {
		cfg.MaxConnLifetime = opt.MaxConnLifetime
	}
	cfg.MaxConnIdleTime = DefaultMaxConnIdleTime
	if opt.MaxConnIdleTime > 0 {
		cfg.MaxConnIdleTime = opt.MaxConnIdleTime
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	s := New(pool)
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New wraps an open pool. Close closes the pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool returns the underlying pool, for migrations and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() { s.pool.Close() }

// queryOne runs q, which selects at most one row, and scans it. No row is
// an error wrapping ErrNotFound; op names the operation in errors.
func queryOne[T any](ctx context.Context, s *Store, op string, scan pgx.RowToFunc[T], q string, args ...any) (T, error) {
	var zero T
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	if err != nil {
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	return v, nil
}

// queryAll runs q and scans every row.
func queryAll[T any](ctx context.Context, s *Store, op string, scan pgx.RowToFunc[T], q string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	vs, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return vs, nil
}
