package workflows_test

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
)

var alertSeq int

func (s *incidentSuite) signal(at time.Duration, source incident.AlertSource, action incident.AlertAction, fingerprint string) {
	alertSeq++
	sig := contract.AlertSignal{
		ID: fmt.Sprintf("inc_sig%d", alertSeq), Alert: incident.Alert{
			Source: source, Action: action, Fingerprint: fingerprint,
			Title: "disk full on " + fingerprint, Severity: incident.SeverityHigh,
		},
	}
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(contract.SignalAlert, sig) }, at)
}

func (s *incidentSuite) runWith(in contract.IncidentInput) {
	in.Incident = newIncident()
	s.env.ExecuteWorkflow(contract.IncidentWorkflow, in)
	s.Require().True(s.env.IsWorkflowCompleted())
}

func (s *incidentSuite) TestAlertGroupResolvesItselfWhenEveryAlertResolves() {
	s.signal(time.Second, "alertmanager", incident.AlertTrigger, "fp-a")
	s.signal(time.Second, "alertmanager", incident.AlertTrigger, "fp-b")
	for i := range 5 {
		s.signal(time.Duration(2+i)*time.Second, "alertmanager", incident.AlertTrigger, "fp-a")
	}
	s.signal(time.Minute, "alertmanager", incident.AlertResolve, "fp-a")
	s.signal(2*time.Minute, "alertmanager", incident.AlertResolve, "fp-b")
	s.runWith(contract.IncidentInput{AutoResolve: true})
	s.Require().NoError(s.env.GetWorkflowError())

	var final incident.Incident
	s.Require().NoError(s.env.GetWorkflowResult(&final))
	s.Equal(incident.StatusResolved, final.Status)
	s.Equal("alertmanager", final.ResolvedBy)
	s.Equal(start.Add(2*time.Minute), *final.ResolvedAt)
	s.Equal(6, s.proj.alerts["fp-a"].Count, "repeats are counted, not recorded one by one")
	s.Equal(incident.AlertResolved, s.proj.alerts["fp-b"].Status)
	var alertEvents int
	for _, ev := range s.proj.events {
		if ev.Type == incident.EventAlert || ev.Type == incident.EventAlertResolved {
			alertEvents++
		}
	}
	s.Equal(4, alertEvents, "two fingerprints joined, two resolved")
}

func (s *incidentSuite) TestAlertGroupStaysOpenWithoutAutoResolve() {
	s.signal(time.Second, "alertmanager", incident.AlertTrigger, "fp-a")
	s.signal(time.Minute, "alertmanager", incident.AlertResolve, "fp-a")
	var res updateResult
	s.sendUpdate(time.Hour, contract.UpdateResolve, req("alice"), &res)
	s.runWith(contract.IncidentInput{AutoResolve: false})
	s.Require().NoError(res.err)
	var final incident.Incident
	s.Require().NoError(s.env.GetWorkflowResult(&final))
	s.Equal("alice", final.ResolvedBy, "only a responder resolved it")
}

func (s *incidentSuite) TestEventsV2AcknowledgeAndResolve() {
	s.signal(time.Second, "events_v2", incident.AlertTrigger, "db-1")
	s.signal(time.Minute, "events_v2", incident.AlertAcknowledge, "db-1")
	s.signal(2*time.Minute, "events_v2", incident.AlertResolve, "db-1")
	s.runWith(contract.IncidentInput{})
	s.Require().NoError(s.env.GetWorkflowError())
	var final incident.Incident
	s.Require().NoError(s.env.GetWorkflowResult(&final))
	s.Equal("events_v2", final.AcknowledgedBy)
	s.Equal(start.Add(time.Minute), *final.AcknowledgedAt)
	s.Equal(incident.StatusResolved, final.Status)
}

// A trigger that reaches the run after its incident resolved opens the next
// incident under the same dedup key.
func (s *incidentSuite) TestTriggerAfterResolveOpensTheNextIncident() {
	var res updateResult
	s.sendUpdate(time.Minute, contract.UpdateResolve, req("alice"), &res)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(contract.SignalAlert, contract.AlertSignal{
			ID: "inc_next", Alert: incident.Alert{Source: incident.SourceEventsV2, Action: incident.AlertTrigger, Fingerprint: "db-1",
				Title: "db down again", Severity: incident.SeverityCritical},
		})
	}, time.Minute)
	s.runWith(contract.IncidentInput{})
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can), "got %v", s.env.GetWorkflowError())
	var next contract.IncidentInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.False(next.Continued, "a new incident, not the old one continued")
	s.Equal("inc_next", next.Incident.ID)
	s.Equal(incident.SeverityCritical, next.Incident.Severity)
	s.Require().Len(next.PendingAlerts, 1)
}
