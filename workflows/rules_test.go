package workflows_test

import (
	"errors"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// onlyAlice pages alice and nobody after her.
func onlyAlice() oncall.Snapshot {
	return oncall.Snapshot{PolicyID: "pol_1", Version: 1, Name: "alice", Steps: []oncall.Step{
		{Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "alice"}}},
	}}
}

// withRules makes NotifyUser answer as for a user whose rules push at
// once, text after 2 minutes and call after 5: it sends the push and
// returns the other two.
func (s *incidentSuite) withRules() {
	s.proj.notify = func(in contract.NotifyInput) (contract.NotifyResult, error) {
		return contract.NotifyResult{UserID: in.UserID,
			Deliveries: []contract.Delivery{{ContactMethodID: "cm_push", Channel: "push", Status: "sent", Rule: 1}},
			Later: []contract.RuleStep{
				{Rule: 2, ContactMethodID: "cm_sms", Delay: 2 * time.Minute},
				{Rule: 3, ContactMethodID: "cm_voice", Delay: 5 * time.Minute},
			}}, nil
	}
}

// sent lists the rule steps sent, as "contact@minutes".
func (s *incidentSuite) sent() []string {
	s.proj.mu.Lock()
	defer s.proj.mu.Unlock()
	var out []string
	for _, p := range s.proj.rules {
		out = append(out, p.contact+"@"+p.at.String())
	}
	return out
}

func (s *incidentSuite) eventsOf(t incident.EventType) []incident.Event {
	s.proj.mu.Lock()
	defer s.proj.mu.Unlock()
	var out []incident.Event
	for _, ev := range s.proj.events {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

func (s *incidentSuite) TestThreeRuleChainFiresAtItsDelays() {
	s.proj.policy = onlyAlice()
	s.withRules()
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Require().NoError(res.err)
	s.Equal([]string{"alice@0s"}, s.who(), "one page, with the rules due at once")
	s.Equal("high", s.proj.pages[0].urgency, "a critical incident applies the high-urgency rules")
	s.Equal([]string{"cm_sms@2m0s", "cm_voice@5m0s"}, s.sent())
	for i, p := range s.proj.rules {
		s.Equal(i+2, p.rule)
		s.Equal(1, p.page, "each step belongs to the page that started it")
		s.Equal("alice", p.user)
	}
	// Every step is a delivery of its own on the timeline.
	var keys []string
	for _, ev := range s.eventsOf(incident.EventNotified) {
		keys = append(keys, ev.ID)
	}
	s.Equal([]string{"notify/1/alice/cm_push#r1", "notify/1/alice/cm_sms#r2", "notify/1/alice/cm_voice#r3"}, keys)
	s.Empty(s.eventsOf(incident.EventRulesStopped))
}

func (s *incidentSuite) TestAcknowledgeStopsTheRuleChain() {
	s.proj.policy = onlyAlice()
	s.withRules()
	var ack, res updateResult
	s.sendUpdate(3*time.Minute, contract.UpdateAcknowledge, req("alice"), &ack)
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(ack.err)
	s.Equal([]string{"cm_sms@2m0s"}, s.sent(), "the call due at 5 minutes is never made")
	stopped := s.eventsOf(incident.EventRulesStopped)
	s.Require().Len(stopped, 1)
	s.Equal("acknowledged", stopped[0].Data["reason"])
	steps := stopped[0].Data["steps"].([]map[string]any)
	s.Require().Len(steps, 1)
	s.Equal("cm_voice", steps[0]["contact_method_id"])
	s.Equal(3, steps[0]["rule"])
}

func (s *incidentSuite) TestMitigateResolveSnoozeAndReassignStopTheChainToo() {
	for _, c := range []struct {
		update string
		arg    any
		reason string
	}{
		{contract.UpdateMitigate, req("alice"), "mitigated"},
		{contract.UpdateResolve, req("alice"), "resolved"},
		{contract.UpdateSnooze, contract.SnoozeRequest{IncidentID: "inc_1", Actor: "alice", Duration: time.Hour}, "snoozed"},
		{contract.UpdateReassign, contract.ReassignRequest{IncidentID: "inc_1", Actor: "alice", UserIDs: []string{"bob"}}, "reassigned"},
	} {
		s.Run(c.update, func() {
			s.SetupTest()
			s.proj.policy = onlyAlice()
			s.withRules()
			var u, res updateResult
			s.sendUpdate(time.Minute, c.update, c.arg, &u)
			if c.update != contract.UpdateResolve {
				s.sendUpdate(2*time.Hour, contract.UpdateResolve, req("alice"), &res)
			}
			s.run()
			s.Require().NoError(u.err)
			for _, p := range s.proj.rules {
				s.NotEqual(1, p.page, "no step of the first page's chain is sent")
			}
			stopped := s.eventsOf(incident.EventRulesStopped)
			s.Require().NotEmpty(stopped)
			s.Equal(c.reason, stopped[0].Data["reason"])
			s.Len(stopped[0].Data["steps"], 2)
		})
	}
}

// A rule step whose provider fails is retried with backoff under the same
// delivery (page, user, contact method, rule): the ledger, keyed by them,
// lets the retry find the first attempt's send.
func (s *incidentSuite) TestARetriedRuleStepIsTheSameDelivery() {
	s.proj.policy = onlyAlice()
	s.withRules()
	s.proj.contact = func(in contract.NotifyInput, attempt int) (contract.Delivery, error) {
		if in.ContactMethodID == "cm_sms" && attempt == 1 {
			return contract.Delivery{}, errors.New("twilio answered 503")
		}
		return contract.Delivery{ContactMethodID: in.ContactMethodID, Channel: "sms", Status: "sent", Rule: in.Rule, Repeat: attempt > 1}, nil
	}
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Equal([]string{"cm_sms@2m0s", "cm_sms@2m1s", "cm_voice@5m0s"}, s.sent(), "retried after a second")
	first, retry := s.proj.rules[0], s.proj.rules[1]
	s.Equal(1, first.attempt)
	s.Equal(2, retry.attempt)
	s.Equal(first.page, retry.page)
	s.Equal(first.rule, retry.rule)
	s.Equal(first.contact, retry.contact)
	var sms []incident.Event
	for _, ev := range s.eventsOf(incident.EventNotified) {
		if ev.Data["contact_method_id"] == "cm_sms" {
			sms = append(sms, ev)
		}
	}
	s.Len(sms, 1, "one delivery on the timeline")
	st := s.proj.pages
	s.Len(st, 1)
}

// A rule step that fails for good is recorded as failed, and the chain
// goes on.
func (s *incidentSuite) TestAFailedRuleStepIsRecordedAndTheChainGoesOn() {
	s.proj.policy = onlyAlice()
	s.withRules()
	s.proj.contact = func(in contract.NotifyInput, _ int) (contract.Delivery, error) {
		if in.ContactMethodID == "cm_sms" {
			return contract.Delivery{ContactMethodID: in.ContactMethodID, Channel: "sms", Status: "failed", Rule: in.Rule,
				Detail: "twilio error 21211: invalid To number"}, nil
		}
		return contract.Delivery{ContactMethodID: in.ContactMethodID, Channel: "voice", Status: "sent", Rule: in.Rule}, nil
	}
	var st contract.State
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.QueryState)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&st))
	}, 10*time.Minute)
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Equal([]string{"cm_sms@2m0s", "cm_voice@5m0s"}, s.sent())
	failed := s.eventsOf(incident.EventNotifyFailed)
	s.Require().Len(failed, 1)
	s.Equal("notify/1/alice/cm_sms#r2", failed[0].ID)
	s.Contains(failed[0].Message, "rule 2")
	s.Require().Len(st.Escalation.Pages, 1)
	s.Equal(2, st.Escalation.Pages[0].Delivered, "the push and the call")
	s.Equal(1, st.Escalation.Pages[0].Failed, "the SMS")
	s.Empty(st.Escalation.Rules, "nothing left to send")
}

