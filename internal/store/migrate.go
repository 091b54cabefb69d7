// This runner is our own: neither tern/v2 nor goose/v3 does what it must.
// Both take a session advisory lock, which behind a transaction-pooling
// PgBouncer stays on whichever server connection took it (goose's other lock,
// a lease table, stays held up to 30 s after a crash). tern records one
// version number; goose needs a version-0 row and records no names: neither
// reads schema_migrations (version, name, applied_at) or paired .up/.down.sql.

package store

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/incident-server/incident-server/migrations"
)

// Migration is one schema version: a pair of NNNN_name.up.sql and
// NNNN_name.down.sql files.
type Migration struct {
	Version int
	Name    string
	Up      string
	Down    string
}

// MigrationState is a migration and whether it is applied to the database.
type MigrationState struct {
	Version   int
	Name      string
	Applied   bool
	AppliedAt *time.Time
	// Unknown marks a version recorded as applied that has no file in this
	// binary: the database was migrated by a newer build.
	Unknown bool
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$`)

// LoadMigrations reads every *.sql file at the root of fsys, ordered by
// version. A file whose name does not match NNNN_name.up.sql or
// NNNN_name.down.sql, a version without both files, and two names for one
// version are errors.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	byVersion := map[int]*Migration{}
	for _, file := range names {
		m := migrationName.FindStringSubmatch(file)
		if m == nil {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.up.sql or NNNN_name.down.sql", file)
		}
		version, _ := strconv.Atoi(m[1])
		if version == 0 {
			return nil, fmt.Errorf("migration %s: versions start at 0001", file)
		}
		body, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", file, err)
		}
		mig, ok := byVersion[version]
		if !ok {
			mig = &Migration{Version: version, Name: m[2]}
			byVersion[version] = mig
		}
		if mig.Name != m[2] {
			return nil, fmt.Errorf("migration %s: version %04d is also named %s", file, version, mig.Name)
		}
		dir := &mig.Up
		if m[3] == "down" {
			dir = &mig.Down
		}
		if *dir != "" {
			return nil, fmt.Errorf("migration %s: duplicate %s file for version %04d", file, m[3], version)
		}
		if len(body) == 0 {
			return nil, fmt.Errorf("migration %s: file is empty", file)
		}
		*dir = string(body)
	}
	out := make([]Migration, 0, len(byVersion))
	for _, mig := range byVersion {
		switch {
		case mig.Up == "":
			return nil, fmt.Errorf("migration %04d_%s: missing up file", mig.Version, mig.Name)
		case mig.Down == "":
			return nil, fmt.Errorf("migration %04d_%s: missing down file", mig.Version, mig.Name)
		}
		out = append(out, *mig)
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// The migration lock is a transaction-scoped advisory lock, so it works
// through a transaction-pooling PgBouncer and is released even if the
// process dies mid-migration. Its key is derived from the schema, so
// migrations of different schemas in one database do not wait on each other.
const (
	lockMigrations      = `SELECT pg_advisory_xact_lock(hashtextextended('incident-server.migrate.' || current_schema(), 0))`
	createMigrations    = `CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`
	selectMigrations    = `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`
	selectLastMigration = `SELECT max(version) FROM schema_migrations`
	isMigrationApplied  = `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`
	insertMigration     = `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`
	deleteMigration     = `DELETE FROM schema_migrations WHERE version = $1`
)

// MigrateUp applies every pending migration from the embedded files in
// version order and returns the versions it applied. Each migration runs in
// its own transaction together with its schema_migrations row, under the
// migration lock, so concurrent callers apply each version exactly once.
func MigrateUp(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	all, err := LoadMigrations(migrations.FS)
	if err != nil {
		return nil, err
	}
	if err := ensureMigrationsTable(ctx, pool); err != nil {
		return nil, err
	}
	applied := []int{}
	for _, m := range all {
		done := false
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockMigrations); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			var exists bool
			if err := tx.QueryRow(ctx, isMigrationApplied, m.Version).Scan(&exists); err != nil {
				return fmt.Errorf("check: %w", err)
			}
			if exists {
				return nil
			}
			if _, err := tx.Exec(ctx, m.Up); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, insertMigration, m.Version, m.Name); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			done = true
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migrate up %04d_%s: %w", m.Version, m.Name, err)
		}
		if done {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// MigrateDown reverts the last steps applied migrations, newest first, and
// returns the versions it reverted. It stops early when none are left. Each
// runs in its own transaction under the migration lock. Reverting a version
// that has no file in this binary is an error.
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, steps int) ([]int, error) {
	if steps < 1 {
		return nil, fmt.Errorf("migrate down: steps must be at least 1, got %d", steps)
	}
	all, err := LoadMigrations(migrations.FS)
	if err != nil {
		return nil, err
	}
	byVersion := make(map[int]Migration, len(all))
	for _, m := range all {
		byVersion[m.Version] = m
	}
	if err := ensureMigrationsTable(ctx, pool); err != nil {
		return nil, err
	}
	reverted := []int{}
	for range steps {
		var version *int
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockMigrations); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			if err := tx.QueryRow(ctx, selectLastMigration).Scan(&version); err != nil {
				return fmt.Errorf("find last applied: %w", err)
			}
			if version == nil {
				return nil
			}
			m, ok := byVersion[*version]
			if !ok {
				return fmt.Errorf("version %04d is applied but this build has no file for it", *version)
			}
			if _, err := tx.Exec(ctx, m.Down); err != nil {
				return fmt.Errorf("%04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, deleteMigration, m.Version); err != nil {
				return fmt.Errorf("%04d_%s: unrecord: %w", m.Version, m.Name, err)
			}
			return nil
		})
		if err != nil {
			return reverted, fmt.Errorf("migrate down: %w", err)
		}
		if version == nil {
			break
		}
		reverted = append(reverted, *version)
	}
	return reverted, nil
}

// MigrationStatus lists every known migration with whether it is applied,
// followed by any applied version this build has no file for.
func MigrationStatus(ctx context.Context, pool *pgxpool.Pool) ([]MigrationState, error) {
	all, err := LoadMigrations(migrations.FS)
	if err != nil {
		return nil, err
	}
	if err := ensureMigrationsTable(ctx, pool); err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, selectMigrations)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	type record struct {
		Version   int
		Name      string
		AppliedAt time.Time
	}
	records, err := pgx.CollectRows(rows, pgx.RowToStructByPos[record])
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	applied := make(map[int]record, len(records))
	for _, r := range records {
		applied[r.Version] = r
	}
	out := make([]MigrationState, 0, len(all))
	for _, m := range all {
		st := MigrationState{Version: m.Version, Name: m.Name}
		if r, ok := applied[m.Version]; ok {
			at := r.AppliedAt.UTC()
			st.Applied, st.AppliedAt = true, &at
			delete(applied, m.Version)
		}
		out = append(out, st)
	}
	for _, r := range records {
		if _, ok := applied[r.Version]; ok {
			at := r.AppliedAt.UTC()
			out = append(out, MigrationState{Version: r.Version, Name: r.Name, Applied: true, AppliedAt: &at, Unknown: true})
		}
	}
	return out, nil
}

// ensureMigrationsTable creates schema_migrations under the migration lock:
// two concurrent CREATE TABLE IF NOT EXISTS can otherwise both try to create it.
func ensureMigrationsTable(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockMigrations); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		_, err := tx.Exec(ctx, createMigrations)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}
