package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The engine launcher. Without -topology a scenario measures the engine
// that answers at -url, as one process. With it, the benchmark starts the
// engine itself from -engine-bin, in one of three shapes, on stores of the
// run's own, and stops it at the end:
//
//	dev             incident-server dev: the embedded Temporal server (SQLite), worker and API in one process
//	split-sqlite    incident-server temporal -db FILE, worker and api: three processes
//	split-postgres  incident-server temporal -postgres URL, worker and api: three processes, Temporal's
//	                state in Postgres databases of its own (persistence and visibility), as a cluster keeps it
//
// Each launched run gets a fresh Postgres database for the engine
// (bench_<UTC start>, on the server of -database-url), a fresh Temporal
// store (a SQLite file under -engine-data/<run>/, or the databases
// bench_<UTC start>_temporal and _temporal_visibility), a JWT secret and
// an admin token of its own, and a Redis key prefix of its own. At the end
// the processes are stopped and, unless -keep-engine-data, exactly those
// databases and that directory are removed: a run of 100,000 incidents is
// thrown away in seconds instead of resolved one by one, and nothing else
// is touched.

const (
	topologyDev           = "dev"
	topologySplitSQLite   = "split-sqlite"
	topologySplitPostgres = "split-postgres"
)

var topologies = []string{topologyDev, topologySplitSQLite, topologySplitPostgres}

// Process labels, as the tables show them.
const (
	procEngine   = "engine" // one process: dev, or an engine the benchmark did not start
	procTemporal = "temporal"
	procWorker   = "worker"
	procAPI      = "api"
)

const (
	// launchReady bounds each process's start, schema set-up included.
	launchReady = 3 * time.Minute
	// stopGrace is how long a process gets to stop after SIGTERM before
	// it is killed.
	stopGrace = 30 * time.Second
)

// launchFlags say how to reach or start the engine, and where its stores
// are. The attach-only fields (EnginePID, TemporalDB, TemporalDatabaseURL)
// describe an engine the benchmark did not start.
type launchFlags struct {
	Topology      string  `json:"topology,omitempty"`
	EngineBin     string  `json:"engine_bin,omitempty"`
	EngineData    string  `json:"engine_data,omitempty"`
	RedisAddr     string  `json:"redis_addr,omitempty"`
	WorkerAddr    string  `json:"worker_addr,omitempty"`
	HistoryShards int     `json:"history_shards,omitempty"`
	WorkerEnv     envFlag `json:"worker_env,omitempty"`
	KeepData      bool    `json:"keep_engine_data,omitempty"`
	EnginePID     int     `json:"engine_pid,omitempty"`
	TemporalDB    string  `json:"temporal_db,omitempty"`
	TemporalPG    string  `json:"temporal_database_url,omitempty"`
}

func (l *launchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.Topology, "topology", "", "start the engine in this shape: "+strings.Join(topologies, ", ")+
		" (default: measure the engine already answering at -url)")
	fs.StringVar(&l.EngineBin, "engine-bin", "bin/incident-server", "the incident-server binary -topology starts")
	fs.StringVar(&l.EngineData, "engine-data", ".data/bench-engine", "directory for the started engine's files (logs, SQLite, JWT secret), one subdirectory per run")
	redis := os.Getenv("REDIS_ADDR")
	if redis == "" {
		redis = "127.0.0.1:56379"
	}
	fs.StringVar(&l.RedisAddr, "redis-addr", redis, "Redis of the started engine ($REDIS_ADDR when set)")
	fs.StringVar(&l.WorkerAddr, "worker-addr", "", "metrics and health address of a started worker process (default: -url's port + 1)")
	fs.IntVar(&l.HistoryShards, "history-shards", 0, "history shards of a started split-* Temporal server (default: 1 on SQLite, 4 on Postgres)")
	fs.Var(&l.WorkerEnv, "worker-env", "KEY=VALUE set in the started worker's environment (the dev process's for -topology dev); repeatable")
	fs.BoolVar(&l.KeepData, "keep-engine-data", false, "leave the started engine's databases and files in place at the end")
	fs.IntVar(&l.EnginePID, "engine-pid", 0, "without -topology: the engine's process ID (default: the process listening on -url's port)")
	fs.StringVar(&l.TemporalDB, "temporal-db", ".data/dev/temporal.db", "without -topology: the embedded Temporal's SQLite file (its -wal and -shm count too)")
	fs.StringVar(&l.TemporalPG, "temporal-database-url", "", "without -topology: the Postgres database of the engine's Temporal server, instead of -temporal-db")
}