// Steps still waiting when the run continues as new go with it, and the
// next run sends them at their time.
func (s *incidentSuite) TestPendingRuleStepsSurviveContinueAsNew() {
	s.proj.policy = onlyAlice()
	s.withRules()
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 3*time.Minute)
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, contract.IncidentInput{Incident: newIncident()})
	s.Require().True(s.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can), "got %v", s.env.GetWorkflowError())
	var next contract.IncidentInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.Require().NotNil(next.Escalation)
	s.Require().Len(next.Escalation.Rules, 1, "the SMS went out; the call waits")
	pending := next.Escalation.Rules[0]
	s.Equal("cm_voice", pending.Input.ContactMethodID)
	s.Equal(3, pending.Input.Rule)
	s.Equal(start.Add(5*time.Minute), pending.FireAt)

	// The next run resumes the chain.
	s.SetupTest()
	s.env.SetStartTime(start.Add(3 * time.Minute))
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, next)
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	s.Equal([]string{"cm_voice@5m0s"}, s.sent(), "called at 5 minutes, as the first run would have")
	s.Empty(s.proj.pages, "the page is not sent again")
}

// A user without rules is paged once on every method, as before rules:
// NotifyUser returns nothing for later, and no coroutine or timer waits.
func (s *incidentSuite) TestAUserWithoutRulesIsPagedOnce() {
	s.proj.policy = onlyAlice()
	s.proj.sla = sla(0, 0, 0)
	var st contract.State
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.QueryState)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&st))
	}, time.Minute)
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Equal([]string{"alice@0s"}, s.who())
	s.Empty(s.sent())
	s.Empty(st.Escalation.Rules)
	s.Empty(s.eventsOf(incident.EventRulesStopped))
}
