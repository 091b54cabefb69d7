package faults_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/incident-server/incident-server/internal/incident"
)

// The scenarios run one after another: on two cores, parallel stacks
// would measure each other.

var base struct {
	once sync.Once
	lat  *lateness
}

// baseline runs the no-fault load once per run (as a subtest of the first
// test that needs it) and returns its lateness, the reference of every
// scenario's figures.
func baseline(t *testing.T) *lateness {
	t.Helper()
	base.once.Do(func() {
		t.Run("baseline", func(t *testing.T) { base.lat = runBaseline(t) })
	})
	return base.lat
}

func TestNoFaultBaseline(t *testing.T) {
	if baseline(t) == nil {
		t.Fatal("the baseline run failed")
	}
}

// runBaseline opens the scenarios' load with nothing failing: one api, one
// worker, incidents opened at the pace of the fault scenarios.
func runBaseline(t *testing.T) *lateness {
	p := form(t)
	s := newStack(t, stackOptions{APIs: 1, Workers: 1})
	sum := newSummary(t, s, "no faults (baseline)")
	pg := s.pagingService("base", p.delay)
	ctx, cancel := context.WithTimeout(context.Background(), p.settle)
	defer cancel()
	o := s.opener(pg.service)
	for i := range p.baselineIncidents {
		o.open(ctx, fmt.Sprintf("base-%03d", i), nil)
		time.Sleep(p.openEvery)
	}
	o.wait(t)
	s.settle(pg, len(o.byKey), p.settle)
	sum.Pages = s.analyse(pg, s.mustIncidents(pg.service, len(o.byKey)))
	sum.finish(t, s)
	assertPages(t, sum.Pages)
	lat := sum.Pages.Lateness
	return &lat
}

// mustIncidents lists the service's incidents and fails the test unless
// there are exactly want: one per key opened.
func (s *stack) mustIncidents(service string, want int) []incident.Incident {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	incs, err := s.incidentsOf(ctx, service)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(incs) != want {
		s.t.Errorf("service %s has %d incidents, want %d (one per key)", service, len(incs), want)
	}
	return incs
}

// assertAnswers fails on every 500: each failure the engine can recover
// from must be a 503 with Retry-After.
func assertAnswers(t *testing.T, s *stack) {
	t.Helper()
	for op, m := range s.statusTable() {
		if n := m["500"]; n > 0 {
			t.Errorf("%d %s requests answered 500 (internal) where 503 is promised", n, op)
		}
	}
}

// heartbeatInterval is the monitors' interval in the kill scenarios:
// longer than any gap the kills put between two accepted pings, so only
// the end of the pings opens an incident.
const heartbeatInterval = 30 * time.Second

func (hb *heartbeat) report(sum *summary) {
	sum.Checks["heartbeat pings accepted"] = hb.pings.Load()
	sum.Checks["heartbeat: longest gap between pings (s)"] = round3(time.Duration(hb.longestGap.Load()).Seconds())
}

// killLoop kills one of the workers with SIGKILL at a random moment 0.5–3 s
// after the last restart, and starts it again at once, n times. Before each
// kill it reads how many pages the worker sent, so the work each worker
// did over its lives can be told.
func killLoop(s *stack, n int, sent []float64) {
	for range n {
		sleepJitter(500*time.Millisecond, 3*time.Second)
		i := rand.IntN(len(s.workers))
		w := s.workers[i]
		if v, err := s.metric(w, "notifications_sent_total"); err == nil {
			sent[i] += v
		}
		s.restart("worker_kill", w.proc, w.kill)
	}
}

// workerKills is scenarios 1 and 6: incidents escalate while workers are
// killed at random.
func workerKills(t *testing.T, opt stackOptions, kills int, name string) {
	p := form(t)
	lat := baseline(t)
	s := newStack(t, opt)
	sum := newSummary(t, s, name)
	pg := s.pagingService("pay", p.delay)
	ctx, cancel := context.WithTimeout(context.Background(), 2*p.settle+time.Duration(kills)*10*time.Second)
	defer cancel()

	o := s.opener(pg.service)
	stop, opened := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(opened)
		o.openWhile(ctx, "wk", p.openEvery, 100000, stop)
	}()
	hb := s.heartbeat(ctx, pg.service, heartbeatInterval, p.pingFor, stop)
	sent := make([]float64, len(s.workers))
	killLoop(s, kills, sent)
	close(stop)
	<-opened
	<-hb.done
	o.wait(t)
	// Every key opened one incident; the heartbeat, once its pings
	// stopped, one more.
	s.settle(pg, len(o.byKey)+1, p.settle+heartbeatInterval)
	for i, w := range s.workers {
		if v, err := s.metric(w, "notifications_sent_total"); err == nil {
			sent[i] += v
		}
	}
	sum.Pages = s.analyse(pg, s.mustIncidents(pg.service, len(o.byKey)+1))
	sum.Baseline = lat
	sum.Checks["pages sent per worker"] = sent
	hb.report(sum)
	sum.finish(t, s)
	assertPages(t, sum.Pages)
	assertAnswers(t, s)
	if len(s.workers) > 1 {
		for i, n := range sent {
			if n == 0 {
				t.Errorf("worker-%d sent no page: the work was not shared", i+1)
			}
		}
	}
}

