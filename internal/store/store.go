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

// PoolOptions sizes the connection pools and says how queries are sent. The
// zero value is valid: every zero field takes the default from the
// production guide's database settings. Set fields take precedence over
// pool_* and default_query_exec_mode parameters in the database URLs.
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
	// QueryExecMode is pgx's query execution mode by name: cache_statement,
	// cache_describe, describe_exec, exec or simple_protocol. Through
	// PgBouncer in transaction pooling mode use exec or simple_protocol,
	// which prepare no named statements. Default "": the URL's
	// default_query_exec_mode, else cache_statement.
	QueryExecMode string
	// ReplicaURL connects a second pool, of the same size, to a read
	// replica. ListIncidents and Timeline read from it: pages a person looks
	// at, which may lag the primary by the replication delay. Every other
	// query uses the primary. Default "": everything uses the primary.
	ReplicaURL string
}

// queryExecModes maps PoolOptions.QueryExecMode to pgx's modes, with the
// names pgx accepts as default_query_exec_mode in a URL.
var queryExecModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
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
	// replica serves ListIncidents and Timeline; it is pool when no
	// replica is configured.
	replica *pgxpool.Pool
}

// Open connects to the database at url, and to opt.ReplicaURL when set, and
// checks the connections with ctx. It does not apply migrations.
func Open(ctx context.Context, url string, opt PoolOptions) (*Store, error) {
	pool, err := openPool(ctx, "database", url, opt)
	if err != nil {
		return nil, err
	}
	s := New(pool)
	if opt.ReplicaURL != "" {
		replica, err := openPool(ctx, "replica", opt.ReplicaURL, opt)
		if err != nil {
			pool.Close()
			return nil, err
		}
		s.replica = replica
	}
	return s, nil
}

// openPool opens one pool on url and pings it; name ("database",
// "replica") tells the two apart in errors.
func openPool(ctx context.Context, name, url string, opt PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse %s url: %w", name, err)
	}
	if opt.QueryExecMode != "" {
		mode, ok := queryExecModes[opt.QueryExecMode]
		if !ok {
			return nil, fmt.Errorf("%s: unknown query exec mode %q", name, opt.QueryExecMode)
		}
		cfg.ConnConfig.DefaultQueryExecMode = mode
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
		return nil, fmt.Errorf("open %s pool: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping %s: %w", name, err)
	}
	return pool, nil
}

// New wraps an open pool, which serves every query. Close closes it.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, replica: pool} }

// NewWithReplica wraps a primary pool and a replica pool, which serves
// ListIncidents and Timeline. Close closes both.
func NewWithReplica(primary, replica *pgxpool.Pool) *Store {
	return &Store{pool: primary, replica: replica}
}

// Pool returns the underlying pool, for migrations and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes the pools, waiting for connections in use to be returned.
func (s *Store) Close() {
	if s.replica != s.pool {
		s.replica.Close()
	}
	s.pool.Close()
}

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
