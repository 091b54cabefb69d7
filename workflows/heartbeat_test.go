package workflows_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/workflows"
)

const monitorID = "hb_abcdefghijklmnopqrstuvwxyz"

var heartbeatIncidentID = regexp.MustCompile(`^inc_hb_abcdefghijklmnopqrstuvwxyz_[a-z0-9]+$`)

// openedIncident is one run of the stand-in IncidentWorkflow.
type openedIncident struct {
	workflowID string
	at         time.Duration // since the monitor started
	in         contract.IncidentInput
	alerts     []contract.AlertSignal
}

// incidentBook stands in for IncidentWorkflow: it records how each incident
// was started and the alerts signalled to it, and ends on a resolve unless
// stayOpen is set.
type incidentBook struct {
	mu       sync.Mutex
	opened   []*openedIncident
	stayOpen bool
}

func (b *incidentBook) workflow(ctx workflow.Context, in contract.IncidentInput) (incident.Incident, error) {
	o := &openedIncident{workflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, at: workflow.Now(ctx).Sub(start), in: in}
	b.mu.Lock()
	b.opened = append(b.opened, o)
	b.mu.Unlock()
	ch := workflow.GetSignalChannel(ctx, contract.SignalAlert)
	for {
		var sig contract.AlertSignal
		ch.Receive(ctx, &sig)
		b.mu.Lock()
		o.alerts = append(o.alerts, sig)
		b.mu.Unlock()
		if sig.Action == incident.AlertResolve && !b.stayOpen {
			return in.Incident, nil
		}
	}
}

type heartbeatSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env       *testsuite.TestWorkflowEnvironment
	incidents *incidentBook
	pings     *pingStore
}

// pingStore stands in for the monitor's row: the last ping written, and
// how often the workflow read it.
type pingStore struct {
	mu      sync.Mutex
	last    time.Time
	reads   int
	deleted bool
}

func (p *pingStore) write(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at.After(p.last) {
		p.last = at
	}
}

func (p *pingStore) CheckHeartbeat(_ context.Context, _ string) (contract.HeartbeatStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads++
	return contract.HeartbeatStatus{LastPing: p.last, Deleted: p.deleted}, nil
}

func TestHeartbeatWorkflow(t *testing.T) { suite.Run(t, new(heartbeatSuite)) }

func (s *heartbeatSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(start)
	// The stand-in incidents wait for alerts forever; abandoned, they
	// must not hold the test open after the monitor ends.
	s.env.SetDetachedChildWait(false)
	s.incidents = &incidentBook{}
	s.pings = &pingStore{}
	s.env.RegisterActivityWithOptions(s.pings.CheckHeartbeat, activity.RegisterOptions{Name: contract.ActivityCheckHeartbeat})
	s.env.RegisterWorkflowWithOptions(workflows.HeartbeatWorkflow, workflow.RegisterOptions{Name: contract.HeartbeatWorkflow})
	s.env.RegisterWorkflowWithOptions(s.incidents.workflow, workflow.RegisterOptions{Name: contract.IncidentWorkflow})
}

func monitor(interval time.Duration) contract.HeartbeatInput {
	return contract.HeartbeatInput{MonitorID: monitorID, ServiceID: "checkout", Name: "nightly backup", Interval: interval}
}

// ping records a ping at workflow time at and signals it to the workflow,
// as the API does for a ping that follows an overdue one.
func (s *heartbeatSuite) ping(at time.Duration) {
	s.env.RegisterDelayedCallback(func() {
		s.pings.write(start.Add(at))
		s.env.SignalWorkflow(contract.SignalPing, contract.HeartbeatPing{At: start.Add(at)})
	}, at)
}

// write records a ping at workflow time at without a signal, as the API
// does for a ping in time: the workflow reads it at its deadline.
func (s *heartbeatSuite) write(at time.Duration) {
	s.env.RegisterDelayedCallback(func() { s.pings.write(start.Add(at)) }, at)
}

// runUntil runs the monitor until it is deleted (cancelled) at workflow time end.
func (s *heartbeatSuite) runUntil(end time.Duration, in contract.HeartbeatInput) {
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, end)
	s.env.ExecuteWorkflow(contract.HeartbeatWorkflow, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	var canceled *temporal.CanceledError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &canceled), "a deleted monitor's workflow ends cancelled: %v", s.env.GetWorkflowError())
}

func (s *heartbeatSuite) opened() []*openedIncident {
	s.incidents.mu.Lock()
	defer s.incidents.mu.Unlock()
	return s.incidents.opened
}

