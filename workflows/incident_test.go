package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/workflows"
)

// projection records what the workflow asked to be written, in order, and
// stands in for the on-call directory and the pager.
type projection struct {
	mu      sync.Mutex
	changes []incident.Change
	events  []incident.Event

	policy   oncall.Snapshot            // what LoadEscalation returns
	sla      oncall.SLA                 // what LoadSLA returns
	policies map[string]oncall.Snapshot // what LoadPolicy returns
	now      func() time.Time           // the test environment's clock
	pages    []paged
	alerts   map[string]incident.AlertState // the alerts table
	notify   func(contract.NotifyInput) (contract.NotifyResult, error)
	// contact answers NotifyContact (a rule step); sent by default.
	contact func(contract.NotifyInput, int) (contract.Delivery, error)
	// rules are the rule steps NotifyContact was called for, attempts
	// included.
	rules []paged
}

// paged is one NotifyUser call as the pager saw it.
type paged struct {
	user   string
	step   int
	round  int
	page   int
	at     time.Duration // since the incident opened
	reason string
	due    time.Time
	// urgency, contact and rule are a rule step's (NotifyContact), attempt
	// its attempt.
	urgency string
	contact string
	rule    int
	attempt int
}

func (p *projection) LoadEscalation(_ context.Context, _ string) (oncall.Snapshot, error) {
	return p.policy, nil
}

func (p *projection) RecordAlerts(_ context.Context, in contract.RecordAlertsInput) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.alerts == nil {
		p.alerts = map[string]incident.AlertState{}
	}
	for _, a := range in.Alerts {
		p.alerts[a.Fingerprint] = a
	}
	return nil
}

func (p *projection) LoadSLA(_ context.Context, _ contract.LoadSLAInput) (oncall.SLA, error) {
	return p.sla, nil
}

func (p *projection) LoadOpen(_ context.Context, in contract.LoadOpenInput) (contract.OpenPlan, error) {
	return contract.OpenPlan{SLA: p.sla, Escalation: p.policy}, nil
}

func (p *projection) LoadPolicy(_ context.Context, id string) (oncall.Snapshot, error) {
	return p.policies[id], nil
}

func (p *projection) NotifyUser(_ context.Context, in contract.NotifyInput) (contract.NotifyResult, error) {
	p.mu.Lock()
	p.pages = append(p.pages, paged{user: in.UserID, step: in.Step, round: in.Round, page: in.Page, at: p.now().Sub(start), reason: in.Reason, due: in.DueAt, urgency: in.Urgency})
	p.mu.Unlock()
	if p.notify != nil {
		return p.notify(in)
	}
	return contract.NotifyResult{UserID: in.UserID, Deliveries: []contract.Delivery{
		{ContactMethodID: "cm_" + in.UserID, Channel: "push", Status: "sent"},
	}}, nil
}

func (p *projection) NotifyContact(ctx context.Context, in contract.NotifyInput) (contract.Delivery, error) {
	attempt := int(activity.GetInfo(ctx).Attempt)
	p.mu.Lock()
	p.rules = append(p.rules, paged{user: in.UserID, step: in.Step, round: in.Round, page: in.Page, at: p.now().Sub(start),
		reason: in.Reason, due: in.DueAt, contact: in.ContactMethodID, rule: in.Rule, attempt: attempt})
	p.mu.Unlock()
	if p.contact != nil {
		return p.contact(in, attempt)
	}
	return contract.Delivery{ContactMethodID: in.ContactMethodID, Channel: "sms", Status: "sent", Rule: in.Rule}, nil
}

func (p *projection) eventTypes() []incident.EventType {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []incident.EventType
	for _, e := range p.events {
		out = append(out, e.Type)
	}
	return out
}

// start is the test environment's fixed start time.
var start = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// RecordChange keeps the change; the events that follow it (Change.Also)
// join the timeline as separate events, as in the store.
func (p *projection) RecordChange(_ context.Context, c incident.Change) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changes = append(p.changes, c)
	p.events = append(p.events, c.Also...)
	return nil
}