func (l *launchFlags) check() error {
	if l.Topology != "" && !slices.Contains(topologies, l.Topology) {
		return fmt.Errorf("-topology %q: want one of %s", l.Topology, strings.Join(topologies, ", "))
	}
	if l.HistoryShards < 0 {
		return fmt.Errorf("-history-shards must not be negative")
	}
	if l.Topology != "" {
		switch {
		case l.EngineBin == "" || l.EngineData == "":
			return fmt.Errorf("-topology needs -engine-bin and -engine-data")
		case l.EnginePID != 0 || l.TemporalPG != "":
			return fmt.Errorf("-engine-pid and -temporal-database-url describe an engine not started here: not with -topology")
		}
		// The started engine's store is the run's own.
		l.TemporalDB = ""
	}
	return nil
}

// envFlag collects KEY=VALUE flags.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, " ") }

func (e *envFlag) Set(s string) error {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return fmt.Errorf("%q: want KEY=VALUE", s)
	}
	*e = append(*e, s)
	return nil
}

// engine is the engine a run measures: the processes it reads and where
// its stores are.
type engine struct {
	// Topology is the shape started, or "attached" for an engine the
	// benchmark found running.
	Topology        string        `json:"topology"`
	Procs           []*engineProc `json:"processes"`
	APIURL          string        `json:"api_url"`
	TemporalAddress string        `json:"temporal_address"`
	DatabaseURL     string        `json:"database_url"`
	// TemporalPG is the Postgres database of Temporal's persistence (its
	// visibility is TemporalPG's name + "_visibility"); TemporalDB the
	// SQLite file. One of them is set, or neither for an attached engine
	// whose store is unknown.
	TemporalPG string `json:"temporal_database_url,omitempty"`
	TemporalDB string `json:"temporal_db,omitempty"`
	// HistoryShards is the started Temporal server's shard count.
	HistoryShards int      `json:"history_shards,omitempty"`
	Dir           string   `json:"dir,omitempty"`
	Databases     []string `json:"databases_created,omitempty"`
	Kept          bool     `json:"kept,omitempty"`

	token    string
	launched bool
	keep     bool
	// exited receives the first process that ended while the run still
	// needed it.
	exited   chan *engineProc
	stopping chan struct{}
	stopOnce sync.Once
}