func (s *heartbeatSuite) TestMissedHeartbeatOpensOneIncident() {
	s.ping(time.Minute)
	s.runUntil(2*time.Hour, monitor(10*time.Minute))

	opened := s.opened()
	s.Require().Len(opened, 1, "one outage, one incident, however long it lasts")
	o := opened[0]
	s.Equal(11*time.Minute, o.at, "due one interval after the last ping")
	wantWF := contract.DedupWorkflowID("checkout", "heartbeat/"+monitorID)
	s.Equal(wantWF, o.workflowID)
	inc := o.in.Incident
	s.Regexp(heartbeatIncidentID, inc.ID)
	s.LessOrEqual(len(inc.ID), 64)
	s.Equal(wantWF, inc.WorkflowID)
	s.Equal("heartbeat missed: nightly backup", inc.Title)
	s.Contains(inc.Description, "within 10m0s")
	s.Contains(inc.Description, "Last ping: 2026-03-01T09:01:00Z")
	s.Equal("checkout", inc.Service)
	s.Equal(incident.SeverityCritical, inc.Severity)
	s.Equal("heartbeat/"+monitorID, inc.DedupKey)
	s.False(o.in.AutoResolve)

	s.Require().Len(o.alerts, 1, "the heartbeat joins its incident as an alert")
	a := o.alerts[0]
	s.Equal(incident.AlertTrigger, a.Action)
	s.Equal(incident.SourceHeartbeat, a.Source)
	s.Equal("heartbeat/"+monitorID, a.Fingerprint)
	s.Equal(inc.ID, a.ID)
}

func (s *heartbeatSuite) TestPingsInTimeKeepItQuiet() {
	for at := 5 * time.Minute; at <= 60*time.Minute; at += 5 * time.Minute {
		s.ping(at)
	}
	s.runUntil(69*time.Minute, monitor(10*time.Minute))
	s.Empty(s.opened(), "pings every half interval: never down")
}

func (s *heartbeatSuite) TestEveryPingPushesTheDeadlineBack() {
	for _, at := range []time.Duration{9, 18, 27} {
		s.ping(at * time.Minute)
	}
	s.runUntil(time.Hour, monitor(10*time.Minute))
	s.Require().Len(s.opened(), 1)
	s.Equal(37*time.Minute, s.opened()[0].at, "an interval after the last ping, not after the first deadline")
}

func (s *heartbeatSuite) TestPingResolvesAndTheNextOutageOpensAnother() {
	s.ping(25 * time.Minute) // down since 10m: resolves
	s.ping(40 * time.Minute) // down since 35m: resolves the second
	s.runUntil(44*time.Minute, monitor(10*time.Minute))

	opened := s.opened()
	s.Require().Len(opened, 2)
	first, second := opened[0], opened[1]
	s.Equal(10*time.Minute, first.at, "no ping at all: down after one interval")
	s.Equal(35*time.Minute, second.at, "one interval after the ping that ended the first outage")
	s.NotEqual(first.in.Incident.ID, second.in.Incident.ID, "each outage is its own incident")
	s.Equal(first.workflowID, second.workflowID, "under the same dedup workflow ID")
	s.Contains(first.in.Incident.Description, "Last ping: never")
	s.Contains(first.in.Incident.Description, "Outage 1 ")
	s.Contains(second.in.Incident.Description, "Outage 2 ")

	for _, o := range opened {
		s.Require().Len(o.alerts, 2, "trigger, then resolve")
		res := o.alerts[1]
		s.Equal(incident.AlertResolve, res.Action)
		s.Equal(incident.SourceHeartbeat, res.Source, "not alertmanager: the resolve resolves the incident")
		s.Equal("heartbeat/"+monitorID, res.Fingerprint)
		s.Equal(o.in.Incident.ID+"_up", res.ID)
	}
}

// An incident workflow still running under the monitor's dedup ID (closing
// after a resolution, or opened by an alert with the same key) gets the
// trigger instead of a second start.
func (s *heartbeatSuite) TestOutageJoinsAnIncidentStillRunning() {
	s.incidents.stayOpen = true
	s.ping(15 * time.Minute)
	s.runUntil(30*time.Minute, monitor(10*time.Minute))

	opened := s.opened()
	s.Require().Len(opened, 1, "the running workflow is not started again")
	var actions []incident.AlertAction
	for _, a := range opened[0].alerts {
		actions = append(actions, a.Action)
	}
	s.Equal([]incident.AlertAction{incident.AlertTrigger, incident.AlertResolve, incident.AlertTrigger}, actions)
	s.NotEqual(opened[0].alerts[0].ID, opened[0].alerts[2].ID, "the second outage proposes its own incident ID")
	s.Regexp(heartbeatIncidentID, opened[0].alerts[2].ID)
}

func (s *heartbeatSuite) TestContinueAsNewWhileDownCarriesTheIncident() {
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 15*time.Minute)
	s.env.ExecuteWorkflow(contract.HeartbeatWorkflow, monitor(10*time.Minute))
	next := s.continuedWith()
	s.Require().Len(s.opened(), 1)
	s.True(next.Down)
	s.Equal(s.opened()[0].in.Incident.ID, next.IncidentID, "the next run resolves the same incident")
	s.Equal(1, next.IncidentSeq)
	s.True(next.DueAt.IsZero(), "no deadline while down")
}

