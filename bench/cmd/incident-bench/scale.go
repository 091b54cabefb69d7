package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	tclient "go.temporal.io/sdk/client"
)

// The scale scenario asks what one node of the engine does with many open
// incidents and many heartbeat monitors at once. It opens -incidents
// incidents through the API at a bounded rate, each holding a pending
// escalation timer (-step-delay away) and SLA deadlines, while -monitors
// heartbeat monitors are pinged every -ping-every, and at each of
// -checkpoints it reads:
//
//   - each engine process's resident memory and CPU over an idle window (no
//     opens; the monitors keep pinging, so their cost is in the figure);
//   - the engine's Postgres database and Temporal's store (SQLite file or
//     Postgres databases);
//   - the API's latency, one request at a time, for the incident list, one
//     incident (which asks its workflow), its timeline, and acknowledging
//     an incident not acknowledged yet;
//   - how late pages were whose timers fell due since the previous point: a
//     sample of the incidents (one in -late-every) is on a policy whose
//     second step is -late-delay after the first, so their pages fall due
//     during the run, at times the timeline records (the notify event's
//     due_at), and leave when the ledger says they were claimed;
//   - the heartbeat pings since the previous point (rate, latency, how late
//     the pinger got to them), and a short burst at -ping-burst-clients as
//     fast as they go, with the Temporal history events each ping added to
//     its monitor's workflow.
//
// The first point is the empty engine (with -api-samples incidents for the
// requests to read and acknowledge); the second, with -monitors, adds the
// monitors. The API figures of every later point read against the first.
//
// With -topology the benchmark starts the engine itself on stores of the
// run's own and drops them at the end; without, it measures the engine at
// -url and, unless -keep, resolves its incidents and deletes its monitors
// at the end, which for 100,000 incidents takes long.

const scenarioScale = "scale"

// heartbeatWorkflowPrefix starts a heartbeat monitor's workflow ID
// (contract.HeartbeatWorkflowID in the engine).
const heartbeatWorkflowPrefix = "heartbeat/"

// API operations the checkpoints time.
const (
	apiList     = "list"
	apiGet      = "get"
	apiTimeline = "timeline"
	apiAck      = "acknowledge"
)

var apiOps = []string{apiList, apiGet, apiTimeline, apiAck}

type scaleParams struct {
	URL         string `json:"url"`
	DatabaseURL string `json:"database_url"`
	temporalFlags
	launchFlags
	Incidents        int     `json:"incidents"`
	Checkpoints      []int   `json:"checkpoints"`
	Monitors         int     `json:"monitors"`
	OpenRate         float64 `json:"open_rate"`
	OpenClients      int     `json:"open_clients"`
	Backlog          int     `json:"backlog"`
	StepDelay        string  `json:"step_delay"`
	LateEvery        int     `json:"late_every"`
	LateDelay        string  `json:"late_delay"`
	MonitorInterval  string  `json:"monitor_interval"`
	MonitorClients   int     `json:"monitor_clients"`
	PingEvery        string  `json:"ping_every"`
	PingClients      int     `json:"ping_clients"`
	PingBurst        string  `json:"ping_burst"`
	PingBurstClients int     `json:"ping_burst_clients"`
	Samples          int     `json:"api_samples"`
	Idle             string  `json:"idle_window"`
	Quiet            string  `json:"quiet_before_window"`
	Settle           string  `json:"settle_timeout"`
	GorushURL        string  `json:"gorush_url"`
	Out              string  `json:"out"`
	Keep             bool    `json:"keep"`
	Timeout          string  `json:"timeout"`

	stepDelay, lateDelay, monitorInterval, pingEvery, pingBurst time.Duration
	idle, quiet, settle, timeout                                time.Duration
	token                                                       string
}