// engineProc is one process of the engine.
type engineProc struct {
	Label string   `json:"label"`
	PID   int      `json:"pid"`
	Args  []string `json:"args,omitempty"`
	Log   string   `json:"log,omitempty"`

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// pids lists the processes to read, labelled.
func (e *engine) pids() []labelledPID {
	out := make([]labelledPID, len(e.Procs))
	for i, p := range e.Procs {
		out[i] = labelledPID{Label: p.Label, PID: p.PID}
	}
	return out
}

// describe is one line saying what runs where.
func (e *engine) describe() string {
	parts := make([]string, len(e.Procs))
	for i, p := range e.Procs {
		parts[i] = fmt.Sprintf("%s pid %d", p.Label, p.PID)
	}
	store := "Temporal store not read"
	switch {
	case e.TemporalPG != "":
		store = "Temporal on Postgres (" + redact(e.TemporalPG) + ")"
	case e.TemporalDB != "":
		store = "Temporal on SQLite (" + e.TemporalDB + ")"
	}
	if e.HistoryShards > 0 {
		store += fmt.Sprintf(", %d history shards", e.HistoryShards)
	}
	return fmt.Sprintf("%s: %s; %s; engine database %s", e.Topology, strings.Join(parts, ", "), store, redact(e.DatabaseURL))
}

// openEngine starts the engine lf asks for, or finds the one answering at
// apiURL. dbURL is the engine's Postgres (for a started engine: the server
// its database is created on), gorushURL its push receiver.
func openEngine(ctx context.Context, lf launchFlags, apiURL, temporalAddr, dbURL, gorushURL string, out io.Writer) (*engine, error) {
	if lf.Topology == "" {
		return attachEngine(lf, apiURL, temporalAddr, dbURL)
	}
	e, err := launchEngine(ctx, lf, apiURL, temporalAddr, dbURL, gorushURL, out)
	if err != nil {
		if e != nil {
			e.stop(out)
		}
		return nil, err
	}
	return e, nil
}

func attachEngine(lf launchFlags, apiURL, temporalAddr, dbURL string) (*engine, error) {
	e := &engine{Topology: "attached", APIURL: apiURL, TemporalAddress: temporalAddr, DatabaseURL: dbURL,
		TemporalPG: lf.TemporalPG, exited: make(chan *engineProc, 1), stopping: make(chan struct{})}
	if lf.TemporalPG == "" {
		e.TemporalDB = lf.TemporalDB
	}
	pid := lf.EnginePID
	if pid == 0 {
		_, port, err := hostPort(apiURL)
		if err != nil {
			return nil, err
		}
		if pid, err = listenerPID(port); err != nil {
			return nil, fmt.Errorf("find the engine's process: %w", err)
		}
	}
	if _, err := readProc(pid); err != nil {
		return nil, fmt.Errorf("-engine-pid: %w", err)
	}
	e.Procs = []*engineProc{{Label: procEngine, PID: pid}}
	return e, nil
}

// hostPort returns the host and port of an http URL, which must name one.
func hostPort(rawURL string) (string, int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, fmt.Errorf("-url %q: %w", rawURL, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		if u.Scheme == "https" {
			return u.Hostname(), 443, nil
		}
		return u.Hostname(), 80, nil
	}
	return u.Hostname(), port, nil
}

func launchEngine(ctx context.Context, lf launchFlags, apiURL, temporalAddr, dbURL, gorushURL string, out io.Writer) (*engine, error) {
	bin, err := filepath.Abs(lf.EngineBin)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("-engine-bin %s: not a file (make build writes bin/incident-server)", lf.EngineBin)
	}
	apiHost, apiPort, err := hostPort(apiURL)
	if err != nil {
		return nil, err
	}
	apiAddr := net.JoinHostPort(apiHost, strconv.Itoa(apiPort))
	tHost, tPortS, err := net.SplitHostPort(temporalAddr)
	if err != nil {
		return nil, fmt.Errorf("-temporal-address %q: %w", temporalAddr, err)
	}
	if _, err := strconv.Atoi(tPortS); err != nil || tHost != "127.0.0.1" {
		return nil, fmt.Errorf("-temporal-address %q: a started Temporal server listens on 127.0.0.1:<port>", temporalAddr)
	}
	workerAddr := lf.WorkerAddr
	if workerAddr == "" {
		workerAddr = net.JoinHostPort(apiHost, strconv.Itoa(apiPort+1))
	}
	busy := []string{apiAddr, temporalAddr}
	if lf.Topology != topologyDev {
		busy = append(busy, workerAddr)
	}
	for _, a := range busy {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use: a started engine needs it free (stop what runs there, or pass other -url / -temporal-address / -worker-addr)", a)
		}
	}

	// dev always serves the Temporal Web UI; nothing reads it, so it gets
	// a port that is free now.
	uiPort, err := freePort()
	if err != nil {
		return nil, err
	}

	started := time.Now().UTC()
	run := "bench_" + strings.ToLower(started.Format("20060102T150405"))
	dir, err := filepath.Abs(filepath.Join(lf.EngineData, run))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("engine data: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine data: %w", err)
	}
	e := &engine{Topology: lf.Topology, APIURL: apiURL, TemporalAddress: temporalAddr, Dir: dir,
		launched: true, keep: lf.KeepData, exited: make(chan *engineProc, 1), stopping: make(chan struct{})}

	// The run's databases, on the server of dbURL: the engine's, and
	// Temporal's for split-postgres. None may exist yet; every one is
	// recorded before it is created, so the end removes exactly these.
	engineDB, err := withDatabase(dbURL, run)
	if err != nil {
		return e, err
	}
	e.DatabaseURL = engineDB
	names := []string{run}
	if lf.Topology == topologySplitPostgres {
		t := run + "_temporal"
		names = append(names, t, t+"_visibility")
		if e.TemporalPG, err = withDatabase(dbURL, t); err != nil {
			return e, err
		}
	} else {
		e.TemporalDB = filepath.Join(dir, "temporal.db")
	}
	if err := createDatabases(ctx, dbURL, names, e); err != nil {
		return e, err
	}

	env := append(os.Environ(),
		"DATABASE_URL="+engineDB,
		"REDIS_ADDR="+lf.RedisAddr,
		"GORUSH_URL="+gorushURL,
		"TEMPORAL_ADDRESS="+temporalAddr,
		"INCIDENT_DEV_DATA_DIR="+dir,
		"INCIDENT_DEV_TEMPORAL_PORT="+tPortS,
		"INCIDENT_DEV_UI_PORT="+strconv.Itoa(uiPort),
		"INCIDENT_DEV_TEMPORAL_DATABASE_URL=",
		"INCIDENT_REDIS_KEY_PREFIX=incident-bench-"+run+":",
		// The load generator exceeds any limit meant for people: measure
		// the engine, not the limiter.
		"INCIDENT_AUTH_RATE_LIMIT=0",
		"INCIDENT_AUTH_EVENTS_V2_RATE_LIMIT=0",
		// No pg_dump of the run's database in the middle of a measurement.
		"INCIDENT_BACKUP_CRON=",
		// The secret is the run's own, created in dir by `token create`
		// and read by dev (the same fallback) and api (the file).
		"INCIDENT_AUTH_JWT_SECRET=",
		"INCIDENT_AUTH_JWT_SECRET_FILE=",
	)
	if err := runOnce(ctx, bin, env, filepath.Join(dir, "migrate.log"), "migrate", "up"); err != nil {
		return e, err
	}
	tok, err := output(ctx, bin, env, "token", "create", "--user", "bench", "--role", "admin", "--ttl", "168h")
	if err != nil {
		return e, err
	}
	e.token = strings.TrimSpace(tok)
	secretEnv := "INCIDENT_AUTH_JWT_SECRET_FILE=" + filepath.Join(dir, "jwt-secret")

	fmt.Fprintf(out, "engine: starting %s from %s; data in %s\n", lf.Topology, lf.EngineBin, dir)
	switch lf.Topology {
	case topologyDev:
		p, err := e.start(bin, procEngine, append(append(slices.Clone(env), "INCIDENT_SERVER_ADDR="+apiAddr), lf.WorkerEnv...), "dev")
		if err != nil {
			return e, err
		}
		if err := awaitHTTP(ctx, p, apiURL+"/health/ready"); err != nil {
			return e, err
		}
	default:
		// Temporal writes one shard's state one persistence call at a time
		// (its history.shardIOConcurrency is 1), so on Postgres, where a
		// call is a round trip and a commit, a single shard serializes every
		// workflow of the node; Temporal's own development setups use 1
		// shard on SQLite and 4 on Postgres, and so does the default here.
		e.HistoryShards = lf.HistoryShards
		if e.HistoryShards == 0 {
			e.HistoryShards = 1
			if e.TemporalPG != "" {
				e.HistoryShards = 4
			}
		}
		args := []string{"temporal", "-port", tPortS, "-history-shards", strconv.Itoa(e.HistoryShards)}
		if e.TemporalPG != "" {
			args = append(args, "-postgres", e.TemporalPG)
		} else {
			args = append(args, "-db", e.TemporalDB)
		}
		p, err := e.start(bin, procTemporal, env, args...)
		if err != nil {
			return e, err
		}
		if err := awaitLog(ctx, p, "temporal server ready on"); err != nil {
			return e, err
		}
		p, err = e.start(bin, procWorker, append(append(slices.Clone(env), "INCIDENT_SERVER_ADDR="+workerAddr), lf.WorkerEnv...), "worker")
		if err != nil {
			return e, err
		}
		if err := awaitHTTP(ctx, p, "http://"+workerAddr+"/health"); err != nil {
			return e, err
		}
		p, err = e.start(bin, procAPI, append(slices.Clone(env), "INCIDENT_SERVER_ADDR="+apiAddr, secretEnv), "api")
		if err != nil {
			return e, err
		}
		if err := awaitHTTP(ctx, p, apiURL+"/health/ready"); err != nil {
			return e, err
		}
	}
	fmt.Fprintf(out, "engine: %s ready in %.0f s\n", e.describe(), time.Since(started).Seconds())
	return e, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// withDatabase returns rawURL naming database name instead.
