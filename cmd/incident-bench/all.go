package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// The all scenario runs every scenario in turn against one engine, with
// each one's defaults except a shorter page-latency, and writes one JSON
// holding every scenario's results, so that a run's figures and the
// machine's ceilings always travel together.

const scenarioAll = "all"

type allParams struct {
	URL         string `json:"url"`
	DatabaseURL string `json:"database_url"`
	Out         string `json:"out"`
	PageN       int    `json:"page_latency_n"`
	Duration    string `json:"duration"`

	duration time.Duration
}

// allSummary holds each scenario's result, and what failed.
type allSummary struct {
	Headlines []headline        `json:"headlines"`
	Results   []result          `json:"results"`
	Failures  map[string]string `json:"failures,omitempty"`
}

func parseAllFlags(args []string, stderr io.Writer) (allParams, error) {
	fs := flag.NewFlagSet(scenarioAll, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p allParams
	fs.StringVar(&p.URL, "url", "http://127.0.0.1:8080", "base URL of the running engine")
	fs.StringVar(&p.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable", "Postgres for the ceilings")
	fs.StringVar(&p.Out, "out", "bench/results", "directory for the JSON results")
	fs.IntVar(&p.PageN, "n", 100, "incidents of page-latency")
	fs.DurationVar(&p.duration, "duration", 10*time.Second, "time of each concurrency level of the throughput scenarios (ceilings use half)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench all [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Runs page-latency, open-throughput, alert-throughput and ceilings in turn and writes one JSON.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	err := parseScenarioFlags(fs, args, func() error {
		switch {
		case p.PageN < 1:
			return fmt.Errorf("-n must be at least 1")
		case p.duration <= 0 || p.duration > time.Hour:
			return fmt.Errorf("-duration must be above 0 and at most 1h")
		case p.Out == "":
			return fmt.Errorf("-out must name a directory")
		}
		p.Duration = p.duration.String()
		return nil
	})
	return p, err
}

// subArgs are the flags all passes on to one scenario.
func (p allParams) subArgs(name string) []string {
	switch name {
	case "page-latency":
		return []string{"-url", p.URL, "-out", p.Out, "-n", fmt.Sprint(p.PageN)}
	case scenarioCeilings:
		return []string{"-database-url", p.DatabaseURL, "-out", p.Out, "-duration", (p.duration / 2).String()}
	}
	return []string{"-url", p.URL, "-out", p.Out, "-duration", p.Duration}
}

func runAll(args []string) error {
	p, err := parseAllFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	out := os.Stdout
	sum := allSummary{Failures: map[string]string{}}
	started := time.Now().UTC()
	fail := func(name string, err error) {
		sum.Failures[name] = err.Error()
		fmt.Fprintf(out, "%s: %v\n", name, err)
	}

	// Each scenario runs even when an earlier one failed: the others'
	// figures are still worth having.
	fmt.Fprintln(out, "== page-latency")
	if pp, err := parsePageLatencyFlags(p.subArgs("page-latency"), os.Stderr); err != nil {
		fail("page-latency", err)
	} else if res, ps, err := pageLatency(pp, out); err != nil {
		fail("page-latency", err)
	} else {
		sum.Results = append(sum.Results, res)
		sum.Headlines = append(sum.Headlines, pageLatencyHeadlines(ps)...)
		if err := pageLatencyOutcome(ps, "the combined results"); err != nil {
			fail("page-latency", err)
		}
	}

	fmt.Fprintln(out, "\n== "+scenarioOpen)
	if op, err := parseOpenFlags(p.subArgs(scenarioOpen), os.Stderr); err != nil {
		fail(scenarioOpen, err)
	} else {
		ctx, cancel := runContext(op.timeout)
		res, hs, err := openThroughput(ctx, op, out)
		cancel()
		sum.add(scenarioOpen, res, hs, err, fail)
	}

	fmt.Fprintln(out, "\n== "+scenarioAlert)
	if ap, err := parseAlertFlags(p.subArgs(scenarioAlert), os.Stderr); err != nil {
		fail(scenarioAlert, err)
	} else {
		ctx, cancel := runContext(ap.timeout)
		res, hs, err := alertThroughput(ctx, ap, out)
		cancel()
		sum.add(scenarioAlert, res, hs, err, fail)
	}

	fmt.Fprintln(out, "\n== "+scenarioCeilings)
	if cp, err := parseCeilingFlags(p.subArgs(scenarioCeilings), os.Stderr); err != nil {
		fail(scenarioCeilings, err)
	} else {
		ctx, cancel := runContext(time.Duration(len(cp.Concurrency))*cp.duration + 2*time.Minute)
		res, hs, err := ceilings(ctx, cp, out)
		cancel()
		sum.add(scenarioCeilings, res, hs, err, fail)
	}

	fmt.Fprintln(out)
	printHeadlines(out, true, sum.Headlines)
	path, err := writeResult(p.Out, result{
		Scenario:   scenarioAll,
		Parameters: p,
		Machine:    thisMachine(),
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