func parseScaleFlags(args []string, stderr io.Writer) (scaleParams, error) {
	fs := flag.NewFlagSet(scenarioScale, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p scaleParams
	fs.StringVar(&p.URL, "url", "http://127.0.0.1:8080", "base URL of the engine's API (with -topology: where the started API listens)")
	fs.StringVar(&p.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:55432/incidents?sslmode=disable",
		"the engine's Postgres (with -topology: the server the run's databases are created on)")
	p.temporalFlags.register(fs)
	p.launchFlags.register(fs)
	fs.IntVar(&p.Incidents, "incidents", 100_000, "incidents to open in all")
	checkpoints := fs.String("checkpoints", "", "comma-separated totals of open incidents to measure at (default 0, a tenth of -incidents, -incidents)")
	fs.IntVar(&p.Monitors, "monitors", 10_000, "heartbeat monitors to create and keep pinging (0: none)")
	fs.Float64Var(&p.OpenRate, "open-rate", 50, "most incidents opened per second")
	fs.IntVar(&p.OpenClients, "open-clients", 8, "opens in flight at once")
	fs.IntVar(&p.Backlog, "backlog", 2000, "most incidents opened but not yet paged")
	fs.DurationVar(&p.stepDelay, "step-delay", 24*time.Hour, "delay of the second step of the incidents' policy: the timer each holds")
	fs.IntVar(&p.LateEvery, "late-every", 200, "one incident in this many is on the short policy whose pages fall due during the run")
	fs.DurationVar(&p.lateDelay, "late-delay", 2*time.Minute, "delay of the short policy's second step")
	fs.DurationVar(&p.monitorInterval, "monitor-interval", 5*time.Minute, "the monitors' interval: a monitor not pinged for this long opens an incident")
	fs.IntVar(&p.MonitorClients, "monitor-clients", 8, "monitor creations in flight at once")
	fs.DurationVar(&p.pingEvery, "ping-every", time.Minute, "how often each monitor is pinged")
	fs.IntVar(&p.PingClients, "ping-clients", 16, "pings in flight at once")
	fs.DurationVar(&p.pingBurst, "ping-burst", 10*time.Second, "at each point with monitors, ping as fast as -ping-burst-clients go for this long (0: no burst)")
	fs.IntVar(&p.PingBurstClients, "ping-burst-clients", 8, "clients of the ping burst")
	fs.IntVar(&p.Samples, "api-samples", 100, "requests of each API operation at each point, one at a time")
	fs.DurationVar(&p.idle, "idle", 30*time.Second, "window over which memory and CPU are read at each point")
	fs.DurationVar(&p.quiet, "quiet", 5*time.Second, "pause after the last incident paged, before the window")
	fs.DurationVar(&p.settle, "settle-timeout", 30*time.Minute, "bound on waiting for the opened incidents to be paged, at each point")
	registerGorush(fs, &p.GorushURL)
	fs.StringVar(&p.Out, "out", defaultOut, "directory for the JSON results")
	fs.BoolVar(&p.Keep, "keep", false, "without -topology: leave the incidents open and the monitors in place at the end")
	fs.DurationVar(&p.timeout, "timeout", 8*time.Hour, "bound on the whole run, cleanup excepted")
	registerToken(fs, &p.token)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench scale [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Opens -incidents incidents (each holding a pending timer) while -monitors heartbeat monitors are")
		fmt.Fprintln(stderr, "pinged every -ping-every, and at each of -checkpoints reads every engine process's memory and idle")
		fmt.Fprintln(stderr, "CPU, the stores' sizes, the API's latency, page lateness and the heartbeat figures.")
		fmt.Fprintln(stderr, "With -topology it starts the engine itself (dev, split-sqlite or split-postgres) on stores of its own.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	err := parseScenarioFlags(fs, args, func() error {
		switch {
		case p.Incidents < 0 || p.Incidents > 10_000_000:
			return fmt.Errorf("-incidents must be from 0 to 10000000")
		case p.Monitors < 0 || p.Monitors > 1_000_000:
			return fmt.Errorf("-monitors must be from 0 to 1000000")
		case !(p.OpenRate > 0) || p.OpenRate > maxRate:
			return fmt.Errorf("-open-rate must be above 0 and at most %d", maxRate)
		case p.OpenClients < 1 || p.OpenClients > maxConcurrency || p.PingClients < 1 || p.PingClients > maxConcurrency ||
			p.MonitorClients < 1 || p.MonitorClients > maxConcurrency || p.PingBurstClients < 1 || p.PingBurstClients > maxConcurrency:
			return fmt.Errorf("client counts must be from 1 to %d", maxConcurrency)
		case p.Backlog < p.OpenClients:
			return fmt.Errorf("-backlog must be at least -open-clients")
		case p.stepDelay < time.Hour || p.stepDelay > 24*time.Hour:
			return fmt.Errorf("-step-delay must be from 1h to 24h, long enough never to fire during a run")
		case p.LateEvery < 0:
			return fmt.Errorf("-late-every must not be negative (0: no sample)")
		case p.lateDelay < 10*time.Second || p.lateDelay > time.Hour:
			return fmt.Errorf("-late-delay must be from 10s to 1h")
		case p.pingEvery < time.Second || p.monitorInterval < p.pingEvery+30*time.Second:
			return fmt.Errorf("-ping-every must be at least 1s, and -monitor-interval at least 30s longer, so a ping late by a little opens no incident")
		case p.pingBurst < 0 || p.pingBurst > 10*time.Minute:
			return fmt.Errorf("-ping-burst must be from 0 to 10m")
		case p.Samples < 1 || p.Samples > 10_000:
			return fmt.Errorf("-api-samples must be from 1 to 10000")
		case p.idle < time.Second || p.quiet < 0 || p.settle <= 0 || p.timeout <= 0:
			return fmt.Errorf("-idle must be at least 1s, -quiet not negative, -settle-timeout and -timeout positive")
		case p.Out == "":
			return fmt.Errorf("-out must name a directory")
		}
		cps, err := parseCheckpoints(*checkpoints, p.Incidents)
		if err != nil {
			return err
		}
		p.Checkpoints = cps
		if err := p.launchFlags.check(); err != nil {
			return err
		}
		p.StepDelay, p.LateDelay, p.MonitorInterval = p.stepDelay.String(), p.lateDelay.String(), p.monitorInterval.String()
		p.PingEvery, p.PingBurst = p.pingEvery.String(), p.pingBurst.String()
		p.Idle, p.Quiet, p.Settle, p.Timeout = p.idle.String(), p.quiet.String(), p.settle.String(), p.timeout.String()
		return nil
	})
	return p, err
}

// parseCheckpoints parses -checkpoints: ascending totals from 0 to n, with
// n last (added when missing). The empty engine is always the first point,
// so a 0 in the list adds nothing. Empty s is 0, n/10, n.
func parseCheckpoints(s string, n int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		s = fmt.Sprintf("0,%d,%d", n/10, n)
	}
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 || v > n {
			return nil, fmt.Errorf("-checkpoints %q: want comma-separated totals from 0 to -incidents (%d)", s, n)
		}
		if v == 0 {
			continue
		}
		if len(out) > 0 && v <= out[len(out)-1] {
			return nil, fmt.Errorf("-checkpoints %q must ascend", s)
		}
		out = append(out, v)
	}
	if n > 0 && (len(out) == 0 || out[len(out)-1] != n) {
		out = append(out, n)
	}
	return out, nil
}

// scalePoint is the engine at one checkpoint.
type scalePoint struct {
	// Name is "empty", "monitors" or the checkpoint's total.
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	// Incidents counts the run's incidents in the engine's database (the
	// API samples' and the late sample's included), Answered the opens
	// answered with an incident; they differ by opens that answered an
	// error yet went through. Acknowledged counts those the API samples
	// acknowledged.
	Incidents    int `json:"incidents"`
	Answered     int `json:"opens_answered"`
	Acknowledged int `json:"acknowledged"`
	Monitors     int `json:"monitors"`
	// Open is the opening since the previous point; MonitorsCreated the
	// creation of the monitors, at the point that adds them.
	Open            *openSegment `json:"open,omitempty"`
	MonitorsCreated *levelStats  `json:"monitors_created,omitempty"`
	// Engine is every process together; Processes each one.
	Engine    idleReading   `json:"engine"`
	Processes []procReading `json:"processes"`
	storeSizes
	API       map[string]levelStats `json:"api"`
	Lateness  *latenessStats        `json:"page_lateness,omitempty"`
	Pings     *pingSegment          `json:"pings,omitempty"`
	Burst     *burstStats           `json:"ping_burst,omitempty"`
	Down      int                   `json:"monitors_down"`
	LoadAvg   string                `json:"loadavg"`
	Interrupt string                `json:"interrupted,omitempty"`
}

