// Package testenv gives tests isolated use of the real Postgres and Redis
// that `make test` starts. Each test gets its own migrated Postgres schema
// and its own Redis key prefix, so tests may run with t.Parallel(). A test
// that needs a server fails, never skips, when the server is not configured.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/incident-server/incident-server/internal/store"
)

// Environment variables naming the test servers.
const (
	DatabaseURLEnv = "TEST_DATABASE_URL"
	RedisAddrEnv   = "TEST_REDIS_ADDR"
	GorushURLEnv   = "TEST_GORUSH_URL"
)

// cleanupTimeout bounds teardown, which runs after the test's context is
// cancelled.
const cleanupTimeout = 30 * time.Second

// DatabaseURL returns TEST_DATABASE_URL, the database tests create their
// schemas in.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(DatabaseURLEnv)
	if u == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts Postgres and Redis and sets it", DatabaseURLEnv)
	}
	return u
}

// Postgres returns a pool on a fresh schema of the test database with every
// migration applied. Every connection of the pool has search_path set to
// that schema, so unqualified table names resolve to it. The pool is closed
// and the schema dropped when the test ends.
func Postgres(t testing.TB) *pgxpool.Pool {
	t.Helper()
	_, cfg := newSchema(t)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open test pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := store.MigrateUp(t.Context(), pool); err != nil {
		t.Fatalf("migrate test schema: %v", err)
	}
	return pool
}

// PostgresURL returns a database URL whose connections use a fresh, migrated
// schema, for code under test that opens its own pool. The schema is dropped
// when the test ends; close pools opened on it before then (register their
// t.Cleanup after calling PostgresURL).
func PostgresURL(t testing.TB) string {
	t.Helper()
	schema, cfg := newSchema(t)
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open test pool: %v", err)
	}
	defer pool.Close()
	if _, err := store.MigrateUp(t.Context(), pool); err != nil {
		t.Fatalf("migrate test schema: %v", err)
	}
	u, err := url.Parse(DatabaseURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", DatabaseURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchema creates an empty schema named test_<random> and returns its name
// and a pool config whose connections use it. The schema is dropped when
// the test ends.
func newSchema(t testing.TB) (string, *pgxpool.Config) {
	t.Helper()
	dbURL := DatabaseURL(t)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("parse %s: %v", DatabaseURLEnv, err)
	}
	schema := "test_" + randomHex(t)

	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("connect to drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})

	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 4
	return schema, cfg
}

// RedisAddr returns TEST_REDIS_ADDR, the host:port of the test Redis.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(RedisAddrEnv)
	if addr == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts Postgres and Redis and sets it", RedisAddrEnv)
	}
	return addr
}

// GorushURL returns TEST_GORUSH_URL, the base URL of the test Gorush that
// `make test` builds and starts on loopback.
func GorushURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(GorushURLEnv)
	if u == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which builds and starts Gorush and sets it", GorushURLEnv)
	}
	return u
}

// Redis returns a client of the test Redis and a key prefix of the form
// test:<random>: that no other test uses. Keys the test writes must start
// with the prefix, or with "rate:" and the prefix (the rate limiter's
// buckets): they are deleted when the test ends, and the client is closed.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr(t)})
	prefix := "test:" + randomHex(t) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		var keys []string
		for _, pattern := range []string{prefix + "*", "rate:" + prefix + "*"} {
			iter := rdb.Scan(ctx, 0, pattern, 100).Iterator()
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Errorf("scan test keys %s: %v", pattern, err)
				return
			}
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete test keys %s*: %v", prefix, err)
			}
		}
	})
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("ping test redis at %s: %v", RedisAddr(t), err)
	}
	return rdb, prefix
}

func randomHex(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return hex.EncodeToString(b)
}

// Database creates a database of its own on the test server, for code that
// works on whole databases (pg_dump, pg_restore), and returns its URL. With
// migrate set, every migration is applied to its public schema; without,
// it is empty. It is dropped when the test ends; close pools opened on it
// before then (register their t.Cleanup after calling Database).
func Database(t testing.TB, migrate bool) string {
	t.Helper()
	base := DatabaseURL(t)
	name := "test_" + randomHex(t)
	ident := pgx.Identifier{name}.Sanitize()
	conn, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", DatabaseURLEnv, err)
	}
	u.Path = "/" + name
	if migrate {
		pool, err := pgxpool.New(t.Context(), u.String())
		if err != nil {
			t.Fatalf("open test database: %v", err)
		}
		defer pool.Close()
		if _, err := store.MigrateUp(t.Context(), pool); err != nil {
			t.Fatalf("migrate test database: %v", err)
		}
	}
	return u.String()
}
