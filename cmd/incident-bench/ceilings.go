package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// The ceilings scenario measures, on the same machine and in the same run,
// what the engine's figures should be read against: how fast Postgres
// alone takes single-row inserts. An incident open costs several such
// writes plus Temporal's, so open-throughput far below this ceiling points
// at the engine, near it at the database.

const scenarioCeilings = "ceilings"

// skippedWorkflowCeiling says why there is no empty-workflow start rate.
const skippedWorkflowCeiling = "skipped: measuring it needs a Temporal worker registered for an empty workflow, which the engine does not run"

type ceilingParams struct {
	DatabaseURL string `json:"database_url"`
	Concurrency []int  `json:"concurrency"`
	Duration    string `json:"duration"`
	Out         string `json:"out"`

	duration time.Duration
}

type ceilingSummary struct {
	Inserts []levelStats `json:"postgres_temp_table_inserts"`
	Skipped []string     `json:"skipped"`
}

func parseCeilingFlags(args []string, stderr io.Writer) (ceilingParams, error) {
	fs := flag.NewFlagSet(scenarioCeilings, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p ceilingParams
	fs.StringVar(&p.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable", "Postgres to measure (the dev Postgres by default)")
	levels := &levelsFlag{levels: []int{1, 8}}
	fs.Var(levels, "concurrency", "comma-separated connection counts, run in turn")
	fs.DurationVar(&p.duration, "duration", 5*time.Second, "time each level runs")
	fs.StringVar(&p.Out, "out", "bench/results", "directory for the JSON results")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench ceilings [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Measures single-row INSERTs per second into a temporary table with each -concurrency")
		fmt.Fprintln(stderr, "connection count, a ceiling to read the engine's throughput against.")
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
	p, err := parseCeilingFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx, cancel := runContext(time.Duration(len(p.Concurrency))*p.duration + 2*time.Minute)
	defer cancel()
	res, hs, err := ceilings(ctx, p, os.Stdout)
	if err != nil {
		return err
	}
	return finish(os.Stdout, p.Out, res, hs)
}

func ceilings(ctx context.Context, p ceilingParams, out io.Writer) (result, []headline, error) {
	cfg, err := pgx.ParseConfig(p.DatabaseURL)
	if err != nil {
		return result{}, nil, fmt.Errorf("-database-url: %w", err)
	}
	fmt.Fprintf(out, "%s: Postgres %s:%d/%s; connections %v, %s each\n", scenarioCeilings, cfg.Host, cfg.Port, cfg.Database, p.Concurrency, p.duration)
	sum := ceilingSummary{Skipped: []string{skippedWorkflowCeiling}}
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
	ended := time.Now().UTC()

	var hs []headline
	for _, ls := range sum.Inserts {
		h := levelHeadline(scenarioCeilings, "postgres INSERT (temp table)", ls)
		h.Measure = fmt.Sprintf("postgres INSERT (temp table), %d connections", ls.Concurrency)
		hs = append(hs, h)
	}
	hs = append(hs, headline{Scenario: scenarioCeilings, Measure: "empty-workflow start", Note: skippedWorkflowCeiling})
	return result{
		Scenario:   scenarioCeilings,
		Parameters: p,
		Machine:    thisMachine(),
		Engine: map[string]string{
			"postgres": fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database),
			"note":     "temporary tables are not WAL-logged, so these commits need no WAL flush: an upper bound for durable writes",
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