// openSegment is the opening between two points: OK opens over the time
// from the first send until every opened incident had paged its first step.
// Errors are failed opens, each sent again; some of them may still have
// opened an incident, which the point's count from Postgres includes.
type openSegment struct {
	Sent       int     `json:"sent"`
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	ElapsedS   float64 `json:"elapsed_s"`
	PerSecond  float64 `json:"per_second"`
	LatencyMs  stats   `json:"latency_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// latenessStats are the sample's pages read since the previous point (each
// is read a few seconds after it falls due): from the due time the
// timeline records to the ledger's claim.
type latenessStats struct {
	Paged int `json:"paged"`
	// Missing counts pages due over a minute before the point and not
	// claimed by then, each once.
	Missing int   `json:"missing"`
	ClaimMs stats `json:"due_to_claim_ms"`
}

// pingSegment is the scheduled pings between two points.
type pingSegment struct {
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	ElapsedS   float64 `json:"elapsed_s"`
	PerSecond  float64 `json:"per_second"`
	LatencyMs  stats   `json:"latency_ms"`
	LagMs      stats   `json:"schedule_lag_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// burstStats is the ping burst: closed-loop clients as fast as they go.
type burstStats struct {
	levelStats
	// EventsPerPing is Temporal history events added to sampled monitors'
	// workflows per ping they took during the burst (scheduled pings
	// included); -1 when it could not be read.
	EventsPerPing   float64 `json:"history_events_per_ping"`
	SampledMonitors int     `json:"sampled_monitors"`
	SampledPings    int64   `json:"sampled_pings"`
	Note            string  `json:"note,omitempty"`
}

type scaleFixtures struct {
	Suffix         string `json:"suffix"`
	Service        string `json:"service"`
	LateService    string `json:"late_service"`
	MonitorService string `json:"monitor_service"`
	UserID         string `json:"user_id"`
	PolicyID       string `json:"policy_id"`
	LatePolicyID   string `json:"late_policy_id"`
	Severity       string `json:"severity"`
	key            string
}

type scaleSummary struct {
	Engine       *engine       `json:"engine"`
	PushReceiver pushReceiver  `json:"push_receiver"`
	Pushes       int64         `json:"pushes_during_run"`
	Fixtures     scaleFixtures `json:"fixtures"`
	Points       []scalePoint  `json:"points"`
	LoadAvgEnd   string        `json:"loadavg_at_end"`
	Stopped      string        `json:"stopped,omitempty"`
	Cleanup      *scaleCleanup `json:"cleanup,omitempty"`
}

type scaleCleanup struct {
	Resolved        int     `json:"resolved"`
	ResolveFailed   int     `json:"resolve_failed"`
	MonitorsDeleted int     `json:"monitors_deleted"`
	DeleteFailed    int     `json:"delete_failed"`
	Seconds         float64 `json:"seconds"`
	FirstError      string  `json:"first_error,omitempty"`
}

// lateSample is one incident of the short policy.
type lateSample struct {
	ID        string    `json:"incident_id"`
	OpenedAt  time.Time `json:"opened_at"`
	DueAt     time.Time `json:"step2_due_at,omitzero"`
	ClaimedAt time.Time `json:"step2_claimed_at,omitzero"`
	Reads     int       `json:"reads"`

	nextRead         time.Time
	reported, missed bool
}

func runScale(args []string) error {
	p, err := parseScaleFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	ctx, cancel := runContext(p.timeout)
	defer cancel()
	res, err := scale(ctx, p, os.Stdout)
	if res.Scenario == "" {
		return err
	}
	fmt.Fprintln(os.Stdout)
	printScale(os.Stdout, res.Summary.(scaleSummary))
	path, werr := writeResult(p.Out, res)
	if werr != nil {
		return errors.Join(err, werr)
	}
	fmt.Fprintf(os.Stdout, "\nresults: %s\n", path)
	return err
}

// scaleRun holds what the scenario's steps share.
type scaleRun struct {
	p   scaleParams
	c   *client
	eng *engine
	db  *pgxpool.Pool
	fx  scaleFixtures
	out io.Writer
	rnd *rand.Rand

	mu       sync.Mutex
	opened   int      // every incident opened
	seq      int      // opens sent, for choosing the late sample
	bulk     []string // incidents the API samples read and acknowledge
	acked    map[string]bool
	late     []*lateSample
	monitors []string
	pinger   *pinger
}

func scale(ctx context.Context, p scaleParams, out io.Writer) (result, error) {
	started := time.Now().UTC()
	mach := thisMachine()
	eng, err := openEngine(ctx, p.launchFlags, p.URL, p.TemporalAddress, p.DatabaseURL, p.GorushURL, out)
	if err != nil {
		return result{}, err
	}
	defer eng.stop(out)
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	eng.watch(ctx, cancelCause)
	if eng.token != "" {
		p.token = eng.token
	}
	c, err := newClient(eng.APIURL, maxConcurrency, p.token)
	if err != nil {
		return result{}, err
	}
	defer c.close()
	ready, err := checkReady(ctx, c)
	if err != nil {
		return result{}, err
	}
	db, err := pgxpool.New(ctx, eng.DatabaseURL)
	if err != nil {
		return result{}, fmt.Errorf("postgres: %w", err)
	}
	defer db.Close()
	r := &scaleRun{p: p, c: c, eng: eng, db: db, out: out, acked: map[string]bool{}, rnd: rand.New(rand.NewPCG(uint64(started.UnixNano()), 1))}
	sum := scaleSummary{Engine: eng, PushReceiver: probePush(ctx, p.GorushURL)}
	if r.fx, err = setupScaleFixtures(ctx, c, p); err != nil {
		return result{}, err
	}
	sum.Fixtures = r.fx
	fmt.Fprintf(out, "%s: engine %s ready: %s\n", scenarioScale, c.base, ready)
	fmt.Fprintf(out, "  engine: %s\n", eng.describe())
	fmt.Fprintf(out, "  plan: %d incidents at most %g/s by %d clients (1 in %d due again after %s), %d monitors pinged every %s; points: empty, %s%v\n",
		p.Incidents, p.OpenRate, p.OpenClients, p.LateEvery, p.lateDelay, p.Monitors, p.pingEvery,
		map[bool]string{true: "monitors, ", false: ""}[p.Monitors > 0], p.Checkpoints)
	fmt.Fprintf(out, "  push receiver: %s\n", sum.PushReceiver.Description)

	// The late sample is read in the background, a few incidents at a
	// time, while it falls due.
	bg, stopBG := context.WithCancel(ctx)
	var bgWG sync.WaitGroup
	bgWG.Add(1)
	go func() { defer bgWG.Done(); r.followLate(bg) }()

	runErr := func() error {
		pt, err := r.point(ctx, "empty", nil, nil)
		if err != nil {
			return err
		}
		sum.Points = append(sum.Points, pt)
		if p.Monitors > 0 {
			created, err := r.createMonitors(ctx)
			if err != nil {
				return err
			}
			r.pinger = newPinger(c, r.fx.key, r.monitors, p.pingEvery, p.PingClients)
			bgWG.Add(1)
			go func() { defer bgWG.Done(); r.pinger.run(bg) }()
			pt, err := r.point(ctx, "monitors", nil, &created)
			if err != nil {
				return err
			}
			sum.Points = append(sum.Points, pt)
		}
		for _, cp := range p.Checkpoints {
			seg, err := r.openUpTo(ctx, cp)
			if err != nil {
				return err
			}
			pt, err := r.point(ctx, strconv.Itoa(cp), &seg, nil)
			if err != nil {
				return err
			}
			sum.Points = append(sum.Points, pt)
		}
		return nil
	}()
	if runErr != nil {
		switch cause := context.Cause(ctx); {
		case cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded):
			runErr = cause // an engine process exited
		case errors.Is(cause, context.DeadlineExceeded):
			runErr = fmt.Errorf("-timeout %s reached", p.timeout)
		case errors.Is(cause, context.Canceled):
			runErr = errors.New("interrupted")
		}
		sum.Stopped = runErr.Error()
		fmt.Fprintf(out, "  stopped: %v\n", runErr)
	}
	stopBG()
	bgWG.Wait()
	if after := probePush(context.Background(), p.GorushURL); after.Kind != "unknown" {
		sum.Pushes = after.Pushes - sum.PushReceiver.Pushes
	}
	sum.LoadAvgEnd = loadAvg()
	ended := time.Now().UTC()
	if eng.launched && !eng.keep {
		fmt.Fprintln(out, "  cleanup: the run's databases are dropped with the engine")
	} else if !p.Keep {
		cl := r.cleanup()
		sum.Cleanup = &cl
	}
	r.mu.Lock()
	samples := slices.Clone(r.late)
	r.mu.Unlock()
	res := result{
		Scenario:   scenarioScale,
		Parameters: p,
		Machine:    mach,
		Engine:     map[string]any{"ready_checks": ready.Checks, "engine": eng},
		StartedAt:  started,
		EndedAt:    ended,
		Summary:    sum,
		Samples:    samples,
	}
	if runErr != nil && len(sum.Points) == 0 {
		return res, runErr
	}
	return res, nil
}