// Scenario 1.
func TestWorkerKilledAtRandom(t *testing.T) {
	workerKills(t, stackOptions{APIs: 1, Workers: 1}, form(t).workerKills, "worker killed at random (SIGKILL), restarted at once")
}

// Scenario 6.
func TestTwoWorkersTwoAPIsUnderWorkerKills(t *testing.T) {
	workerKills(t, stackOptions{APIs: 2, Workers: 2}, form(t).twoWorkerKills, "two workers and two apis, a worker killed at random")
}

// Scenario 2: the api is killed while keyed opens and acknowledgements are
// in flight; clients retry with their Idempotency-Key and dedup_key.
func TestAPIKilledDuringOpensAndAcknowledges(t *testing.T) {
	p := form(t)
	s := newStack(t, stackOptions{APIs: 1, Workers: 1})
	sum := newSummary(t, s, "api killed during keyed opens and acknowledges")
	s.quietService("ack")
	ctx, cancel := context.WithTimeout(context.Background(), p.settle)
	defer cancel()

	var acks sync.WaitGroup
	var mu sync.Mutex
	ackStatus := map[string]int{}
	o := s.opener("ack")
	done := make(chan struct{})
	// The opens are spread over the time the kills take.
	every := time.Duration(p.apiKills) * 2 * time.Second / time.Duration(p.apiKeys)
	go func() {
		defer close(done)
		for i := range p.apiKeys {
			key := fmt.Sprintf("ak-%03d", i)
			o.open(ctx, key, func(id string) {
				acks.Add(1)
				go func() {
					defer acks.Done()
					a, err := s.send(ctx, "ack", http.MethodPost, "/api/v1/incidents/"+id+"/acknowledge",
						map[string]string{"note": "on it"}, "Idempotency-Key", "ack-"+key)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						t.Errorf("acknowledge %s: %v", id, err)
						return
					}
					ackStatus[id] = a.status
				}()
			})
			time.Sleep(every)
		}
	}()
	api := s.apis[0]
	for range p.apiKills {
		sleepJitter(time.Second, 3*time.Second)
		s.restart("api_kill", api.proc, api.kill)
	}
	<-done
	o.wait(t)
	acks.Wait()

	incs := s.mustIncidents("ack", p.apiKeys)
	keys := map[string]int{}
	var notAcked, twiceAcked, duplicates, created int
	for _, inc := range incs {
		keys[inc.DedupKey]++
		tl, err := s.timeline(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch count(tl, incident.EventAcknowledged) {
		case 0:
			notAcked++
		case 1:
		default:
			twiceAcked++
		}
		duplicates += count(tl, incident.EventDuplicate)
		if ackStatus[inc.ID] != http.StatusOK {
			t.Errorf("acknowledge of %s (%s) finally answered %d, want 200 (the retry carries the first answer's key)",
				inc.ID, inc.DedupKey, ackStatus[inc.ID])
		}
	}
	for _, n := range o.created {
		created += n
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("key %s: %d incidents", k, n)
		}
	}
	sum.Checks["keys opened"] = p.apiKeys
	sum.Checks["incidents"] = len(incs)
	sum.Checks["opens answered 201"] = created
	sum.Checks["incidents never acknowledged"] = notAcked
	sum.Checks["incidents acknowledged twice"] = twiceAcked
	sum.Checks["false duplicate events"] = duplicates
	sum.finish(t, s)
	if notAcked+twiceAcked > 0 {
		t.Errorf("%d incidents without an acknowledged event, %d with more than one", notAcked, twiceAcked)
	}
	if duplicates > 0 {
		t.Errorf("%d duplicate events: a retried keyed open was taken for a second alert", duplicates)
	}
	assertAnswers(t, s)
}