func withDatabase(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("-database-url: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// createDatabases checks that none of names exists, records them as the
// run's, and creates the first (the engine's); Temporal's are created by
// its server on first start.
func createDatabases(ctx context.Context, dbURL string, names []string, e *engine) error {
	conn, err := maintenanceConn(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, n := range names {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", n).Scan(&exists); err != nil {
			return fmt.Errorf("look up database %s: %w", n, err)
		}
		if exists {
			return fmt.Errorf("database %s exists already: not this run's, so it is left alone; start again in a second", n)
		}
	}
	e.Databases = names
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{names[0]}.Sanitize()); err != nil {
		e.Databases = nil
		return fmt.Errorf("create database %s: %w", names[0], err)
	}
	return nil
}

// maintenanceConn connects to the "postgres" database of dbURL's server.
func maintenanceConn(ctx context.Context, dbURL string) (*pgx.Conn, error) {
	m, err := withDatabase(dbURL, "postgres")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", redact(m), err)
	}
	return conn, nil
}

// runOnce runs the engine binary to completion, its output in logPath.
func runOnce(ctx context.Context, bin string, env []string, logPath string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	_ = os.WriteFile(logPath, b, 0o644)
	if err != nil {
		return fmt.Errorf("incident-server %s: %w: %s", strings.Join(args, " "), err, lastLines(b, 5))
	}
	return nil
}