func (p *projection) RecordEvent(_ context.Context, ev incident.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, ev)
	return nil
}

type incidentSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env  *testsuite.TestWorkflowEnvironment
	proj *projection
}

func TestIncidentWorkflow(t *testing.T) { suite.Run(t, new(incidentSuite)) }

func (s *incidentSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(start)
	s.proj = &projection{now: s.env.Now}
	workflows.Register(s.env)
	s.env.RegisterActivityWithOptions(s.proj.RecordChange, activity.RegisterOptions{Name: contract.ActivityRecordChange})
	s.env.RegisterActivityWithOptions(s.proj.RecordEvent, activity.RegisterOptions{Name: contract.ActivityRecordEvent})
	s.env.RegisterActivityWithOptions(s.proj.LoadEscalation, activity.RegisterOptions{Name: contract.ActivityLoadEscalation})
	s.env.RegisterActivityWithOptions(s.proj.LoadPolicy, activity.RegisterOptions{Name: contract.ActivityLoadPolicy})
	s.env.RegisterActivityWithOptions(s.proj.LoadSLA, activity.RegisterOptions{Name: contract.ActivityLoadSLA})
	s.env.RegisterActivityWithOptions(s.proj.LoadOpen, activity.RegisterOptions{Name: contract.ActivityLoadOpen})
	s.env.RegisterActivityWithOptions(s.proj.RecordAlerts, activity.RegisterOptions{Name: contract.ActivityRecordAlerts})
	s.env.RegisterActivityWithOptions(s.proj.NotifyUser, activity.RegisterOptions{Name: contract.ActivityNotifyUser})
	s.env.RegisterActivityWithOptions(s.proj.NotifyContact, activity.RegisterOptions{Name: contract.ActivityNotifyContact})
}

func (s *incidentSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

func newIncident() incident.Incident {
	return incident.Incident{
		ID:         "inc_1",
		WorkflowID: contract.IncidentWorkflowID("inc_1"),
		Title:      "checkout latency above 2s",
		Service:    "checkout",
		Severity:   incident.SeverityCritical,
	}
}

// updateResult is what one update produced.
type updateResult struct {
	value    any
	err      error
	rejected error
}

// sendUpdate sends an update after delay (workflow time) and stores the outcome in out.
func (s *incidentSuite) sendUpdate(delay time.Duration, name string, arg any, out *updateResult) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) { out.value, out.err = v, err },
		}, arg)
	}, delay)
}

func (s *incidentSuite) run() incident.Incident {
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, contract.IncidentInput{Incident: newIncident()})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var final incident.Incident
	s.Require().NoError(s.env.GetWorkflowResult(&final))
	return final
}

func req(actor string) contract.TransitionRequest {
	return contract.TransitionRequest{IncidentID: "inc_1", Actor: actor}
}