// setupScaleFixtures creates a user with an iOS device; the main policy
// (step 1 at once, step 2 after -step-delay) and its service; the short
// policy (step 2 after -late-delay) and its service; an SLA policy with
// targets beyond the run on both; and the monitors' service with an
// integration key.
func setupScaleFixtures(ctx context.Context, c *client, p scaleParams) (scaleFixtures, error) {
	sfx := randomSuffix()
	fx := scaleFixtures{Suffix: sfx, Service: "bench-scale-" + sfx, LateService: "bench-scale-late-" + sfx,
		MonitorService: "bench-scale-hb-" + sfx, Severity: "high"}
	u, err := createUser(ctx, c, "bench scale "+sfx, "bench-scale-"+sfx+"@example.com", pushToken())
	if err != nil {
		return fx, err
	}
	fx.UserID = u.ID
	for _, s := range []struct {
		svc   string
		delay time.Duration
		id    *string
	}{{fx.Service, p.stepDelay, &fx.PolicyID}, {fx.LateService, p.lateDelay, &fx.LatePolicyID}} {
		pol, err := createPolicy(ctx, c, policy{
			Name: "bench scale " + s.svc,
			Steps: []policyStep{
				// Step 1 pages when the incident opens; its delay would
				// only matter before a repeat, and there is none.
				{Delay: "1h", Targets: []target{{Type: "user", ID: u.ID}}},
				{Delay: s.delay.String(), Targets: []target{{Type: "user", ID: u.ID}}},
			},
		})
		if err != nil {
			return fx, err
		}
		*s.id = pol.ID
		if err := createService(ctx, c, service{ID: s.svc, Name: "bench scale " + s.svc, EscalationPolicyID: pol.ID}); err != nil {
			return fx, err
		}
		if _, err := c.do(ctx, "POST", "/api/v1/sla-policies", benchSLA(fx.Severity, s.svc), nil); err != nil {
			return fx, fmt.Errorf("create sla policy: %w", err)
		}
	}
	if p.Monitors > 0 {
		if err := createService(ctx, c, service{ID: fx.MonitorService, Name: "bench scale heartbeats " + sfx}); err != nil {
			return fx, err
		}
		var key createdKey
		if _, err := c.do(ctx, "POST", "/api/v1/services/"+url.PathEscape(fx.MonitorService)+"/integration-keys",
			keyRequest{Name: "bench scale"}, &key); err != nil {
			return fx, fmt.Errorf("create integration key: %w", err)
		}
		if key.Key == "" {
			return fx, errors.New("create integration key: the answer has no key")
		}
		fx.key = key.Key
	}
	return fx, nil
}

