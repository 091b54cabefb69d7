package workflows_test

import (
	"errors"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// twoSteps pages alice, then bob five minutes later, then starts over five
// minutes after bob, repeat times.
func twoSteps(repeat int) oncall.Snapshot {
	return oncall.Snapshot{
		PolicyID: "pol_1", Version: 3, Name: "checkout primary",
		Steps: []oncall.Step{
			{Delay: oncall.Duration(5 * time.Minute), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "alice"}}},
			{Delay: oncall.Duration(5 * time.Minute), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "bob"}}},
		},
		Repeat: repeat,
	}
}

// who lists the pages as "user@minutes".
func (s *incidentSuite) who() []string {
	s.proj.mu.Lock()
	defer s.proj.mu.Unlock()
	var out []string
	for _, p := range s.proj.pages {
		out = append(out, p.user+"@"+p.at.String())
	}
	return out
}

func (s *incidentSuite) TestNoAckPagesEachStepThenRepeatsThenStops() {
	s.proj.policy = twoSteps(2)
	var res updateResult
	s.sendUpdate(2*time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Require().NoError(res.err)
	s.Equal([]string{"alice@0s", "bob@5m0s", "alice@10m0s", "bob@15m0s", "alice@20m0s", "bob@25m0s"}, s.who())
	s.Contains(s.proj.eventTypes(), incident.EventExhausted)
	for i, p := range s.proj.pages {
		s.Equal(i/2, p.round, "page %d", i)
		s.Equal(i%2, p.step, "page %d", i)
	}
}

func (s *incidentSuite) TestAckStopsPaging() {
	s.proj.policy = twoSteps(2)
	var ack, res updateResult
	s.sendUpdate(4*time.Minute, contract.UpdateAcknowledge, req("alice"), &ack)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(ack.err)
	s.Equal([]string{"alice@0s"}, s.who(), "bob is never paged")
}

func (s *incidentSuite) TestSnoozeHoldsPagingAndRepagesWhenItEnds() {
	s.proj.policy = twoSteps(0)
	var snooze, res updateResult
	s.sendUpdate(time.Minute, contract.UpdateSnooze,
		contract.SnoozeRequest{IncidentID: "inc_1", Actor: "alice", Duration: 10 * time.Minute}, &snooze)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(snooze.err)
	st := snooze.value.(contract.State)
	s.Equal(start.Add(11*time.Minute), st.Escalation.SnoozedUntil)
	// No page at 5m (snoozed); alice again when the snooze ends, then bob.
	s.Equal([]string{"alice@0s", "alice@11m0s", "bob@16m0s"}, s.who())
	s.Equal(2, s.proj.pages[1].page, "paging the step again is a new delivery, not a retry")
	s.Equal("snooze_ended", s.proj.pages[1].reason)
}

func (s *incidentSuite) TestSnoozeEndsQuietlyWhenAcknowledged() {
	s.proj.policy = twoSteps(0)
	var snooze, ack, res updateResult
	s.sendUpdate(time.Minute, contract.UpdateSnooze,
		contract.SnoozeRequest{IncidentID: "inc_1", Actor: "alice", Duration: 10 * time.Minute}, &snooze)
	s.sendUpdate(3*time.Minute, contract.UpdateAcknowledge, req("alice"), &ack)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Equal([]string{"alice@0s"}, s.who())
}

func (s *incidentSuite) TestEscalateNowPagesTheNextStep() {
	s.proj.policy = twoSteps(0)
	var esc, res updateResult
	s.sendUpdate(time.Minute, contract.UpdateEscalate,
		contract.EscalateRequest{IncidentID: "inc_1", Actor: "alice", Note: "need the DBA"}, &esc)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(esc.err)
	s.Equal([]string{"alice@0s", "bob@1m0s"}, s.who())
	s.Equal("escalate", s.proj.pages[1].reason)
	s.Contains(s.proj.eventTypes(), incident.EventEscalated)
}

func (s *incidentSuite) TestAckTimeoutReturnsToOpenAndResumesPaging() {
	s.proj.policy = twoSteps(0)
	s.proj.policy.AckTimeout = oncall.Duration(10 * time.Minute)
	var ack, res updateResult
	s.sendUpdate(time.Minute, contract.UpdateAcknowledge, req("alice"), &ack)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	final := s.run()
	s.Require().NoError(ack.err)
	s.Require().NoError(res.err, "resolve from the reopened incident")
	s.Equal([]string{"alice@0s", "bob@11m0s"}, s.who())
	var lapsed *incident.Change
	for i, c := range s.proj.changes {
		if c.Event.Type == incident.EventAckTimeout {
			lapsed = &s.proj.changes[i]
		}
	}
	s.Require().NotNil(lapsed, "the lapse is a recorded transition")
	s.Equal(incident.StatusOpen, lapsed.Incident.Status)
	s.Nil(lapsed.Incident.AcknowledgedAt)
	s.Equal(incident.StatusResolved, final.Status)
}

func (s *incidentSuite) TestMitigateBeforeAckTimeoutKeepsItQuiet() {
	s.proj.policy = twoSteps(0)
	s.proj.policy.AckTimeout = oncall.Duration(10 * time.Minute)
	var ack, mit, res updateResult
	s.sendUpdate(time.Minute, contract.UpdateAcknowledge, req("alice"), &ack)
	s.sendUpdate(5*time.Minute, contract.UpdateMitigate, req("alice"), &mit)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Equal([]string{"alice@0s"}, s.who())
	s.NotContains(s.proj.eventTypes(), incident.EventAckTimeout)
}

func (s *incidentSuite) TestReassignToUsersPagesThemNow() {
	s.proj.policy = twoSteps(0)
	var ra, res updateResult
	s.sendUpdate(2*time.Minute, contract.UpdateReassign,
		contract.ReassignRequest{IncidentID: "inc_1", Actor: "alice", UserIDs: []string{"carol", "dave"}}, &ra)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(ra.err)
	s.ElementsMatch([]string{"alice@0s", "carol@2m0s", "dave@2m0s"}, s.who())
	s.Contains(s.proj.eventTypes(), incident.EventReassigned)
}

func (s *incidentSuite) TestReassignToPolicySnapshotsIt() {
	s.proj.policy = twoSteps(0)
	s.proj.policies = map[string]oncall.Snapshot{"pol_db": {
		PolicyID: "pol_db", Version: 7, Name: "dba",
		Steps: []oncall.Step{{Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "erin"}}}},
	}}
	var ra, res updateResult
	s.sendUpdate(2*time.Minute, contract.UpdateReassign,
		contract.ReassignRequest{IncidentID: "inc_1", Actor: "alice", PolicyID: "pol_db"}, &ra)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(ra.err)
	st := ra.value.(contract.State)
	s.Equal(int64(7), st.Escalation.Policy.Version)
	s.Equal([]string{"alice@0s", "erin@2m0s"}, s.who(), "bob of the old policy is never paged")
}