// output runs the engine binary to completion and returns its stdout.
func output(ctx context.Context, bin string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("incident-server %s: %w: %s", args[0], err, lastLines(stderr.Bytes(), 5))
	}
	return string(b), nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// start starts one process of the engine, its stdout and stderr appended
// to <dir>/<label>.log. It runs in a process group of its own, so a Ctrl-C
// at the terminal reaches the benchmark only, which then stops the engine
// in order; should the benchmark die first, the kernel sends the process
// SIGTERM.
func (e *engine) start(bin, label string, env []string, args ...string) (*engineProc, error) {
	logPath := filepath.Join(e.Dir, label+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start incident-server %s: %w", args[0], err)
	}
	p := &engineProc{Label: label, PID: cmd.Process.Pid, Args: redactArgs(args), Log: logPath, cmd: cmd, done: make(chan struct{})}
	e.Procs = append(e.Procs, p)
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
		select {
		case <-e.stopping:
		default:
			select {
			case e.exited <- p:
			default:
			}
		}
	}()
	return p, nil
}

func redactArgs(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if strings.HasPrefix(a, "postgres") {
			out[i] = redact(a)
		}
	}
	return out
}

// awaitHTTP waits until url answers 200, the process exits, or the start
// bound passes.
func awaitHTTP(ctx context.Context, p *engineProc, url string) error {
	return await(ctx, p, func() bool {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, "GET", url, nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// awaitLog waits until the process's log holds line.
func awaitLog(ctx context.Context, p *engineProc, line string) error {
	return await(ctx, p, func() bool {
		b, err := os.ReadFile(p.Log)
		return err == nil && bytes.Contains(b, []byte(line))
	})
}

func await(ctx context.Context, p *engineProc, ready func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, launchReady)
	defer cancel()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.Log)
			return fmt.Errorf("%s exited while starting (%v); last lines of %s:\n%s", p.Label, p.err, p.Log, lastLines(b, 10))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s (%w); see %s", p.Label, launchReady, ctx.Err(), p.Log)
		case <-t.C:
		}
	}
}

// watch cancels the run when a started process ends before stop: a figure
// read from a dead engine is no figure.
func (e *engine) watch(ctx context.Context, cancel context.CancelCauseFunc) {
	go func() {
		select {
		case p := <-e.exited:
			b, _ := os.ReadFile(p.Log)
			cancel(fmt.Errorf("engine process %s (pid %d) exited: %v; last lines of %s:\n%s", p.Label, p.PID, p.err, p.Log, lastLines(b, 10)))
		case <-ctx.Done():
		}
	}()
}

// stop stops a started engine, newest process first (api, worker, then
// Temporal), and removes the run's databases and directory unless they are
// to be kept. An attached engine is left alone.
func (e *engine) stop(out io.Writer) {
	if !e.launched {
		return
	}
	e.stopOnce.Do(func() {
		close(e.stopping)
		for i := len(e.Procs) - 1; i >= 0; i-- {
			p := e.Procs[i]
			select {
			case <-p.done:
				continue
			default:
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopGrace):
				fmt.Fprintf(out, "engine: %s (pid %d) ignored SIGTERM for %s; killing it\n", p.Label, p.PID, stopGrace)
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if e.keep {
			e.Kept = true
			fmt.Fprintf(out, "engine: stopped; kept %s and databases %s (-keep-engine-data)\n", e.Dir, strings.Join(e.Databases, ", "))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var errs []error
		if len(e.Databases) > 0 {
			conn, err := maintenanceConn(ctx, e.DatabaseURL)
			if err != nil {
				errs = append(errs, err)
			} else {
				for _, n := range e.Databases {
					if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
						errs = append(errs, fmt.Errorf("drop database %s: %w", n, err))
					}
				}
				conn.Close(context.Background())
			}
		}
		if e.Dir != "" {
			if err := os.RemoveAll(e.Dir); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintf(out, "engine: stopped; cleaning up the run's data: %v\n", err)
			return
		}
		fmt.Fprintf(out, "engine: stopped; dropped databases %s and removed %s\n", strings.Join(e.Databases, ", "), e.Dir)
	})
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
