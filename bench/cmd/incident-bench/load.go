package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The throughput scenarios run closed loops: a fixed number of workers each
// send one request, wait for its answer, and send the next, for a fixed
// time. Throughput is then what the engine sustains at that concurrency,
// and latency is not inflated by requests queueing inside the client.

const (
	// maxOpsPerLevel bounds the requests of one level however fast the
	// engine answers, so a loop never runs unbounded even with a long
	// -duration.
	maxOpsPerLevel = 200_000
	// maxConcurrency bounds a level's workers (and so the client's pool).
	maxConcurrency = 256
)

// levelStats is one concurrency level of one operation.
type levelStats struct {
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	OK          int     `json:"ok"`
	Errors      int     `json:"errors"`
	ElapsedS    float64 `json:"elapsed_s"`
	// PerSecond is successful requests per second of the level's wall time.
	PerSecond float64 `json:"per_second"`
	// ErrorsBy counts failed requests by HTTP status ("0" is no answer).
	ErrorsBy   map[string]int `json:"errors_by_status,omitempty"`
	LatencyMs  stats          `json:"latency_ms"`
	FirstError string         `json:"first_error,omitempty"`
}

// op is one request of a load loop; i counts from 0 across all workers. It
// returns the request's status and error (nil for success).
type op func(ctx context.Context, i int) (int, error)

