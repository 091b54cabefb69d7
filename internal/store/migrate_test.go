package store_test

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
	"github.com/incident-server/incident-server/migrations"
)

func tableExists(t *testing.T, pool *pgxpool.Pool, name string) bool {
	t.Helper()
	var exists bool
	err := pool.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists)
	require.NoError(t, err)
	return exists
}

func knownVersions(t *testing.T) []int {
	t.Helper()
	all, err := store.LoadMigrations(migrations.FS)
	require.NoError(t, err)
	versions := make([]int, len(all))
	for i, m := range all {
		versions[i] = m.Version
	}
	return versions
}

func TestMigrateRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	versions := knownVersions(t)
	require.NotEmpty(t, versions)

	applied, err := store.MigrateUp(ctx, pool)
	require.NoError(t, err)
	require.Empty(t, applied, "re-running migrate up applies nothing")

	status, err := store.MigrationStatus(ctx, pool)
	require.NoError(t, err)
	require.Len(t, status, len(versions))
	for _, st := range status {
		require.True(t, st.Applied, "version %d", st.Version)
		require.NotNil(t, st.AppliedAt)
		require.False(t, st.Unknown)
	}

	reverted, err := store.MigrateDown(ctx, pool, len(versions)+5)
	require.NoError(t, err)
	want := make([]int, len(versions))
	for i, v := range versions {
		want[len(versions)-1-i] = v
	}
	require.Equal(t, want, reverted, "down reverts newest first and stops when none are left")
	require.False(t, tableExists(t, pool, "incidents"))
	require.False(t, tableExists(t, pool, "timeline_events"))

	reverted, err = store.MigrateDown(ctx, pool, 1)
	require.NoError(t, err)
	require.Empty(t, reverted)

	status, err = store.MigrationStatus(ctx, pool)
	require.NoError(t, err)
	for _, st := range status {
		require.False(t, st.Applied, "version %d", st.Version)
	}

	applied, err = store.MigrateUp(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, versions, applied)
	require.True(t, tableExists(t, pool, "incidents"))
	require.True(t, tableExists(t, pool, "timeline_events"))

	applied, err = store.MigrateUp(ctx, pool)
	require.NoError(t, err)
	require.Empty(t, applied)
}

func TestMigrateDownOneStep(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	versions := knownVersions(t)

	reverted, err := store.MigrateDown(ctx, pool, 1)
	require.NoError(t, err)
	require.Equal(t, versions[len(versions)-1:], reverted)

	_, err = store.MigrateDown(ctx, pool, 0)
	require.Error(t, err)
}

func TestMigrateUpConcurrent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	versions := knownVersions(t)
	_, err := store.MigrateDown(ctx, pool, len(versions))
	require.NoError(t, err)

	const runners = 4
	results := make([][]int, runners)
	errs := make([]error, runners)
	var wg sync.WaitGroup
	for i := range runners {
		wg.Go(func() { results[i], errs[i] = store.MigrateUp(ctx, pool) })
	}
	wg.Wait()

	var all []int
	for i := range runners {
		require.NoError(t, errs[i])
		all = append(all, results[i]...)
	}
	require.ElementsMatch(t, versions, all, "each version is applied exactly once")

	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows))
	require.Equal(t, len(versions), rows)
}

func TestMigrationStatusReportsUnknownVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	_, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_a_newer_build')`)
	require.NoError(t, err)

	status, err := store.MigrationStatus(ctx, pool)
	require.NoError(t, err)
	last := status[len(status)-1]
	require.Equal(t, store.MigrationState{Version: 9999, Name: "from_a_newer_build", Applied: true, AppliedAt: last.AppliedAt, Unknown: true}, last)

	_, err = store.MigrateDown(context.Background(), pool, 1)
	require.ErrorContains(t, err, "9999")
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }

	got, err := store.LoadMigrations(fstest.MapFS{
		"0002_second.up.sql":   file("up 2"),
		"0002_second.down.sql": file("down 2"),
		"0001_first.up.sql":    file("up 1"),
		"0001_first.down.sql":  file("down 1"),
		"README.md":            file("not sql"),
	})
	require.NoError(t, err)
	require.Equal(t, []store.Migration{
		{Version: 1, Name: "first", Up: "up 1", Down: "down 1"},
		{Version: 2, Name: "second", Up: "up 2", Down: "down 2"},
	}, got)

	for name, fsys := range map[string]fstest.MapFS{
		"missing down": {
			"0001_first.up.sql": file("up"),
		},
		"missing up": {
			"0001_first.down.sql": file("down"),
		},
		"duplicate version": {
			"0001_first.up.sql":   file("up"),
			"0001_first.down.sql": file("down"),
			"0001_other.up.sql":   file("up"),
			"0001_other.down.sql": file("down"),
		},
		"bad name": {
			"1_first.up.sql":   file("up"),
			"1_first.down.sql": file("down"),
		},
		"version zero": {
			"0000_first.up.sql":   file("up"),
			"0000_first.down.sql": file("down"),
		},
		"empty file": {
			"0001_first.up.sql":   file(""),
			"0001_first.down.sql": file("down"),
		},
	} {
		_, err := store.LoadMigrations(fsys)
		require.Error(t, err, name)
	}
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	t.Parallel()
	all, err := store.LoadMigrations(migrations.FS)
	require.NoError(t, err)
	require.Equal(t, 1, all[0].Version)
	require.Equal(t, "incidents", all[0].Name)
}
