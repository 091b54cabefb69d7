package store_test

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/runbook"
)

// failover is a three-step runbook: a checklist item, a signed call and an
// approval.
func failover(service string, severities ...incident.Severity) runbook.Runbook {
	rb := runbook.Runbook{
		Name: "Database failover", ServiceID: service, Severities: severities,
		Steps: []runbook.Step{
			{Name: "Check replica lag", Kind: runbook.KindManual, Required: true, Instructions: "Open the **lag** dashboard."},
			{Name: "Promote the replica", Kind: runbook.KindAction, Action: &runbook.Action{
				URL:     "https://deploy.example.com/promote",
				Headers: map[string]string{"Authorization": `Bearer {{secret "deploy_token"}}`},
				Body:    json.RawMessage(`{"incident":"{{.Incident.ID}}","host":"{{.Labels.instance}}"}`),
			}},
			{Name: "Approve the cut-over", Kind: runbook.KindApproval, Approval: &runbook.Approval{Role: oncall.RoleAdmin}},
		},
	}
	rb.Normalize()
	return rb
}

var runbookID = regexp.MustCompile(`^rb_[a-z2-7]{26}$`)

func TestRunbookRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	_, err := s.CreateService(ctx, oncall.Service{ID: "db", Name: "db"})
	require.NoError(t, err)

	created, err := s.CreateRunbook(ctx, failover("db", incident.SeverityCritical))
	require.NoError(t, err)
	require.Regexp(t, runbookID, created.ID)
	require.EqualValues(t, 1, created.Version)
	got, err := s.GetRunbook(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, created.Steps[1].Action.URL, got.Steps[1].Action.URL)
	require.JSONEq(t, string(created.Steps[1].Action.Body), string(got.Steps[1].Action.Body))
	got.Steps[1].Action.Body = created.Steps[1].Action.Body // jsonb reorders keys
	require.Equal(t, created, got)

	byHand, err := s.CreateRunbook(ctx, failover(""))
	require.NoError(t, err)
	byHand.Name = "A manual failover"
	byHand, err = s.UpdateRunbook(ctx, byHand)
	require.NoError(t, err)
	require.EqualValues(t, 2, byHand.Version, "every change is a new version")
	list, err := s.ListRunbooks(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, byHand.ID, list[0].ID, "ordered by name")

	_, err = s.CreateRunbook(ctx, failover("nope"))
	requireValidation(t, err, "service_id")
	bad := failover("")
	bad.Steps = nil
	_, err = s.CreateRunbook(ctx, bad)
	requireValidation(t, err, "steps")
	byHand.ID = "rb_missing"
	_, err = s.UpdateRunbook(ctx, byHand)
	requireCode(t, fault.NotFound, err)

	// Deleting the service detaches its runbooks; they can still be started by hand.
	require.NoError(t, s.DeleteService(ctx, "db"))
	got, err = s.GetRunbook(ctx, created.ID)
	require.NoError(t, err)
	require.Empty(t, got.ServiceID)

	require.NoError(t, s.DeleteRunbook(ctx, created.ID))
	requireCode(t, fault.NotFound, s.DeleteRunbook(ctx, created.ID))
	_, err = s.GetRunbook(ctx, created.ID)
	requireCode(t, fault.NotFound, err)
}

