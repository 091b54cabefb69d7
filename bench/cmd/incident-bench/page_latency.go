package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The page-latency scenario asks how promptly the engine pages: how long
// after an alert is sent the first responder's page leaves, and how close to
// its due time a later escalation step's page leaves. It opens incidents at
// a steady rate against a two-step policy (step 1 pages at once, step 2
// -step-delay later), then reads each incident's delivery ledger and its
// workflow's page record.
//
// The ledger's claimed_at is taken right before the provider request, so it
// is "when the page left" as closely as the API can tell. The workflow's
// pages[].at is workflow time: when the workflow task that sent the page
// started. Comparing the two for step 2 separates a late timer from a slow
// activity.

const (
	// maxOpenInFlight bounds POST /incidents requests waiting for an answer.
	// A healthy engine answers in well under a second, so a few per tick of
	// the pacing ticker suffice; when the engine falls behind, ticks are
	// dropped instead of piling up requests, the achieved rate falls below
	// -rate, and the summary shows it.
	maxOpenInFlight = 64
	// maxPollInFlight bounds the reads that collect results, so that
	// measuring adds a small, steady load rather than a burst.
	maxPollInFlight = 8
	// pollInterval is how often an incident whose pages are not all in yet
	// is read again. It does not limit precision: the times come from the
	// engine's records, not from when the poll saw them.
	pollInterval = 500 * time.Millisecond
	// cleanupTimeout bounds resolving the run's incidents. It is separate
	// from -timeout so that a run that timed out still cleans up.
	cleanupTimeout = 2 * time.Minute
	// maxRate keeps the pacing interval at a millisecond or more.
	maxRate = 1000
)

// pageLatencyParams are the scenario's flags, as recorded in the results.
type pageLatencyParams struct {
	URL       string  `json:"url"`
	N         int     `json:"n"`
	Rate      float64 `json:"rate"`
	StepDelay string  `json:"step_delay"`
	Timeout   string  `json:"timeout"`
	Out       string  `json:"out"`
	Keep      bool    `json:"keep"`

	stepDelay time.Duration
	timeout   time.Duration
	token     string
}

