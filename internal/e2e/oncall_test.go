package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
)

// pushUser creates a user with one iOS device.
func pushUser(t *testing.T, s *stack, name string) string {
	t.Helper()
	suffix := randomID()
	return create(t, s.url, "/api/v1/users", map[string]any{
		"name": name, "email": name + "-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "push", "platform": "ios", "token": "tok-" + name + "-" + suffix}},
	})
}

// pageEvents waits for the incident's timeline to hold n delivery events
// (notified or notify_failed) and returns them.
func (s *stack) pageEvents(t *testing.T, incidentID string, n int) []incident.Event {
	t.Helper()
	var out []incident.Event
	require.Eventually(t, func() bool {
		var tl timelineBody
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+incidentID+"/timeline", nil).json(t, &tl)
		out = slices.DeleteFunc(tl.Events, func(ev incident.Event) bool {
			return ev.Type != incident.EventNotified && ev.Type != incident.EventNotifyFailed
		})
		return len(out) >= n
	}, 30*time.Second, 20*time.Millisecond, "%d page events", n)
	return out
}

// A policy that targets a schedule pages whoever is on call when the step
// pages, through Gorush: the rotation's person, then, once an override is
// made, the override's user. The timeline names the layer and the
// override.
func TestPolicyTargetingAScheduleFollowsOverrides(t *testing.T) {
	s := newStack(t)
	alice, bob, carol := pushUser(t, s, "alice"), pushUser(t, s, "bob"), pushUser(t, s, "carol")
	// Layer 1 is carol's; layer 2, alice's, is later and wins wherever it
	// has someone, which is always.
	sch := create(t, s.url, "/api/v1/schedules", map[string]any{
		"name": "checkout primary", "time_zone": "Europe/Berlin", "layers": []map[string]any{
			{"name": "base", "members": []string{carol}, "start": "2026-01-05T09:00", "turn": "weekly"},
			{"name": "follow the sun", "members": []string{alice}, "start": "2026-01-05T09:00", "turn": "daily"},
		}})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{"name": "via schedule",
		"steps": []map[string]any{{"delay": "1h", "targets": []map[string]string{{"type": "schedule", "id": sch}}}}})
	service := "sched-" + randomID()
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy})
	before := s.pushes(t)

	inc := openIncident(t, s, service)
	first := s.pageEvents(t, inc.ID, 1)[0]
	require.Equal(t, alice, first.Data["user_id"], "the person on call now")
	require.Equal(t, sch, first.Data["schedule_id"])
	require.Equal(t, "layer", first.Data["source"])
	require.EqualValues(t, 2, first.Data["layer"])
	require.Equal(t, "follow the sun", first.Data["layer_name"])
	require.Contains(t, first.Message, `on call in schedule "checkout primary" from layer 2 (follow the sun)`)

	// Bob covers from now on: the next page of the same step goes to him.
	now := time.Now().UTC()
	r := do(t, http.MethodPost, s.url+"/api/v1/schedules/"+sch+"/overrides", map[string]any{
		"user_id": bob, "start": now.Add(-time.Minute), "end": now.Add(time.Hour)})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var ovr struct {
		ID string `json:"id"`
	}
	r.json(t, &ovr)
	var oc struct {
		OnCall struct {
			UserID string `json:"user_id"`
		} `json:"on_call"`
	}
	do(t, http.MethodGet, s.url+"/api/v1/schedules/"+sch+"/on-call", nil).json(t, &oc)
	require.Equal(t, bob, oc.OnCall.UserID, "the override reaches the cached answer at once")

	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/escalate", map[string]string{"note": "again"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	second := s.pageEvents(t, inc.ID, 2)[1]
	require.Equal(t, bob, second.Data["user_id"])
	require.Equal(t, "override", second.Data["source"])
	require.Equal(t, ovr.ID, second.Data["override_id"])
	require.Contains(t, second.Message, "from override "+ovr.ID)

	ledger := s.ledger(t, inc.ID)
	require.Len(t, ledger, 2)
	require.Equal(t, []string{alice, bob}, []string{ledger[0].Key.UserID, ledger[1].Key.UserID})
	for _, n := range ledger {
		require.Equal(t, "push", n.Channel, "through Gorush")
		require.Equal(t, store.NotificationFailed, n.Status, "offline, APNs is unreachable: Gorush reports each push failed")
	}
	require.Equal(t, int64(2), s.pushes(t)-before, "Gorush received both pages")

	// The policy pages the schedule: it cannot be deleted.
	r = do(t, http.MethodDelete, s.url+"/api/v1/schedules/"+sch, nil)
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)

	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(context.Background(), inc.WorkflowID, "").Get(context.Background(), &final))
	replayAndRecord(t, s, inc.WorkflowID, "incident_schedule_v4.json")
}