func TestRunbooksForAServiceAndSeverity(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	_, err := s.CreateService(ctx, oncall.Service{ID: "db", Name: "db", RequireRunbookSteps: true})
	require.NoError(t, err)
	_, err = s.CreateService(ctx, oncall.Service{ID: "web", Name: "web"})
	require.NoError(t, err)
	every := failover("db")
	every.Name = "B: every severity"
	every, err = s.CreateRunbook(ctx, every)
	require.NoError(t, err)
	critical := failover("db", incident.SeverityCritical, incident.SeverityHigh)
	critical.Name = "A: critical and high"
	critical, err = s.CreateRunbook(ctx, critical)
	require.NoError(t, err)
	_, err = s.CreateRunbook(ctx, failover(""))
	require.NoError(t, err)

	rbs, requireSteps, err := s.RunbooksFor(ctx, "db", incident.SeverityCritical)
	require.NoError(t, err)
	require.True(t, requireSteps)
	require.Equal(t, []string{critical.ID, every.ID}, ids(rbs))
	require.Equal(t, []incident.Severity{incident.SeverityCritical, incident.SeverityHigh}, rbs[0].Severities)
	require.Len(t, rbs[0].Steps, 3)

	rbs, _, err = s.RunbooksFor(ctx, "db", incident.SeverityLow)
	require.NoError(t, err)
	require.Equal(t, []string{every.ID}, ids(rbs))

	rbs, requireSteps, err = s.RunbooksFor(ctx, "web", incident.SeverityCritical)
	require.NoError(t, err)
	require.Empty(t, rbs)
	require.False(t, requireSteps)
	rbs, requireSteps, err = s.RunbooksFor(ctx, "unknown", incident.SeverityCritical)
	require.NoError(t, err)
	require.Empty(t, rbs)
	require.False(t, requireSteps)
}

func ids(rbs []runbook.Runbook) []string {
	out := make([]string, len(rbs))
	for i, rb := range rbs {
		out[i] = rb.ID
	}
	return out
}

func TestRunbookContextMergesTheAlertsLabelsAndAnnotations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	at := time.Now().UTC().Truncate(time.Millisecond)
	inc, ev := opened("inc_ctx", at)
	_, err := s.ApplyTransition(ctx, inc, ev)
	require.NoError(t, err)
	for i, a := range []struct {
		labels  map[string]any
		details map[string]any
	}{
		{map[string]any{"instance": "db-1", "job": "postgres"}, map[string]any{"summary": "lag high", "lag_s": 42}},
		{map[string]any{"instance": "db-2", "zone": "b"}, map[string]any{"summary": "lag higher", "runbook_url": "https://wiki/x"}},
	} {
		_, err := s.AppendEvent(ctx, incident.Event{ID: "alert/" + string(rune('a'+i)), IncidentID: "inc_ctx", Type: incident.EventAlert,
			Data: map[string]any{"labels": a.labels, "details": a.details}, EventTime: at, Seq: int64(2 + i)})
		require.NoError(t, err)
	}

	c, err := s.RunbookContext(ctx, "inc_ctx")
	require.NoError(t, err)
	require.Equal(t, runbook.IncidentData{ID: "inc_ctx", Title: inc.Title, Description: inc.Description, Service: "checkout",
		Severity: "high", Status: "open"}, c.Incident)
	require.Equal(t, map[string]string{"instance": "db-1", "job": "postgres", "zone": "b"}, c.Labels, "the first alert's value wins")
	require.Equal(t, map[string]string{"summary": "lag high", "lag_s": "42", "runbook_url": "https://wiki/x"}, c.Annotations)

	_, err = s.RunbookContext(ctx, "inc_missing")
	requireCode(t, fault.NotFound, err)
}

func TestAServiceHasAtMostFiveRunbooks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	for _, id := range []string{"db", "web"} {
		_, err := s.CreateService(ctx, oncall.Service{ID: id, Name: id})
		require.NoError(t, err)
	}
	var last runbook.Runbook
	for range runbook.MaxPerService {
		var err error
		last, err = s.CreateRunbook(ctx, failover("db"))
		require.NoError(t, err)
	}
	_, err := s.CreateRunbook(ctx, failover("db"))
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "service db has 5 runbooks")

	// One that is there already may change; one more may not move in.
	last.Name = "renamed"
	_, err = s.UpdateRunbook(ctx, last)
	require.NoError(t, err)
	other, err := s.CreateRunbook(ctx, failover("web"))
	require.NoError(t, err)
	other.ServiceID = "db"
	_, err = s.UpdateRunbook(ctx, other)
	requireCode(t, fault.Conflict, err)
}
