package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The cost scenario asks what an open incident costs the engine while
// nothing happens: it opens incidents through the API in steps up to each
// -counts total, waits until every one is recorded and has paged its first
// step, then
// watches the engine's processes through an idle window (resident memory,
// CPU) and reads the sizes of the engine's Postgres database and of
// Temporal's store (SQLite files or Postgres databases). Every incident sits
// on a two-step policy whose second step is -step-delay away and on an SLA
// policy with long targets, so each holds a pending durable timer and its
// SLA deadlines while it waits. With -topology the benchmark starts the
// engine itself (topology.go), and the Temporal server, the worker and the
// API are read as separate processes.
//
// The differences between steps, divided by the incidents added, are the
// cost of one more open incident.

const scenarioCost = "cost"

type costParams struct {
	URL         string `json:"url"`
	DatabaseURL string `json:"database_url"`
	temporalFlags
	launchFlags
	Counts      []int `json:"counts"`
	Concurrency int   `json:"concurrency"`
	// Backlog bounds the incidents sent but not yet paged, so the engine
	// is never handed more than it can take in a few seconds.
	Backlog   int    `json:"backlog"`
	Idle      string `json:"idle_window"`
	Quiet     string `json:"quiet_before_window"`
	StepDelay string `json:"step_delay"`
	GorushURL string `json:"gorush_url"`
	Out       string `json:"out"`
	Keep      bool   `json:"keep"`
	Timeout   string `json:"timeout"`

	idle, quiet, stepDelay, timeout time.Duration
	token                           string
	// eng is the engine of a combined run, which starts (or finds) it
	// once for every scenario; nil makes the scenario open its own.
	eng *engine
}

// costPoint is the engine at one number of open incidents.
type costPoint struct {
	OpenIncidents int `json:"open_incidents"`
	// Added is how many this step opened; OpenS is from its first open
	// sent until every incident was recorded and paged.
	Added          int     `json:"added"`
	OpenS          float64 `json:"open_s,omitempty"`
	OpensPerSecond float64 `json:"opens_per_second,omitempty"`
	OpenErrors     int     `json:"open_errors,omitempty"`
	FirstError     string  `json:"first_error,omitempty"`
	// Engine is every process together; Processes each one.
	Engine    idleReading   `json:"engine"`
	Processes []procReading `json:"processes"`
	storeSizes
}

// costDelta is what each incident added between two points.
type costDelta struct {
	From int `json:"from"`
	To   int `json:"to"`
	// RSSBytesPerIncident uses the last reading of each window, of every
	// process together; ProcessRSSBytesPerIncident of each.
	RSSBytesPerIncident        float64            `json:"rss_bytes_per_incident"`
	ProcessRSSBytesPerIncident map[string]float64 `json:"process_rss_bytes_per_incident"`
	// CPUPercentPer1000 is idle CPU (percent of one core) per 1,000 incidents.
	CPUPercentPer1000        float64 `json:"cpu_percent_per_1000_incidents"`
	PostgresBytesPerIncident float64 `json:"postgres_bytes_per_incident"`
	TemporalBytesPerIncident float64 `json:"temporal_bytes_per_incident"`
}

type costFixtures struct {
	Suffix      string `json:"suffix"`
	Service     string `json:"service"`
	PolicyID    string `json:"policy_id"`
	UserID      string `json:"user_id"`
	SLAPolicyID string `json:"sla_policy_id"`
	Severity    string `json:"severity"`
}

type costSummary struct {
	Engine       *engine      `json:"engine"`
	PushReceiver pushReceiver `json:"push_receiver"`
	Pushes       int64        `json:"pushes_during_run"`
	Fixtures     costFixtures `json:"fixtures"`
	Points       []costPoint  `json:"points"`
	Deltas       []costDelta  `json:"per_incident"`
	Cleanup      *costCleanup `json:"cleanup,omitempty"`
}

type costCleanup struct {
	Resolved   int     `json:"resolved"`
	Failed     int     `json:"failed"`
	Seconds    float64 `json:"seconds"`
	FirstError string  `json:"first_error,omitempty"`
}

