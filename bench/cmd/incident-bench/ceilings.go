package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	tclient "go.temporal.io/sdk/client"
)

// The ceilings scenario measures, on the same machine and in the same run,
// what the engine's figures should be read against: how fast Postgres
// alone takes single-row inserts, and how fast the engine's Temporal
// frontend starts (and runs to completion) a workflow that does nothing.
// An incident open costs several such writes plus a workflow start and its
// tasks, so open-throughput far below both ceilings points at the engine's
// own path, near one of them at that component.

const scenarioCeilings = "ceilings"

type ceilingParams struct {
	DatabaseURL string `json:"database_url"`
	temporalFlags
	Concurrency []int  `json:"concurrency"`
	Duration    string `json:"duration"`
	Out         string `json:"out"`

	duration time.Duration
}

type ceilingSummary struct {
	Inserts []levelStats `json:"postgres_temp_table_inserts"`
	// WorkflowStarts are StartWorkflowExecution calls of the empty
	// workflow, each answered once the start is persisted.
	WorkflowStarts []levelStats `json:"empty_workflow_starts"`
	// WorkflowRuns are start plus wait for completion: the round trip of
	// one workflow task through the frontend, matching and a worker.
	WorkflowRuns []levelStats `json:"empty_workflow_start_to_complete"`
	TaskQueue    string       `json:"task_queue"`
}

