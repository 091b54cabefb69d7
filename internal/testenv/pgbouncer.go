package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PgBouncerOptions shape the PgBouncer that StartPgBouncer runs.
type PgBouncerOptions struct {
	// PoolSize is default_pool_size: server connections per database and
	// user. Small values make clients share server connections, which is
	// what transaction pooling breaks. Default 2.
	PoolSize int
}

// PgBouncer is a PgBouncer in transaction pooling mode in front of the test
// Postgres, listening on 127.0.0.1. Every database of that server is
// reachable through it under its own name.
type PgBouncer struct {
	addr   string
	target *url.URL
}

// StartPgBouncer runs pgbouncer (Debian package pgbouncer; `make test`
// installs it) until the test ends. Its user is the test database URL's
// user, trusted without a password like the Postgres `make test` starts.
// The test fails when pgbouncer is missing or does not come up.
func StartPgBouncer(t testing.TB, opt PgBouncerOptions) *PgBouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/pgbouncer"); statErr != nil {
			t.Fatalf("pgbouncer is not installed: run the tests with `make test`, which installs it, or apt-get install pgbouncer")
		}
		bin = "/usr/sbin/pgbouncer"
	}
	target, err := url.Parse(DatabaseURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", DatabaseURLEnv, err)
	}
	poolSize := opt.PoolSize
	if poolSize <= 0 {
		poolSize = 2
	}
	port := freePort(t)

	// pgbouncer refuses to run as root; as root it is started with -u
	// nobody, which must be able to read its files.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	user := target.User.Username()
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits
`, target.Hostname(), target.Port(), port, filepath.Join(dir, "userlist.txt"), poolSize)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("userlist.txt", strconv.Quote(user)+` ""`+"\n")
	write("pgbouncer.ini", ini)

	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	exited, logs := startChild(t, "pgbouncer", exec.Command(bin, args...))

	p := &PgBouncer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), target: target}
	// Ready when a client gets through it to Postgres.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		attempt, stop := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, p.URL(t, target.Path[1:]))
		stop()
		if err == nil {
			_ = conn.Close(ctx)
			return p
		}
		select {
		case <-exited:
			t.Fatalf("pgbouncer exited: %s", logs.String())
		case <-ctx.Done():
			t.Fatalf("pgbouncer not ready on %s: %v\n%s", p.addr, err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL returns a connection string for database through the PgBouncer.
func (p *PgBouncer) URL(t testing.TB, database string) string {
	t.Helper()
	u := *p.target
	u.Host = p.addr
	u.Path = "/" + database
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// DatabaseName creates an empty database like Database and returns its
// name, for a URL that reaches it another way. Through PgBouncer a test is
// isolated by database, not by schema: transaction pooling forwards no
// search_path. The drop at the end forces out the idle server connections
// PgBouncer may still hold.
func DatabaseName(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(Database(t, false))
	if err != nil {
		t.Fatalf("parse test database URL: %v", err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startChild starts cmd for the test, collecting its output for failure
// messages, and stops it when the test ends: SIGINT, then SIGKILL after
// cleanupTimeout. exited is closed once the process has ended.
func startChild(t testing.TB, name string, cmd *exec.Cmd) (exited <-chan struct{}, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(cleanupTimeout):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return done, logs
}

// syncBuffer collects a child process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
