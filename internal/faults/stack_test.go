package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/testenv"
)

// jwtSecret signs the suite's user tokens; every api process verifies
// with it. A test fixture, never a deployment's secret.
const jwtSecret = "faults-suite-secret-of-at-least-32-bytes"

// stackOptions shape a stack: how many api and worker processes run.
type stackOptions struct {
	APIs    int
	Workers int
}

// stack is the engine as separate processes: Postgres, Redis, a Temporal
// server, api and worker processes, and the push receiver in the test.
type stack struct {
	t      *testing.T
	logDir string
	pg     *postgres
	redis  *redisServer
	recv   *receiver
	tmp    *proc
	// temporalPort is the frontend's, the same across restarts.
	temporalPort int
	apis         []*server
	workers      []*server
	faults       *faultLog
	token        string
	http         *http.Client
	next         atomic.Uint64

	mu       sync.Mutex
	statuses map[string]map[int]int
}

// server is an api or worker process with the address it serves HTTP on.
type server struct {
	*proc
	addr string
}

func (sv *server) url() string { return "http://" + sv.addr }

func newStack(t *testing.T, opt stackOptions) *stack {
	t.Helper()
	logDir := filepath.Join(runDir, t.Name())
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: a passing scenario's logs go,
	// a failing one's stay for a look beyond the tail printed below.
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(logDir)
		}
	})
	s := &stack{t: t, logDir: logDir, faults: &faultLog{}, statuses: map[string]map[int]int{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2000, 2000
	s.http = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	tokens, err := auth.NewTokens([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	if s.token, err = tokens.Mint("faults", auth.Admin, 12*time.Hour); err != nil {
		t.Fatal(err)
	}

	// Cleanups run last-in first-out: the engine's processes stop before
	// the services they use, and the logs of a failed test are shown after.
	t.Cleanup(func() {
		if t.Failed() {
			s.showLogs()
		}
	})
	s.pg = startPostgres(t, logDir)
	s.redis = startRedis(t, logDir)
	s.recv = startReceiver(t)
	s.startTemporal()
	s.migrate()
	for i := range opt.Workers {
		s.workers = append(s.workers, s.newServer(fmt.Sprintf("worker-%d", i+1), "worker"))
	}
	for i := range opt.APIs {
		s.apis = append(s.apis, s.newServer(fmt.Sprintf("api-%d", i+1), "api"))
	}
	for _, sv := range append(append([]*server(nil), s.workers...), s.apis...) {
		if err := sv.start(); err != nil {
			t.Fatal(err)
		}
		// The state is thrown away: no graceful shutdown to wait for.
		t.Cleanup(sv.kill)
	}
	t.Cleanup(func() {
		for _, p := range s.procs() {
			for _, e := range p.unexpectedExits() {
				t.Errorf("%s", e)
			}
		}
	})
	return s
}

func (s *stack) procs() []*proc {
	ps := []*proc{s.pg.proc, s.redis.proc, s.tmp}
	for _, sv := range append(append([]*server(nil), s.workers...), s.apis...) {
		ps = append(ps, sv.proc)
	}
	return ps
}

// env is what every process of the engine gets: the services' addresses,
// the JWT secret, and rate limits high enough that the suite's load
// measures the engine, not the limiter (which still runs, so a Redis
// outage exercises its fail-open path).
func (s *stack) env(addr string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.logDir,
		"DATABASE_URL=" + s.pg.URL(),
		"REDIS_ADDR=" + s.redis.addr,
		"TEMPORAL_ADDRESS=" + s.temporalAddr(),
		"GORUSH_URL=" + s.recv.url,
		"INCIDENT_SERVER_ADDR=" + addr,
		"INCIDENT_AUTH_JWT_SECRET=" + jwtSecret,
		"INCIDENT_SECRETS_KEYS=" + testenv.SecretsKey,
		"INCIDENT_AUTH_RATE_LIMIT=100000",
		"INCIDENT_AUTH_RATE_BURST=100000",
		"INCIDENT_AUTH_EVENTS_V2_RATE_LIMIT=100000",
		"INCIDENT_AUTH_EVENTS_V2_RATE_BURST=100000",
		"INCIDENT_BACKUP_DIR=" + filepath.Join(s.logDir, "backups"),
		"INCIDENT_DEV_DATA_DIR=" + filepath.Join(s.logDir, "dev"),
		"ENVIRONMENT=faults",
	}
}

func (s *stack) temporalAddr() string {
	return "127.0.0.1:" + strconv.Itoa(s.temporalPort)
}

// startTemporal runs `incident-server temporal` on a SQLite file of the
// test's; restarts reuse the file and the port.
func (s *stack) startTemporal() {
	port := freePort(s.t)
	s.temporalPort = port
	const marker = "temporal server ready on"
	p := &proc{
		name: "temporal",
		path: binary,
		args: []string{"temporal", "-db", filepath.Join(s.t.TempDir(), "temporal.db"), "-port", strconv.Itoa(port)},
		env:  s.env("127.0.0.1:" + strconv.Itoa(freePort(s.t))),
		// The process prints its ready line once per start.
		logPath: filepath.Join(s.logDir, "temporal.log"),
	}
	p.ready = func(context.Context) error {
		p.mu.Lock()
		starts := p.starts
		p.mu.Unlock()
		if grepCount(p.logPath, marker) < starts {
			return errors.New("no ready line yet")
		}
		return nil
	}
	s.tmp = p
	if err := p.start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(p.kill)
}

func (s *stack) migrate() {
	cmd := exec.Command(binary, "migrate", "up")
	cmd.Env = s.env("127.0.0.1:0")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("migrate: %v\n%s", err, out)
	}
}

// newServer prepares an api or worker process on a port of its own, which
// it keeps across restarts.
func (s *stack) newServer(name, command string) *server {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(s.t))
	sv := &server{addr: addr}
	sv.proc = &proc{
		name:    name,
		path:    binary,
		args:    []string{command},
		env:     s.env(addr),
		logPath: filepath.Join(s.logDir, name+".log"),
		ready: func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
			resp, err := s.http.Do(req)
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("health: %d", resp.StatusCode)
			}
			return nil
		},
	}
	return sv
}