func (s *incidentSuite) TestNoPolicyPagesNobody() {
	var esc, res updateResult
	s.sendUpdate(time.Minute, contract.UpdateEscalate, contract.EscalateRequest{IncidentID: "inc_1", Actor: "alice"}, &esc)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Empty(s.who())
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(esc.rejected, &appErr))
	s.Equal(string(fault.Conflict), appErr.Type())
	s.Equal(incident.EventPolicy, s.proj.events[0].Type)
}

func (s *incidentSuite) TestOneUsersFailureDoesNotBlockTheOthers() {
	s.proj.policy = oncall.Snapshot{PolicyID: "pol_2", Version: 1, Name: "both", Steps: []oncall.Step{
		{Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "alice"}, {Type: oncall.TargetUser, ID: "bob"}}},
	}}
	s.proj.notify = func(in contract.NotifyInput) (contract.NotifyResult, error) {
		if in.UserID == "alice" {
			return contract.NotifyResult{}, temporal.NewNonRetryableApplicationError("token revoked", string(fault.Invalid), nil)
		}
		return contract.NotifyResult{UserID: in.UserID, Deliveries: []contract.Delivery{
			{ContactMethodID: "cm_b", Channel: "webhook", Status: "sent"},
		}}, nil
	}
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.run()
	var notified, failed []string
	for _, ev := range s.proj.events {
		switch ev.Type {
		case incident.EventNotified:
			notified = append(notified, ev.Data["user_id"].(string))
		case incident.EventNotifyFailed:
			failed = append(failed, ev.Data["user_id"].(string))
		}
	}
	s.Equal([]string{"bob"}, notified)
	s.Equal([]string{"alice"}, failed)
}

