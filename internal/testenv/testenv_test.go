package testenv_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/testenv"
)

func TestPostgresSchemasAreIsolatedAndDropped(t *testing.T) {
	t.Parallel()
	var schemaA string
	t.Run("a", func(t *testing.T) {
		a := testenv.Postgres(t)
		b := testenv.Postgres(t)
		require.NoError(t, a.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schemaA))
		var schemaB string
		require.NoError(t, b.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schemaB))
		require.NotEqual(t, schemaA, schemaB)

		_, err := a.Exec(t.Context(), `INSERT INTO incidents (id, workflow_id, title, service, severity, status, created_at, updated_at, version)
			VALUES ('inc-1', 'wf', 't', 'svc', 'high', 'open', now(), now(), 1)`)
		require.NoError(t, err)
		var n int
		require.NoError(t, b.QueryRow(t.Context(), `SELECT count(*) FROM incidents`).Scan(&n))
		require.Zero(t, n, "b does not see a's rows")
	})

	conn, err := pgx.Connect(t.Context(), testenv.DatabaseURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schemaA).Scan(&exists))
	require.False(t, exists, "the schema is dropped when its test ends")
}

func TestPostgresURLUsesMigratedSchema(t *testing.T) {
	t.Parallel()
	conn, err := pgx.Connect(t.Context(), testenv.PostgresURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM incidents`).Scan(&n))
	require.Zero(t, n)
}

func TestRedisKeysAreDeleted(t *testing.T) {
	t.Parallel()
	var prefix string
	t.Run("writes", func(t *testing.T) {
		rdb, p := testenv.Redis(t)
		prefix = p
		for _, k := range []string{"a", "b", "c"} {
			require.NoError(t, rdb.Set(t.Context(), prefix+k, "v", 0).Err())
		}
	})

	rdb, _ := testenv.Redis(t)
	keys, _, err := rdb.Scan(t.Context(), 0, prefix+"*", 1000).Result()
	require.NoError(t, err)
	require.Empty(t, keys)
}
