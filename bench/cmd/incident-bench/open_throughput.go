package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"time"
)

// The open-throughput scenario asks how many incidents the engine opens per
// second, and how an acknowledge behaves under the same load. Each open
// names a service of its own and has no dedup key, so each is a new
// incident with its own workflow: the costly path, not a dedup join. The
// services do not exist, so nobody is paged and paging does not take part.

const scenarioOpen = "open-throughput"

type openParams struct {
	commonFlags
	Concurrency []int `json:"concurrency"`
	Keep        bool  `json:"keep"`
}

// openLevel is one level: opens, then acknowledges of what it opened.
type openLevel struct {
	Open levelStats `json:"open"`
	Ack  levelStats `json:"acknowledge"`
	// NotAcked counts incidents opened but not acknowledged within the
	// acknowledge bound.
	NotAcked int `json:"not_acknowledged"`
}

type openSummary struct {
	Suffix  string         `json:"suffix"`
	Levels  []openLevel    `json:"levels"`
	Cleanup *resolveReport `json:"cleanup,omitempty"`
}

func parseOpenFlags(args []string, stderr io.Writer) (openParams, error) {
	fs := flag.NewFlagSet(scenarioOpen, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p openParams
	p.register(fs, 10*time.Second)
	levels := &levelsFlag{levels: []int{1, 8, 32}}
	fs.Var(levels, "concurrency", "comma-separated concurrency levels, run in turn")
	fs.BoolVar(&p.Keep, "keep", false, "leave the incidents open at the end instead of resolving them")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench open-throughput [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "At each -concurrency level, opens incidents (each on a service of its own, no dedup key)")
		fmt.Fprintln(stderr, "for -duration, then acknowledges them at the same concurrency; finally resolves them all.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	err := parseScenarioFlags(fs, args, p.check)
	p.Concurrency = levels.levels
	return p, err
}

func runOpenThroughput(args []string) error {
	_, err := runStandalone(args, parseOpenFlags, func(p openParams) (time.Duration, string) { return p.timeout, p.Out }, openThroughput)
	return err
}

// runStandalone runs one scenario as a command of its own: parse its
// flags, run it within its bound (or until Ctrl-C), print its table and
// write its results file. bound gives the time limit and results directory.
func runStandalone[P any](args []string, parse func([]string, io.Writer) (P, error), bound func(P) (time.Duration, string),
	run func(context.Context, P, io.Writer) (result, []headline, error)) (result, error) {
	p, err := parse(args, os.Stderr)
	if err != nil {
		return result{}, err
	}
	limit, dir := bound(p)
	ctx, cancel := runContext(limit)
	defer cancel()
	res, hs, err := run(ctx, p, os.Stdout)
	if err != nil {
		return result{}, err
	}
	return res, finish(os.Stdout, dir, res, hs)
}

// openThroughput runs the scenario and returns its result and table rows.
func openThroughput(ctx context.Context, p openParams, out io.Writer) (result, []headline, error) {
	c, err := newClient(p.URL, maxConcurrency, p.token)
	if err != nil {
		return result{}, nil, err
	}
	defer c.close()
	ready, err := checkReady(ctx, c)
	if err != nil {
		return result{}, nil, err
	}
	sum := openSummary{Suffix: randomSuffix()}
	fmt.Fprintf(out, "%s: engine %s ready: %s; levels %v, %s each\n", scenarioOpen, c.base, ready, p.Concurrency, p.duration)

	started := time.Now().UTC()
	var all []string        // every incident opened, for cleanup
	failedSvc := []string{} // services whose open answered an error: it may have gone through
	body := command{Actor: "bench"}
	for li, conc := range p.Concurrency {
		if ctx.Err() != nil {
			break
		}
		var mu sync.Mutex
		ids := make([]string, 0, 1024)
		open := func(ctx context.Context, i int) (int, error) {
			svc := fmt.Sprintf("bench-ot-%s-%d-%d", sum.Suffix, li, i)
			var inc incident
			status, err := c.do(ctx, "POST", "/api/v1/incidents",
				newIncident{Title: "bench open-throughput " + sum.Suffix, Service: svc, Severity: "low"}, &inc)
			if err == nil && (status != 201 || inc.ID == "") {
				err = fmt.Errorf("open: want 201 with an id, got %d", status)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failedSvc = append(failedSvc, svc)
				return status, err
			}
			ids = append(ids, inc.ID)
			return status, nil
		}
		lvl := openLevel{Open: runLoad(ctx, conc, p.duration, maxOpsPerLevel, open)}
		all = append(all, ids...)

		// Acknowledge every incident this level opened. The bound is
		// generous since acknowledging may be slower than opening; what is
		// left unacknowledged is counted and still resolved below.
		ack := func(ctx context.Context, i int) (int, error) {
			return c.do(ctx, "POST", "/api/v1/incidents/"+url.PathEscape(ids[i])+"/acknowledge", body, nil)
		}
		lvl.Ack = runLoad(ctx, conc, 2*p.duration+30*time.Second, len(ids), ack)
		lvl.NotAcked = len(ids) - lvl.Ack.OK
		sum.Levels = append(sum.Levels, lvl)
		fmt.Fprintf(out, "  concurrency %d: opened %d (%.1f/s, %d errors), acknowledged %d (%d errors)\n",
			conc, lvl.Open.OK, lvl.Open.PerSecond, lvl.Open.Errors, lvl.Ack.OK, lvl.Ack.Errors)
	}
	ended := time.Now().UTC()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(out, "  stopped: -timeout %s reached\n", p.timeout)
	}

	if !p.Keep {
		cctx, ccancel := context.WithTimeout(context.Background(), cleanupTimeout)
		rep := resolveIDs(cctx, c, all)
		// An open that answered an error may still have gone through; one
		// listing of each such service finds those recorded by now.
		for _, svc := range failedSvc {
			if cctx.Err() != nil {
				break
			}
			late, err := activeIncidentIDs(cctx, c, svc)
			if err != nil {
				rep.Errors = append(rep.Errors, "list "+svc+": "+err.Error())
				continue
			}
			more := resolveIDs(cctx, c, late)
			rep.Resolved += more.Resolved
			rep.Already += more.Already
			rep.Failed += more.Failed
			rep.Unknown += len(late)
			rep.Errors = append(rep.Errors, more.Errors...)
		}
		ccancel()
		sum.Cleanup = &rep
		fmt.Fprintf(out, "  cleanup: resolved %d (%d opened despite an error answer), already resolved %d, failed %d\n",
			rep.Resolved, rep.Unknown, rep.Already, rep.Failed)
	}

	var hs []headline
	for _, l := range sum.Levels {
		hs = append(hs, levelHeadline(scenarioOpen, "open", l.Open))
	}
	for _, l := range sum.Levels {
		h := levelHeadline(scenarioOpen, "acknowledge", l.Ack)
		if l.NotAcked > 0 {
			h.Note = fmt.Sprintf("%d opened incidents not acknowledged. %s", l.NotAcked, h.Note)
		}
		hs = append(hs, h)
	}
	return result{
		Scenario:   scenarioOpen,
		Parameters: p,
		Machine:    thisMachine(),
		Engine:     map[string]any{"ready_checks": ready.Checks},
		StartedAt:  started,
		EndedAt:    ended,
		Summary:    sum,
		Samples:    hs,
	}, hs, nil
}

// resolveIDs resolves ids, a few at a time so that cleanup is not load.
func resolveIDs(ctx context.Context, c *client, ids []string) resolveReport {
	var rep resolveReport
	var mu sync.Mutex
	body := command{Actor: "bench"}
	resolve := func(ctx context.Context, i int) (int, error) {
		status, err := c.do(ctx, "POST", "/api/v1/incidents/"+url.PathEscape(ids[i])+"/resolve", body, nil)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			rep.Resolved++
		case statusOf(err) == 409:
			rep.Already++
		default:
			rep.Failed++
			if len(rep.Errors) < 10 {
				rep.Errors = append(rep.Errors, err.Error())
			}
		}
		return status, err
	}
	ls := runLoad(ctx, 8, cleanupTimeout, len(ids), resolve)
	if missed := len(ids) - ls.Requests; missed > 0 {
		rep.Failed += missed
		rep.Errors = append(rep.Errors, fmt.Sprintf("%d incidents not resolved within the cleanup bound", missed))
	}
	return rep
}

// finish prints a scenario's table, writes its results and prints where.
func finish(out io.Writer, dir string, res result, hs []headline) error {
	fmt.Fprintln(out)
	printHeadlines(out, false, hs)
	path, err := writeResult(dir, res)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nresults: %s\n", path)
	return nil
}
