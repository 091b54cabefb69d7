package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incident-server/incident-server/internal/incident"
)

// profile sizes the scenarios: the short form runs in `go test` (a few
// minutes on two cores), the long one with FAULTS=long (`make chaos`).
type profile struct {
	name string
	// delay is every escalation step's delay, and the wait before each
	// new round.
	delay time.Duration
	// openEvery paces the incidents opened while faults go on.
	openEvery time.Duration
	// baselineIncidents is the size of the no-fault run.
	baselineIncidents int
	workerKills       int
	twoWorkerKills    int
	apiKills          int
	apiKeys           int
	pgOutage          time.Duration
	redisOutage       time.Duration
	temporalRestarts  int
	concurrentOpens   int
	concurrentAcks    int
	// stormDeadline is how long the clients of the concurrency scenario
	// keep trying, for the opens and again for the acknowledges.
	stormDeadline time.Duration
	// pingFor is how long the heartbeat of the kill scenarios is pinged.
	pingFor time.Duration
	// settle bounds the wait, after the last fault, for every escalation
	// to finish and every owed page to arrive.
	settle time.Duration
}

var profiles = map[string]profile{
	"short": {
		name: "short", delay: 2 * time.Second, openEvery: 2500 * time.Millisecond, baselineIncidents: 8,
		workerKills: 10, twoWorkerKills: 4, apiKills: 6, apiKeys: 60,
		pgOutage: 15 * time.Second, redisOutage: 10 * time.Second, temporalRestarts: 1,
		concurrentOpens: 300, concurrentAcks: 50, stormDeadline: time.Minute,
		pingFor: 15 * time.Second, settle: 5 * time.Minute,
	},
	"long": {
		name: "long", delay: 2 * time.Second, openEvery: 2500 * time.Millisecond, baselineIncidents: 60,
		workerKills: 220, twoWorkerKills: 100, apiKills: 20, apiKeys: 400,
		pgOutage: 120 * time.Second, redisOutage: 60 * time.Second, temporalRestarts: 3,
		concurrentOpens: 1000, concurrentAcks: 100, stormDeadline: 3 * time.Minute,
		pingFor: 5 * time.Minute, settle: 10 * time.Minute,
	},
}

// form is the profile of this run: FAULTS=long selects the long form.
func form(t testing.TB) profile {
	t.Helper()
	name := os.Getenv("FAULTS")
	if name == "" {
		name = "short"
	}
	p, ok := profiles[name]
	if !ok {
		t.Fatalf("FAULTS=%q: want short or long", name)
	}
	return p
}

