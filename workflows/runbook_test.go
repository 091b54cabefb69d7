package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/runbook"
	"github.com/incident-server/incident-server/workflows"
)

// receiver is a loopback HTTP endpoint that runbook actions call: it
// checks each call's signature and answers with the statuses it is given,
// in order (200 once they run out).
type receiver struct {
	mu       sync.Mutex
	statuses []int
	calls    []call
	srv      *httptest.Server
}

// call is one request the receiver got.
type call struct {
	key, auth string
	body      map[string]any
	signedOK  bool
}

var signingSecret = []byte("runbook-signing-secret-of-32-bytes!!")

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := call{key: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization"),
			signedOK: outbound.Verify(signingSecret, r.Header.Get(outbound.SignatureHeader), raw, time.Now(), time.Minute) == nil}
		_ = json.Unmarshal(raw, &c.body)
		rc.mu.Lock()
		rc.calls = append(rc.calls, c)
		status := http.StatusOK
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"result":"promoted db-2"}`))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) got() []call {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]call(nil), rc.calls...)
}

type runbookSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env      *testsuite.TestWorkflowEnvironment
	proj     *projection
	runbooks []runbook.Runbook
	require  bool
	recv     *receiver
}

func TestRunbooks(t *testing.T) { suite.Run(t, new(runbookSuite)) }

func (s *runbookSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(start)
	// Runs report to the incident's workflow under its ID.
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: newIncident().WorkflowID})
	s.proj = &projection{now: s.env.Now, policy: oncall.Snapshot{PolicyID: "pol_1", Version: 1, Name: "primary",
		Steps: []oncall.Step{{Delay: oncall.Duration(time.Hour), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "alice"}}}}}}
	s.runbooks, s.require = nil, false
	s.recv = newReceiver(s.T())
	client, err := outbound.NewClient(outbound.Options{AllowPrivate: true, MaxRedirects: -1})
	s.Require().NoError(err)
	acts := &activities.Activities{Actions: activities.ActionOptions{
		Client: client, SigningSecret: signingSecret, Secrets: map[string]string{"deploy_token": "s3cret"}}}

	workflows.Register(s.env)
	for name, fn := range map[string]any{
		contract.ActivityRecordChange:   s.proj.RecordChange,
		contract.ActivityRecordEvent:    s.proj.RecordEvent,
		contract.ActivityLoadEscalation: s.proj.LoadEscalation,
		contract.ActivityLoadPolicy:     s.proj.LoadPolicy,
		contract.ActivityLoadSLA:        s.proj.LoadSLA,
		contract.ActivityRecordAlerts:   s.proj.RecordAlerts,
		contract.ActivityNotifyUser:     s.proj.NotifyUser,
		contract.ActivityRunAction:      acts.RunAction,
		contract.ActivityLoadOpen: func(_ context.Context, _ contract.LoadOpenInput) (contract.OpenPlan, error) {
			return contract.OpenPlan{SLA: s.proj.sla, Escalation: s.proj.policy, Runbooks: s.runbooks, RequireRunbookSteps: s.require}, nil
		},
		contract.ActivityLoadRunbookContext: func(_ context.Context, id string) (runbook.Context, error) {
			return runbook.Context{Incident: runbook.IncidentData{ID: id, Service: "checkout", Severity: "critical"},
				Labels: map[string]string{"instance": "db-2"}}, nil
		},
	} {
		s.env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// threeSteps is the runbook of docs/runbooks.md: a checklist item, a signed call to
// the receiver and an approval.
func (s *runbookSuite) threeSteps() runbook.Runbook {
	rb := runbook.Runbook{ID: "rb_1", Name: "Failover", Version: 4, ServiceID: "checkout", Steps: []runbook.Step{
		{Name: "Check replica lag", Kind: runbook.KindManual, Required: true, Instructions: "Open the lag dashboard."},
		{Name: "Promote the replica", Kind: runbook.KindAction, Action: &runbook.Action{
			URL:     s.recv.srv.URL + "/promote",
			Headers: map[string]string{"Authorization": `Bearer {{secret "deploy_token"}}`},
			Body:    json.RawMessage(`{"incident":"{{.Incident.ID}}","host":"{{.Labels.instance}}"}`),
		}},
		{Name: "Approve the cut-over", Kind: runbook.KindApproval, Required: true},
	}}
	rb.Normalize()
	return rb
}

// at runs f after d of workflow time.
func (s *runbookSuite) at(d time.Duration, f func()) { s.env.RegisterDelayedCallback(f, d) }

// update sends an update to workflowID ("" for the incident) after d.
func (s *runbookSuite) update(d time.Duration, workflowID, name string, arg any, out *updateResult) {
	s.at(d, func() {
		cb := &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) { out.value, out.err = v, err },
		}
		if workflowID == "" {
			s.env.UpdateWorkflow(name, "", cb, arg)
			return
		}
		// By ID, the test environment takes "" for an ID like any other:
		// each update needs one of its own.
		s.Require().NoError(s.env.UpdateWorkflowByID(workflowID, name, name+"@"+d.String(), cb, arg))
	})
}

// state queries the incident at d.
func (s *runbookSuite) state(d time.Duration, out *contract.State) {
	s.at(d, func() {
		v, err := s.env.QueryWorkflow(contract.QueryState)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(out))
	})
}

func (s *runbookSuite) run() incident.Incident {
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, contract.IncidentInput{Incident: newIncident()})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var final incident.Incident
	s.Require().NoError(s.env.GetWorkflowResult(&final))
	return final
}

var run1 = contract.RunbookWorkflowID("inc_1", 1)

func complete(step int, actor string) contract.StepRequest {
	return contract.StepRequest{IncidentID: "inc_1", Step: step, Actor: actor}
}

func approve(step int, actor string, role oncall.Role) contract.ApprovalRequest {
	return contract.ApprovalRequest{IncidentID: "inc_1", Step: step, Actor: actor, Role: role, Approve: true, Note: "lag is zero"}
}

// runbookEvents lists the runbook events as "type step status".
func (s *runbookSuite) runbookEvents() []string {
	s.proj.mu.Lock()
	defer s.proj.mu.Unlock()
	var out []string
	for _, ev := range s.proj.events {
		switch ev.Type {
		case incident.EventRunbookStarted, incident.EventRunbookFinished:
			out = append(out, string(ev.Type)+" "+ev.Data["status"].(string))
		case incident.EventRunbookStep, incident.EventRunbookApprovalOverdue:
			out = append(out, string(ev.Type)+" "+itoa(ev.Data["step"])+" "+ev.Data["step_status"].(string))
		}
	}
	return out
}

func itoa(v any) string { b, _ := json.Marshal(v); return string(b) }

func (s *runbookSuite) TestManualThenActionThenApprovalRunsToDone() {
	s.runbooks = []runbook.Runbook{s.threeSteps()}
	var done, early, viewer, approved, res updateResult
	var mid, after contract.State
	s.update(time.Minute, run1, contract.UpdateApproveStep, approve(3, "bob", oncall.RoleResponder), &early)
	s.update(2*time.Minute, run1, contract.UpdateCompleteStep, complete(1, "alice"), &done)
	s.state(3*time.Minute, &mid)
	s.update(4*time.Minute, run1, contract.UpdateApproveStep, approve(3, "vera", oncall.RoleViewer), &viewer)
	s.update(5*time.Minute, run1, contract.UpdateApproveStep, approve(3, "bob", oncall.RoleResponder), &approved)
	s.state(6*time.Minute, &after)
	s.update(10*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	s.run()

	s.Require().NoError(done.err)
	s.requireRejected(early.rejected, fault.Conflict, "an approval before its turn")
	s.requireRejected(viewer.rejected, fault.Forbidden, "a viewer's approval")
	s.Require().NoError(approved.err)
	s.Require().NoError(res.err)

	// While the gate waits: step 1 done by alice, the call made, the gate open.
	s.Require().Len(mid.Runbooks, 1)
	r := mid.Runbooks[0]
	s.Equal(runbook.RunRunning, r.Status)
	s.Equal([]string{runbook.StepDone, runbook.StepDone, runbook.StepWaitingApproval}, statuses(r))
	s.Equal("alice", r.Steps[0].Actor)
	s.Equal("Open the lag dashboard.", r.Steps[0].Instructions, "live.runbooks shows the instructions")
	s.Equal(http.StatusOK, r.Steps[1].HTTPStatus)
	s.Equal(1, r.Steps[1].Attempts)
	s.Equal(`{"result":"promoted db-2"}`, r.Steps[1].Output)
	s.Equal(oncall.RoleResponder, r.Steps[2].Role)

	r = after.Runbooks[0]
	s.Equal(runbook.RunDone, r.Status)
	s.Equal([]string{runbook.StepDone, runbook.StepDone, runbook.StepDone}, statuses(r))
	s.Equal("bob", r.Steps[2].Actor)
	s.Equal("lag is zero", r.Steps[2].Note)

	calls := s.recv.got()
	s.Require().Len(calls, 1)
	s.True(calls[0].signedOK, "the call is signed")
	s.Equal("Bearer s3cret", calls[0].auth, "the secret comes from the configuration")
	s.Equal(contract.RunbookActionKey("inc_1", 1, 2), calls[0].key)
	s.Equal(map[string]any{"incident": "inc_1", "host": "db-2"}, calls[0].body)

	s.Equal([]string{
		"runbook_started running",
		"runbook_step 1 running", "runbook_step 1 done",
		"runbook_step 2 running", "runbook_step 2 done",
		"runbook_step 3 waiting_approval", "runbook_step 3 done",
		"runbook_finished done",
	}, s.runbookEvents())
}

func statuses(r contract.RunbookRun) []string {
	var out []string
	for _, st := range r.Steps {
		out = append(out, st.Status)
	}
	return out
}

func (s *runbookSuite) requireRejected(err error, code fault.Code, what string) {
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "%s: want a rejection, got %v", what, err)
	s.Equal(string(code), appErr.Type(), what)
}

func (s *runbookSuite) TestAnActionThatFailsTwiceIsCalledThreeTimesWithOneKey() {
	s.recv.statuses = []int{http.StatusServiceUnavailable, http.StatusBadGateway}
	rb := s.threeSteps()
	rb.Steps = rb.Steps[1:2]
	s.runbooks = []runbook.Runbook{rb}
	var after contract.State
	var res updateResult
	s.state(5*time.Minute, &after)
	s.update(10*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	s.run()

	calls := s.recv.got()
	s.Require().Len(calls, 3, "two failures, then the call that succeeds; no fourth")
	for _, c := range calls {
		s.Equal(contract.RunbookActionKey("inc_1", 1, 1), c.key, "every attempt carries the step's key")
		s.True(c.signedOK)
		s.Equal(calls[0].body, c.body, "every attempt sends the same body")
	}
	st := after.Runbooks[0].Steps[0]
	s.Equal(runbook.StepDone, st.Status)
	s.Equal(3, st.Attempts)
	s.Equal(http.StatusOK, st.HTTPStatus)
	s.Equal(runbook.RunDone, after.Runbooks[0].Status)
}

func (s *runbookSuite) TestAnActionRefusedWithA4xxFailsAtOnceAndStopsTheRun() {
	s.recv.statuses = []int{http.StatusUnprocessableEntity}
	rb := s.threeSteps()
	rb.Steps = rb.Steps[1:]
	s.runbooks = []runbook.Runbook{rb}
	var after contract.State
	var res updateResult
	s.state(5*time.Minute, &after)
	s.update(10*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	s.run()

	s.Len(s.recv.got(), 1, "a 4xx is final")
	r := after.Runbooks[0]
	s.Equal(runbook.RunFailed, r.Status)
	s.Equal([]string{runbook.StepFailed, runbook.StepCancelled}, statuses(r))
	s.Equal(http.StatusUnprocessableEntity, r.Steps[0].HTTPStatus)
	s.Equal(1, r.Steps[0].Attempts)
}

func (s *runbookSuite) TestAnOverdueApprovalPagesTheCurrentTargetsOnce() {
	rb := s.threeSteps()
	rb.Steps = rb.Steps[2:]
	rb.Steps[0].Approval.Timeout = oncall.Duration(10 * time.Minute)
	s.runbooks = []runbook.Runbook{rb}
	var ack, approved, res updateResult
	var overdue contract.State
	s.update(time.Minute, "", contract.UpdateAcknowledge, req("alice"), &ack)
	s.state(30*time.Minute, &overdue)
	s.update(40*time.Minute, run1, contract.UpdateApproveStep, approve(1, "bob", oncall.RoleAdmin), &approved)
	s.update(45*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	s.run()

	s.Require().NoError(approved.err)
	var reasons []string
	for _, p := range s.proj.pages {
		reasons = append(reasons, p.user+"/"+p.reason+"@"+p.at.String())
	}
	// Step 1 paged alice on open; the overdue approval pages her once more
	// at 10m, and never again while the gate keeps waiting.
	s.Equal([]string{"alice/escalation@0s", "alice/runbook_approval@10m0s"}, reasons)
	s.True(overdue.Runbooks[0].Steps[0].Overdue)
	s.Equal(runbook.StepWaitingApproval, overdue.Runbooks[0].Steps[0].Status)
	s.Contains(s.runbookEvents(), "runbook_approval_overdue 1 waiting_approval")
	s.Contains(s.runbookEvents(), "runbook_finished done")
}

func (s *runbookSuite) TestResolveWhileAnActionIsInFlightLetsItFinish() {
	rb := s.threeSteps()
	rb.Steps = rb.Steps[1:]
	rb.Steps[0].Action.Timeout = oncall.Duration(time.Minute)
	s.runbooks = []runbook.Runbook{rb}
	// The call takes 40s; the incident resolves 10s into it.
	s.env.OnActivity(contract.ActivityRunAction, mock.Anything, mock.Anything).
		After(40*time.Second).Return(contract.ActionResult{Status: http.StatusAccepted, Excerpt: "accepted", Attempt: 1}, nil)
	var res updateResult
	s.update(10*time.Second, "", contract.UpdateResolve, req("alice"), &res)
	final := s.run()

	s.Require().NoError(res.err)
	s.Equal(incident.StatusResolved, final.Status)
	s.Equal([]string{
		"runbook_started running",
		"runbook_step 1 running", "runbook_step 1 done",
		"runbook_finished cancelled",
	}, s.runbookEvents(), "the call in flight is recorded as it ended; the approval never opens")
	var finished incident.Event
	for _, ev := range s.proj.events {
		if ev.Type == incident.EventRunbookFinished {
			finished = ev
		}
	}
	s.Contains(finished.Message, "step(s) 2 did not run")
	s.GreaterOrEqual(finished.EventTime.Sub(start), 40*time.Second, "the incident waited for the call")
}

func (s *runbookSuite) TestResolveWhileAnActionHangsRecordsItCancelled() {
	rb := s.threeSteps()
	rb.Steps = rb.Steps[1:2]
	s.runbooks = []runbook.Runbook{rb}
	// The call never answers within the attempt's timeout (10s) and grace.
	s.env.OnActivity(contract.ActivityRunAction, mock.Anything, mock.Anything).
		After(10*time.Minute).Return(contract.ActionResult{Status: http.StatusOK, Attempt: 1}, nil)
	var res updateResult
	s.update(5*time.Second, "", contract.UpdateResolve, req("alice"), &res)
	s.run()

	s.Equal([]string{
		"runbook_started running",
		"runbook_step 1 running", "runbook_step 1 cancelled",
		"runbook_finished cancelled",
	}, s.runbookEvents())
}

func (s *runbookSuite) TestTheResolvePolicyRefusesResolveUntilRequiredStepsAreDone() {
	s.require = true
	rb := s.threeSteps()
	rb.Steps = []runbook.Step{rb.Steps[0], {Name: "Optional", Kind: runbook.KindManual}}
	s.runbooks = []runbook.Runbook{rb}
	var early, skipRequired, done, skipped, res updateResult
	s.update(time.Minute, "", contract.UpdateResolve, req("alice"), &early)
	s.update(2*time.Minute, run1, contract.UpdateCompleteStep, contract.StepRequest{IncidentID: "inc_1", Step: 1, Actor: "alice", Skip: true}, &skipRequired)
	s.update(3*time.Minute, run1, contract.UpdateCompleteStep, complete(1, "alice"), &done)
	s.update(4*time.Minute, run1, contract.UpdateCompleteStep, contract.StepRequest{IncidentID: "inc_1", Step: 2, Actor: "alice", Skip: true}, &skipped)
	s.update(5*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	s.run()

	s.requireRejected(early.rejected, fault.Conflict, "resolve before the required step")
	s.Contains(early.rejected.Error(), `"Failover" step 1 "Check replica lag" (running)`, "the answer names the missing step")
	s.requireRejected(skipRequired.rejected, fault.Conflict, "skipping a required step")
	s.Require().NoError(done.err)
	s.Require().NoError(skipped.err, "an optional step may be skipped")
	s.Require().NoError(res.err)
}

func (s *runbookSuite) TestARunbookStartedByHandAndAWaitForTheAlerts() {
	rb := runbook.Runbook{ID: "rb_wait", Name: "Watch", Version: 1, Steps: []runbook.Step{
		{Name: "Let the alerts settle", Kind: runbook.KindWait, Wait: &runbook.Wait{UntilAlertsResolved: true, Timeout: oncall.Duration(time.Hour)}},
		{Name: "Cool down", Kind: runbook.KindWait, Wait: &runbook.Wait{Duration: oncall.Duration(5 * time.Minute)}},
	}}
	rb.Normalize()
	s.at(time.Second, func() {
		s.env.SignalWorkflow(contract.SignalAlert, contract.AlertSignal{ID: "a1", Alert: incident.Alert{
			Source: incident.SourceAlertmanager, Action: incident.AlertTrigger, Fingerprint: "fp1", Title: "lag", Severity: incident.SeverityHigh}})
	})
	var started, res updateResult
	var waiting, after contract.State
	s.update(time.Minute, "", contract.UpdateStartRunbook, contract.StartRunbookRequest{IncidentID: "inc_1", Actor: "alice", Runbook: rb}, &started)
	s.state(20*time.Minute, &waiting)
	s.at(30*time.Minute, func() {
		s.env.SignalWorkflow(contract.SignalAlert, contract.AlertSignal{ID: "a2", Alert: incident.Alert{
			Source: incident.SourceAlertmanager, Action: incident.AlertResolve, Fingerprint: "fp1"}})
	})
	s.state(36*time.Minute, &after)
	s.update(50*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	s.run()

	s.Require().NoError(started.err)
	got := started.value.(contract.RunbookRun)
	s.Equal(1, got.Run)
	s.Equal("alice", got.StartedBy)
	s.Equal(run1, got.WorkflowID)
	s.Equal([]string{runbook.StepRunning, runbook.StepPending}, statuses(waiting.Runbooks[0]), "an alert still fires")
	r := after.Runbooks[0]
	s.Equal(runbook.RunDone, r.Status, "the alert resolved at 30m, then five minutes of cool-down")
	s.Equal(start.Add(30*time.Minute), r.Steps[0].FinishedAt)
	s.Equal(start.Add(35*time.Minute), r.Steps[1].FinishedAt)
}

// A run continued as new takes over its predecessor's runs and applies the
// reports that predecessor received but did not handle.
func (s *runbookSuite) TestAContinuedRunTakesOverTheRunbooksAndTheirPendingReports() {
	inc := newIncident()
	inc.Status, inc.CreatedAt, inc.UpdatedAt, inc.Version = incident.StatusOpen, start, start, 1
	rb := s.threeSteps()
	rb.Steps = rb.Steps[:1]
	run := contract.NewRunbookRun(contract.RunbookInput{IncidentID: inc.ID, Run: 1, Runbook: rb, StartedAt: start})
	done := run.Steps[0]
	done.Status, done.Actor, done.Instructions = runbook.StepDone, "alice", ""
	book := &contract.RunbookBook{
		RequireSteps: true,
		Runs:         []contract.RunbookEntry{{RunbookRun: run, Applied: 1}},
		Pending: []contract.RunbookReport{
			{IncidentID: inc.ID, Run: 1, Seq: 1, Kind: contract.ReportStep, Status: runbook.RunRunning}, // applied already
			{IncidentID: inc.ID, Run: 1, Seq: 2, Kind: contract.ReportStep, Step: done, Status: runbook.RunRunning},
			{IncidentID: "inc_earlier", Run: 1, Seq: 3, Kind: contract.ReportFinished, Status: runbook.RunFailed},
			{IncidentID: inc.ID, Run: 1, Seq: 3, Kind: contract.ReportFinished, Status: runbook.RunDone, FinishedAt: start.Add(time.Minute)},
		},
	}
	var st contract.State
	var res updateResult
	s.state(time.Minute, &st)
	s.update(2*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, contract.IncidentInput{Incident: inc, Continued: true, Seq: 5,
		Escalation: &contract.Escalation{Policy: s.proj.policy, Step: 0}, Runbooks: book})
	s.Require().NoError(s.env.GetWorkflowError())

	s.Require().NoError(res.err, "the required step is done: the policy lets resolve through")
	r := st.Runbooks[0]
	s.Equal(runbook.RunDone, r.Status)
	s.Equal("alice", r.Steps[0].Actor)
	s.Equal("Open the lag dashboard.", r.Steps[0].Instructions, "kept from the snapshot")
	s.Equal([]string{"runbook_step 1 done", "runbook_finished done"}, s.runbookEvents())
}

// Under the resolve policy, a resolve sent by monitoring is held back and
// recorded, until a responder resolves once the required steps are done.
func (s *runbookSuite) TestTheResolvePolicyHoldsAResolveFromMonitoring() {
	s.require = true
	rb := s.threeSteps()
	rb.Steps = rb.Steps[:1]
	s.runbooks = []runbook.Runbook{rb}
	alert := func(at time.Duration, id string, action incident.AlertAction) {
		s.at(at, func() {
			s.env.SignalWorkflow(contract.SignalAlert, contract.AlertSignal{ID: id, Alert: incident.Alert{
				Source: incident.SourceEventsV2, Action: action, Fingerprint: "fp", Title: "lag", Severity: incident.SeverityHigh}})
		})
	}
	alert(time.Second, "a1", incident.AlertTrigger)
	alert(time.Minute, "a2", incident.AlertResolve)
	var held contract.State
	var done, res updateResult
	s.state(2*time.Minute, &held)
	s.update(3*time.Minute, run1, contract.UpdateCompleteStep, complete(1, "alice"), &done)
	s.update(4*time.Minute, "", contract.UpdateResolve, req("alice"), &res)
	final := s.run()

	s.Equal(incident.StatusOpen, held.Incident.Status, "the monitoring's resolve was held")
	s.Contains(s.proj.eventTypes(), incident.EventResolveHeld)
	s.Require().NoError(res.err)
	s.Equal(incident.StatusResolved, final.Status)
	s.Equal("alice", final.ResolvedBy)
}