// open opens one incident: of the late sample every -late-every, else of
// the main service.
func (r *scaleRun) open(ctx context.Context) (float64, error) {
	r.mu.Lock()
	r.seq++
	isLate := r.p.LateEvery > 0 && r.seq%r.p.LateEvery == 0
	r.mu.Unlock()
	svc := r.fx.Service
	if isLate {
		svc = r.fx.LateService
	}
	var inc incident
	t0 := time.Now()
	if _, err := r.c.do(ctx, "POST", "/api/v1/incidents",
		newIncident{Title: "bench scale " + r.fx.Suffix, Service: svc, Severity: r.fx.Severity}, &inc); err != nil {
		return 0, err
	}
	lat := ms(time.Since(t0))
	if inc.ID == "" {
		return lat, errors.New("POST /api/v1/incidents: the answer has no id")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opened++
	if isLate {
		r.late = append(r.late, &lateSample{ID: inc.ID, OpenedAt: t0})
	} else {
		r.bulk = append(r.bulk, inc.ID)
	}
	return lat, nil
}

// paged counts the run's incidents created since `since` whose first page
// is on their timeline: the last write of an open.
func (r *scaleRun) paged(ctx context.Context, since time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var n int
	err := r.db.QueryRow(ctx, `
		SELECT count(DISTINCT t.incident_id)
		FROM incidents i JOIN timeline_events t ON t.incident_id = i.id
		WHERE i.service = ANY($1) AND i.created_at >= $2 AND t.event_type IN ('notified', 'notify_failed')`,
		[]string{r.fx.Service, r.fx.LateService}, since).Scan(&n)
	return n, err
}

// count counts the run's incidents in the engine's database.
func (r *scaleRun) count(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var n int
	if err := r.db.QueryRow(ctx, "SELECT count(*) FROM incidents WHERE service = ANY($1)",
		[]string{r.fx.Service, r.fx.LateService}).Scan(&n); err != nil {
		return 0, fmt.Errorf("count incidents: %w", err)
	}
	return n, nil
}

// openUpTo opens incidents until total opens have been answered, at most
// -open-rate a second, -open-clients at a time and -backlog ahead of their
// first pages, then waits until every one has paged. A failed open (the
// engine answers 503 when a workflow does not take its update within its
// bound) is counted and another is sent in its place; past errorBudget
// failures the step stops, as the engine is refusing rather than slow.
func (r *scaleRun) openUpTo(ctx context.Context, total int) (openSegment, error) {
	r.mu.Lock()
	want := total - r.opened
	r.mu.Unlock()
	var seg openSegment
	if want <= 0 {
		return seg, nil
	}
	budget := errorBudget(want)
	// Created_at is the database's clock, the same machine's: a second of
	// slack covers the rounding.
	since := time.Now().Add(-time.Second)
	start := time.Now()
	var paged atomic.Int64
	var mu sync.Mutex // guards the counters below and lat
	var sent, ok, inflight, errs int
	var lat []float64
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollErr := make(chan error, 1)
	go func() {
		last := time.Now()
		for {
			n, err := r.paged(pollCtx, since)
			if err != nil {
				if pollCtx.Err() == nil {
					pollErr <- err
				}
				return
			}
			paged.Store(int64(n))
			if time.Since(last) >= 30*time.Second {
				last = time.Now()
				mu.Lock()
				o, e := ok, errs
				mu.Unlock()
				fmt.Fprintf(r.out, "  %5.0fs  opened %d of %d this step (%d errors), paged %d; %s\n",
					time.Since(start).Seconds(), o, want, e, n, r.pingProgress())
			}
			if !sleepCtx(pollCtx, 3*time.Second) {
				return
			}
		}
	}()
	pace := &pacer{every: time.Duration(float64(time.Second) / r.p.OpenRate)}
	stepCtx, stopStep := context.WithCancelCause(ctx)
	defer stopStep(nil)
	var wg sync.WaitGroup
	for range r.p.OpenClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for stepCtx.Err() == nil {
				mu.Lock()
				if ok >= want {
					mu.Unlock()
					return
				}
				busy := ok+inflight >= want || int64(ok)-paged.Load() >= int64(r.p.Backlog)
				if !busy {
					inflight++
				}
				mu.Unlock()
				if busy {
					// Every open still needed is in flight, or the first
					// pages lag too far behind: wait for either to change.
					sleepCtx(stepCtx, 100*time.Millisecond)
					continue
				}
				if !pace.wait(stepCtx) {
					mu.Lock()
					inflight--
					mu.Unlock()
					return
				}
				l, err := r.open(stepCtx)
				mu.Lock()
				inflight--
				sent++
				if err == nil {
					ok++
					lat = append(lat, l)
				} else if stepCtx.Err() == nil {
					errs++
					if seg.FirstError == "" {
						seg.FirstError = err.Error()
					}
					if errs > budget {
						stopStep(fmt.Errorf("%d opens failed, more than %d (first: %s)", errs, budget, seg.FirstError))
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	seg.Sent, seg.OK, seg.Errors = sent, ok, errs
	seg.LatencyMs = summarize(lat)
	if seg.Errors > 0 {
		fmt.Fprintf(r.out, "  %d opens failed and were sent again; first: %s\n", seg.Errors, seg.FirstError)
	}
	if err := context.Cause(stepCtx); err != nil && ctx.Err() == nil {
		return seg, err
	}
	if ctx.Err() != nil {
		return seg, ctx.Err()
	}
	if err := r.awaitPaged(ctx, since, seg.OK, pollErr); err != nil {
		return seg, err
	}
	seg.ElapsedS = time.Since(start).Seconds()
	if seg.ElapsedS > 0 {
		seg.PerSecond = float64(seg.OK) / seg.ElapsedS
	}
	return seg, nil
}

// errorBudget is how many failed opens a step of want opens tolerates: a
// tenth of them, and at least 100.
func errorBudget(want int) int { return max(100, want/10) }

// awaitPaged waits until n incidents created since `since` have paged, or
// the settle bound passes.
func (r *scaleRun) awaitPaged(ctx context.Context, since time.Time, n int, pollErr <-chan error) error {
	deadline := time.Now().Add(r.p.settle)
	last := time.Now()
	for {
		got, err := r.paged(ctx, since)
		if err != nil {
			return fmt.Errorf("count paged incidents: %w", err)
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d incidents paged after -settle-timeout %s", got, n, r.p.settle)
		}
		if time.Since(last) >= 30*time.Second {
			last = time.Now()
			fmt.Fprintf(r.out, "  waiting for first pages: %d of %d\n", got, n)
		}
		select {
		case err := <-pollErr:
			return fmt.Errorf("count paged incidents: %w", err)
		default:
		}
		if !sleepCtx(ctx, 2*time.Second) {
			return ctx.Err()
		}
	}
}

// pacer spaces events at most one per every.
type pacer struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func (p *pacer) wait(ctx context.Context) bool {
	p.mu.Lock()
	now := time.Now()
	t := p.next
	if t.Before(now) {
		t = now
	}
	p.next = t.Add(p.every)
	p.mu.Unlock()
	return sleepCtx(ctx, time.Until(t))
}

// topUp opens incidents until n of the main service's are unacknowledged,
// for the API samples to acknowledge.
func (r *scaleRun) topUp(ctx context.Context, n int) (openSegment, error) {
	r.mu.Lock()
	have := len(r.bulk) - len(r.acked)
	total := r.opened + max(0, n-have)
	r.mu.Unlock()
	if have >= n {
		return openSegment{}, nil
	}
	// The late sample is not for acknowledging: open a little more so the
	// main service gets n.
	if r.p.LateEvery > 1 {
		total += (n-have)/(r.p.LateEvery-1) + 1
	}
	return r.openUpTo(ctx, total)
}

// point measures the engine: after open (the opening that led here) and
// created (monitors created since the previous point), it tops the API
// samples up, waits for quiet, reads the processes over the idle window,
// the stores, the API, the lateness and the heartbeat figures.
func (r *scaleRun) point(ctx context.Context, name string, open *openSegment, created *levelStats) (scalePoint, error) {
	pt := scalePoint{Name: name, Open: open, MonitorsCreated: created}
	extra, err := r.topUp(ctx, r.p.Samples)
	if err != nil {
		return pt, err
	}
	if open == nil && extra.OK > 0 {
		pt.Open = &extra
	}
	if !sleepCtx(ctx, r.p.quiet) {
		return pt, ctx.Err()
	}
	pt.Processes, err = idleWindowProcs(r.eng.pids(), r.p.idle, func(d time.Duration) bool { return sleepCtx(ctx, d) })
	if err != nil {
		return pt, fmt.Errorf("read the engine's processes: %w", err)
	}
	pt.Engine = totalReading(pt.Processes)
	if pt.storeSizes, err = r.eng.sizes(ctx); err != nil {
		return pt, err
	}
	pt.API = r.apiSamples(ctx)
	pt.At = time.Now().UTC()
	pt.Lateness = r.lateness(pt.At)
	if r.pinger != nil {
		s := r.pinger.segment()
		pt.Pings = &s
		if r.p.pingBurst > 0 {
			b := r.burst(ctx)
			pt.Burst = &b
		}
		ids, err := activeIncidentIDs(ctx, r.c, r.fx.MonitorService)
		if err != nil {
			return pt, fmt.Errorf("list missed heartbeats: %w", err)
		}
		pt.Down = len(ids)
	}
	r.mu.Lock()
	pt.Answered, pt.Acknowledged, pt.Monitors = r.opened, len(r.acked), len(r.monitors)
	r.mu.Unlock()
	if pt.Incidents, err = r.count(ctx); err != nil {
		return pt, err
	}
	pt.LoadAvg = loadAvg()
	if ctx.Err() != nil {
		return pt, ctx.Err()
	}
	r.printPoint(pt)
	return pt, nil
}

// apiSamples times -api-samples requests of each operation, one at a time:
// the incident list, random incidents, their timelines, and acknowledging
// incidents of the main service not acknowledged yet.
func (r *scaleRun) apiSamples(ctx context.Context) map[string]levelStats {
	r.mu.Lock()
	ids := slices.Clone(r.bulk)
	var unacked []string
	for _, id := range ids {
		if !r.acked[id] {
			unacked = append(unacked, id)
		}
	}
	r.mu.Unlock()
	n := r.p.Samples
	pick := func() string { return ids[r.rnd.IntN(len(ids))] }
	r.rnd.Shuffle(len(unacked), func(i, j int) { unacked[i], unacked[j] = unacked[j], unacked[i] })
	unacked = unacked[:min(n, len(unacked))]
	out := map[string]levelStats{}
	bound := time.Duration(n) * requestTimeout
	out[apiList] = runLoad(ctx, 1, bound, n, func(ctx context.Context, _ int) (int, error) {
		return r.c.do(ctx, "GET", "/api/v1/incidents?status=open&limit=50", nil, nil)
	})
	if len(ids) > 0 {
		out[apiGet] = runLoad(ctx, 1, bound, n, func(ctx context.Context, _ int) (int, error) {
			return r.c.do(ctx, "GET", "/api/v1/incidents/"+url.PathEscape(pick()), nil, nil)
		})
		out[apiTimeline] = runLoad(ctx, 1, bound, n, func(ctx context.Context, _ int) (int, error) {
			return r.c.do(ctx, "GET", "/api/v1/incidents/"+url.PathEscape(pick())+"/timeline", nil, nil)
		})
	}
	body := command{Actor: "bench"}
	out[apiAck] = runLoad(ctx, 1, bound, len(unacked), func(ctx context.Context, i int) (int, error) {
		status, err := r.c.do(ctx, "POST", "/api/v1/incidents/"+url.PathEscape(unacked[i])+"/acknowledge", body, nil)
		if err == nil || status == 409 {
			r.mu.Lock()
			r.acked[unacked[i]] = true
			r.mu.Unlock()
		}
		return status, err
	})
	return out
}

// followLate reads the late sample's step 2 as it falls due: the ledger for
// when it was claimed, the timeline for when it was due. A few reads every
// few seconds, so following adds a small, steady load.
func (r *scaleRun) followLate(ctx context.Context) {
	const perTick = 20
	for sleepCtx(ctx, 5*time.Second) {
		r.mu.Lock()
		var todo []*lateSample
		now := time.Now()
		for _, s := range r.late {
			if s.ClaimedAt.IsZero() && now.Sub(s.OpenedAt) > r.p.lateDelay && !now.Before(s.nextRead) && len(todo) < perTick {
				todo = append(todo, s)
			}
		}
		r.mu.Unlock()
		for _, s := range todo {
			claimed, due, ok := r.readLate(ctx, s.ID)
			r.mu.Lock()
			s.Reads++
			if ok {
				s.ClaimedAt, s.DueAt = claimed, due
			} else {
				// Not paged yet: read again later, less often the longer
				// it takes, so a stuck page does not crowd out the rest.
				s.nextRead = time.Now().Add(5 * time.Second * time.Duration(min(s.Reads, 12)))
			}
			r.mu.Unlock()
		}
	}
}

func (r *scaleRun) readLate(ctx context.Context, id string) (claimed, due time.Time, ok bool) {
	ns, err := listNotifications(ctx, r.c, id)
	if err != nil {
		return claimed, due, false
	}
	for _, n := range ns {
		if n.Step == 2 && n.Round == 0 && (claimed.IsZero() || n.ClaimedAt.Before(claimed)) {
			claimed = n.ClaimedAt
		}
	}
	if claimed.IsZero() {
		return claimed, due, false
	}
	var tl timeline
	if _, err := r.c.do(ctx, "GET", "/api/v1/incidents/"+url.PathEscape(id)+"/timeline", nil, &tl); err != nil {
		return claimed, due, false
	}
	for _, ev := range tl.Events {
		if ev.Type != "notified" && ev.Type != "notify_failed" {
			continue
		}
		if step, _ := ev.Data["step"].(float64); step != 2 {
			continue
		}
		if s, _ := ev.Data["due_at"].(string); s != "" {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return claimed, t, true
			}
		}
	}
	return claimed, due, false
}

// lateness summarizes the sample's pages read since the previous point,
// and counts those due over a minute before at and still not claimed.
func (r *scaleRun) lateness(at time.Time) *latenessStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.late) == 0 {
		return nil
	}
	var ls latenessStats
	var v []float64
	for _, s := range r.late {
		switch {
		case !s.ClaimedAt.IsZero() && !s.reported:
			s.reported = true
			ls.Paged++
			v = append(v, ms(s.ClaimedAt.Sub(s.DueAt)))
		case s.ClaimedAt.IsZero() && !s.missed && at.Sub(s.OpenedAt.Add(r.p.lateDelay)) > time.Minute:
			s.missed = true
			ls.Missing++
		}
	}
	ls.ClaimMs = summarize(v)
	return &ls
}

// createMonitors creates -monitors heartbeat monitors, -monitor-clients at
// a time.
func (r *scaleRun) createMonitors(ctx context.Context) (levelStats, error) {
	fmt.Fprintf(r.out, "  creating %d heartbeat monitors (interval %s)\n", r.p.Monitors, r.p.monitorInterval)
	var mu sync.Mutex
	ids := make([]string, 0, r.p.Monitors)
	create := func(ctx context.Context, i int) (int, error) {
		var m created
		status, err := r.c.do(ctx, "POST", "/api/v1/heartbeat-monitors", monitorRequest{
			ServiceID: r.fx.MonitorService, Name: fmt.Sprintf("bench scale %d", i), Interval: r.p.monitorInterval.String(),
		}, &m)
		if err != nil {
			return status, err
		}
		if m.ID == "" {
			return status, errors.New("POST /api/v1/heartbeat-monitors: the answer has no id")
		}
		mu.Lock()
		ids = append(ids, m.ID)
		mu.Unlock()
		return status, nil
	}
	ls := runLoad(ctx, r.p.MonitorClients, r.p.settle, r.p.Monitors, create)
	r.mu.Lock()
	r.monitors = ids
	r.mu.Unlock()
	fmt.Fprintf(r.out, "  created %d monitors in %.0f s (%.1f/s), %d errors %s\n", ls.OK, ls.ElapsedS, ls.PerSecond, ls.Errors, ls.FirstError)
	if ctx.Err() != nil {
		return ls, ctx.Err()
	}
	if len(ids) == 0 {
		return ls, fmt.Errorf("no heartbeat monitor created: %s", ls.FirstError)
	}
	return ls, nil
}

// burst pings the monitors round robin from -ping-burst-clients clients as
// fast as they go, and reads how many history events the pings added to a
// few monitors' workflows.
func (r *scaleRun) burst(ctx context.Context) burstStats {
	ids := r.pinger.ids
	b := burstStats{EventsPerPing: -1}
	sample := ids[:min(8, len(ids))]
	tc, err := dialTemporal(ctx, temporalFlags{TemporalAddress: r.eng.TemporalAddress, TemporalNamespace: r.p.TemporalNamespace})
	var before []historyMark
	if err != nil {
		b.Note = "history not read: " + err.Error()
	} else {
		defer tc.Close()
		before = historyMarks(ctx, tc, sample)
	}
	pingsBefore := r.pinger.counts(len(sample))
	b.levelStats = runLoad(ctx, r.p.PingBurstClients, r.p.pingBurst, maxOpsPerLevel, func(ctx context.Context, i int) (int, error) {
		return r.pinger.ping(ctx, i%len(ids))
	})
	if tc != nil {
		after := historyMarks(ctx, tc, sample)
		pingsAfter := r.pinger.counts(len(sample))
		var events, pings int64
		for i := range sample {
			if before[i].err != nil || after[i].err != nil || before[i].runID != after[i].runID {
				continue // a new run (continue-as-new) restarts the count
			}
			b.SampledMonitors++
			events += after[i].length - before[i].length
			pings += pingsAfter[i] - pingsBefore[i]
		}
		b.SampledPings = pings
		if pings > 0 {
			b.EventsPerPing = float64(events) / float64(pings)
		} else if b.Note == "" {
			b.Note = "no sampled monitor kept its run through the burst"
		}
	}
	return b
}

type historyMark struct {
	runID  string
	length int64
	err    error
}

func historyMarks(ctx context.Context, tc tclient.Client, ids []string) []historyMark {
	out := make([]historyMark, len(ids))
	for i, id := range ids {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d, err := tc.DescribeWorkflowExecution(dctx, heartbeatWorkflowPrefix+id, "")
		cancel()
		if err != nil {
			out[i].err = err
			continue
		}
		info := d.GetWorkflowExecutionInfo()
		out[i] = historyMark{runID: info.GetExecution().GetRunId(), length: info.GetHistoryLength()}
	}
	return out
}

func (r *scaleRun) pingProgress() string {
	if r.pinger == nil {
		return "no monitors"
	}
	return r.pinger.progress()
}

func (r *scaleRun) printPoint(pt scalePoint) {
	fmt.Fprintf(r.out, "  point %s: %d incidents (%d opens answered, %d acknowledged), %d monitors; RSS %s MiB; CPU %.2f %% over %.0f s; Postgres %.1f MiB, Temporal %s %.1f MiB\n",
		pt.Name, pt.Incidents, pt.Answered, pt.Acknowledged, pt.Monitors, rssLine(pt.Processes), pt.Engine.CPUPercent, pt.Engine.WindowS,
		mib(pt.PostgresBytes), pt.TemporalStore, mib(pt.TemporalBytes))
	var parts []string
	for _, op := range apiOps {
		if ls, ok := pt.API[op]; ok {
			parts = append(parts, fmt.Sprintf("%s p50 %.1f p99 %.1f ms (%d errors)", op, ls.LatencyMs.P50, ls.LatencyMs.P99, ls.Errors))
		}
	}
	fmt.Fprintf(r.out, "    API: %s\n", strings.Join(parts, "; "))
	if l := pt.Lateness; l != nil {
		fmt.Fprintf(r.out, "    pages due since the last point: %d claimed, due → claim p50 %.1f p99 %.1f ms; %d missing\n",
			l.Paged, l.ClaimMs.P50, l.ClaimMs.P99, l.Missing)
	}
	if s := pt.Pings; s != nil {
		fmt.Fprintf(r.out, "    pings: %d at %.1f/s, p50 %.1f p99 %.1f ms, schedule lag p99 %.0f ms, %d errors; monitors down %d\n",
			s.OK, s.PerSecond, s.LatencyMs.P50, s.LatencyMs.P99, s.LagMs.P99, s.Errors, pt.Down)
	}
	if b := pt.Burst; b != nil {
		fmt.Fprintf(r.out, "    ping burst (%d clients): %d at %.1f/s, p50 %.1f p99 %.1f ms, %d errors; history events per ping %s\n",
			b.Concurrency, b.OK, b.PerSecond, b.LatencyMs.P50, b.LatencyMs.P99, b.Errors, eventsPerPing(*b))
	}
}

func eventsPerPing(b burstStats) string {
	if b.EventsPerPing < 0 {
		return "unknown (" + b.Note + ")"
	}
	return fmt.Sprintf("%.2f (%d pings to %d monitors)", b.EventsPerPing, b.SampledPings, b.SampledMonitors)
}

// cleanup resolves the run's incidents and deletes its monitors, through
// the API, for an engine the benchmark did not start.
func (r *scaleRun) cleanup() scaleCleanup {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	r.mu.Lock()
	ids := slices.Clone(r.bulk)
	for _, s := range r.late {
		ids = append(ids, s.ID)
	}
	monitors := slices.Clone(r.monitors)
	r.mu.Unlock()
	start := time.Now()
	fmt.Fprintf(r.out, "  cleanup: deleting %d monitors and resolving %d incidents\n", len(monitors), len(ids))
	var cl scaleCleanup
	del := runLoad(ctx, 8, 2*time.Hour, len(monitors), func(ctx context.Context, i int) (int, error) {
		status, err := r.c.do(ctx, "DELETE", "/api/v1/heartbeat-monitors/"+url.PathEscape(monitors[i]), nil, nil)
		if status == 404 {
			return status, nil
		}
		return status, err
	})
	body := command{Actor: "bench"}
	res := runLoad(ctx, 16, 2*time.Hour, len(ids), func(ctx context.Context, i int) (int, error) {
		status, err := r.c.do(ctx, "POST", "/api/v1/incidents/"+url.PathEscape(ids[i])+"/resolve", body, nil)
		if status == 409 {
			return status, nil // resolved already
		}
		return status, err
	})
	cl.MonitorsDeleted, cl.DeleteFailed = del.OK, len(monitors)-del.OK
	cl.Resolved, cl.ResolveFailed = res.OK, len(ids)-res.OK
	cl.Seconds = time.Since(start).Seconds()
	cl.FirstError = del.FirstError
	if cl.FirstError == "" {
		cl.FirstError = res.FirstError
	}
	fmt.Fprintf(r.out, "  cleanup: deleted %d monitors (%d failed), resolved %d incidents (%d failed) in %.0f s %s\n",
		cl.MonitorsDeleted, cl.DeleteFailed, cl.Resolved, cl.ResolveFailed, cl.Seconds, cl.FirstError)
	return cl
}

// printScale prints the run's tables: resources, API latency against the
// empty point, and the load each point saw (opens, page lateness, pings).
func printScale(w io.Writer, sum scaleSummary) {
	if len(sum.Points) == 0 {
		return
	}
	first := sum.Points[0]
	labels := procLabels(first.Processes)
	rows := make([][]string, 0, len(sum.Points))
	for _, pt := range sum.Points {
		row := []string{pt.Name, strconv.Itoa(pt.Incidents), strconv.Itoa(pt.Monitors)}
		rows = append(rows, append(row, resourceCells(pt.Processes, pt.storeSizes)...))
	}
	printTable(w, append([]string{"point", "incidents", "monitors"}, resourceHeader(labels, first.TemporalStore)...), rows)

	fmt.Fprintln(w)
	rows = rows[:0]
	header := []string{"API ms, one client"}
	for _, op := range apiOps {
		header = append(header, op+" p50", op+" p99")
	}
	header = append(header, "worst p99 ÷ empty")
	for _, pt := range sum.Points {
		row := []string{pt.Name}
		worst := 0.0
		for _, op := range apiOps {
			ls, ok := pt.API[op]
			if !ok || ls.LatencyMs.Count == 0 {
				row = append(row, "-", "-")
				continue
			}
			row = append(row, fmt.Sprintf("%.1f", ls.LatencyMs.P50), fmt.Sprintf("%.1f", ls.LatencyMs.P99))
			if base, ok := first.API[op]; ok && base.LatencyMs.P99 > 0 {
				worst = max(worst, ls.LatencyMs.P99/base.LatencyMs.P99)
			}
		}
		row = append(row, fmt.Sprintf("%.2f×", worst))
		rows = append(rows, row)
	}
	printTable(w, header, rows)

	fmt.Fprintln(w)
	rows = rows[:0]
	for _, pt := range sum.Points {
		row := []string{pt.Name}
		if o := pt.Open; o != nil && o.OK > 0 {
			row = append(row, strconv.Itoa(o.OK), strconv.Itoa(o.Errors), fmt.Sprintf("%.1f", o.PerSecond),
				fmt.Sprintf("%.1f", o.LatencyMs.P50), fmt.Sprintf("%.1f", o.LatencyMs.P99))
		} else {
			row = append(row, "-", "-", "-", "-", "-")
		}
		if l := pt.Lateness; l != nil && l.Paged > 0 {
			row = append(row, strconv.Itoa(l.Paged), fmt.Sprintf("%.1f", l.ClaimMs.P50), fmt.Sprintf("%.1f", l.ClaimMs.P99),
				fmt.Sprintf("%.1f", l.ClaimMs.Max), strconv.Itoa(l.Missing))
		} else if l != nil {
			row = append(row, "0", "-", "-", "-", strconv.Itoa(l.Missing))
		} else {
			row = append(row, "-", "-", "-", "-", "-")
		}
		rows = append(rows, row)
	}
	printTable(w, []string{"opens and pages", "opened", "errors", "to paged/s", "open p50 ms", "open p99 ms",
		"pages due", "due→claim p50 ms", "p99 ms", "max ms", "missing"}, rows)

	if sum.Points[len(sum.Points)-1].Monitors > 0 {
		fmt.Fprintln(w)
		rows = rows[:0]
		for _, pt := range sum.Points {
			row := []string{pt.Name}
			if s := pt.Pings; s != nil {
				row = append(row, strconv.Itoa(s.OK), strconv.Itoa(s.Errors), fmt.Sprintf("%.1f", s.PerSecond),
					fmt.Sprintf("%.1f", s.LatencyMs.P50), fmt.Sprintf("%.1f", s.LatencyMs.P99), fmt.Sprintf("%.0f", s.LagMs.P99),
					strconv.Itoa(pt.Down))
			} else {
				row = append(row, "-", "-", "-", "-", "-", "-", "-")
			}
			if b := pt.Burst; b != nil {
				epp := "?"
				if b.EventsPerPing >= 0 {
					epp = fmt.Sprintf("%.2f", b.EventsPerPing)
				}
				row = append(row, fmt.Sprintf("%.0f", b.PerSecond), fmt.Sprintf("%.1f", b.LatencyMs.P50),
					fmt.Sprintf("%.1f", b.LatencyMs.P99), strconv.Itoa(b.Errors), epp)
			} else {
				row = append(row, "-", "-", "-", "-", "-")
			}
			rows = append(rows, row)
		}
		burst := "burst"
		for _, pt := range sum.Points {
			if pt.Burst != nil {
				burst = fmt.Sprintf("burst c%d", pt.Burst.Concurrency)
				break
			}
		}
		printTable(w, []string{"heartbeats", "pings", "errors", "per s", "p50 ms", "p99 ms", "lag p99 ms", "down",
			burst + "/s", "p50 ms", "p99 ms", "errors", "events/ping"}, rows)
	}
	if sum.Engine != nil {
		fmt.Fprintf(w, "engine: %s\n", sum.Engine.describe())
	}
	fmt.Fprintf(w, "CPU in %% of one core over each window without opens (monitors keep pinging); API requests one at a time; "+
		"push receiver: %s, %d pushes during the run\n", sum.PushReceiver.Description, sum.Pushes)
	if sum.Stopped != "" {
		fmt.Fprintf(w, "stopped early: %s\n", sum.Stopped)
	}
}
