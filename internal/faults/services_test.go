package faults_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// postgres is a Postgres cluster of the scenario's own, in a temporary
// directory on a free port: stopping it disturbs no other test.
type postgres struct {
	proc *proc
	port int
}

// URL is the engine's database.
func (pg *postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/incidents?sslmode=disable", pg.port)
}

// startPostgres initialises a cluster and runs it until the test ends.
// As root it runs as an unprivileged OS user, as deploy/local/services.sh
// does: PG_OS_USER, else postgres, else incident-pg (created when missing).
func startPostgres(t *testing.T, logDir string) *postgres {
	t.Helper()
	bin := pgBin(t)
	dir, err := os.MkdirTemp("", "faults-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// The Postgres user must reach the cluster's directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = pgOSUser(t)
		for _, d := range []string{data, sock} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = "/"
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg := &postgres{port: freePort(t)}
	pg.proc = &proc{
		name: "postgres",
		path: filepath.Join(bin, "postgres"),
		args: []string{"-D", data, "-p", strconv.Itoa(pg.port), "-k", sock,
			"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300",
			"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"},
		env:     []string{"LANG=C", "PATH=/usr/bin:/bin"},
		logPath: filepath.Join(logDir, "postgres.log"),
		cred:    cred,
		ready: func(ctx context.Context) error {
			c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port))
			if err != nil {
				return err
			}
			return c.Close(ctx)
		},
	}
	if err := pg.proc.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.stopNow)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE incidents"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return pg
}

// stopNow stops Postgres the way an operator would: a fast shutdown, which
// disconnects every client at once. proc.start brings it back on the same
// port and data.
func (pg *postgres) stopNow() { pg.proc.signal(syscall.SIGINT, 30*time.Second) }

func pgBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("PG_BIN"); b != "" {
		return b
	}
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/initdb"); err == nil {
		return "/usr/lib/postgresql/15/bin"
	}
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err != nil {
		t.Fatalf("PostgreSQL server binaries not found (PG_BIN, /usr/lib/postgresql/15/bin, pg_config --bindir)")
	}
	return strings.TrimSpace(string(out))
}

// pgOSUser is the account Postgres runs as when the tests run as root.
func pgOSUser(t *testing.T) *syscall.Credential {
	t.Helper()
	name := os.Getenv("PG_OS_USER")
	if name == "" {
		name = "postgres"
		if _, err := user.Lookup(name); err != nil {
			name = "incident-pg"
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil {
			t.Fatalf("create OS user %s to run Postgres: %v\n%s", name, err, out)
		}
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// redisServer is a redis-server of the scenario's own, without persistence:
// a restart comes back empty, as a lost cache node would.
type redisServer struct {
	proc *proc
	addr string
}

func startRedis(t *testing.T, logDir string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed: run the tests with `make test`, which installs it")
	}
	port := freePort(t)
	r := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port)}
	r.proc = &proc{
		name: "redis",
		path: bin,
		args: []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
			"--dir", t.TempDir(), "--protected-mode", "yes"},
		logPath: filepath.Join(logDir, "redis.log"),
		ready: func(ctx context.Context) error {
			c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		},
	}
	if err := r.proc.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.proc.kill)
	return r
}