// runLoad runs conc workers calling fn until duration has passed, limit
// requests were sent, or ctx ends, whichever comes first. Latencies are of
// successful requests only: a fast error is not a fast answer.
func runLoad(ctx context.Context, conc int, duration time.Duration, limit int, fn op) levelStats {
	ls := levelStats{Concurrency: conc, ErrorsBy: map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []float64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= limit {
					return
				}
				t0 := time.Now()
				// The request gets the parent context, not the level's:
				// a request in flight when the level ends is answered and
				// counted rather than cut off and miscounted as an error.
				status, err := fn(context.WithoutCancel(ctx), i)
				d := ms(time.Since(t0))
				mu.Lock()
				ls.Requests++
				if err == nil {
					ls.OK++
					lat = append(lat, d)
				} else {
					ls.Errors++
					ls.ErrorsBy[strconv.Itoa(status)]++
					if ls.FirstError == "" {
						ls.FirstError = err.Error()
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	ls.ElapsedS = time.Since(start).Seconds()
	if ls.ElapsedS > 0 {
		ls.PerSecond = float64(ls.OK) / ls.ElapsedS
	}
	ls.LatencyMs = summarize(lat)
	return ls
}

// parseLevels parses "1,8,32".
func parseLevels(s string) ([]int, error) { return parseInts(s, "-concurrency", maxConcurrency) }

// parseInts parses a comma-separated list of integers from 1 to hi; name is
// the flag, for the error.
func parseInts(s, name string, hi int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > hi {
			return nil, fmt.Errorf("%s %q: want a comma-separated list of integers from 1 to %d", name, s, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

// levelsFlag is a flag holding a list of integers: -concurrency levels
// unless name and max say otherwise.
type levelsFlag struct {
	levels []int
	name   string // default "-concurrency"
	max    int    // default maxConcurrency
}

func (l *levelsFlag) String() string {
	parts := make([]string, len(l.levels))
	for i, n := range l.levels {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (l *levelsFlag) Set(s string) error {
	name, hi := l.name, l.max
	if name == "" {
		name = "-concurrency"
	}
	if hi == 0 {
		hi = maxConcurrency
	}
	v, err := parseInts(s, name, hi)
	if err != nil {
		return err
	}
	l.levels = v
	return nil
}

// commonFlags are the flags every engine-driving scenario shares.
type commonFlags struct {
	URL      string `json:"url"`
	Out      string `json:"out"`
	Duration string `json:"duration"`
	Timeout  string `json:"timeout"`

	duration time.Duration
	timeout  time.Duration
	token    string
}

func (cf *commonFlags) register(fs *flag.FlagSet, duration time.Duration) {
	fs.StringVar(&cf.URL, "url", "http://127.0.0.1:8080", "base URL of the running engine")
	fs.StringVar(&cf.Out, "out", defaultOut, "directory for the JSON results")
	fs.DurationVar(&cf.duration, "duration", duration, "time each concurrency level runs")
	fs.DurationVar(&cf.timeout, "timeout", 5*time.Minute, "bound on the whole run, cleanup excepted")
	registerToken(fs, &cf.token)
}

// check validates the common flags after parsing.
func (cf *commonFlags) check() error {
	switch {
	case cf.duration <= 0 || cf.duration > time.Hour:
		return fmt.Errorf("-duration must be above 0 and at most 1h")
	case cf.timeout <= 0:
		return fmt.Errorf("-timeout must be positive")
	case cf.Out == "":
		return fmt.Errorf("-out must name a directory")
	}
	cf.Duration, cf.Timeout = cf.duration.String(), cf.timeout.String()
	return nil
}

// parseScenarioFlags parses args into fs, printing usage and returning
// errUsage for bad flags; check validates what parsing cannot.
func parseScenarioFlags(fs *flag.FlagSet, args []string, check func() error) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	if err := check(); err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		fs.Usage()
		return errUsage
	}
	return nil
}

// runContext is the context of a run: it ends at timeout or on the first
// Ctrl-C (a second one kills the process), so results are still written.
func runContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigCtx.Done()
		stopSignals()
	}()
	ctx, cancel := context.WithTimeout(sigCtx, timeout)
	return ctx, func() { cancel(); stopSignals() }
}

// headline is one line of a scenario's table and of the combined table of
// `all`: a measure, how many samples, a rate and latencies.
type headline struct {
	Scenario string `json:"scenario"`
	Measure  string `json:"measure"`
	// Kind is the measure without its level, and Concurrency the level
	// (0 when it has none): what the combined table matches ceilings by.
	Kind        string  `json:"kind,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Count       int     `json:"count"`
	Errors      int     `json:"errors"`
	PerSecond   float64 `json:"per_second"`
	LatencyMs   stats   `json:"latency_ms"`
	Note        string  `json:"note,omitempty"`
	// Ceiling is the same run's limit this figure reads against, set by
	// the combined run.
	Ceiling *ceilingRef `json:"ceiling,omitempty"`
}

func printHeadlines(w io.Writer, withScenario bool, hs []headline) {
	header := []string{"measure", "count", "errors", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"}
	withCeiling := false
	for _, h := range hs {
		withCeiling = withCeiling || h.Ceiling != nil
	}
	if withCeiling {
		header = append(header, "ceiling (same run)", "vs ceiling")
	}
	rows := make([][]string, 0, len(hs))
	for _, h := range hs {
		label := h.Measure
		if withScenario {
			label = h.Scenario + ": " + h.Measure
		}
		rate := "-"
		if h.PerSecond > 0 {
			rate = fmt.Sprintf("%.1f", h.PerSecond)
		}
		sr := statsRow(label, h.LatencyMs)
		row := append([]string{sr[0], strconv.Itoa(h.Count), strconv.Itoa(h.Errors), rate}, sr[2:]...)
		if withCeiling {
			if h.Ceiling != nil {
				row = append(row, h.Ceiling.String(), h.Ceiling.RatioString())
			} else {
				row = append(row, "", "")
			}
		}
		rows = append(rows, row)
	}
	printTable(w, header, rows)
	for _, h := range hs {
		if h.Note != "" {
			label := h.Measure
			if withScenario {
				label = h.Scenario + ": " + h.Measure
			}
			fmt.Fprintf(w, "note: %s: %s\n", label, h.Note)
		}
	}
}

// levelHeadline turns a level into a headline row.
func levelHeadline(scenario, measure string, ls levelStats) headline {
	h := headline{Scenario: scenario, Measure: fmt.Sprintf("%s, concurrency %d", measure, ls.Concurrency),
		Kind: measure, Concurrency: ls.Concurrency,
		Count: ls.OK, Errors: ls.Errors, PerSecond: ls.PerSecond, LatencyMs: ls.LatencyMs}
	if ls.Errors > 0 {
		h.Note = "errors by HTTP status " + countsLine(ls.ErrorsBy) + " (0 = no answer); first: " + ls.FirstError
	}
	return h
}