func (s *incidentSuite) TestFullLifecycleRecordsEveryTransitionInOrder() {
	var opened, ack, mit, res updateResult
	s.sendUpdate(0, contract.UpdateOpen, contract.OpenRequest{IncidentID: "inc_1", Actor: "api"}, &opened)
	s.sendUpdate(2*time.Minute, contract.UpdateAcknowledge, req("alice"), &ack)
	s.sendUpdate(10*time.Minute, contract.UpdateMitigate, req("alice"), &mit)
	s.sendUpdate(30*time.Minute, contract.UpdateResolve, contract.TransitionRequest{IncidentID: "inc_1", Actor: "bob", Note: "rolled back"}, &res)

	final := s.run()

	s.Require().NoError(opened.err)
	s.True(opened.value.(contract.OpenResult).Created)
	s.Equal(incident.StatusOpen, opened.value.(contract.OpenResult).Incident.Status)
	s.Equal(incident.StatusAcknowledged, ack.value.(incident.Incident).Status)
	s.Equal(incident.StatusMitigated, mit.value.(incident.Incident).Status)

	s.Equal(incident.StatusResolved, final.Status)
	s.Equal(int64(4), final.Version)
	s.Equal("alice", final.AcknowledgedBy)
	s.Equal("bob", final.ResolvedBy)
	s.Require().NotNil(final.AcknowledgedAt)
	s.Require().NotNil(final.ResolvedAt)
	s.Equal(2*time.Minute, final.AcknowledgedAt.Sub(final.CreatedAt))
	s.Equal(30*time.Minute, final.ResolvedAt.Sub(final.CreatedAt))

	s.Require().Len(s.proj.changes, 4)
	var types []incident.EventType
	var lastSeq int64
	for i, c := range s.proj.changes {
		s.Equal(int64(i+1), c.Incident.Version, "change %d", i)
		s.Greater(c.Event.Seq, lastSeq, "events are numbered in the order they happen")
		lastSeq = c.Event.Seq
		types = append(types, c.Event.Type)
	}
	s.Equal([]incident.EventType{incident.EventOpened, incident.EventAcknowledged, incident.EventMitigated, incident.EventResolved}, types)
	s.Equal("rolled back", s.proj.changes[3].Event.Message)
}

func (s *incidentSuite) TestResolveWithoutAcknowledge() {
	var res updateResult
	s.sendUpdate(time.Minute, contract.UpdateResolve, req("alice"), &res)
	final := s.run()
	s.Require().NoError(res.err)
	s.Equal(incident.StatusResolved, final.Status)
	s.Nil(final.AcknowledgedAt)
	s.Len(s.proj.changes, 2)
}

func (s *incidentSuite) TestIllegalTransitionsAreRejectedBeforeHistory() {
	cases := []struct {
		name    string
		update  string
		req     contract.TransitionRequest
		errType string
	}{
		{"acknowledge after mitigate", contract.UpdateAcknowledge, req("carol"), string(fault.Conflict)},
		{"mitigate twice", contract.UpdateMitigate, req("carol"), string(fault.Conflict)},
		{"another incident's ID", contract.UpdateResolve, contract.TransitionRequest{IncidentID: "inc_other", Actor: "carol"}, string(fault.NotFound)},
		{"no actor", contract.UpdateResolve, contract.TransitionRequest{IncidentID: "inc_1"}, string(fault.Invalid)},
	}
	var mit updateResult
	s.sendUpdate(time.Minute, contract.UpdateMitigate, req("alice"), &mit)
	results := make([]updateResult, len(cases))
	for i, c := range cases {
		s.sendUpdate(2*time.Minute, c.update, c.req, &results[i])
	}
	var res updateResult
	s.sendUpdate(3*time.Minute, contract.UpdateResolve, req("alice"), &res)

	final := s.run()

	s.Require().NoError(mit.err)
	for i, c := range cases {
		var appErr *temporal.ApplicationError
		s.Require().True(errors.As(results[i].rejected, &appErr), "%s: want rejection, got %v", c.name, results[i].rejected)
		s.Equal(c.errType, appErr.Type(), c.name)
		s.Nil(results[i].value, c.name)
	}
	s.Require().NoError(res.err)
	s.Equal(incident.StatusResolved, final.Status)
	// open, mitigate, resolve: the rejected updates wrote nothing.
	s.Len(s.proj.changes, 3)
	s.Equal(int64(3), final.Version)
}

