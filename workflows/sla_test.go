package workflows_test

import (
	"time"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

func sla(response, resolution time.Duration, warn float64) oncall.SLA {
	return oncall.SLA{Response: oncall.Duration(response), Resolution: oncall.Duration(resolution), WarningFraction: warn, Source: "default"}
}

// slaEvents lists the SLA events as "type/sla_type@offset".
func (s *incidentSuite) slaEvents() []string {
	s.proj.mu.Lock()
	defer s.proj.mu.Unlock()
	var out []string
	for _, ev := range s.proj.events {
		if ev.Type == incident.EventSLAWarning || ev.Type == incident.EventSLABreached {
			out = append(out, string(ev.Type)+"/"+ev.Data["sla_type"].(string)+"@"+ev.EventTime.Sub(start).String())
		}
	}
	return out
}

func (s *incidentSuite) TestResponseBreachesAtExactlyTheTarget() {
	s.proj.sla = sla(5*time.Minute, time.Hour, 0)
	var res updateResult
	s.sendUpdate(10*time.Minute, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(res.err)
	s.Equal([]string{"sla_breached/response@5m0s"}, s.slaEvents())
	opened := s.proj.changes[0].Incident
	s.Require().NotNil(opened.ResponseDueAt, "the deadline is on the incident from its first record")
	s.Equal(start.Add(5*time.Minute), *opened.ResponseDueAt)
	s.Equal(start.Add(time.Hour), *opened.ResolutionDueAt)
}

func (s *incidentSuite) TestAckOneSecondBeforeTheDeadlineMeetsIt() {
	s.proj.sla = sla(5*time.Minute, time.Hour, 0)
	var ack, res updateResult
	var st contract.State
	s.sendUpdate(5*time.Minute-time.Second, contract.UpdateAcknowledge, req("alice"), &ack)
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.QueryState)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&st))
	}, 6*time.Minute)
	s.sendUpdate(10*time.Minute, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Require().NoError(ack.err)
	s.Empty(s.slaEvents())
	s.Require().NotNil(st.SLA)
	s.Equal(contract.SLAMet, st.SLA.Response.Status)
	s.Equal(start.Add(5*time.Minute-time.Second), st.SLA.Response.MetAt)
	s.Equal(contract.SLAPending, st.SLA.Resolution.Status)
}

func (s *incidentSuite) TestWarningThenBreachAlertTheCurrentStep() {
	s.proj.sla = sla(4*time.Minute, time.Hour, 0.75)
	s.proj.policy = oncall.Snapshot{PolicyID: "pol_1", Version: 1, Name: "solo", Steps: []oncall.Step{
		{Targets: []oncall.Target{{Type: oncall.TargetUser, ID: "alice"}}},
	}}
	var st contract.State
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.QueryState)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&st))
	}, 3*time.Minute+30*time.Second)
	var res updateResult
	s.sendUpdate(10*time.Minute, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Equal([]string{"sla_warning/response@3m0s", "sla_breached/response@4m0s"}, s.slaEvents())
	s.Equal(contract.SLAAtRisk, st.SLA.Response.Status)
	var reasons []string
	for _, p := range s.proj.pages {
		reasons = append(reasons, p.reason+"@"+p.at.String())
	}
	s.Equal([]string{"escalation@0s", "sla_warning@3m0s", "sla_breach@4m0s"}, reasons)
}

func (s *incidentSuite) TestResolutionBreachesAfterAnAcknowledgement() {
	s.proj.sla = sla(5*time.Minute, 10*time.Minute, 0)
	var ack, res updateResult
	s.sendUpdate(time.Minute, contract.UpdateAcknowledge, req("alice"), &ack)
	s.sendUpdate(20*time.Minute, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Equal([]string{"sla_breached/resolution@10m0s"}, s.slaEvents())
}

func (s *incidentSuite) TestNoTargetsNoDeadlines() {
	var res updateResult
	s.sendUpdate(2*time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.run()
	s.Empty(s.slaEvents())
	s.Nil(s.proj.changes[0].Incident.ResponseDueAt)
}