func (s *heartbeatSuite) TestPingArrivingWithContinueAsNewIsHandledFirst() {
	// Both reach the run in one workflow task: the suggestion is set first,
	// the ping is delivered with the task that follows.
	s.env.RegisterDelayedCallback(func() {
		s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 0)
		s.env.SignalWorkflow(contract.SignalPing, contract.HeartbeatPing{At: start.Add(15 * time.Minute)})
	}, 15*time.Minute)
	s.env.ExecuteWorkflow(contract.HeartbeatWorkflow, monitor(10*time.Minute))
	next := s.continuedWith()
	s.False(next.Down, "the ping resolved the outage before the run continued")
	s.Empty(next.IncidentID)
	s.Equal(1, next.IncidentSeq)
	s.Equal(start.Add(15*time.Minute), next.LastPing)
	// The resolve was sent before continuing (the test environment ends
	// with the run, before the stand-in incident reads it; a server holds
	// it for the incident).
	s.Require().Len(s.opened(), 1)
}

func (s *heartbeatSuite) TestContinueAsNewWhileUpKeepsTheDeadline() {
	s.ping(2 * time.Minute)
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 5*time.Minute)
	s.env.ExecuteWorkflow(contract.HeartbeatWorkflow, monitor(10*time.Minute))
	next := s.continuedWith()
	s.False(next.Down)
	s.Equal(start.Add(12*time.Minute), next.DueAt, "the next run does not restart the interval")
	s.Equal(start.Add(2*time.Minute), next.LastPing)
	s.Empty(s.opened())
}

// A run continued with a deadline waits only for what is left of it.
func (s *heartbeatSuite) TestContinuedRunHonoursTheCarriedDeadline() {
	in := monitor(10 * time.Minute)
	in.DueAt = start.Add(3 * time.Minute)
	s.runUntil(20*time.Minute, in)
	s.Require().Len(s.opened(), 1)
	s.Equal(3*time.Minute, s.opened()[0].at)
}

// A run continued while down, whose incident a person has since resolved
// (its workflow closed), comes back up on the next ping and numbers the
// next outage on from the carried count.
func (s *heartbeatSuite) TestContinuedRunWhoseIncidentClosedComesBackUp() {
	in := monitor(10 * time.Minute)
	in.Down, in.IncidentID, in.IncidentSeq = true, "inc_hb_gone_1", 4
	var resolves int
	s.env.OnSignalExternalWorkflow(mock.Anything, contract.DedupWorkflowID("checkout", "heartbeat/"+monitorID), "",
		contract.SignalAlert, mock.Anything).Return(func(_, _, _, _ string, arg any) error {
		resolves++
		s.Equal("inc_hb_gone_1_up", arg.(contract.AlertSignal).ID)
		return &temporal.UnknownExternalWorkflowExecutionError{}
	}).Once()
	s.ping(30 * time.Minute)
	s.runUntil(45*time.Minute, in)
	s.Require().Len(s.opened(), 1)
	s.Equal(40*time.Minute, s.opened()[0].at)
	s.Contains(s.opened()[0].in.Incident.Description, "Outage 5 ")
	s.Equal(1, resolves, "the resolve was sent to the closed incident, and its failure ignored")
}

func (s *heartbeatSuite) TestInvalidInputFails() {
	s.env.ExecuteWorkflow(contract.HeartbeatWorkflow, monitor(0))
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &appErr), "%v", s.env.GetWorkflowError())
	s.Equal(string(fault.Invalid), appErr.Type())
	s.True(appErr.NonRetryable())
}

func (s *heartbeatSuite) continuedWith() contract.HeartbeatInput {
	s.Require().True(s.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can), "got %v", s.env.GetWorkflowError())
	s.Equal(contract.HeartbeatWorkflow, can.WorkflowType.Name)
	var next contract.HeartbeatInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

// Pings in time are writes only: the workflow never hears of them, and
// wakes once per deadline to read the store (here 120 pings, one a minute,
// against a ten-minute interval: a read every nine and a half minutes).
func (s *heartbeatSuite) TestWrittenPingsKeepTheMonitorUpWithOneReadPerDeadline() {
	pings := 0
	for at := 30 * time.Second; at < 2*time.Hour; at += time.Minute {
		s.write(at)
		pings++
	}
	s.runUntil(2*time.Hour, monitor(10*time.Minute))
	s.Empty(s.opened(), "never down")
	s.pings.mu.Lock()
	defer s.pings.mu.Unlock()
	s.Equal(120, pings)
	s.LessOrEqual(s.pings.reads, 13, "one read per deadline, not per ping")
}