// fault is one injected fault: from Start (the kill or stop) to End (the
// process is back and serving).
type fault struct {
	Kind   string    `json:"kind"`
	Target string    `json:"target"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

type faultLog struct {
	mu     sync.Mutex
	faults []fault
}

func (f *faultLog) add(kind, target string, start, end time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault{Kind: kind, Target: target, Start: start, End: end})
}

func (f *faultLog) list() []fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fault(nil), f.faults...)
}

// between reports whether a fault began or went on between a and b.
func (f *faultLog) between(a, b time.Time) bool {
	for _, x := range f.list() {
		if !x.Start.After(b) && !x.End.Before(a) {
			return true
		}
	}
	return false
}

// nextAfter returns how many milliseconds after t the next fault began,
// or -1 when none did.
func (f *faultLog) nextAfter(t time.Time) float64 {
	next := time.Time{}
	for _, x := range f.list() {
		if !x.Start.Before(t) && (next.IsZero() || x.Start.Before(next)) {
			next = x.Start
		}
	}
	if next.IsZero() {
		return -1
	}
	return round3(float64(next.Sub(t).Microseconds()) / 1000)
}

// lastBefore returns how many milliseconds before t the last fault that
// began before it began, or -1 when none did.
func (f *faultLog) lastBefore(t time.Time) float64 {
	last := time.Time{}
	for _, x := range f.list() {
		if x.Start.Before(t) && x.Start.After(last) {
			last = x.Start
		}
	}
	if last.IsZero() {
		return -1
	}
	return round3(float64(t.Sub(last).Microseconds()) / 1000)
}

// restart kills or stops a process and starts it again at once, recording
// the fault; it returns once the process serves again.
func (s *stack) restart(kind string, p *proc, down func()) {
	s.t.Helper()
	start := time.Now()
	down()
	if err := p.start(); err != nil {
		s.t.Fatal(err)
	}
	s.faults.add(kind, p.name, start, time.Now())
}

// paging is a service whose incidents escalate through a 3-step policy,
// two users a step, three rounds, each user with one push device; its
// SLA targets fire a warning and a breach each for response and
// resolution while the escalation runs.
type paging struct {
	service string
	delay   time.Duration
	// steps holds the user IDs paged at each step.
	steps [3][2]string
	// token maps a user to their device token.
	token map[string]string
	// sla are the SLA moments after open, in the order they fire.
	sla [4]time.Duration
}

const (
	steps  = 3
	rounds = 3 // the first pass and repeat: 2
)

// pagesPerIncident is what the policy owes an incident that nobody
// acknowledges: every user of every step in every round.
const pagesPerIncident = steps * 2 * rounds

func (s *stack) pagingService(name string, delay time.Duration) *paging {
	s.t.Helper()
	pg := &paging{service: name, delay: delay, token: map[string]string{}}
	var policySteps []map[string]any
	for i := range steps {
		var targets []map[string]string
		for j := range 2 {
			tok := fmt.Sprintf("tok-%s-%d-%d", name, i+1, j+1)
			var u struct {
				ID string `json:"id"`
			}
			s.must(http.MethodPost, "/api/v1/users", map[string]any{
				"name": fmt.Sprintf("Responder %d.%d", i+1, j+1), "email": fmt.Sprintf("%s-%d-%d@example.com", name, i+1, j+1),
				"contact_methods": []map[string]string{{"type": "push", "platform": "ios", "token": tok}},
			}, http.StatusCreated, &u)
			pg.steps[i][j] = u.ID
			pg.token[u.ID] = tok
			targets = append(targets, map[string]string{"type": "user", "id": u.ID})
		}
		policySteps = append(policySteps, map[string]any{"delay": delay.String(), "targets": targets})
	}
	var pol struct {
		ID string `json:"id"`
	}
	s.must(http.MethodPost, "/api/v1/escalation-policies", map[string]any{
		"name": name, "repeat": rounds - 1, "steps": policySteps,
	}, http.StatusCreated, &pol)
	s.must(http.MethodPost, "/api/v1/services", map[string]any{"id": name, "escalation_policy_id": pol.ID}, http.StatusCreated, nil)
	// Response 2.5 delays, resolution 6.5, warnings at half of each: the
	// four SLA moments fall between pages, never on one.
	response, resolution := delay*5/2, delay*13/2
	pg.sla = [4]time.Duration{response / 2, response, resolution / 2, resolution}
	s.must(http.MethodPost, "/api/v1/sla-policies", map[string]any{
		"severity": "critical", "service": name, "response": response.String(), "resolution": resolution.String(),
		"warning_fraction": 0.5,
	}, http.StatusCreated, nil)
	return pg
}

// quietService is a service without a policy: its incidents page nobody,
// for scenarios that count incidents and transitions, not pages.
func (s *stack) quietService(name string) {
	s.t.Helper()
	s.must(http.MethodPost, "/api/v1/services", map[string]any{"id": name}, http.StatusCreated, nil)
}

// integrationKey creates an integration key of service for the ingestion
// endpoints.
func (s *stack) integrationKey(service string) string {
	s.t.Helper()
	var k struct {
		Key string `json:"key"`
	}
	s.must(http.MethodPost, "/api/v1/services/"+service+"/integration-keys", map[string]string{"name": "monitoring"},
		http.StatusCreated, &k)
	return k.Key
}

// opener opens incidents of one service through POST /incidents as a
// client following docs/api.md: each request carries an Idempotency-Key
// (and a dedup_key), and is sent again on 503 or a broken connection.
type opener struct {
	s       *stack
	service string
	wg      sync.WaitGroup
	mu      sync.Mutex
	// byKey is the incident each key's answer named.
	byKey   map[string]string
	created map[string]int // key → 201 answers
	errs    []error
}

func (s *stack) opener(service string) *opener {
	return &opener{s: s, service: service, byKey: map[string]string{}, created: map[string]int{}}
}

// open sends one keyed open in the background; wait collects it.
func (o *opener) open(ctx context.Context, key string, then func(id string)) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		a, err := o.s.send(ctx, "open", http.MethodPost, "/api/v1/incidents", map[string]string{
			"title": "fault load " + key, "service": o.service, "severity": "critical", "dedup_key": key,
		}, "Idempotency-Key", key)
		if err == nil && a.status != http.StatusCreated && a.status != http.StatusOK {
			err = fmt.Errorf("open %s: %d %s", key, a.status, a.body)
		}
		var inc incident.Incident
		if err == nil {
			err = a.decode(&inc)
		}
		o.mu.Lock()
		if err != nil {
			o.errs = append(o.errs, err)
		} else {
			o.byKey[key] = inc.ID
			if a.status == http.StatusCreated {
				o.created[key]++
			}
		}
		o.mu.Unlock()
		if err == nil && then != nil {
			then(inc.ID)
		}
	}()
}

// wait waits for every open in flight and fails the test on any that did
// not get through, or that was not answered 201: each key is opened once,
// so its retries must get the first answer back, never a join (200).
func (o *opener) wait(t *testing.T) {
	t.Helper()
	o.wg.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, err := range o.errs {
		t.Errorf("open: %v", err)
	}
	for key := range o.byKey {
		if o.created[key] != 1 {
			t.Errorf("open %s of %s was answered 200 (joined), not 201: its retry was taken for a second alert", key, o.service)
		}
	}
}

// openWhile opens one incident every interval until stop closes, at most
// max; the opens go on in the background (wait collects them).
func (o *opener) openWhile(ctx context.Context, prefix string, every time.Duration, max int, stop <-chan struct{}) {
	for i := 0; i < max; i++ {
		o.open(ctx, fmt.Sprintf("%s-%03d", prefix, i), nil)
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
	}
}

// incidentsOf lists every incident of a service from the API (the Postgres
// projection), newest first.
func (s *stack) incidentsOf(ctx context.Context, service string) ([]incident.Incident, error) {
	var all []incident.Incident
	cursor := ""
	for {
		q := url.Values{"service": {service}, "limit": {"200"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		a, err := s.send(ctx, "read", http.MethodGet, "/api/v1/incidents?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Incidents  []incident.Incident `json:"incidents"`
			NextCursor string              `json:"next_cursor"`
		}
		if err := a.decode(&page); err != nil {
			return nil, err
		}
		all = append(all, page.Incidents...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// timeline reads an incident's whole timeline from Postgres through the
// API, page by page, in sequence order.
func (s *stack) timeline(ctx context.Context, id string) ([]incident.Event, error) {
	var all []incident.Event
	for after := int64(0); ; {
		a, err := s.send(ctx, "read", http.MethodGet, fmt.Sprintf("/api/v1/incidents/%s/timeline?limit=1000&after=%d", id, after), nil)
		if err != nil {
			return nil, err
		}
		if a.status != http.StatusOK {
			return nil, fmt.Errorf("timeline of %s: %d %s", id, a.status, a.body)
		}
		var tl struct {
			Events    []incident.Event `json:"events"`
			NextAfter *int64           `json:"next_after"`
		}
		if err := a.decode(&tl); err != nil {
			return nil, err
		}
		all = append(all, tl.Events...)
		if tl.NextAfter == nil {
			return all, nil
		}
		after = *tl.NextAfter
	}
}

// heartbeat creates a heartbeat monitor of service and pings it every
// second, as a job would, for pingFor or until stop closes; then the pings
// stop for good and, one interval later, the monitor must open an incident
// on the service (while faults may still go on). done closes once the last
// ping was sent; pings counts those answered 202.
type heartbeat struct {
	done  chan struct{}
	pings atomic.Int64
	// longestGap is the longest time between two accepted pings.
	longestGap atomic.Int64
}

func (s *stack) heartbeat(ctx context.Context, service string, interval, pingFor time.Duration, stop <-chan struct{}) *heartbeat {
	s.t.Helper()
	key := s.integrationKey(service)
	var m struct {
		ID string `json:"id"`
	}
	s.must(http.MethodPost, "/api/v1/heartbeat-monitors", map[string]any{
		"service_id": service, "name": "nightly job", "interval": interval.String(),
	}, http.StatusCreated, &m)
	hb := &heartbeat{done: make(chan struct{})}
	go func() {
		defer close(hb.done)
		last := time.Now()
		end := time.After(pingFor)
		for {
			a, err := s.send(ctx, "heartbeat", http.MethodPost, "/api/v1/heartbeats/"+m.ID, nil, "Authorization", "Bearer "+key)
			if err == nil && a.status == http.StatusAccepted {
				hb.pings.Add(1)
				now := time.Now()
				if gap := now.Sub(last); int64(gap) > hb.longestGap.Load() {
					hb.longestGap.Store(int64(gap))
				}
				last = now
			}
			select {
			case <-stop:
				return
			case <-end:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	return hb
}

// sleepJitter sleeps a random time in [lo, hi): the fault schedule's own
// pacing, not a wait for something that could be awaited.
func sleepJitter(lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(rand.Int64N(int64(hi-lo))))
}