func parseCostFlags(args []string, stderr io.Writer) (costParams, error) {
	fs := flag.NewFlagSet(scenarioCost, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p costParams
	fs.StringVar(&p.URL, "url", "http://127.0.0.1:8080", "base URL of the running engine")
	fs.StringVar(&p.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable",
		"the engine's Postgres (sizes and progress are read there; with -topology, the server the run's database is created on)")
	p.temporalFlags.register(fs)
	p.launchFlags.register(fs)
	counts := &levelsFlag{levels: []int{1000, 10000}, name: "-counts", max: 1_000_000}
	fs.Var(counts, "counts", "comma-separated totals of open incidents to measure at, ascending")
	fs.IntVar(&p.Concurrency, "concurrency", 16, "opens (and resolves) in flight at once")
	fs.IntVar(&p.Backlog, "backlog", 400, "most incidents sent but not yet paged")
	fs.DurationVar(&p.idle, "idle", 30*time.Second, "idle window over which memory and CPU are read")
	fs.DurationVar(&p.quiet, "quiet", 5*time.Second, "pause after the last incident paged, before the idle window")
	fs.DurationVar(&p.stepDelay, "step-delay", 24*time.Hour, "delay of the policy's second step: the timer each incident holds")
	registerGorush(fs, &p.GorushURL)
	fs.StringVar(&p.Out, "out", defaultOut, "directory for the JSON results")
	fs.BoolVar(&p.Keep, "keep", false, "leave the incidents open at the end instead of resolving them")
	fs.DurationVar(&p.timeout, "timeout", 20*time.Minute, "bound on opening and measuring, cleanup excepted")
	registerToken(fs, &p.token)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench cost [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Opens incidents through POST /api/v1/incidents (each holding a pending escalation timer and SLA")
		fmt.Fprintln(stderr, "deadlines) up to each -counts total and reads the idle engine's memory and CPU and the databases'")
		fmt.Fprintln(stderr, "sizes there.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	err := parseScenarioFlags(fs, args, func() error {
		p.Counts = counts.levels
		switch {
		case !slices.IsSorted(p.Counts) || len(slices.Compact(slices.Clone(p.Counts))) != len(p.Counts):
			return fmt.Errorf("-counts must ascend")
		case p.Concurrency < 1 || p.Concurrency > maxConcurrency:
			return fmt.Errorf("-concurrency must be from 1 to %d", maxConcurrency)
		case p.Backlog < p.Concurrency:
			return fmt.Errorf("-backlog must be at least -concurrency")
		case p.idle < time.Second || p.quiet < 0:
			return fmt.Errorf("-idle must be at least 1s and -quiet not negative")
		case p.stepDelay < time.Hour || p.stepDelay > 24*time.Hour:
			return fmt.Errorf("-step-delay must be from 1h to 24h, long enough never to fire during a run")
		case p.timeout <= 0 || p.Out == "":
			return fmt.Errorf("-timeout must be positive and -out name a directory")
		}
		if err := p.launchFlags.check(); err != nil {
			return err
		}
		p.Idle, p.Quiet, p.StepDelay, p.Timeout = p.idle.String(), p.quiet.String(), p.stepDelay.String(), p.timeout.String()
		return nil
	})
	return p, err
}

func runCost(args []string) error {
	res, err := runStandalone(args, parseCostFlags, func(p costParams) (time.Duration, string) { return p.timeout, p.Out }, cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout)
	printCost(os.Stdout, res.Summary.(costSummary))
	return nil
}

// costRun holds what the scenario's steps share.
type costRun struct {
	p   costParams
	c   *client
	db  *pgx.Conn
	fx  costFixtures
	out io.Writer
	eng *engine

	mu  sync.Mutex
	ids []string
}

func cost(ctx context.Context, p costParams, out io.Writer) (result, []headline, error) {
	eng := p.eng
	if eng == nil {
		var err error
		if eng, err = openEngine(ctx, p.launchFlags, p.URL, p.TemporalAddress, p.DatabaseURL, p.GorushURL, out); err != nil {
			return result{}, nil, err
		}
		defer eng.stop(out)
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		eng.watch(ctx, cancel)
		if eng.token != "" {
			p.token = eng.token
		}
	}
	c, err := newClient(eng.APIURL, maxConcurrency, p.token)
	if err != nil {
		return result{}, nil, err
	}
	defer c.close()
	ready, err := checkReady(ctx, c)
	if err != nil {
		return result{}, nil, err
	}
	sum := costSummary{Engine: eng}
	dbctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	db, err := pgx.Connect(dbctx, eng.DatabaseURL)
	cancel()
	if err != nil {
		return result{}, nil, fmt.Errorf("postgres: %w", err)
	}
	defer db.Close(context.Background())
	r := &costRun{p: p, c: c, db: db, out: out, eng: eng}
	sum.PushReceiver = probePush(ctx, p.GorushURL)
	if r.fx, err = setupCostFixtures(ctx, c, p.stepDelay); err != nil {
		return result{}, nil, err
	}
	sum.Fixtures = r.fx
	fmt.Fprintf(out, "%s: engine %s ready: %s; service %s; opening %d at a time, up to %v; idle window %s\n",
		scenarioCost, c.base, ready, r.fx.Service, p.Concurrency, p.Counts, p.idle)
	fmt.Fprintf(out, "  engine: %s\n", eng.describe())
	fmt.Fprintf(out, "  push receiver: %s\n", sum.PushReceiver.Description)

	started := time.Now().UTC()
	err = func() error {
		// The baseline: the engine with none of this run's incidents.
		if !sleepCtx(ctx, p.quiet) {
			return ctx.Err()
		}
		pt, err := r.measure(ctx, 0)
		if err != nil {
			return err
		}
		sum.Points = append(sum.Points, pt)
		r.printPoint(pt)
		for _, n := range p.Counts {
			pt, err := r.openUpTo(ctx, n)
			if err != nil {
				return err
			}
			if !sleepCtx(ctx, p.quiet) {
				return ctx.Err()
			}
			m, err := r.measure(ctx, n)
			if err != nil {
				return err
			}
			m.Added, m.OpenS, m.OpensPerSecond, m.OpenErrors, m.FirstError = pt.Added, pt.OpenS, pt.OpensPerSecond, pt.OpenErrors, pt.FirstError
			sum.Points = append(sum.Points, m)
			r.printPoint(m)
		}
		return nil
	}()
	ended := time.Now().UTC()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			err = cause
		}
		fmt.Fprintf(out, "  stopped: %v\n", err)
	}
	sum.Deltas = costDeltas(sum.Points)
	if after := probePush(context.Background(), p.GorushURL); after.Kind != "unknown" {
		sum.Pushes = after.Pushes - sum.PushReceiver.Pushes
	}

	if !p.Keep && !(eng.launched && !eng.keep) {
		// A started engine's databases are dropped whole at the end:
		// resolving its incidents first would only take time.
		cl := r.cleanup()
		sum.Cleanup = &cl
		fmt.Fprintf(out, "  cleanup: resolved %d in %.0f s, failed %d %s\n", cl.Resolved, cl.Seconds, cl.Failed, cl.FirstError)
	}
	if err != nil && len(sum.Points) < 2 {
		return result{}, nil, err
	}
	return result{
		Scenario:   scenarioCost,
		Parameters: p,
		Machine:    thisMachine(),
		Engine:     map[string]any{"ready_checks": ready.Checks, "engine": eng, "push_receiver": sum.PushReceiver},
		StartedAt:  started,
		EndedAt:    ended,
		Summary:    sum,
		Samples:    sum.Points,
	}, costHeadlines(sum), nil
}