// delivery is one ledger row as kept in the samples.
type delivery struct {
	Step      int       `json:"step"` // 1-based, as the ledger shows it
	Round     int       `json:"round"`
	UserID    string    `json:"user_id"`
	Channel   string    `json:"channel"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	Detail    string    `json:"detail,omitempty"`
	ClaimedAt time.Time `json:"claimed_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// pageSample is everything measured about one incident. Times are as the
// engine recorded them, except SentAt (this process's clock; the engine runs
// on the same machine, so the clocks agree).
type pageSample struct {
	Index      int       `json:"index"`
	IncidentID string    `json:"incident_id,omitempty"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	OpenStatus int       `json:"open_status,omitempty"`
	// OpenMs is the POST round trip: the engine answers once the incident
	// is recorded in Postgres.
	OpenMs *float64 `json:"open_ms,omitempty"`

	Step1ClaimedAt time.Time `json:"step1_claimed_at,omitzero"`
	Step2ClaimedAt time.Time `json:"step2_claimed_at,omitzero"`
	Page1At        time.Time `json:"page1_at,omitzero"` // workflow time of step 1's page
	Page2At        time.Time `json:"page2_at,omitzero"` // workflow time of step 2's page

	// OpenToFirstPageMs is Step1ClaimedAt − SentAt.
	OpenToFirstPageMs *float64 `json:"open_to_first_page_ms,omitempty"`
	// StepDueToClaimMs is Step2ClaimedAt − (Page1At + step delay): how late
	// step 2's page left.
	StepDueToClaimMs *float64 `json:"step_due_to_claim_ms,omitempty"`
	// StepDueToTimerMs is Page2At − (Page1At + step delay): how late the
	// workflow woke up for step 2.
	StepDueToTimerMs *float64 `json:"step_due_to_timer_ms,omitempty"`

	Deliveries []delivery `json:"deliveries,omitempty"`
	Polls      int        `json:"polls"`
	// PollErrors counts reads that failed and were retried.
	PollErrors int    `json:"poll_errors,omitempty"`
	Error      string `json:"error,omitempty"`

	answeredAt time.Time // when the open's answer arrived
}

func (s *pageSample) complete() bool { return s.StepDueToClaimMs != nil }

// pageLatencySummary is the summary block of the results.
type pageLatencySummary struct {
	Requested int `json:"requested"`
	Opened    int `json:"opened"`
	// AchievedRate is incidents sent per second, first send to last.
	AchievedRate float64 `json:"achieved_rate"`
	Complete     int     `json:"complete"`
	// OpenErrors counts opens that did not answer 201, by status ("0" is no
	// answer at all).
	OpenErrors    int            `json:"open_errors"`
	OpenErrorsBy  map[string]int `json:"open_errors_by_status,omitempty"`
	NotSent       int            `json:"not_sent"`
	Incomplete    int            `json:"incomplete"`
	PollErrors    int            `json:"poll_errors"`
	Deliveries    map[string]int `json:"deliveries"` // "channel/status" → count
	OpenRequest   stats          `json:"open_request_ms"`
	OpenToFirst   stats          `json:"open_to_first_page_ms"`
	DueToClaim    stats          `json:"step_due_to_page_claim_ms"`
	DueToTimer    stats          `json:"step_due_to_timer_ms"`
	ResolveReport *resolveReport `json:"cleanup,omitempty"`
}

// pageFixtures are the on-call objects created for the run.
type pageFixtures struct {
	Suffix    string `json:"suffix"`
	Service   string `json:"service"`
	PolicyID  string `json:"policy_id"`
	AliceID   string `json:"alice_user_id"`
	BobID     string `json:"bob_user_id"`
	StepDelay string `json:"step_delay"`
}

// pageLatencyEngine is what the results record about the engine.
type pageLatencyEngine struct {
	Ready        map[string]string `json:"ready_checks"`
	PushReceiver string            `json:"push_receiver"`
	Fixtures     pageFixtures      `json:"fixtures"`
}

const pushReceiverNote = "as configured by the engine (GORUSH_URL)"

func parsePageLatencyFlags(args []string, stderr io.Writer) (pageLatencyParams, error) {
	fs := flag.NewFlagSet("page-latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := pageLatencyParams{}
	fs.StringVar(&p.URL, "url", "http://127.0.0.1:8080", "base URL of the running engine")
	fs.IntVar(&p.N, "n", 200, "incidents to open")
	fs.Float64Var(&p.Rate, "rate", 5, "incidents opened per second")
	fs.DurationVar(&p.stepDelay, "step-delay", 5*time.Second, "delay of the policy's second step (it pages this long after the first)")
	fs.DurationVar(&p.timeout, "timeout", 5*time.Minute, "bound on the whole run; it stops itself and reports what it has")
	fs.StringVar(&p.Out, "out", defaultOut, "directory for the JSON results")
	fs.BoolVar(&p.Keep, "keep", false, "leave the incidents open at the end instead of resolving them")
	registerToken(fs, &p.token)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: incident-bench page-latency [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Opens -n incidents at -rate per second against a fresh two-step policy (step 1 pages a")
		fmt.Fprintln(stderr, "user at once, step 2 pages another -step-delay later) and measures when each page left.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return p, err
		}
		return p, errUsage
	}
	bad := func(format string, a ...any) (pageLatencyParams, error) {
		fmt.Fprintf(stderr, "page-latency: "+format+"\n", a...)
		fs.Usage()
		return p, errUsage
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case p.N < 1:
		return bad("-n must be at least 1")
	case !(p.Rate > 0) || p.Rate > maxRate:
		return bad("-rate must be above 0 and at most %d", maxRate)
	case p.stepDelay < 0 || p.stepDelay > 24*time.Hour:
		return bad("-step-delay must be from 0 to 24h (the engine's limit on a step's delay)")
	case p.timeout <= 0:
		return bad("-timeout must be positive")
	case p.Out == "":
		return bad("-out must name a directory")
	}
	p.StepDelay, p.Timeout = p.stepDelay.String(), p.timeout.String()
	return p, nil
}

func runPageLatency(args []string) error {
	p, err := parsePageLatencyFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	out := os.Stdout
	res, sum, err := pageLatency(p, out)
	if err != nil {
		return err
	}
	path, err := writeResult(p.Out, res)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "results:       %s\n", path)
	return pageLatencyOutcome(sum, path)
}

// pageLatencyOutcome fails a run in which some incident has no complete
// sample; where names the results.
func pageLatencyOutcome(sum pageLatencySummary, where string) error {
	if bad := sum.Requested - sum.Complete; bad > 0 {
		return fmt.Errorf("%d of %d incidents have no complete sample (open errors %d, not sent %d, incomplete %d); see %s",
			bad, sum.Requested, sum.OpenErrors, sum.NotSent, sum.Incomplete, where)
	}
	return nil
}

// pageLatencyHeadlines are the rows page-latency adds to the table of `all`.
func pageLatencyHeadlines(sum pageLatencySummary) []headline {
	h := func(measure string, s stats) headline {
		return headline{Scenario: "page-latency", Measure: measure, Kind: measure, Count: s.Count, LatencyMs: s}
	}
	open := h("open request (POST round trip)", sum.OpenRequest)
	open.Errors, open.PerSecond = sum.OpenErrors, sum.AchievedRate
	return []headline{open,
		h("open → first page (step 1 claim)", sum.OpenToFirst),
		h("step due → page (step 2 claim)", sum.DueToClaim),
		h("step due → timer fired", sum.DueToTimer),
	}
}

// pageLatency runs the scenario, cleanup included, and returns its results
// unwritten.
func pageLatency(p pageLatencyParams, out io.Writer) (result, pageLatencySummary, error) {

	// Ctrl-C stops the run like -timeout does: results are still written
	// and incidents still resolved. A second Ctrl-C kills the process.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() {
		<-sigCtx.Done()
		stopSignals()
	}()
	ctx, cancel := context.WithTimeout(sigCtx, p.timeout)
	defer cancel()

	c, err := newClient(p.URL, maxOpenInFlight+maxPollInFlight, p.token)
	if err != nil {
		return result{}, pageLatencySummary{}, err
	}
	defer c.close()

	ready, err := checkReady(ctx, c)
	if err != nil {
		return result{}, pageLatencySummary{}, err
	}
	fmt.Fprintf(out, "engine:        %s  ready: %s\n", c.base, ready)
	fmt.Fprintf(out, "push receiver: %s\n", pushReceiverNote)
	span := time.Duration(float64(p.N-1) / p.Rate * float64(time.Second))
	fmt.Fprintf(out, "plan:          %d incidents at %g/s (%s of opening), step 2 due %s after step 1, timeout %s\n",
		p.N, p.Rate, span.Round(time.Millisecond), p.stepDelay, p.timeout)
	if need := span + p.stepDelay; need >= p.timeout {
		fmt.Fprintf(out, "warning:       opening takes %s and the last step 2 is due %s later, beyond -timeout %s: expect incomplete samples\n",
			span.Round(time.Millisecond), p.stepDelay, p.timeout)
	}

	fx, err := setupPageFixtures(ctx, c, p.stepDelay)
	if err != nil {
		return result{}, pageLatencySummary{}, err
	}
	fmt.Fprintf(out, "fixtures:      service %s, policy %s, users %s (step 1) and %s (step 2)\n",
		fx.Service, fx.PolicyID, fx.AliceID, fx.BobID)

	run := &pageRun{c: c, p: p, fx: fx, samples: make([]pageSample, p.N)}
	started := time.Now().UTC()
	run.execute(ctx, out)
	ended := time.Now().UTC()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(out, "stopped:       -timeout %s reached\n", p.timeout)
	} else if sigCtx.Err() != nil {
		fmt.Fprintln(out, "stopped:       interrupted")
	}

	sum := run.summarize()
	fmt.Fprintln(out)
	printPageLatencyTable(out, sum)

	// Clean up before writing, so the results record how it went; cleanup
	// has its own bound, so the results are written whatever happens.
	fmt.Fprintln(out)
	if !p.Keep {
		cctx, ccancel := context.WithTimeout(context.Background(), cleanupTimeout)
		sent := sum.Requested - sum.NotSent
		if pending := sent - sum.Opened; pending > 0 {
			fmt.Fprintf(out, "cleanup:       %d opens answered an error but may still go through; waiting up to %s for them to appear\n",
				pending, cleanupSettle)
		}
		rep := resolveAll(cctx, c, fx.Service, run.openedIDs(), sent, "bench")
		ccancel()
		sum.ResolveReport = &rep
		fmt.Fprintf(out, "cleanup:       resolved %d (%d of them opened despite an error answer), already resolved %d, failed %d\n",
			rep.Resolved, rep.Unknown, rep.Already, rep.Failed)
		for _, e := range rep.Errors {
			fmt.Fprintf(out, "               %s\n", e)
		}
	} else {
		fmt.Fprintf(out, "cleanup:       -keep: %d incidents of service %s left open\n", sum.Opened, fx.Service)
	}

	return result{
		Scenario:   "page-latency",
		Parameters: p,
		Machine:    thisMachine(),
		Engine:     pageLatencyEngine{Ready: ready.Checks, PushReceiver: pushReceiverNote, Fixtures: fx},
		StartedAt:  started,
		EndedAt:    ended,
		Summary:    sum,
		Samples:    run.samples,
	}, sum, nil
}

// setupPageFixtures creates two users with an iOS device each, a two-step
// policy paging one then the other, and a service using it, all named with
// a random suffix so that runs never share configuration.
func setupPageFixtures(ctx context.Context, c *client, stepDelay time.Duration) (pageFixtures, error) {
	sfx := randomSuffix()
	fx := pageFixtures{Suffix: sfx, Service: "bench-" + sfx, StepDelay: stepDelay.String()}
	alice, err := createUser(ctx, c, "bench alice "+sfx, "bench-alice-"+sfx+"@example.com", pushToken())
	if err != nil {
		return fx, err
	}
	bob, err := createUser(ctx, c, "bench bob "+sfx, "bench-bob-"+sfx+"@example.com", pushToken())
	if err != nil {
		return fx, err
	}
	fx.AliceID, fx.BobID = alice.ID, bob.ID
	pol, err := createPolicy(ctx, c, policy{
		Name:   "bench page-latency " + sfx,
		Repeat: 0,
		Steps: []policyStep{
			// Step 1 pages when the incident opens; its delay only matters
			// before a repeat, and there is none.
			{Delay: "1h", Targets: []target{{Type: "user", ID: alice.ID}}},
			{Delay: stepDelay.String(), Targets: []target{{Type: "user", ID: bob.ID}}},
		},
	})
	if err != nil {
		return fx, err
	}
	fx.PolicyID = pol.ID
	if err := createService(ctx, c, service{ID: fx.Service, Name: "bench page-latency " + sfx, EscalationPolicyID: pol.ID}); err != nil {
		return fx, err
	}
	return fx, nil
}

// pageRun is one run of the scenario. samples[i] belongs to the goroutine
// handling incident i until execute returns.
type pageRun struct {
	c       *client
	p       pageLatencyParams
	fx      pageFixtures
	samples []pageSample

	pollSem  chan struct{}
	opened   atomic.Int64
	openErrs atomic.Int64
	done     atomic.Int64
}

// execute opens the incidents on a ticker and follows each until both of
// its pages are recorded or ctx ends.
func (r *pageRun) execute(ctx context.Context, out io.Writer) {
	r.pollSem = make(chan struct{}, maxPollInFlight)
	openSem := make(chan struct{}, maxOpenInFlight)
	interval := time.Duration(float64(time.Second) / r.p.Rate)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()

	progressDone := make(chan struct{})
	go r.progress(out, progressDone)
	defer close(progressDone)

	var wg sync.WaitGroup
	i := 0
send:
	for ; i < r.p.N; i++ {
		if i > 0 {
			select {
			case <-ticker.C:
			case <-ctx.Done():
				break send
			}
		}
		select {
		case openSem <- struct{}{}:
		case <-ctx.Done():
			break send
		}
		s := &r.samples[i]
		s.Index = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := r.open(ctx, s)
			<-openSem
			if ok {
				r.follow(ctx, s)
			}
			r.done.Add(1)
		}()
	}
	for ; i < r.p.N; i++ {
		r.samples[i].Index = i
		r.samples[i].Error = "not sent: the run stopped first"
	}
	wg.Wait()
}

// progress prints a line every few seconds, so a long run shows it is alive.
func (r *pageRun) progress(out io.Writer, done <-chan struct{}) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fmt.Fprintf(out, "  %4.0fs  opened %d/%d (open errors %d), finished %d\n",
				time.Since(start).Seconds(), r.opened.Load(), r.p.N, r.openErrs.Load(), r.done.Load())
		}
	}
}

// open sends one POST /incidents and records when it was sent and how it
// was answered. It reports whether an incident was opened.
func (r *pageRun) open(ctx context.Context, s *pageSample) bool {
	body := newIncident{
		Title:    fmt.Sprintf("bench page-latency %s #%d", r.fx.Suffix, s.Index+1),
		Service:  r.fx.Service,
		Severity: "critical",
	}
	var inc incident
	s.SentAt = time.Now()
	status, err := r.c.do(ctx, "POST", "/api/v1/incidents", body, &inc)
	rtt := ms(time.Since(s.SentAt))
	s.OpenStatus = status
	switch {
	case err != nil:
		s.Error = "open: " + err.Error()
	case status != 201:
		s.Error = fmt.Sprintf("open: want 201, got %d", status)
	case inc.ID == "":
		s.Error = "open: the answer has no incident id"
	}
	if s.Error != "" {
		r.openErrs.Add(1)
		return false
	}
	s.IncidentID = inc.ID
	s.OpenMs = &rtt
	s.answeredAt = s.SentAt.Add(time.Duration(rtt * float64(time.Millisecond)))
	r.opened.Add(1)
	return true
}

// follow waits until step 2 can be due, then reads the incident until the
// ledger holds both steps' claims and the workflow has recorded both
// pages. Step 1's claim is read at the same time: the ledger keeps it.
// Reads are spaced so that measuring adds as little load as it can: none
// before step 2 is about due (step 1 pages only after the open is recorded,
// which is when the engine answers it), and none more often than
// pollInterval. Reading late costs nothing: the times come from the
// engine's records.
func (r *pageRun) follow(ctx context.Context, s *pageSample) {
	if !sleepCtx(ctx, time.Until(s.answeredAt.Add(r.p.stepDelay))) {
		s.Error = "timed out before step 2 was due"
		return
	}
	var lastErr error
	for {
		finished, err := r.poll(ctx, s)
		s.Polls++
		if err != nil && ctx.Err() == nil {
			s.PollErrors++
			lastErr = err
		}
		if finished {
			return
		}
		wait := pollInterval
		if !s.Step1ClaimedAt.IsZero() && s.Step2ClaimedAt.IsZero() {
			// Step 2 cannot be claimed before it is due, step delay after
			// step 1's page.
			wait = max(wait, time.Until(s.Step1ClaimedAt.Add(r.p.stepDelay)))
		}
		if !sleepCtx(ctx, wait) {
			s.Error = fmt.Sprintf("timed out waiting for pages (ledger: %d deliveries; step 1 claim %t, step 2 claim %t, step 1 page %t, step 2 page %t)",
				len(s.Deliveries), !s.Step1ClaimedAt.IsZero(), !s.Step2ClaimedAt.IsZero(), !s.Page1At.IsZero(), !s.Page2At.IsZero())
			if lastErr != nil {
				s.Error += "; last read error: " + lastErr.Error()
			}
			return
		}
	}
}

// poll reads the ledger until both claims are in, then the workflow's pages
// until both are in, then the ledger once more for the final outcomes (a
// page is recorded only after its deliveries finished). It reports whether
// the sample is complete.
func (r *pageRun) poll(ctx context.Context, s *pageSample) (bool, error) {
	r.pollSem <- struct{}{}
	defer func() { <-r.pollSem }()

	if s.Step1ClaimedAt.IsZero() || s.Step2ClaimedAt.IsZero() {
		ns, err := listNotifications(ctx, r.c, s.IncidentID)
		if err != nil {
			return false, err
		}
		s.recordDeliveries(ns)
		if s.Step1ClaimedAt.IsZero() || s.Step2ClaimedAt.IsZero() {
			return false, nil
		}
	}
	inc, err := getIncident(ctx, r.c, s.IncidentID)
	if err != nil {
		return false, err
	}
	if inc.Live == nil || inc.Live.Escalation == nil {
		// The workflow did not answer the query (best effort on the
		// engine's side); try again.
		return false, nil
	}
	for _, pg := range inc.Live.Escalation.Pages {
		if pg.Round != 0 {
			continue
		}
		switch {
		case pg.Step == 0 && s.Page1At.IsZero():
			s.Page1At = pg.At
		case pg.Step == 1 && s.Page2At.IsZero():
			s.Page2At = pg.At
		}
	}
	if s.Page1At.IsZero() || s.Page2At.IsZero() {
		return false, nil
	}
	if ns, err := listNotifications(ctx, r.c, s.IncidentID); err == nil {
		s.recordDeliveries(ns)
	}
	due := s.Page1At.Add(r.p.stepDelay)
	first := ms(s.Step1ClaimedAt.Sub(s.SentAt))
	claim := ms(s.Step2ClaimedAt.Sub(due))
	timer := ms(s.Page2At.Sub(due))
	s.OpenToFirstPageMs, s.StepDueToClaimMs, s.StepDueToTimerMs = &first, &claim, &timer
	return true, nil
}

// recordDeliveries keeps the ledger's rows and the earliest claim of each
// step of the first round: step 1 pages alice, step 2 pages bob.
func (s *pageSample) recordDeliveries(ns []notification) {
	s.Deliveries = s.Deliveries[:0]
	for _, n := range ns {
		detail := n.Detail
		if len(detail) > 300 {
			detail = detail[:300] + "…"
		}
		s.Deliveries = append(s.Deliveries, delivery{
			Step: n.Step, Round: n.Round, UserID: n.UserID, Channel: n.Channel, Status: n.Status,
			Attempts: n.Attempts, Detail: detail, ClaimedAt: n.ClaimedAt, UpdatedAt: n.UpdatedAt,
		})
		if n.Round != 0 {
			continue
		}
		switch n.Step {
		case 1:
			if s.Step1ClaimedAt.IsZero() || n.ClaimedAt.Before(s.Step1ClaimedAt) {
				s.Step1ClaimedAt = n.ClaimedAt
			}
		case 2:
			if s.Step2ClaimedAt.IsZero() || n.ClaimedAt.Before(s.Step2ClaimedAt) {
				s.Step2ClaimedAt = n.ClaimedAt
			}
		}
	}
}

// openedIDs lists the incidents this run opened.
func (r *pageRun) openedIDs() []string {
	var ids []string
	for _, s := range r.samples {
		if s.IncidentID != "" {
			ids = append(ids, s.IncidentID)
		}
	}
	return ids
}

func (r *pageRun) summarize() pageLatencySummary {
	sum := pageLatencySummary{Requested: r.p.N, OpenErrorsBy: map[string]int{}, Deliveries: map[string]int{}}
	var openMs, first, claim, timer []float64
	var firstSent, lastSent time.Time
	sent := 0
	for i := range r.samples {
		s := &r.samples[i]
		sum.PollErrors += s.PollErrors
		if s.SentAt.IsZero() {
			sum.NotSent++
			continue
		}
		sent++
		if firstSent.IsZero() || s.SentAt.Before(firstSent) {
			firstSent = s.SentAt
		}
		if s.SentAt.After(lastSent) {
			lastSent = s.SentAt
		}
		if s.IncidentID == "" {
			sum.OpenErrors++
			sum.OpenErrorsBy[fmt.Sprint(s.OpenStatus)]++
			continue
		}
		sum.Opened++
		openMs = append(openMs, *s.OpenMs)
		for _, d := range s.Deliveries {
			sum.Deliveries[d.Channel+"/"+d.Status]++
		}
		if !s.complete() {
			sum.Incomplete++
			continue
		}
		sum.Complete++
		first = append(first, *s.OpenToFirstPageMs)
		claim = append(claim, *s.StepDueToClaimMs)
		timer = append(timer, *s.StepDueToTimerMs)
	}
	if sent > 1 {
		sum.AchievedRate = float64(sent-1) / lastSent.Sub(firstSent).Seconds()
	}
	sum.OpenRequest = summarize(openMs)
	sum.OpenToFirst = summarize(first)
	sum.DueToClaim = summarize(claim)
	sum.DueToTimer = summarize(timer)
	return sum
}

func printPageLatencyTable(w io.Writer, sum pageLatencySummary) {
	printTable(w, statsHeader("measure"), [][]string{
		statsRow("open request (POST round trip)", sum.OpenRequest),
		statsRow("open → first page (step 1 claim)", sum.OpenToFirst),
		statsRow("step due → page (step 2 claim)", sum.DueToClaim),
		statsRow("step due → timer fired (step 2 pages.at)", sum.DueToTimer),
	})
	fmt.Fprintln(w)
	fmt.Fprintf(w, "incidents: requested %d, sent %d at %.2f/s, opened %d, complete %d\n",
		sum.Requested, sum.Requested-sum.NotSent, sum.AchievedRate, sum.Opened, sum.Complete)
	fmt.Fprintf(w, "errors:    open %d%s, not sent %d, incomplete %d, read retries %d\n",
		sum.OpenErrors, byStatus(sum.OpenErrorsBy), sum.NotSent, sum.Incomplete, sum.PollErrors)
	fmt.Fprintf(w, "deliveries (ledger, channel/status): %s\n", countsLine(sum.Deliveries))
}

// byStatus renders open errors by HTTP status, " (HTTP 0: 1, 503: 2; 0 =
// no answer)", or nothing when there are none.
func byStatus(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return " (HTTP " + countsLine(m) + "; 0 = no answer)"
}

func countsLine(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	line := ""
	for i, k := range keys {
		if i > 0 {
			line += ", "
		}
		line += fmt.Sprintf("%s: %d", k, m[k])
	}
	return line
}

// sleepCtx waits d, or less if ctx ends first; it reports whether the full
// wait passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
