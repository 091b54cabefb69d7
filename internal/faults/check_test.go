package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incident-server/incident-server/internal/incident"
)

// liveView is GET /incidents/{id}: the projection and, while the incident
// is active, the workflow's own state (the fields the suite reads).
type liveView struct {
	incident.Incident
	Live *struct {
		Incident      incident.Incident `json:"incident"`
		PendingWrites int               `json:"pending_writes"`
		Escalation    *struct {
			Exhausted bool `json:"exhausted"`
			Pages     []struct {
				Step   int       `json:"step"`
				Round  int       `json:"round"`
				No     int       `json:"no"`
				UserID string    `json:"user_id"`
				At     time.Time `json:"at"`
			} `json:"pages"`
		} `json:"escalation"`
		SLA *struct {
			Response   deadline `json:"response"`
			Resolution deadline `json:"resolution"`
		} `json:"sla"`
	} `json:"live"`
}

type deadline struct {
	DueAt  time.Time `json:"due_at"`
	WarnAt time.Time `json:"warn_at"`
}

type ledgerRow struct {
	Step     int    `json:"step"`
	Round    int    `json:"round"`
	Page     int    `json:"page"`
	UserID   string `json:"user_id"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
}

// settle waits, at most d, until every incident of the service is done:
// want incidents recorded, each with its escalation exhausted, its four SLA
// moments and the outcome of every page it is owed (notified or
// notify_failed: a push is received before its outcome is recorded) on the
// timeline, and no ledger row left claimed. It polls; nothing here can be
// awaited otherwise.
func (s *stack) settle(pg *paging, want int, d time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := map[string]bool{}
	for {
		incs, err := s.incidentsOf(ctx, pg.service)
		if err == nil && len(incs) >= want {
			for _, inc := range incs {
				if done[inc.ID] {
					continue
				}
				tl, err := s.timeline(ctx, inc.ID)
				if err != nil || count(tl, incident.EventExhausted) == 0 ||
					count(tl, incident.EventSLAWarning)+count(tl, incident.EventSLABreached) < len(pg.sla) ||
					count(tl, incident.EventNotified)+count(tl, incident.EventNotifyFailed) < pagesPerIncident+2*len(pg.sla) {
					continue
				}
				rows, err := s.ledger(ctx, inc.ID)
				if err != nil || claimed(rows) > 0 {
					continue
				}
				done[inc.ID] = true
			}
			if len(done) >= len(incs) {
				return
			}
		}
		select {
		case <-ctx.Done():
			s.t.Logf("not settled within %s: %d of %d incidents done", d, len(done), want)
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func count(events []incident.Event, typ incident.EventType) int {
	n := 0
	for _, ev := range events {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func claimed(rows []ledgerRow) int {
	n := 0
	for _, r := range rows {
		if r.Status == "claimed" {
			n++
		}
	}
	return n
}

func (s *stack) ledger(ctx context.Context, id string) ([]ledgerRow, error) {
	a, err := s.send(ctx, "read", http.MethodGet, "/api/v1/incidents/"+id+"/notifications", nil)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("notifications of %s: %d %s", id, a.status, a.body)
	}
	var body struct {
		Notifications []ledgerRow `json:"notifications"`
	}
	return body.Notifications, a.decode(&body)
}

// live reads an incident with its workflow's state, trying again while the
// workflow cannot answer its query.
func (s *stack) live(ctx context.Context, id string) (liveView, error) {
	for {
		a, err := s.send(ctx, "read", http.MethodGet, "/api/v1/incidents/"+id, nil)
		if err != nil {
			return liveView{}, err
		}
		var v liveView
		if err := a.decode(&v); err != nil {
			return liveView{}, err
		}
		if v.Live != nil || !v.Status.Active() {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("incident %s: its workflow did not answer the state query", id)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// pageFigures is what the receiver got against what the policies owe.
type pageFigures struct {
	Incidents int `json:"incidents"`
	// Expected counts pages owed: escalation (policy) plus SLA alerts
	// (two users per SLA moment on the timeline).
	ExpectedPages   int `json:"expected_pages"`
	EscalationPages int `json:"escalation_pages_expected"`
	SLAPages        int `json:"sla_pages_expected"`
	DeliveredPages  int `json:"delivered_pages"`
	LostPages       int `json:"lost_pages"`
	DuplicatedPages int `json:"duplicated_pages"`
	// ClaimedRows are ledger rows left claimed once the run settled.
	ClaimedRows int `json:"claimed_rows"`
	// RetriedClaims are ledger rows claimed more than once (a retry found
	// its delivery claimed by an attempt that did not finish it).
	RetriedClaims int `json:"retried_claims"`
	// UnfinishedEscalations lack escalation_exhausted on their timeline.
	UnfinishedEscalations int `json:"unfinished_escalations"`
	// ProjectionBehind counts incidents whose Postgres record lags their
	// workflow (version, pending writes, page events).
	ProjectionBehind int `json:"projection_behind"`
	// DuplicateEvents counts duplicate timeline events: the load opens each
	// key once and sends alerts as signals, so any is a retried open taken
	// for a second alert.
	DuplicateEvents int         `json:"duplicate_events"`
	Duplicates      []duplicate `json:"duplicates,omitempty"`
	Lost            []string    `json:"lost,omitempty"`
	Lateness        lateness    `json:"lateness"`
	Problems        []string    `json:"problems,omitempty"`

	timings []pageTiming
}

// duplicate is a page received more often than owed.
type duplicate struct {
	IncidentID string    `json:"incident_id"`
	Page       string    `json:"page"`
	First      time.Time `json:"first"`
	Again      time.Time `json:"again"`
	GapSeconds float64   `json:"gap_seconds"`
	// FaultBetween: a kill or an outage fell between the two sends. The
	// known window of a crash between the push and the ledger's record.
	FaultBetween bool `json:"fault_between"`
	// SentBeforeFaultMs is how long before the next fault (a kill, an
	// outage) the first send was taken; -1 when no fault followed it.
	SentBeforeFaultMs float64 `json:"sent_before_fault_ms"`
	// SinceFaultMs is how long after the last fault before it the first
	// send was taken; -1 when none came before.
	SinceFaultMs float64  `json:"since_fault_ms"`
	Reasons      []string `json:"reasons"`
	DeliveryIDs  []string `json:"delivery_ids,omitempty"`
	// Ledger lists the ledger rows of the step, round and user:
	// "page N: status, attempts A".
	Ledger []string `json:"ledger,omitempty"`
}

// lateness of pages, in seconds: arrival at the receiver against the
// engine's own due time (the previous page's time plus the step's delay,
// as the workflow schedules it) and against the policy's ideal schedule
// (open time plus the delays), and of SLA alerts against their moment.
type lateness struct {
	Engine       stats `json:"engine"`
	Ideal        stats `json:"ideal"`
	SLA          stats `json:"sla"`
	DuringFaults stats `json:"engine_during_faults"`
	AfterFaults  stats `json:"engine_after_faults"`
}

type stats struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func statsOf(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return round3(s[max(0, min(i, len(s)-1))])
	}
	return stats{N: len(s), P50: q(0.5), P99: q(0.99), Max: round3(s[len(s)-1])}
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func (st stats) String() string {
	if st.N == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.1f s, p99 %.1f s, max %.1f s (n=%d)", st.P50, st.P99, st.Max, st.N)
}

// pageTiming is one owed page: when the engine meant it to go out and when
// it arrived (zero when it never did).
type pageTiming struct {
	due, arrival time.Time
}

// pageKey names an owed page. Escalation pages are owed once; SLA alerts
// (reason "sla") once per alert that paged the step.
type pageKey struct {
	incident, token string
	step, round     int
	kind            string
}

func (k pageKey) String() string {
	return fmt.Sprintf("%s step %d round %d %s to %s", k.incident, k.step, k.round, k.kind, k.token)
}

// analyse compares what the policies owe the incidents with what the
// receiver got, and reads the ledger, timelines and workflow states.
func (s *stack) analyse(pg *paging, incs []incident.Incident) *pageFigures {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := &pageFigures{Incidents: len(incs)}
	userOf := map[string]string{}
	for u, tok := range pg.token {
		userOf[tok] = u
	}
	got := map[pageKey][]push{}
	for _, p := range s.recv.pushes() {
		kind := "escalation"
		if p.Reason != "escalation" {
			kind = "sla"
		}
		k := pageKey{incident: p.IncidentID, token: p.Token, step: p.Step, round: p.Round, kind: kind}
		got[k] = append(got[k], p)
	}
	var engine, ideal, slaLate, during, after []float64
	lastFault := time.Time{}
	for _, x := range s.faults.list() {
		if x.End.After(lastFault) {
			lastFault = x.End
		}
	}
	for _, inc := range incs {
		v, err := s.live(ctx, inc.ID)
		if err != nil {
			f.Problems = append(f.Problems, err.Error())
			continue
		}
		tl, err := s.timeline(ctx, inc.ID)
		if err != nil {
			f.Problems = append(f.Problems, err.Error())
			continue
		}
		rows, err := s.ledger(ctx, inc.ID)
		if err != nil {
			f.Problems = append(f.Problems, err.Error())
			continue
		}
		f.ClaimedRows += claimed(rows)
		for _, r := range rows {
			if r.Attempts > 1 {
				f.RetriedClaims++
			}
		}
		if count(tl, incident.EventExhausted) == 0 {
			f.UnfinishedEscalations++
		}
		f.DuplicateEvents += count(tl, incident.EventDuplicate)
		if v.Live == nil || v.Live.Escalation == nil {
			f.Problems = append(f.Problems, fmt.Sprintf("incident %s (%s): no live escalation state", inc.ID, v.Status))
			continue
		}
		live := v.Live
		pageEvents := count(tl, incident.EventNotified) + count(tl, incident.EventNotifyFailed)
		if live.PendingWrites > 0 || live.Incident.Version != v.Version || pageEvents != len(live.Escalation.Pages) {
			f.ProjectionBehind++
			f.Problems = append(f.Problems, fmt.Sprintf("incident %s: projection version %d, workflow %d, %d pending writes, %d page events for %d pages",
				inc.ID, v.Version, live.Incident.Version, live.PendingWrites, pageEvents, len(live.Escalation.Pages)))
		}

		// The workflow's pages: the first of each step, round and user is
		// the escalation page; any later one is an SLA alert to that step.
		type sru struct {
			step, round int
			user        string
		}
		pages := slices.Clone(live.Escalation.Pages)
		sort.Slice(pages, func(i, j int) bool { return pages[i].No < pages[j].No })
		escAt := map[[2]int]time.Time{}
		seen := map[sru]bool{}
		owed := map[pageKey]int{}
		for _, p := range pages {
			k := sru{p.Step, p.Round, p.UserID}
			if !seen[k] {
				seen[k] = true
				if _, ok := escAt[[2]int{p.Step, p.Round}]; !ok {
					escAt[[2]int{p.Step, p.Round}] = p.At
				}
				continue
			}
			owed[pageKey{inc.ID, pg.token[p.UserID], p.Step + 1, p.Round, "sla"}]++
		}
		slaEvents := count(tl, incident.EventSLAWarning) + count(tl, incident.EventSLABreached)
		slaOwed := 0
		for _, n := range owed {
			slaOwed += n
		}
		if slaOwed != 2*slaEvents {
			f.Problems = append(f.Problems, fmt.Sprintf("incident %s: %d SLA events on the timeline but %d SLA pages in the workflow", inc.ID, slaEvents, slaOwed))
		}
		f.SLAPages += slaOwed
		for round := range rounds {
			for step := range steps {
				for _, u := range pg.steps[step] {
					owed[pageKey{inc.ID, pg.token[u], step + 1, round, "escalation"}] = 1
				}
			}
		}
		f.EscalationPages += pagesPerIncident

		// Compare, and time each escalation page's first arrival.
		for k, n := range owed {
			recv := got[k]
			sort.Slice(recv, func(i, j int) bool { return recv[i].At.Before(recv[j].At) })
			f.ExpectedPages += n
			if len(recv) < n {
				f.LostPages += n - len(recv)
				if len(f.Lost) < 20 {
					f.Lost = append(f.Lost, fmt.Sprintf("%s: %d of %d received", k, len(recv), n))
				}
			}
			for i := n; i < len(recv); i++ {
				// Each extra send is paired with the one before it.
				extra, first := recv[i], recv[i-1]
				f.DuplicatedPages++
				f.Duplicates = append(f.Duplicates, duplicate{
					IncidentID: inc.ID, Page: k.String(), First: first.At, Again: extra.At,
					GapSeconds:        round3(extra.At.Sub(first.At).Seconds()),
					FaultBetween:      s.faults.between(first.At, extra.At),
					SentBeforeFaultMs: s.faults.nextAfter(first.At),
					SinceFaultMs:      s.faults.lastBefore(first.At),
					Reasons:           []string{first.Reason, extra.Reason},
					Ledger:            ledgerOf(rows, k.step, k.round, userOf[k.token]),
					DeliveryIDs:       []string{first.DeliveryID, extra.DeliveryID},
				})
			}
			if k.kind != "escalation" {
				continue
			}
			idx := k.round*steps + (k.step - 1)
			idealDue := inc.CreatedAt.Add(time.Duration(idx) * pg.delay)
			due := inc.CreatedAt
			if idx > 0 {
				prev := idx - 1
				at, ok := escAt[[2]int{prev % steps, prev / steps}]
				if !ok {
					continue
				}
				due = at.Add(pg.delay)
			}
			var arrival time.Time
			if len(recv) > 0 {
				arrival = recv[0].At
			}
			f.timings = append(f.timings, pageTiming{due: due, arrival: arrival})
			if arrival.IsZero() {
				continue
			}
			late := arrival.Sub(due).Seconds()
			engine = append(engine, late)
			ideal = append(ideal, arrival.Sub(idealDue).Seconds())
			if !lastFault.IsZero() && !due.After(lastFault) {
				during = append(during, late)
			} else {
				after = append(after, late)
			}
		}
		// SLA alerts fire in the order of their moments, two users each.
		if live.SLA != nil && slaOwed == 2*len(pg.sla) {
			moments := []time.Time{live.SLA.Response.WarnAt, live.SLA.Response.DueAt, live.SLA.Resolution.WarnAt, live.SLA.Resolution.DueAt}
			sort.Slice(moments, func(i, j int) bool { return moments[i].Before(moments[j]) })
			var slaGot []push
			for k, ps := range got {
				if k.incident == inc.ID && k.kind == "sla" {
					slaGot = append(slaGot, ps...)
				}
			}
			sort.Slice(slaGot, func(i, j int) bool { return slaGot[i].At.Before(slaGot[j].At) })
			if len(slaGot) == slaOwed {
				for i, p := range slaGot {
					m := moments[i/2]
					slaLate = append(slaLate, p.At.Sub(m).Seconds())
					f.timings = append(f.timings, pageTiming{due: m, arrival: p.At})
				}
			}
		}
		for k, ps := range got {
			if k.incident == inc.ID {
				f.DeliveredPages += len(ps)
				if _, ok := owed[k]; !ok {
					for _, p := range ps {
						f.DuplicatedPages++
						f.Duplicates = append(f.Duplicates, duplicate{IncidentID: inc.ID, Page: k.String() + " (not owed at all)",
							First: p.At, Again: p.At})
					}
				}
			}
		}
	}
	f.Lateness = lateness{Engine: statsOf(engine), Ideal: statsOf(ideal), SLA: statsOf(slaLate),
		DuringFaults: statsOf(during), AfterFaults: statsOf(after)}
	sort.Slice(f.Duplicates, func(i, j int) bool { return f.Duplicates[i].Again.Before(f.Duplicates[j].Again) })
	return f
}

// ledgerOf describes the ledger rows of one step, round and user.
func ledgerOf(rows []ledgerRow, step, round int, user string) []string {
	var out []string
	for _, r := range rows {
		if r.Step == step && r.Round == round && r.UserID == user {
			out = append(out, fmt.Sprintf("page %d: %s, attempts %d", r.Page, r.Status, r.Attempts))
		}
	}
	return out
}

// recovery is how the engine came back from one fault.
type recovery struct {
	Kind   string    `json:"kind"`
	Target string    `json:"target"`
	Start  time.Time `json:"start"`
	// DownSeconds is from the kill or stop until the process served again.
	DownSeconds float64 `json:"down_seconds"`
	// Owed counts the pages due by the fault's end that had not arrived
	// when it began.
	Owed int `json:"owed"`
	// FirstPageSeconds is from the fault's end to the first page after it.
	FirstPageSeconds float64 `json:"first_page_seconds"`
	// BacklogSeconds is from the fault's end until the last owed page
	// arrived (0 when none was owed).
	BacklogSeconds float64 `json:"backlog_seconds"`
}

func recoveries(faults []fault, timings []pageTiming) []recovery {
	var out []recovery
	for _, x := range faults {
		r := recovery{Kind: x.Kind, Target: x.Target, Start: x.Start, DownSeconds: round3(x.End.Sub(x.Start).Seconds()), FirstPageSeconds: -1}
		first := time.Time{}
		for _, p := range timings {
			if p.arrival.IsZero() {
				continue
			}
			if p.arrival.After(x.End) && (first.IsZero() || p.arrival.Before(first)) {
				first = p.arrival
			}
			if !p.due.After(x.End) && p.arrival.After(x.Start) {
				r.Owed++
				r.BacklogSeconds = max(r.BacklogSeconds, round3(p.arrival.Sub(x.End).Seconds()))
			}
		}
		if !first.IsZero() {
			r.FirstPageSeconds = round3(first.Sub(x.End).Seconds())
		}
		out = append(out, r)
	}
	return out
}

// summary is one scenario's figures, logged as a table and written to
// the run's JSON file.
type summary struct {
	Scenario  string                    `json:"scenario"`
	Form      string                    `json:"form"`
	Started   time.Time                 `json:"started"`
	Seconds   float64                   `json:"seconds"`
	Processes string                    `json:"processes"`
	Faults    map[string]int            `json:"faults"`
	Pages     *pageFigures              `json:"pages,omitempty"`
	Baseline  *lateness                 `json:"baseline_lateness,omitempty"`
	Recovery  []recovery                `json:"recovery,omitempty"`
	Statuses  map[string]map[string]int `json:"statuses"`
	Checks    map[string]any            `json:"checks,omitempty"`
}

var report struct {
	mu        sync.Mutex
	summaries []summary
}

func newSummary(t *testing.T, s *stack, scenario string) *summary {
	return &summary{Scenario: scenario, Form: form(t).name, Started: time.Now().UTC(),
		Processes: fmt.Sprintf("%d api, %d worker", len(s.apis), len(s.workers)), Faults: map[string]int{},
		Checks: map[string]any{}}
}

// finish completes the summary from the stack, logs it as a table and
// keeps it for the run's JSON file.
func (sum *summary) finish(t *testing.T, s *stack) {
	t.Helper()
	sum.Seconds = round3(time.Since(sum.Started).Seconds())
	sum.Statuses = s.statusTable()
	for _, x := range s.faults.list() {
		sum.Faults[x.Kind]++
	}
	if sum.Pages != nil {
		sum.Recovery = recoveries(s.faults.list(), sum.Pages.timings)
	}
	report.mu.Lock()
	report.summaries = append(report.summaries, *sum)
	report.mu.Unlock()

	var b strings.Builder
	fmt.Fprintf(&b, "\n%s (%s form, %s, %.0f s)\n", sum.Scenario, sum.Form, sum.Processes, sum.Seconds)
	row := func(k string, v any) { fmt.Fprintf(&b, "  %-34s %v\n", k, v) }
	for _, k := range sortedKeys(sum.Faults) {
		row("faults: "+k, sum.Faults[k])
	}
	if p := sum.Pages; p != nil {
		row("incidents", p.Incidents)
		row("pages expected (escalation+SLA)", fmt.Sprintf("%d (%d+%d)", p.ExpectedPages, p.EscalationPages, p.SLAPages))
		row("pages delivered", p.DeliveredPages)
		row("pages lost", p.LostPages)
		row("pages duplicated", p.DuplicatedPages)
		row("ledger rows left claimed", p.ClaimedRows)
		row("ledger rows claimed again", p.RetriedClaims)
		row("escalations unfinished", p.UnfinishedEscalations)
		row("projections behind", p.ProjectionBehind)
		row("duplicate events (false joins)", p.DuplicateEvents)
		row("lateness vs engine due", p.Lateness.Engine)
		row("  while faults went on", p.Lateness.DuringFaults)
		row("  after the last fault", p.Lateness.AfterFaults)
		row("lateness vs ideal schedule", p.Lateness.Ideal)
		row("SLA alert lateness", p.Lateness.SLA)
		if sum.Baseline != nil {
			row("baseline: vs engine due", sum.Baseline.Engine)
			row("baseline: vs ideal schedule", sum.Baseline.Ideal)
			row("baseline: SLA alerts", sum.Baseline.SLA)
		}
	}
	if len(sum.Recovery) > 0 {
		var down, first, backlog []float64
		for _, r := range sum.Recovery {
			down = append(down, r.DownSeconds)
			if r.FirstPageSeconds >= 0 {
				first = append(first, r.FirstPageSeconds)
			}
			backlog = append(backlog, r.BacklogSeconds)
		}
		if len(sum.Recovery) <= 4 {
			for _, r := range sum.Recovery {
				row("recovery: "+r.Kind, fmt.Sprintf("down %.1f s, first page %.1f s after, owed pages (%d) out %.1f s after",
					r.DownSeconds, r.FirstPageSeconds, r.Owed, r.BacklogSeconds))
			}
		} else {
			row("recovery: down", statsOf(down))
			row("recovery: first page after", statsOf(first))
			row("recovery: owed pages out after", statsOf(backlog))
		}
	}
	for _, k := range sortedKeys(sum.Checks) {
		row(k, sum.Checks[k])
	}
	for _, op := range sortedKeys(sum.Statuses) {
		row("answers: "+op, sum.Statuses[op])
	}
	t.Log(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// assertPages fails the test on what must never happen: a lost page, a
// ledger row left claimed, an escalation that never finished, a projection
// left behind, a duplicate with no fault between its two sends. Lateness
// is reported, never asserted.
func assertPages(t *testing.T, f *pageFigures) {
	t.Helper()
	if f.LostPages > 0 {
		t.Errorf("%d of %d pages lost; first: %s", f.LostPages, f.ExpectedPages, strings.Join(f.Lost, "; "))
	}
	if f.ClaimedRows > 0 {
		t.Errorf("%d ledger rows left claimed", f.ClaimedRows)
	}
	if f.UnfinishedEscalations > 0 {
		t.Errorf("%d of %d escalations never finished", f.UnfinishedEscalations, f.Incidents)
	}
	if f.ProjectionBehind > 0 {
		t.Errorf("%d projections behind their workflows", f.ProjectionBehind)
	}
	if f.DuplicateEvents > 0 {
		t.Errorf("%d duplicate events: a retried keyed open was taken for a second alert", f.DuplicateEvents)
	}
	for _, p := range f.Problems {
		t.Errorf("%s", p)
	}
	for _, d := range f.Duplicates {
		if !d.FaultBetween {
			t.Errorf("duplicate page with no fault between its sends: %s, sent %s and again %s (reasons %v, %.0f ms after the last fault; ledger %v)",
				d.Page, d.First.Format(time.RFC3339Nano), d.Again.Format(time.RFC3339Nano), d.Reasons, d.SinceFaultMs, d.Ledger)
		}
	}
}

// writeReport writes every summary of the run to .data/faults/<time>.json.
func writeReport() error {
	report.mu.Lock()
	defer report.mu.Unlock()
	if len(report.summaries) == 0 {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{"run": runStamp, "scenarios": report.summaries}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(repoRoot, ".data", "faults", runStamp+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "faults: figures written to", path)
	return nil
}