// alertSender posts Alertmanager webhooks as Alertmanager does: a group
// is sent again until it is answered 2xx.
type alertSender struct {
	s   *stack
	key string
	mu  sync.Mutex
	// accepted maps a group's title to the fingerprints answered 200.
	accepted map[string][]string
	wg       sync.WaitGroup
}

func (a *alertSender) send(ctx context.Context, group string, fingerprints ...string) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		var alerts []map[string]any
		for _, fp := range fingerprints {
			alerts = append(alerts, map[string]any{
				"status": "firing", "fingerprint": fp,
				"labels":      map[string]string{"alertname": group, "instance": fp, "severity": "critical"},
				"annotations": map[string]string{"summary": "fault alert " + group},
				"startsAt":    time.Now().UTC().Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z",
			})
		}
		body := map[string]any{
			"version": "4", "groupKey": `{}:{alertname="` + group + `"}`, "status": "firing", "receiver": "incident-server",
			"groupLabels": map[string]string{"alertname": group}, "commonLabels": map[string]string{"alertname": group},
			"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager.local", "alerts": alerts,
		}
		r, err := a.s.send(ctx, "alertmanager", http.MethodPost, "/api/v1/integrations/alertmanager", body,
			"Authorization", "Bearer "+a.key)
		if err != nil || r.status != http.StatusOK {
			a.s.t.Errorf("alertmanager group %s: %v %d %s", group, err, r.status, r.body)
			return
		}
		a.mu.Lock()
		a.accepted["fault alert "+group] = append(a.accepted["fault alert "+group], fingerprints...)
		a.mu.Unlock()
	}()
}