// setupCostFixtures creates a user with an iOS device, a policy paging
// them at once and again stepDelay later, a service on it, and an SLA
// policy for the service with targets far beyond any run.
func setupCostFixtures(ctx context.Context, c *client, stepDelay time.Duration) (costFixtures, error) {
	sfx := randomSuffix()
	fx := costFixtures{Suffix: sfx, Service: "bench-cost-" + sfx, Severity: "high"}
	u, err := createUser(ctx, c, "bench cost "+sfx, "bench-cost-"+sfx+"@example.com", pushToken())
	if err != nil {
		return fx, err
	}
	fx.UserID = u.ID
	pol, err := createPolicy(ctx, c, policy{
		Name: "bench cost " + sfx,
		Steps: []policyStep{
			{Delay: stepDelay.String(), Targets: []target{{Type: "user", ID: u.ID}}},
			{Delay: stepDelay.String(), Targets: []target{{Type: "user", ID: u.ID}}},
		},
	})
	if err != nil {
		return fx, err
	}
	fx.PolicyID = pol.ID
	if err := createService(ctx, c, service{ID: fx.Service, Name: "bench cost " + sfx, EscalationPolicyID: pol.ID}); err != nil {
		return fx, err
	}
	var sla created
	if _, err := c.do(ctx, "POST", "/api/v1/sla-policies", benchSLA(fx.Severity, fx.Service), &sla); err != nil {
		return fx, fmt.Errorf("create sla policy: %w", err)
	}
	fx.SLAPolicyID = sla.ID
	return fx, nil
}

// paged counts this run's incidents that are recorded and whose first
// page has been recorded on their timeline: the last write of an open.
func (r *costRun) paged(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var n int
	err := r.db.QueryRow(ctx, `
		SELECT count(DISTINCT t.incident_id)
		FROM timeline_events t JOIN incidents i ON i.id = t.incident_id
		WHERE i.service = $1 AND i.status = 'open' AND t.event_type IN ('notified', 'notify_failed')`,
		r.fx.Service).Scan(&n)
	return n, err
}