func (s *incidentSuite) TestQueryShowsStepNextPageAndWhoWasPaged() {
	s.proj.policy = twoSteps(1)
	var st contract.State
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.QueryState)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&st))
	}, 7*time.Minute)
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NotNil(st.Escalation)
	s.Equal(1, st.Escalation.Step, "bob's step was paged last")
	s.Equal(start.Add(10*time.Minute), st.Escalation.NextPageAt)
	s.Require().Len(st.Escalation.Pages, 2)
	s.Equal("alice", st.Escalation.Pages[0].UserID)
	s.Equal("bob", st.Escalation.Pages[1].UserID)
	s.Equal(1, st.Escalation.Pages[1].Delivered)
}

// A long incident continues as new when Temporal suggests it: the next run
// gets the incident, its paging state, its SLA deadlines and its event
// sequence, after every accepted update finished.
func (s *incidentSuite) TestContinueAsNewCarriesTheState() {
	s.proj.policy = twoSteps(1)
	s.proj.sla = sla(time.Hour, 2*time.Hour, 0)
	var snooze updateResult
	s.sendUpdate(7*time.Minute, contract.UpdateSnooze,
		contract.SnoozeRequest{IncidentID: "inc_1", Actor: "alice", Duration: 30 * time.Minute}, &snooze)
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 8*time.Minute)
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, contract.IncidentInput{Incident: newIncident()})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(snooze.err)
	s.Require().NotNil(snooze.value)

	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can), "got %v", s.env.GetWorkflowError())
	s.Equal(contract.IncidentWorkflow, can.WorkflowType.Name)
	var next contract.IncidentInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.True(next.Continued)
	s.Equal("inc_1", next.Incident.ID)
	s.Equal(incident.StatusOpen, next.Incident.Status)
	s.Require().NotNil(next.Escalation)
	s.Equal(2, next.Escalation.PageCount, "alice and bob were paged")
	s.Equal(1, next.Escalation.Step)
	s.Equal(start.Add(37*time.Minute), next.Escalation.SnoozedUntil)
	s.Require().NotNil(next.SLA)
	s.Equal(start.Add(time.Hour), next.SLA.Response.DueAt)
	s.Equal(int64(len(s.proj.events)+len(s.proj.changes)), next.Seq, "the next run numbers events on")
}

// A step that pages late (here: its page waits on a provider that fails
// for a while and is retried with backoff) does not push the later steps
// back: the next one is due its delay after the late step was due, and
// follows it by at least min(delay, catchUpGap).
func (s *incidentSuite) TestALatePageDoesNotPushTheLaterStepsBack() {
	s.proj.policy = oncall.Snapshot{PolicyID: "pol_1", Name: "three steps", Steps: []oncall.Step{
		{Delay: 0, Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "alice"}}},
		{Delay: oncall.Duration(5 * time.Second), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "bob"}}},
		{Delay: oncall.Duration(time.Minute), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "carol"}}},
	}}
	failures := 4 // alice's provider fails 4 times: retries at 1, 2, 4 and 8 s of backoff
	s.proj.notify = func(in contract.NotifyInput) (contract.NotifyResult, error) {
		if in.UserID == "alice" && failures > 0 {
			failures--
			return contract.NotifyResult{}, errors.New("provider unavailable")
		}
		return contract.NotifyResult{UserID: in.UserID, Deliveries: []contract.Delivery{{Channel: "push", Status: "sent"}}}, nil
	}
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Require().NoError(res.err)
	// Bob was due at 5 s and paged once alice's page finished (15 s of
	// retries); carol is due a minute after bob was due (65 s), not a
	// minute after he was paged (75 s).
	s.Equal([]string{"alice@0s", "alice@1s", "alice@3s", "alice@7s", "alice@15s", "bob@15s", "carol@1m5s"}, s.who())
	s.Equal(start.Add(5*time.Second), s.proj.pages[5].due, "bob's page says when it was due")
	s.Equal(start.Add(65*time.Second), s.proj.pages[6].due)
}