// checkAlerts fails unless every accepted alert is recorded on the
// incident of its group.
func (a *alertSender) checkAlerts(ctx context.Context, t *testing.T, incs []incident.Incident) int {
	t.Helper()
	a.wg.Wait()
	byTitle := map[string]string{}
	for _, inc := range incs {
		byTitle[inc.Title] = inc.ID
	}
	n := 0
	for title, fps := range a.accepted {
		id, ok := byTitle[title]
		if !ok {
			t.Errorf("accepted alert group %q has no incident", title)
			continue
		}
		r, err := a.s.send(ctx, "read", http.MethodGet, "/api/v1/incidents/"+id+"/alerts", nil)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Alerts []struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"alerts"`
		}
		if err := r.decode(&body); err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, al := range body.Alerts {
			have[al.Fingerprint] = true
		}
		for _, fp := range fps {
			n++
			if !have[fp] {
				t.Errorf("accepted alert %s of %q is not in Postgres", fp, title)
			}
		}
	}
	return n
}

// outageLoad runs the load of the outage scenarios around fault: keyed
// opens on the paging service, Alertmanager groups (each new group opens an
// incident; each resend adds a fingerprint), and acknowledgements of quiet
// incidents sent while the fault goes on. It returns once the load is
// done.
type outageLoad struct {
	s     *stack
	pg    *paging
	open  *opener
	am    *alertSender
	quiet []string
	acked sync.WaitGroup
}

func (s *stack) outageLoad(service string) *outageLoad {
	p := form(s.t)
	l := &outageLoad{s: s, pg: s.pagingService(service, p.delay)}
	l.open = s.opener(service)
	l.am = &alertSender{s: s, key: s.integrationKey(service), accepted: map[string][]string{}}
	s.quietService(service + "-quiet")
	q := s.opener(service + "-quiet")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 3 {
		q.open(ctx, fmt.Sprintf("q-%d", i), nil)
	}
	q.wait(s.t)
	for _, id := range q.byKey {
		l.quiet = append(l.quiet, id)
	}
	return l
}

// run sends the load for lead before fault(), during it, and for trail
// after.
func (l *outageLoad) run(ctx context.Context, lead, trail time.Duration, fault func()) {
	p := form(l.s.t)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		i := 0
		tick := time.NewTicker(p.openEvery)
		defer tick.Stop()
		for {
			l.open.open(ctx, fmt.Sprintf("o-%03d", i), nil)
			group := fmt.Sprintf("G%03d", i)
			l.am.send(ctx, group, group+"-a")
			if i > 0 {
				prev := fmt.Sprintf("G%03d", i-1)
				l.am.send(ctx, prev, prev+"-b")
			}
			i++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	time.Sleep(lead)
	fault()
	time.Sleep(trail)
	close(stop)
	<-done
	l.open.wait(l.s.t)
	l.acked.Wait()
}

// acknowledgeQuiet acknowledges the quiet incidents, each retried with
// its Idempotency-Key until answered.
func (l *outageLoad) acknowledgeQuiet(ctx context.Context) {
	for _, id := range l.quiet {
		l.acked.Add(1)
		go func() {
			defer l.acked.Done()
			a, err := l.s.send(ctx, "ack", http.MethodPost, "/api/v1/incidents/"+id+"/acknowledge",
				map[string]string{"note": "during the outage"}, "Idempotency-Key", "ack-"+id)
			if err != nil || a.status != http.StatusOK {
				l.s.t.Errorf("acknowledge %s: %v %d %s", id, err, a.status, a.body)
			}
		}()
	}
}

// check settles the load and checks pages, alerts and transitions.
func (l *outageLoad) check(ctx context.Context, sum *summary) {
	t := l.s.t
	p := form(t)
	want := len(l.open.byKey) + len(l.am.accepted)
	l.s.settle(l.pg, want, p.settle)
	incs := l.s.mustIncidents(l.pg.service, want)
	sum.Pages = l.s.analyse(l.pg, incs)
	sum.Checks["alerts accepted and recorded"] = l.am.checkAlerts(ctx, t, incs)
	ackd := 0
	for _, id := range l.quiet {
		tl, err := l.s.timeline(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if n := count(tl, incident.EventAcknowledged); n != 1 {
			t.Errorf("incident %s acknowledged during the outage has %d acknowledged events, want 1", id, n)
		} else {
			ackd++
		}
	}
	sum.Checks["acknowledged during the fault, recorded once"] = fmt.Sprintf("%d of %d", ackd, len(l.quiet))
}

// readiness probes an api's /health/ready until stop closes and returns
// the answers: status → count, and how often each dependency was named
// unavailable.
type readiness struct {
	mu       sync.Mutex
	statuses map[int]int
	down     map[string]int
}

func (s *stack) probeReady(ctx context.Context, sv *server, stop <-chan struct{}) *readiness {
	r := &readiness{statuses: map[int]int{}, down: map[string]int{}}
	go func() {
		for {
			if a, err := s.ready(ctx, sv); err == nil {
				r.mu.Lock()
				r.statuses[a.status]++
				var body struct {
					Checks map[string]string `json:"checks"`
				}
				if a.decode(&body) == nil {
					for dep, st := range body.Checks {
						if st != "ok" {
							r.down[dep]++
						}
					}
				}
				r.mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return r
}

func (s *stack) ready(ctx context.Context, sv *server) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sv.url()+"/health/ready", nil)
	if err != nil {
		return answer{}, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// awaitReady polls until the api answers ready and returns how long it took.
func (s *stack) awaitReady(ctx context.Context, sv *server) time.Duration {
	start := time.Now()
	for {
		if a, err := s.ready(ctx, sv); err == nil && a.status == http.StatusOK {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			s.t.Errorf("api not ready again: %v", ctx.Err())
			return time.Since(start)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Scenario 3: Postgres stopped during ingestion and escalation.
func TestPostgresStopped(t *testing.T) {
	p := form(t)
	lat := baseline(t)
	s := newStack(t, stackOptions{APIs: 1, Workers: 1})
	sum := newSummary(t, s, fmt.Sprintf("postgres stopped for %s", p.pgOutage))
	l := s.outageLoad("db")
	ctx, cancel := context.WithTimeout(context.Background(), 3*p.settle+p.pgOutage)
	defer cancel()

	var probe *readiness
	var readyAfter time.Duration
	var outageStart, outageEnd time.Time
	l.run(ctx, 6*time.Second, 8*time.Second, func() {
		stop := make(chan struct{})
		outageStart = time.Now()
		s.pg.stopNow()
		probe = s.probeReady(ctx, s.apis[0], stop)
		l.acknowledgeQuiet(ctx)
		time.Sleep(p.pgOutage)
		close(stop)
		if err := s.pg.proc.start(); err != nil {
			t.Fatal(err)
		}
		outageEnd = time.Now()
		s.faults.add("postgres_stop", "postgres", outageStart, outageEnd)
		readyAfter = s.awaitReady(ctx, s.apis[0])
	})
	l.check(ctx, sum)
	sum.Baseline = lat
	duringOutage := 0
	for _, pu := range s.recv.pushes() {
		if pu.At.After(outageStart) && pu.At.Before(outageEnd) {
			duringOutage++
		}
	}
	probe.mu.Lock()
	sum.Checks["/health/ready answers during the outage"] = probe.statuses
	sum.Checks["/health/ready named unavailable"] = probe.down
	postgresNamed := probe.down["postgres"]
	probe.mu.Unlock()
	sum.Checks["/health/ready 200 again after (s)"] = round3(readyAfter.Seconds())
	sum.Checks["pages delivered during the outage"] = duringOutage
	sum.finish(t, s)

	assertPages(t, sum.Pages)
	assertAnswers(t, s)
	if postgresNamed == 0 {
		t.Errorf("/health/ready never named postgres unavailable during the outage")
	}
	if s.statusCount("alertmanager", http.StatusServiceUnavailable) == 0 {
		t.Errorf("no Alertmanager webhook was answered 503 during the outage")
	}
}

// Scenario 4: Redis stopped; nothing but the cache may notice.
func TestRedisStopped(t *testing.T) {
	p := form(t)
	lat := baseline(t)
	s := newStack(t, stackOptions{APIs: 1, Workers: 1})
	sum := newSummary(t, s, fmt.Sprintf("redis stopped for %s", p.redisOutage))
	l := s.outageLoad("cache")
	ctx, cancel := context.WithTimeout(context.Background(), 3*p.settle+p.redisOutage)
	defer cancel()

	var probe *readiness
	l.run(ctx, 6*time.Second, 8*time.Second, func() {
		stop := make(chan struct{})
		start := time.Now()
		s.redis.proc.stop()
		probe = s.probeReady(ctx, s.apis[0], stop)
		l.acknowledgeQuiet(ctx)
		time.Sleep(p.redisOutage)
		close(stop)
		if err := s.redis.proc.start(); err != nil {
			t.Fatal(err)
		}
		s.faults.add("redis_stop", "redis", start, time.Now())
	})
	l.check(ctx, sum)
	sum.Baseline = lat
	failOpen, err := s.metric(s.apis[0], "rate_limiter_fail_open_total")
	if err != nil {
		t.Fatal(err)
	}
	probe.mu.Lock()
	sum.Checks["/health/ready answers during the outage"] = probe.statuses
	sum.Checks["/health/ready named unavailable"] = probe.down
	notReady := 0
	for st, n := range probe.statuses {
		if st != http.StatusOK {
			notReady += n
		}
	}
	probe.mu.Unlock()
	sum.Checks["rate_limiter_fail_open_total"] = failOpen
	sum.finish(t, s)

	assertPages(t, sum.Pages)
	assertAnswers(t, s)
	for _, op := range []string{"open", "ack", "alertmanager"} {
		if n := s.statusCount(op, http.StatusServiceUnavailable); n > 0 {
			t.Errorf("%d %s requests answered 503 while only Redis was down", n, op)
		}
	}
	if notReady > 0 {
		t.Errorf("/health/ready answered not ready %d times while only Redis was down: Redis is never the source of truth", notReady)
	}
	if failOpen == 0 {
		t.Errorf("rate_limiter_fail_open_total is 0: the limiter did not count letting requests through")
	}
}

// Scenario 5: the Temporal server stopped and started again on the same
// database mid-escalation.
func TestTemporalRestarted(t *testing.T) {
	p := form(t)
	lat := baseline(t)
	s := newStack(t, stackOptions{APIs: 1, Workers: 1})
	sum := newSummary(t, s, "temporal server restarted on its database")
	pg := s.pagingService("tmp", p.delay)
	ctx, cancel := context.WithTimeout(context.Background(), 3*p.settle)
	defer cancel()

	o := s.opener(pg.service)
	stop, opened := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(opened)
		o.openWhile(ctx, "tr", p.openEvery, 100000, stop)
	}()
	// The restarts leave gaps of a few seconds between pings.
	hb := s.heartbeat(ctx, pg.service, 10*time.Second, time.Hour, stop)
	for range p.temporalRestarts {
		// Mid-escalation: the incidents opened so far are between steps.
		time.Sleep(10 * time.Second)
		s.restart("temporal_restart", s.tmp, s.tmp.stop)
	}
	time.Sleep(5 * time.Second)
	close(stop)
	<-opened
	<-hb.done
	o.wait(t)
	s.settle(pg, len(o.byKey)+1, p.settle)
	sum.Pages = s.analyse(pg, s.mustIncidents(pg.service, len(o.byKey)+1))
	sum.Baseline = lat
	hb.report(sum)
	sum.finish(t, s)
	assertPages(t, sum.Pages)
	assertAnswers(t, s)
}

// Scenario 7: many opens of one dedup key at once, then many
// acknowledgements of the incident at once.
func TestConcurrentOpensAndAcknowledges(t *testing.T) {
	p := form(t)
	s := newStack(t, stackOptions{APIs: 1, Workers: 1})
	sum := newSummary(t, s, "concurrent opens of one key, concurrent acknowledges")
	s.quietService("storm")
	// A client gives up at some point: after p.stormDeadline for the opens,
	// and again for the acknowledgements; sooner when the test binary's
	// -timeout would end the run first, so the figures are still written.
	budget := p.stormDeadline
	if d, ok := t.Deadline(); ok {
		budget = max(10*time.Second, min(budget, (time.Until(d)-time.Minute)/2))
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()

	type result struct {
		status int
		id     string
	}
	opens := make([]result, p.concurrentOpens)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range p.concurrentOpens {
		wg.Go(func() {
			a, err := s.send(ctx, "open", http.MethodPost, "/api/v1/incidents", map[string]string{
				"title": "storm", "service": "storm", "severity": "critical", "dedup_key": "storm",
			}, "Idempotency-Key", fmt.Sprintf("storm-%04d", i))
			if err != nil {
				return // counted as unanswered
			}
			var inc incident.Incident
			_ = a.decode(&inc)
			opens[i] = result{a.status, inc.ID}
		})
	}
	wg.Wait()
	openTook := time.Since(start)
	ids := map[string]int{}
	created, unanswered := 0, 0
	for _, r := range opens {
		if r.status == 0 {
			unanswered++
			continue
		}
		ids[r.id]++
		switch r.status {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("an open finally answered %d", r.status)
		}
	}
	incs := s.mustIncidents("storm", 1)
	if len(ids) != 1 || created != 1 || unanswered > 0 {
		t.Errorf("%d concurrent opens of one key: %d incident IDs answered, %d answers 201, %d not answered within %s; want 1, 1 and 0",
			p.concurrentOpens, len(ids), created, unanswered, budget)
	}
	if len(incs) == 0 {
		t.Fatal("the storm opened no incident")
	}
	id := incs[0].ID

	ctx, cancel = context.WithTimeout(context.Background(), budget)
	defer cancel()
	acks := make([]int, p.concurrentAcks)
	start = time.Now()
	for i := range p.concurrentAcks {
		wg.Go(func() {
			a, err := s.send(ctx, "ack", http.MethodPost, "/api/v1/incidents/"+id+"/acknowledge", map[string]string{"note": "mine"},
				"Idempotency-Key", fmt.Sprintf("storm-ack-%04d", i))
			if err == nil {
				acks[i] = a.status // else 0: unanswered
			}
		})
	}
	wg.Wait()
	ackTook := time.Since(start)
	ackAnswers := map[int]int{}
	for _, st := range acks {
		ackAnswers[st]++
	}
	readCtx, cancelRead := context.WithTimeout(context.Background(), time.Minute)
	defer cancelRead()
	tl, err := s.timeline(readCtx, id)
	if err != nil {
		t.Fatal(err)
	}
	sum.Checks["opens: not answered within "+budget.String()] = unanswered
	sum.Checks["opens: incidents"] = len(incs)
	sum.Checks["opens: answered 201"] = created
	sum.Checks["opens: duplicate events"] = count(tl, incident.EventDuplicate)
	sum.Checks["opens: took (s)"] = round3(openTook.Seconds())
	sum.Checks["acks: final answers"] = ackAnswers
	sum.Checks["acks: acknowledged events"] = count(tl, incident.EventAcknowledged)
	sum.Checks["acks: took (s)"] = round3(ackTook.Seconds())
	sum.finish(t, s)

	if n := count(tl, incident.EventDuplicate); n != p.concurrentOpens-1 {
		t.Errorf("%d duplicate events for %d joining opens: each open that joined must be one duplicate, no more", n, p.concurrentOpens-1)
	}
	if n := count(tl, incident.EventAcknowledged); n != 1 {
		t.Errorf("%d acknowledged events after %d concurrent acknowledges, want 1", n, p.concurrentAcks)
	}
	if ackAnswers[http.StatusOK] != 1 || ackAnswers[http.StatusConflict] != p.concurrentAcks-1 {
		t.Errorf("concurrent acknowledges answered %v; want one 200 and the rest 409 (already acknowledged)", ackAnswers)
	}
	assertAnswers(t, s)
}
