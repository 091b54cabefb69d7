// Package store is the Postgres projection of incidents: the queryable record
// that workflow activities write and the API reads. All SQL lives here.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/secret"
)

// Errors: every error a Store method returns carries a fault code. A row
// that does not exist is fault.NotFound naming its noun ("user not found"),
// a write the current data forbids is fault.Conflict saying why, bad input
// is fault.Invalid naming the field; a failure of the database itself is
// fault.Unavailable (retry) or, for data it rejects that no retry fixes,
// fault.Internal. See fail.

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
	// keys seals and opens webhook URLs; see SetKeyring.
	keys atomic.Pointer[secret.Keyring]
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
		return nil, fail(fmt.Sprintf("parse %s url", name), err)
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
		return nil, fail(fmt.Sprintf("open %s pool", name), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fail(fmt.Sprintf("ping %s", name), err)
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
		return fail("ping database", err)
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
// an error of code fault.NotFound; op names the operation in errors.
func queryOne[T any](ctx context.Context, s *Store, op, noun string, scan pgx.RowToFunc[T], q string, args ...any) (T, error) {
	var zero T
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return zero, fail(fmt.Sprintf("%s", op), err)
	}
	v, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, fmt.Errorf("%s: %w", op, fault.Missing(noun))
	}
	if err != nil {
		return zero, fail(fmt.Sprintf("%s", op), err)
	}
	return v, nil
}

// queryAll runs q and scans every row.
func queryAll[T any](ctx context.Context, s *Store, op string, scan pgx.RowToFunc[T], q string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fail(fmt.Sprintf("%s", op), err)
	}
	vs, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fail(fmt.Sprintf("%s", op), err)
	}
	return vs, nil
}

// fail reports err, a failure of op. An error that already carries a fault
// code keeps it. Data the database rejects (a data exception or an integrity
// violation no caller mapped) is fault.Internal: sending it again cannot
// help. Anything else (connection refused, pool exhausted, a timeout, the
// server restarting, a table a migration has yet to create) means the
// database cannot serve now: fault.Unavailable, so callers answer 503 and
// activities retry.
func fail(op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	if _, ok := fault.As(err); ok {
		return wrapped
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code[:2] {
		case "22", "23":
			return &fault.Error{Code: fault.Internal, Message: "internal error", Err: wrapped}
		}
	}
	return fault.Down("the database", wrapped)
}

// invalidCursor is the error for a page cursor this server did not issue.
func invalidCursor(cause error) error {
	return &fault.Error{Code: fault.Invalid, Field: "cursor", Message: "is not one this server issued", Err: cause}
}