// A deadline passes only when the store has no ping since: one written a
// moment before the deadline moves it on.
func (s *heartbeatSuite) TestAPingWrittenJustBeforeTheDeadlineCounts() {
	s.write(10*time.Minute - time.Second)
	s.runUntil(25*time.Minute, monitor(10*time.Minute))
	opened := s.opened()
	s.Require().Len(opened, 1)
	s.Equal(20*time.Minute-time.Second, opened[0].at, "due one interval after the written ping")
}

// A ping written (not signalled) after an outage resolves it at the
// workflow's next check, within one interval.
func (s *heartbeatSuite) TestAWrittenPingEndsTheOutageWithinAnInterval() {
	s.write(25 * time.Minute) // down since 10m; checks at 20m (nothing) and 30m
	s.write(33 * time.Minute)
	s.runUntil(42*time.Minute, monitor(10*time.Minute))
	opened := s.opened()
	s.Require().Len(opened, 1, "up again from the ping at 25m on: the one at 33m keeps it up")
	s.Equal(10*time.Minute, opened[0].at)
	s.Require().Len(opened[0].alerts, 2, "the trigger, then the resolve")
	s.Equal(incident.AlertResolve, opened[0].alerts[1].Action)
}

// A monitor the store no longer knows ends its workflow at the next check,
// opening nothing.
func (s *heartbeatSuite) TestADeletedMonitorEndsAtItsNextCheck() {
	s.pings.deleted = true
	s.env.ExecuteWorkflow(contract.HeartbeatWorkflow, monitor(10*time.Minute))
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	s.Empty(s.opened())
}

// With the real IncidentWorkflow: a missed heartbeat opens an incident with
// the heartbeat on its alert list, and the next ping resolves it.
func TestHeartbeatOpensAndResolvesARealIncident(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	proj := &projection{now: env.Now}
	workflows.Register(env)
	env.RegisterActivityWithOptions(proj.RecordChange, activity.RegisterOptions{Name: contract.ActivityRecordChange})
	env.RegisterActivityWithOptions(proj.RecordEvent, activity.RegisterOptions{Name: contract.ActivityRecordEvent})
	env.RegisterActivityWithOptions(proj.LoadEscalation, activity.RegisterOptions{Name: contract.ActivityLoadEscalation})
	env.RegisterActivityWithOptions(proj.LoadPolicy, activity.RegisterOptions{Name: contract.ActivityLoadPolicy})
	env.RegisterActivityWithOptions(proj.LoadSLA, activity.RegisterOptions{Name: contract.ActivityLoadSLA})
	env.RegisterActivityWithOptions(proj.LoadOpen, activity.RegisterOptions{Name: contract.ActivityLoadOpen})
	env.RegisterActivityWithOptions(proj.RecordAlerts, activity.RegisterOptions{Name: contract.ActivityRecordAlerts})
	env.RegisterActivityWithOptions(proj.NotifyUser, activity.RegisterOptions{Name: contract.ActivityNotifyUser})
	pings := &pingStore{}
	env.RegisterActivityWithOptions(pings.CheckHeartbeat, activity.RegisterOptions{Name: contract.ActivityCheckHeartbeat})

	env.RegisterDelayedCallback(func() {
		pings.write(env.Now())
		env.SignalWorkflow(contract.SignalPing, contract.HeartbeatPing{At: env.Now()})
	}, 30*time.Minute)
	env.RegisterDelayedCallback(env.CancelWorkflow, 35*time.Minute)
	env.ExecuteWorkflow(contract.HeartbeatWorkflow, monitor(10*time.Minute))
	var canceled *temporal.CanceledError
	if !errors.As(env.GetWorkflowError(), &canceled) {
		t.Fatalf("want the monitor cancelled, got %v", env.GetWorkflowError())
	}

	proj.mu.Lock()
	defer proj.mu.Unlock()
	if len(proj.changes) == 0 {
		t.Fatal("no incident recorded")
	}
	opened, last := proj.changes[0], proj.changes[len(proj.changes)-1]
	if opened.Incident.Title != "heartbeat missed: nightly backup" || opened.Incident.Status != incident.StatusOpen ||
		!opened.Incident.CreatedAt.Equal(start.Add(10*time.Minute)) {
		t.Fatalf("opened %+v", opened.Incident)
	}
	if last.Incident.ID != opened.Incident.ID || last.Incident.Status != incident.StatusResolved ||
		last.Incident.ResolvedBy != "heartbeat" || !last.Incident.ResolvedAt.Equal(start.Add(30*time.Minute)) {
		t.Fatalf("last change %+v", last.Incident)
	}
	fp := proj.alerts["heartbeat/"+monitorID]
	if fp.Source != "heartbeat" || fp.Status != "resolved" || fp.Count != 1 {
		t.Fatalf("heartbeat alert %+v", fp)
	}
}