// openUpTo opens incidents until total are open and paged. An open that
// fails is counted, not retried with a new incident: the point is then
// taken at the number that did open.
func (r *costRun) openUpTo(ctx context.Context, total int) (costPoint, error) {
	r.mu.Lock()
	have := len(r.ids)
	r.mu.Unlock()
	pt := costPoint{OpenIncidents: total, Added: total - have}
	var sent, paged, errs atomic.Int64
	var firstErr atomic.Value
	// target is what the poller waits for: total until every open has
	// been sent, then what was opened.
	var target atomic.Int64
	target.Store(int64(total))
	done := make(chan struct{})
	start := time.Now()

	// One reader follows progress for everyone: the backlog bound and the
	// end both go by what Postgres holds.
	pollErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		last := time.Now()
		for {
			n, err := r.paged(ctx)
			if err != nil {
				pollErr <- err
				return
			}
			paged.Store(int64(n))
			if int64(n) >= target.Load() {
				close(done)
				return
			}
			if time.Since(last) >= 30*time.Second {
				last = time.Now()
				fmt.Fprintf(r.out, "  %5.0fs  sent %d, recorded and paged %d of %d\n", time.Since(start).Seconds(), int64(have)+sent.Load(), n, total)
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				pollErr <- ctx.Err()
				return
			}
		}
	}()

	var next atomic.Int64
	var wg sync.WaitGroup
	for range r.p.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if next.Add(1) > int64(pt.Added) {
					return
				}
				for int64(have)+sent.Load()-paged.Load() >= int64(r.p.Backlog) {
					if !sleepCtx(ctx, 100*time.Millisecond) {
						return
					}
				}
				if err := r.open(ctx); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	pt.OpenErrors = int(errs.Load())
	if v, ok := firstErr.Load().(string); ok {
		pt.FirstError = v
		fmt.Fprintf(r.out, "  %d opens failed; first: %s\n", pt.OpenErrors, pt.FirstError)
	}
	pt.Added = int(sent.Load())
	pt.OpenIncidents = have + pt.Added
	target.Store(int64(pt.OpenIncidents))
	select {
	case <-done:
	case err := <-pollErr:
		return pt, fmt.Errorf("waiting for %d incidents to be paged: %w", pt.OpenIncidents, err)
	}
	pt.OpenS = time.Since(start).Seconds()
	pt.OpensPerSecond = float64(pt.Added) / pt.OpenS
	return pt, nil
}

// open opens one incident of the run's service through the API, which
// answers once the incident is recorded; openUpTo follows its first page in
// Postgres.
func (r *costRun) open(ctx context.Context) error {
	var inc incident
	if _, err := r.c.do(ctx, "POST", "/api/v1/incidents",
		newIncident{Title: "bench cost " + r.fx.Suffix, Service: r.fx.Service, Severity: r.fx.Severity}, &inc); err != nil {
		return err
	}
	if inc.ID == "" {
		return fmt.Errorf("POST /api/v1/incidents: the answer has no id")
	}
	r.mu.Lock()
	r.ids = append(r.ids, inc.ID)
	r.mu.Unlock()
	return nil
}

// measure reads the engine through the idle window, then the sizes.
func (r *costRun) measure(ctx context.Context, open int) (costPoint, error) {
	pt := costPoint{OpenIncidents: open}
	var err error
	pt.Processes, err = idleWindowProcs(r.eng.pids(), r.p.idle, func(d time.Duration) bool { return sleepCtx(ctx, d) })
	if err != nil {
		return pt, fmt.Errorf("read the engine's processes: %w", err)
	}
	pt.Engine = totalReading(pt.Processes)
	if pt.storeSizes, err = r.eng.sizes(ctx); err != nil {
		return pt, err
	}
	return pt, nil
}

