package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// The all scenario runs every scenario in turn against one engine and
// writes one JSON, <out>/<UTC start>.json, holding every scenario's results,
// so that a run's figures and the machine's ceilings always travel
// together, and prints one table in which each figure is read against its
// ceiling. The ceilings run first, on an engine that nothing else loads
// yet; the cost scenario runs last, as it leaves the engine's memory grown.

const scenarioAll = "all"

// allScenarios is the order in which all runs them.
var allScenarios = []string{scenarioCeilings, "page-latency", scenarioOpen, scenarioAlert, scenarioCost}

type allParams struct {
	URL         string `json:"url"`
	DatabaseURL string `json:"database_url"`
	temporalFlags
	Out             string   `json:"out"`
	Scenarios       []string `json:"scenarios"`
	PageN           int      `json:"page_latency_n"`
	Duration        string   `json:"duration"`
	CeilingDuration string   `json:"ceiling_duration"`
	CostCounts      string   `json:"cost_counts"`
	CostIdle        string   `json:"cost_idle"`
	CostKeep        bool     `json:"cost_keep"`
	CostTimeout     string   `json:"cost_timeout"`
	GorushURL       string   `json:"gorush_url"`
	launchFlags

	duration, ceilingDuration, costIdle, costTimeout time.Duration
	token                                            string
}

// allSummary holds each scenario's result, and what failed.
type allSummary struct {
	Engine       *engine           `json:"engine"`
	PushReceiver pushReceiver      `json:"push_receiver"`
	LoadAvgEnd   string            `json:"loadavg_at_end"`
	Headlines    []headline        `json:"headlines"`
	Cost         *costSummary      `json:"cost,omitempty"`
	Results      []result          `json:"results"`
	Failures     map[string]string `json:"failures,omitempty"`
}

