package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/store"
)

// requireCode fails the test unless err carries code.
func requireCode(t *testing.T, code fault.Code, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Equal(t, code, fault.CodeOf(err), append([]any{"error: %v", err}, msgAndArgs...)...)
}

// A database that cannot be reached is a dependency failure a retry may
// cure, never an internal error: callers answer 503 and activities retry.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/incidents?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	defer pool.Close()
	s := store.New(pool)

	_, err = s.GetIncident(ctx, "inc_1")
	requireCode(t, fault.Unavailable, err)
	e, ok := fault.As(err)
	require.True(t, ok)
	require.Equal(t, "the database is unavailable; retry shortly", e.Public(), "no detail reaches the caller")
	require.Contains(t, err.Error(), "get incident inc_1", "the log line says what failed")

	_, _, err = s.ListIncidents(ctx, store.ListFilter{})
	requireCode(t, fault.Unavailable, err)
}