// showLogs prints the tail of every process's log.
func (s *stack) showLogs() {
	for _, p := range s.procs() {
		s.t.Logf("--- last lines of %s (%s):\n%s", p.name, p.logPath, tail(p.logPath, 25))
	}
}

// answer is one HTTP exchange's outcome.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("decode %d answer %.200s: %w", a.status, a.body, err)
	}
	return nil
}

// call sends one request to one api process, chosen round robin among those
// running. header holds name, value pairs; Authorization defaults to the
// suite's admin token.
func (s *stack) call(ctx context.Context, method, path string, body any, header ...string) (answer, error) {
	apis := s.runningAPIs()
	if len(apis) == 0 {
		return answer{}, errors.New("no api process runs")
	}
	sv := apis[int(s.next.Add(1))%len(apis)]
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, sv.url()+path, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (s *stack) runningAPIs() []*server {
	var out []*server
	for _, sv := range s.apis {
		if sv.running() {
			out = append(out, sv)
		}
	}
	if len(out) == 0 {
		// Between a kill and the restart: try them all, the requests
		// fail as a client's would.
		return s.apis
	}
	return out
}

// retryable reports the answers a client following docs/api.md sends again:
// 503 (and the 502/504 of a proxy), 429; and 500, which the engine must not
// answer for a refusal it can recover from — each is counted, and the
// scenarios fail on any.
func retryable(status int) bool {
	switch status {
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout,
		http.StatusTooManyRequests, http.StatusInternalServerError:
		return true
	}
	return false
}

// send is a client that keeps trying: connection errors and retryable
// answers are sent again, after Retry-After when the answer gives one (with
// jitter) or a growing backoff, until ctx ends. op names the kind of
// request in the status tallies.
func (s *stack) send(ctx context.Context, op, method, path string, body any, header ...string) (answer, error) {
	backoff := 100 * time.Millisecond
	for {
		a, err := s.call(ctx, method, path, body, header...)
		status := a.status
		switch {
		case err != nil && ctx.Err() != nil:
			status = -1 // the client gave up
		case err != nil:
			status = 0 // connection error
		}
		s.tally(op, status)
		if err == nil && !retryable(a.status) {
			return a, nil
		}
		wait := backoff
		if err == nil {
			if ra, perr := strconv.Atoi(a.header.Get("Retry-After")); perr == nil && ra > 0 {
				wait = time.Duration(ra) * time.Second
			}
		}
		wait += time.Duration(rand.Int64N(int64(wait)/2 + 1))
		backoff = min(2*backoff, 5*time.Second)
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%s %s: still %d: %.200s", method, path, a.status, a.body)
			}
			return a, fmt.Errorf("%s %s gave up: %w", method, path, err)
		case <-time.After(wait):
		}
	}
}

func (s *stack) tally(op string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.statuses[op]
	if m == nil {
		m = map[int]int{}
		s.statuses[op] = m
	}
	m[status]++
}

// statusCount returns how often op was answered with status (0: a
// connection error, -1: the client gave up).
func (s *stack) statusCount(op string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses[op][status]
}

func (s *stack) statusTable() map[string]map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]int{}
	for op, m := range s.statuses {
		out[op] = map[string]int{}
		for st, n := range m {
			name := strconv.Itoa(st)
			switch st {
			case 0:
				name = "conn_error"
			case -1:
				name = "gave_up"
			}
			out[op][name] = n
		}
	}
	return out
}

// must sends a setup request and fails the test unless it is answered
// with want; it returns the answer's body decoded into out (if non-nil).
func (s *stack) must(method, path string, body any, want int, out any) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := s.send(ctx, "setup", method, path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if a.status != want {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, a.status, want, a.body)
	}
	if out != nil {
		if err := a.decode(out); err != nil {
			s.t.Fatal(err)
		}
	}
}

// metric reads one sample of a process's /metrics: the sum of the lines
// that start with name (labels included in name when given).
func (s *stack) metric(sv *server, name string) (float64, error) {
	resp, err := s.http.Get(sv.url() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, nil
}
