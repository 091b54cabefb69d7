package devtemporal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// Temporal's own SQL schemas for Postgres 12 and later, embedded in the
// server module: the versioned directories that temporal-sql-tool's
// update-schema applies.
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
	// visibilitySuffix names the visibility database beside the one the
	// URL names, as Temporal's own deployments do (temporal and
	// temporal_visibility): both schemas keep their version in a
	// schema_version table, so they cannot share a database.
	visibilitySuffix = "_visibility"
	// postgresMaxConns bounds each of the server's connection pools. Every
	// service (frontend, history, matching, worker) opens its own pools on
	// both databases, so one process holds up to eight of them: 8 × 10 stays
	// well inside the local Postgres' max_connections (200) beside the
	// engine's own pools.
	postgresMaxConns = 10
)

// postgresStores returns the SQL configurations of the persistence and
// visibility databases for a Postgres URL naming the persistence database.
func postgresStores(rawURL string) (store, visibility *config.SQL, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("temporal postgres url: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, nil, fmt.Errorf("temporal postgres url: scheme %q, want postgres://", u.Scheme)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || strings.Contains(name, "/") {
		return nil, nil, errors.New("temporal postgres url: name the database of Temporal's own in the path (postgres://host:port/temporal)")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	user := u.User.Username()
	if user == "" {
		user = "postgres"
	}
	password, _ := u.User.Password()
	attrs := map[string]string{}
	for k, vs := range u.Query() {
		if len(vs) > 0 {
			attrs[k] = vs[len(vs)-1]
		}
	}
	mk := func(db string) *config.SQL {
		a := make(map[string]string, len(attrs))
		for k, v := range attrs {
			a[k] = v
		}
		return &config.SQL{
			PluginName:        postgresql.PluginNamePGX,
			DatabaseName:      db,
			ConnectAddr:       host,
			ConnectProtocol:   "tcp",
			User:              user,
			Password:          password,
			ConnectAttributes: a,
			MaxConns:          postgresMaxConns,
			MaxIdleConns:      postgresMaxConns,
			MaxConnLifetime:   time.Hour,
		}
	}
	return mk(name), mk(name + visibilitySuffix), nil
}

// setupPostgres creates the persistence and visibility databases when
// missing and brings their schemas to the versions this server build
// expects, with Temporal's own schema tool: setup-schema at version 0.0
// (the version tables only), then update-schema through every embedded
// versioned directory above the database's current version. On a database
// already set up it changes nothing; after a server upgrade it applies the
// new versions.
func setupPostgres(ctx context.Context, rawURL string, store, visibility *config.SQL, logger log.Logger) error {
	for _, s := range []struct {
		cfg    *config.SQL
		schema string
	}{{store, postgresSchema}, {visibility, postgresVisibilitySchema}} {
		if err := ensureDatabase(ctx, rawURL, s.cfg.DatabaseName); err != nil {
			return err
		}
		if err := updateSchema(s.cfg, s.schema, logger); err != nil {
			return fmt.Errorf("temporal schema of database %s: %w", s.cfg.DatabaseName, err)
		}
	}
	return nil
}

// ensureDatabase creates the database name on the server rawURL points at,
// through its maintenance database "postgres", unless it exists.
func ensureDatabase(ctx context.Context, rawURL, name string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("temporal postgres url: %w", err)
	}
	u.Path = "/postgres"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("connect to postgres to create database %s: %w", name, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
		// duplicate_database: another process created it meanwhile.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// updateSchema runs temporal-sql-tool's setup-schema -v 0.0 and
// update-schema on the embedded schema schemaName.
func updateSchema(cfg *config.SQL, schemaName string, logger log.Logger) error {
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return fmt.Errorf("set up version tables: %w", err)
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}