func (r *costRun) printPoint(pt costPoint) {
	line := fmt.Sprintf("  %6d open: RSS %s MiB, idle CPU %.2f %% over %.0f s, Postgres %.1f MiB, Temporal %s %.1f MiB",
		pt.OpenIncidents, rssLine(pt.Processes), pt.Engine.CPUPercent, pt.Engine.WindowS, mib(pt.PostgresBytes),
		pt.TemporalStore, mib(pt.TemporalBytes))
	if pt.Added > 0 {
		line += fmt.Sprintf(" (added %d in %.0f s, %.1f/s to paged)", pt.Added, pt.OpenS, pt.OpensPerSecond)
	}
	fmt.Fprintln(r.out, line)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// cleanup resolves every incident the run opened, through the API.
func (r *costRun) cleanup() costCleanup {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r.mu.Lock()
	ids := slices.Clone(r.ids)
	r.mu.Unlock()
	start := time.Now()
	resolve := func(ctx context.Context, i int) (int, error) {
		return r.c.do(ctx, "POST", "/api/v1/incidents/"+url.PathEscape(ids[i])+"/resolve", command{Actor: "bench"}, nil)
	}
	ls := runLoad(ctx, r.p.Concurrency, 15*time.Minute, len(ids), resolve)
	cl := costCleanup{Resolved: ls.OK, Failed: len(ids) - ls.OK, Seconds: time.Since(start).Seconds(), FirstError: ls.FirstError}
	return cl
}

// costDeltas divides each step's growth by the incidents it added.
func costDeltas(pts []costPoint) []costDelta {
	var ds []costDelta
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		n := float64(b.OpenIncidents - a.OpenIncidents)
		if n <= 0 {
			continue
		}
		ds = append(ds, costDelta{
			From:                       a.OpenIncidents,
			To:                         b.OpenIncidents,
			RSSBytesPerIncident:        float64(b.Engine.RSSBytes-a.Engine.RSSBytes) / n,
			ProcessRSSBytesPerIncident: perProcessRSS(a.Processes, b.Processes, n),
			CPUPercentPer1000:          (b.Engine.CPUPercent - a.Engine.CPUPercent) / n * 1000,
			PostgresBytesPerIncident:   float64(b.PostgresBytes-a.PostgresBytes) / n,
			TemporalBytesPerIncident:   float64(b.TemporalBytes-a.TemporalBytes) / n,
		})
	}
	return ds
}

// costHeadlines are the rows the cost scenario adds to the combined table:
// how fast incidents were opened for it.
func costHeadlines(sum costSummary) []headline {
	var hs []headline
	for _, pt := range sum.Points {
		if pt.Added == 0 {
			continue
		}
		hs = append(hs, headline{Scenario: scenarioCost, Kind: kindCostOpen,
			Measure:   fmt.Sprintf("open to paged, %d → %d open", pt.OpenIncidents-pt.Added, pt.OpenIncidents),
			Count:     pt.Added,
			Errors:    pt.OpenErrors,
			PerSecond: pt.OpensPerSecond,
		})
	}
	return hs
}

// printCost prints the cost table: one row per point, then one per step's
// per-incident growth.
func printCost(w io.Writer, sum costSummary) {
	if len(sum.Points) == 0 {
		return
	}
	labels := procLabels(sum.Points[0].Processes)
	rows := make([][]string, 0, len(sum.Points))
	for _, pt := range sum.Points {
		rows = append(rows, append([]string{strconv.Itoa(pt.OpenIncidents)}, resourceCells(pt.Processes, pt.storeSizes)...))
	}
	printTable(w, append([]string{"open incidents"}, resourceHeader(labels, sum.Points[0].TemporalStore)...), rows)
	if len(sum.Deltas) > 0 {
		fmt.Fprintln(w)
		rows = rows[:0]
		for _, d := range sum.Deltas {
			row := []string{fmt.Sprintf("%d → %d", d.From, d.To)}
			row = append(row, perIncidentCells(labels, d.ProcessRSSBytesPerIncident, d.RSSBytesPerIncident)...)
			row = append(row,
				fmt.Sprintf("%.3f", d.CPUPercentPer1000),
				fmt.Sprintf("%.0f", d.PostgresBytesPerIncident),
				fmt.Sprintf("%.0f", d.TemporalBytesPerIncident),
			)
			rows = append(rows, row)
		}
		header := append([]string{"per incident added"}, perIncidentHeader(labels)...)
		printTable(w, append(header, "CPU %/1000", "Postgres bytes", "Temporal bytes"), rows)
	}
	if sum.Engine != nil {
		fmt.Fprintf(w, "engine: %s; CPU in %% of one core over each idle window\n", sum.Engine.describe())
	}
	fmt.Fprintf(w, "opened through POST /api/v1/incidents; push receiver: %s; %d pushes during the run\n", sum.PushReceiver.Description, sum.Pushes)
	if cl := sum.Cleanup; cl != nil {
		fmt.Fprintf(w, "cleanup: resolved %d in %.0f s, %d failed\n", cl.Resolved, cl.Seconds, cl.Failed)
	}
}