func parseCeilingFlags(args []string, stderr io.Writer) (ceilingParams, error) {
	fs := flag.NewFlagSet(scenarioCeilings, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p ceilingParams
	fs.StringVar(&p.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable", "Postgres to measure (the dev Postgres by default)")
	p.temporalFlags.register(fs)
	levels := &levelsFlag{levels: []int{1, 8}}
	fs.Var(levels, "concurrency", "comma-separated connection counts (and workflow starters), run in turn")
	fs.DurationVar(&p.duration, "duration", 5*time.Second, "time each level runs")
	fs.StringVar(&p.Out, "out", defaultOut, "directory for the JSON results")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench ceilings [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Measures single-row INSERTs per second into a temporary table with each -concurrency")
		fmt.Fprintln(stderr, "connection count, and starts per second of an empty workflow (run by this process's own")
		fmt.Fprintln(stderr, "worker on its own task queue) against the engine's Temporal frontend: ceilings to read the")
		fmt.Fprintln(stderr, "engine's throughput against. Each level of each measure runs -duration.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	err := parseScenarioFlags(fs, args, func() error {
		switch {
		case p.DatabaseURL == "":
			return fmt.Errorf("-database-url is required")
		case p.duration <= 0 || p.duration > time.Hour:
			return fmt.Errorf("-duration must be above 0 and at most 1h")
		case p.Out == "":
			return fmt.Errorf("-out must name a directory")
		}
		p.Duration = p.duration.String()
		return nil
	})
	p.Concurrency = levels.levels
	return p, err
}

func runCeilings(args []string) error {
	_, err := runStandalone(args, parseCeilingFlags, func(p ceilingParams) (time.Duration, string) { return p.bound(), p.Out }, ceilings)
	return err
}

// bound is how long a run may take: three measures of every level, plus
// set-up and draining.
func (p ceilingParams) bound() time.Duration {
	return 3*time.Duration(len(p.Concurrency))*p.duration + 2*time.Minute
}

func ceilings(ctx context.Context, p ceilingParams, out io.Writer) (result, []headline, error) {
	cfg, err := pgx.ParseConfig(p.DatabaseURL)
	if err != nil {
		return result{}, nil, fmt.Errorf("-database-url: %w", err)
	}
	fmt.Fprintf(out, "%s: Postgres %s:%d/%s, Temporal %s/%s; concurrency %v, %s each\n", scenarioCeilings,
		cfg.Host, cfg.Port, cfg.Database, p.TemporalAddress, p.TemporalNamespace, p.Concurrency, p.duration)
	sum := ceilingSummary{}
	started := time.Now().UTC()
	for _, n := range p.Concurrency {
		if ctx.Err() != nil {
			break
		}
		ls, err := insertLevel(ctx, cfg, n, p.duration)
		if err != nil {
			return result{}, nil, err
		}
		sum.Inserts = append(sum.Inserts, ls)
		fmt.Fprintf(out, "  %d connections: %d inserts (%.0f/s), %d errors\n", n, ls.OK, ls.PerSecond, ls.Errors)
	}
	if err := workflowCeilings(ctx, p, &sum, out); err != nil {
		return result{}, nil, err
	}
	ended := time.Now().UTC()

	var hs []headline
	for _, ls := range sum.Inserts {
		h := levelHeadline(scenarioCeilings, "postgres INSERT (temp table)", ls)
		h.Measure = fmt.Sprintf("%s, %d connections", measurePGInsert, ls.Concurrency)
		hs = append(hs, h)
	}
	for _, ls := range sum.WorkflowStarts {
		hs = append(hs, levelHeadline(scenarioCeilings, measureWorkflowStart, ls))
	}
	for _, ls := range sum.WorkflowRuns {
		hs = append(hs, levelHeadline(scenarioCeilings, measureWorkflowRun, ls))
	}
	return result{
		Scenario:   scenarioCeilings,
		Parameters: p,
		Machine:    thisMachine(),
		Engine: map[string]string{
			"postgres": fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database),
			"temporal": p.TemporalAddress + "/" + p.TemporalNamespace,
			"note": "temporary tables are not WAL-logged, so these commits need no WAL flush: an upper bound for durable writes; " +
				"the empty workflow runs on the benchmark's own worker and task queue, against the engine's Temporal frontend",
		},
		StartedAt: started,
		EndedAt:   ended,
		Summary:   sum,
		Samples:   hs,
	}, hs, nil
}

// insertLevel opens n connections, each with a temporary table of its own
// (they are per session), and inserts single rows, each its own
// transaction, for d.
func insertLevel(ctx context.Context, cfg *pgx.ConnConfig, n int, d time.Duration) (levelStats, error) {
	conns := make([]*pgx.Conn, 0, n)
	defer func() {
		for _, conn := range conns {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
	}()
	for range n {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := pgx.ConnectConfig(cctx, cfg)
		if err == nil {
			_, err = conn.Exec(cctx, "CREATE TEMPORARY TABLE bench_ceiling (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL)")
			if err != nil {
				_ = conn.Close(cctx)
			}
		}
		cancel()
		if err != nil {
			return levelStats{}, fmt.Errorf("postgres: %w", err)
		}
		conns = append(conns, conn)
	}
	// Each worker owns one connection: a pgx.Conn is not safe for
	// concurrent use, and runLoad's workers take requests in turn, so the
	// worker is found from a channel of idle connections.
	idle := make(chan *pgx.Conn, n)
	for _, conn := range conns {
		idle <- conn
	}
	insert := func(ctx context.Context, i int) (int, error) {
		conn := <-idle
		defer func() { idle <- conn }()
		qctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		_, err := conn.Exec(qctx, "INSERT INTO bench_ceiling (id, payload) VALUES ($1, $2)", i, "incident-bench ceiling row")
		return 0, err
	}
	return runLoad(ctx, n, d, maxOpsPerLevel*10, insert), nil
}

// Measure names of the ceilings, which the combined table looks up.
const (
	measurePGInsert      = "postgres INSERT (temp table)"
	measureWorkflowStart = "empty-workflow start"
	measureWorkflowRun   = "empty-workflow start→complete"
)

// workflowCeilings starts a worker for the empty workflow on a task queue
// of this run's own and measures, at each level, start and wait for
// completion, then starts alone (the worker completes them meanwhile, as
// the engine's worker would its incidents'). Start→complete runs first so
// that no backlog of started workflows is ahead of it; the starts' backlog
// is drained before returning, so the next scenario finds none.
func workflowCeilings(ctx context.Context, p ceilingParams, sum *ceilingSummary, out io.Writer) error {
	tc, err := dialTemporal(ctx, p.temporalFlags)
	if err != nil {
		return err
	}
	defer tc.Close()
	sfx := randomSuffix()
	sum.TaskQueue = "incident-bench-" + sfx
	stop, err := startEmptyWorker(tc, sum.TaskQueue)
	if err != nil {
		return err
	}
	defer stop()
	opts := func(kind string, level, i int) tclient.StartWorkflowOptions {
		return tclient.StartWorkflowOptions{
			ID:                       fmt.Sprintf("incident-bench-empty/%s/%s/%d/%d", sfx, kind, level, i),
			TaskQueue:                sum.TaskQueue,
			WorkflowExecutionTimeout: 10 * time.Minute,
		}
	}
	for _, n := range p.Concurrency {
		if ctx.Err() != nil {
			return nil
		}
		run := func(ctx context.Context, i int) (int, error) {
			sctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			wr, err := tc.ExecuteWorkflow(sctx, opts("run", n, i), emptyWorkflowName)
			if err != nil {
				return 0, err
			}
			return 0, wr.Get(sctx, nil)
		}
		ls := runLoad(ctx, n, p.duration, maxOpsPerLevel, run)
		sum.WorkflowRuns = append(sum.WorkflowRuns, ls)
		fmt.Fprintf(out, "  %d starters: %d empty workflows started and completed (%.0f/s), %d errors\n", n, ls.OK, ls.PerSecond, ls.Errors)
	}
	var mu sync.Mutex
	var started []tclient.WorkflowRun
	for _, n := range p.Concurrency {
		if ctx.Err() != nil {
			break
		}
		start := func(ctx context.Context, i int) (int, error) {
			sctx, cancel := context.WithTimeout(ctx, requestTimeout)
			defer cancel()
			wr, err := tc.ExecuteWorkflow(sctx, opts("start", n, i), emptyWorkflowName)
			if err == nil {
				mu.Lock()
				started = append(started, wr)
				mu.Unlock()
			}
			return 0, err
		}
		ls := runLoad(ctx, n, p.duration, maxOpsPerLevel, start)
		sum.WorkflowStarts = append(sum.WorkflowStarts, ls)
		fmt.Fprintf(out, "  %d starters: %d empty-workflow starts (%.0f/s), %d errors\n", n, ls.OK, ls.PerSecond, ls.Errors)
	}
	t0 := time.Now()
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, wr := range started {
		if err := wr.Get(dctx, nil); err != nil {
			return fmt.Errorf("drain the empty workflows started: %w", err)
		}
	}
	fmt.Fprintf(out, "  the %d started empty workflows completed %.1f s after the last start\n", len(started), time.Since(t0).Seconds())
	return nil
}