func (s *incidentSuite) TestDuplicateAlertJoinsOpenIncident() {
	var first, dup, dupAgain updateResult
	s.sendUpdate(0, contract.UpdateOpen, contract.OpenRequest{IncidentID: "inc_1", Actor: "api"}, &first)
	s.sendUpdate(time.Minute, contract.UpdateOpen, contract.OpenRequest{IncidentID: "inc_2", Actor: "alertmanager"}, &dup)
	s.sendUpdate(2*time.Minute, contract.UpdateOpen, contract.OpenRequest{IncidentID: "inc_3", Actor: "alertmanager"}, &dupAgain)
	var state contract.State
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.QueryState)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&state))
	}, 3*time.Minute)
	var res updateResult
	s.sendUpdate(4*time.Minute, contract.UpdateResolve, req("alice"), &res)

	s.run()

	s.True(first.value.(contract.OpenResult).Created)
	joined := dup.value.(contract.OpenResult)
	s.False(joined.Created)
	s.Equal("inc_1", joined.Incident.ID, "the duplicate gets the open incident back")
	s.Equal(2, state.Duplicates)
	s.True(state.Recorded)
	var dups []incident.Event
	for _, ev := range s.proj.events {
		if ev.Type == incident.EventDuplicate {
			dups = append(dups, ev)
		}
	}
	s.Require().Len(dups, 2)
	s.Equal("duplicate/inc_2", dups[0].ID)
	s.Equal("duplicate/inc_3", dups[1].ID)
}

func (s *incidentSuite) TestOpenAnswersOnlyOnceRecorded() {
	// The projection is slow: the creating request must not be answered
	// before the incident is in Postgres.
	s.env.OnActivity(contract.ActivityRecordChange, s.anyContext(), s.anyChange()).
		After(45 * time.Second).Return(nil).Once()
	s.env.OnActivity(contract.ActivityRecordChange, s.anyContext(), s.anyChange()).Return(nil)
	var opened updateResult
	var answeredAt time.Time
	s.env.RegisterDelayedCallback(func() {
		start := s.env.Now()
		s.env.UpdateWorkflow(contract.UpdateOpen, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { opened.rejected = err },
			OnComplete: func(v any, err error) {
				opened.value, opened.err = v, err
				answeredAt = s.env.Now()
				s.GreaterOrEqual(answeredAt.Sub(start), 45*time.Second)
			},
		}, contract.OpenRequest{IncidentID: "inc_1"})
	}, 0)
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(opened.err)
	s.False(answeredAt.IsZero())
	s.True(opened.value.(contract.OpenResult).Created)
}

func (s *incidentSuite) anyContext() any { return mock.Anything }
func (s *incidentSuite) anyChange() any  { return mock.Anything }

func TestDedupWorkflowIDIsStableAndBounded(t *testing.T) {
	t.Parallel()
	a := contract.DedupWorkflowID("checkout", "host-1/disk-full")
	require.Equal(t, a, contract.DedupWorkflowID("checkout", "host-1/disk-full"))
	require.NotEqual(t, a, contract.DedupWorkflowID("payments", "host-1/disk-full"))
	require.NotEqual(t, a, contract.DedupWorkflowID("checkout", "host-2/disk-full"))
	long := make([]byte, 10_000)
	require.Less(t, len(contract.DedupWorkflowID("checkout", string(long))), 100)
}

// A keyed open whose first attempt started the workflow but whose update
// was lost comes back with a new proposed incident ID and the same request
// key: it is answered as the opener (created), and no duplicate is recorded.
func (s *incidentSuite) TestARetriedKeyedOpenIsTheOpenerNotADuplicate() {
	var retry updateResult
	s.sendUpdate(time.Second, contract.UpdateOpen,
		contract.OpenRequest{IncidentID: "inc_retry", Actor: "api", RequestKey: "open/checkout/k1"}, &retry)
	var res updateResult
	s.sendUpdate(time.Minute, contract.UpdateResolve, req("alice"), &res)
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, contract.IncidentInput{Incident: newIncident(), RequestKey: "open/checkout/k1"})
	s.Require().NoError(s.env.GetWorkflowError())
	s.Require().NoError(retry.err)
	got := retry.value.(contract.OpenResult)
	s.True(got.Created, "the retry of the opening request")
	s.Equal("inc_1", got.Incident.ID, "the incident the first attempt started")
	s.NotContains(s.proj.eventTypes(), incident.EventDuplicate)
}