func parseAllFlags(args []string, stderr io.Writer) (allParams, error) {
	fs := flag.NewFlagSet(scenarioAll, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p allParams
	fs.StringVar(&p.URL, "url", "http://127.0.0.1:8080", "base URL of the running engine")
	fs.StringVar(&p.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable", "the engine's Postgres (ceilings, cost)")
	p.temporalFlags.register(fs)
	fs.StringVar(&p.Out, "out", defaultOut, "directory for the JSON results")
	scen := strings.Join(allScenarios, ",")
	fs.StringVar(&scen, "scenarios", scen, "comma-separated scenarios to run, in the fixed order "+strings.Join(allScenarios, ","))
	fs.IntVar(&p.PageN, "n", 100, "incidents of page-latency (at 5/s)")
	fs.DurationVar(&p.duration, "duration", 10*time.Second, "time of each concurrency level of the throughput scenarios")
	fs.DurationVar(&p.ceilingDuration, "ceiling-duration", 5*time.Second, "time of each level of each ceiling")
	fs.StringVar(&p.CostCounts, "cost-counts", "100,500", "totals of open incidents the cost scenario measures at (the recorded run uses 1000,10000)")
	fs.DurationVar(&p.costTimeout, "cost-timeout", 20*time.Minute, "bound on the cost scenario's opening and measuring")
	fs.DurationVar(&p.costIdle, "cost-idle", 30*time.Second, "the cost scenario's idle window")
	fs.BoolVar(&p.CostKeep, "cost-keep", false, "leave the cost scenario's incidents open (for a throwaway engine)")
	p.launchFlags.register(fs)
	registerGorush(fs, &p.GorushURL)
	registerToken(fs, &p.token)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench all [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs "+strings.Join(allScenarios, ", ")+" in turn, prints one table with")
		fmt.Fprintln(stderr, "each figure beside its ceiling, and writes one JSON, <out>/<UTC start>.json.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	err := parseScenarioFlags(fs, args, func() error {
		p.Scenarios = nil
		for s := range strings.SplitSeq(scen, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(allScenarios, s) {
				return fmt.Errorf("-scenarios: unknown scenario %q", s)
			}
			p.Scenarios = append(p.Scenarios, s)
		}
		switch {
		case p.PageN < 1:
			return fmt.Errorf("-n must be at least 1")
		case p.duration <= 0 || p.duration > time.Hour || p.ceilingDuration <= 0 || p.ceilingDuration > time.Hour:
			return fmt.Errorf("-duration and -ceiling-duration must be above 0 and at most 1h")
		case p.Out == "":
			return fmt.Errorf("-out must name a directory")
		}
		if err := p.launchFlags.check(); err != nil {
			return err
		}
		p.Duration, p.CeilingDuration, p.CostIdle, p.CostTimeout = p.duration.String(), p.ceilingDuration.String(), p.costIdle.String(), p.costTimeout.String()
		return nil
	})
	return p, err
}

// subArgs are the flags all passes on to one scenario.
func (p allParams) subArgs(name string) []string {
	switch name {
	case "page-latency":
		return []string{"-url", p.URL, "-out", p.Out, "-n", fmt.Sprint(p.PageN), "-token", p.token}
	case scenarioCeilings:
		return []string{"-database-url", p.DatabaseURL, "-out", p.Out, "-duration", p.CeilingDuration,
			"-temporal-address", p.TemporalAddress, "-temporal-namespace", p.TemporalNamespace}
	case scenarioCost:
		// The engine itself is handed over as costParams.eng.
		return []string{"-url", p.URL, "-database-url", p.DatabaseURL, "-out", p.Out, "-token", p.token,
			"-counts", p.CostCounts, "-idle", p.CostIdle, fmt.Sprintf("-keep=%t", p.CostKeep), "-timeout", p.CostTimeout,
			"-gorush-url", p.GorushURL}
	}
	return []string{"-url", p.URL, "-out", p.Out, "-duration", p.Duration, "-token", p.token}
}

func runAll(args []string) error {
	p, err := parseAllFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	out := os.Stdout
	sum := allSummary{Failures: map[string]string{}}
	started := time.Now().UTC()
	mach := thisMachine()
	fail := func(name string, err error) {
		sum.Failures[name] = err.Error()
		fmt.Fprintf(out, "%s: %v\n", name, err)
	}
	sum.PushReceiver = probePush(context.Background(), p.GorushURL)
	fmt.Fprintf(out, "machine: %d CPUs (%s), %s, load average %s at start\n", mach.NumCPU, mach.CPUModel, mach.MemTotal, mach.LoadAvg)
	// One engine for every scenario: found at -url, or started here in
	// the -topology shape, on databases of its own, and stopped at the end.
	launchCtx, cancelLaunch := runContext(launchReady + time.Minute)
	eng, err := openEngine(launchCtx, p.launchFlags, p.URL, p.TemporalAddress, p.DatabaseURL, p.GorushURL, out)
	cancelLaunch()
	if err != nil {
		return err
	}
	defer eng.stop(out)
	sum.Engine = eng
	if eng.launched {
		p.token, p.DatabaseURL = eng.token, eng.DatabaseURL
	}
	fmt.Fprintf(out, "push receiver: %s\n", sum.PushReceiver.Description)

	// Each scenario runs even when an earlier one failed: the others'
	// figures are still worth having.
	for _, name := range p.Scenarios {
		fmt.Fprintln(out, "\n== "+name)
		switch name {
		case "page-latency":
			pp, err := parsePageLatencyFlags(p.subArgs(name), os.Stderr)
			if err != nil {
				fail(name, err)
				continue
			}
			res, ps, err := pageLatency(pp, out)
			if err != nil {
				fail(name, err)
				continue
			}
			sum.Results = append(sum.Results, res)
			hs := pageLatencyHeadlines(ps)
			// Opens the engine refused under load are a result, not a
			// failure of the run: they are counted and noted.
			if err := pageLatencyOutcome(ps, "the combined results"); err != nil {
				hs[0].Note = err.Error()
			}
			sum.Headlines = append(sum.Headlines, hs...)
		case scenarioOpen:
			op, err := parseOpenFlags(p.subArgs(name), os.Stderr)
			if err != nil {
				fail(name, err)
				continue
			}
			ctx, cancel := runContext(op.timeout)
			res, hs, err := openThroughput(ctx, op, out)
			cancel()
			sum.add(name, res, hs, err, fail)
		case scenarioAlert:
			ap, err := parseAlertFlags(p.subArgs(name), os.Stderr)
			if err != nil {
				fail(name, err)
				continue
			}
			ctx, cancel := runContext(ap.timeout)
			res, hs, err := alertThroughput(ctx, ap, out)
			cancel()
			sum.add(name, res, hs, err, fail)
		case scenarioCeilings:
			cp, err := parseCeilingFlags(p.subArgs(name), os.Stderr)
			if err != nil {
				fail(name, err)
				continue
			}
			ctx, cancel := runContext(cp.bound())
			res, hs, err := ceilings(ctx, cp, out)
			cancel()
			sum.add(name, res, hs, err, fail)
		case scenarioCost:
			cp, err := parseCostFlags(p.subArgs(name), os.Stderr)
			if err != nil {
				fail(name, err)
				continue
			}
			cp.eng = eng
			ctx, cancel := runContext(cp.timeout)
			res, hs, err := cost(ctx, cp, out)
			cancel()
			sum.add(name, res, hs, err, fail)
			if cs, ok := res.Summary.(costSummary); ok {
				sum.Cost = &cs
			}
		}
	}

	attachCeilings(sum.Headlines)
	sum.LoadAvgEnd = loadAvg()
	fmt.Fprintln(out)
	fmt.Fprintf(out, "incident-bench, %s, %d CPUs, load average %s at start and %s at end\n",
		started.Format(time.RFC3339), mach.NumCPU, mach.LoadAvg, sum.LoadAvgEnd)
	fmt.Fprintf(out, "push receiver: %s\n\n", sum.PushReceiver.Description)
	printHeadlines(out, true, sum.Headlines)
	if sum.Cost != nil {
		fmt.Fprintln(out)
		printCost(out, *sum.Cost)
	}
	path, err := writeResult(p.Out, result{
		Scenario:   scenarioAll,
		Parameters: p,
		Machine:    mach,
		StartedAt:  started,
		EndedAt:    time.Now().UTC(),
		Summary:    sum,
		Samples:    []any{},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nresults: %s\n", path)
	if len(sum.Failures) > 0 {
		return errors.New(fmt.Sprint(len(sum.Failures), " scenario(s) failed; see ", path))
	}
	return nil
}

func (s *allSummary) add(name string, res result, hs []headline, err error, fail func(string, error)) {
	if err != nil {
		fail(name, err)
		return
	}
	s.Results = append(s.Results, res)
	s.Headlines = append(s.Headlines, hs...)
}