// A schedule with nobody on call at page time is recorded and counted,
// and the step's other targets are paged all the same.
func TestNoOneOnCallIsRecordedAndCounted(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	alice, dave := pushUser(t, s, "alice"), pushUser(t, s, "dave")
	starts := time.Now().Add(72 * time.Hour).Format("2006-01-02")
	sch := create(t, s.url, "/api/v1/schedules", map[string]any{
		"name": "not yet", "time_zone": "Asia/Kolkata", "layers": []map[string]any{
			{"members": []string{alice}, "start": starts + "T09:30", "turn": "daily"}}})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{"name": "mixed",
		"steps": []map[string]any{{"delay": "1h", "targets": []map[string]string{{"type": "schedule", "id": sch}, {"type": "user", "id": dave}}}}})
	service := "nobody-" + randomID()
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy})

	inc := openIncident(t, s, service)
	require.Equal(t, dave, s.pageEvents(t, inc.ID, 1)[0].Data["user_id"])
	var tl timelineBody
	do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).json(t, &tl)
	i := slices.IndexFunc(tl.Events, func(ev incident.Event) bool { return ev.Type == incident.EventNoOneOnCall })
	require.GreaterOrEqual(t, i, 0, "a no_one_on_call event")
	require.Equal(t, sch, tl.Events[i].Data["schedule_id"])
	require.Equal(t, "not yet", tl.Events[i].Data["schedule_name"])
	require.EqualValues(t, 1, tl.Events[i].Data["step"])
	require.Contains(t, string(do(t, http.MethodGet, s.url+"/metrics", nil).body), "no_one_on_call_total 1\n")
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// A user who asked for handoff notices is told before their shift starts,
// once, by the schedule's HandoffWorkflow; an override made after the
// subscription is planned at once.
func TestHandoffNoticeArrivesBeforeTheShift(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	webhooks := make(chan hookCall, 16)
	hook := newHookServer(t, webhooks)
	alice := pushUser(t, s, "alice")
	dave := create(t, s.url, "/api/v1/users", map[string]any{"name": "Dave", "email": "dave-" + randomID() + "@example.com",
		"contact_methods": []map[string]string{{"type": "webhook", "url": hook + "/dave"}}})
	sch := create(t, s.url, "/api/v1/schedules", map[string]any{
		"name": "primary", "time_zone": "Australia/Adelaide", "layers": []map[string]any{
			{"members": []string{alice}, "start": "2026-01-05T09:00", "turn": "weekly"}}})

	r := do(t, http.MethodPut, s.url+"/api/v1/schedules/"+sch+"/handoff-subscriptions/"+dave, map[string]int{"minutes_before": 1})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	r = do(t, http.MethodPut, s.url+"/api/v1/schedules/"+sch+"/handoff-subscriptions/"+dave, map[string]int{"minutes_before": 1})
	require.Equal(t, http.StatusOK, r.status, "a second put changes the first")

	// Dave covers from 70 s from now: his notice is due in 10 s.
	start := time.Now().UTC().Add(70 * time.Second).Truncate(time.Second)
	r = do(t, http.MethodPost, s.url+"/api/v1/schedules/"+sch+"/overrides", map[string]any{
		"user_id": dave, "start": start, "end": start.Add(10 * time.Minute)})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)

	call := next(t, webhooks)
	require.Equal(t, "/dave", call.path)
	require.Equal(t, "oncall.handoff", call.body["type"])
	require.Contains(t, call.body["message"], "Your on-call shift in primary starts at")
	require.Contains(t, call.body["message"], "taking over from alice")
	data := call.body["data"].(map[string]any)
	require.Equal(t, start.Format(time.RFC3339), data["shift_start"])
	require.Equal(t, "override", data["source"])
	require.True(t, time.Now().Before(start), "told before the shift starts")

	// The webhook has answered; the ledger records it as the activity ends.
	require.Eventually(t, func() bool {
		ledger, err := s.store.ListHandoffDeliveries(context.Background(), sch, start, start.Add(time.Second))
		require.NoError(t, err)
		require.Len(t, ledger, 1)
		return ledger[0].Status == store.NotificationSent
	}, 30*time.Second, 20*time.Millisecond, "the notice is recorded sent")
	require.Contains(t, string(do(t, http.MethodGet, s.url+"/metrics", nil).body), `handoff_notices_sent_total{channel="webhook",result="sent"} 1`)

	// Deleting the schedule stops its workflow.
	r = do(t, http.MethodDelete, s.url+"/api/v1/schedules/"+sch, nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	err := s.temporal.GetWorkflow(context.Background(), contract.HandoffWorkflowID(sch), "").Get(context.Background(), nil)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "cancelled: %v", err)
	replayAndRecord(t, s, contract.HandoffWorkflowID(sch), "handoff_v1.json")
	select {
	case extra := <-webhooks:
		t.Fatalf("a second notice: %v", extra)
	default:
	}
}

// A handoff workflow that is not running (terminated in the Web UI, or its
// subscriptions imported) is started again by the worker as it starts.
func TestWorkerStartsMissingHandoffWorkflows(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	alice := pushUser(t, s, "alice")
	sch := create(t, s.url, "/api/v1/schedules", map[string]any{"name": "primary", "time_zone": "America/New_York",
		"layers": []map[string]any{{"members": []string{alice}, "start": "2026-01-05T09:00", "turn": "daily"}}})
	r := do(t, http.MethodPut, s.url+"/api/v1/schedules/"+sch+"/handoff-subscriptions/"+alice, map[string]int{"minutes_before": 30})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	wfID := contract.HandoffWorkflowID(sch)
	require.NoError(t, s.temporal.TerminateWorkflow(ctx, wfID, "", "lost"))

	require.NoError(t, s.app.SyncHandoffs(ctx))
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())
	require.NoError(t, s.app.SyncHandoffs(ctx), "a running one is left alone")
}
