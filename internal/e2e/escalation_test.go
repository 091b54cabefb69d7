package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
)

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// create POSTs body to path and returns the new object's id.
func create(t *testing.T, url, path string, body any) string {
	t.Helper()
	r := do(t, http.MethodPost, url+path, body)
	require.Equal(t, http.StatusCreated, r.status, "%s: %s", path, r.body)
	var obj struct {
		ID string `json:"id"`
	}
	r.json(t, &obj)
	return obj.ID
}

// pagingService creates two users with an iOS device each and a service
// whose policy pages alice, then bob stepDelay later, and starts over
// repeatDelay after bob, once.
func pagingService(t *testing.T, s *stack, stepDelay, repeatDelay time.Duration) (service, alice, bob string) {
	t.Helper()
	suffix := randomID()
	alice = create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Alice", "email": "alice-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "push", "platform": "ios", "token": "tok-alice-" + suffix}},
	})
	bob = create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Bob", "email": "bob-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "push", "platform": "ios", "token": "tok-bob-" + suffix}},
	})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{
		"name": "primary", "repeat": 1,
		"steps": []map[string]any{
			{"delay": repeatDelay.String(), "targets": []map[string]string{{"type": "user", "id": alice}}},
			{"delay": stepDelay.String(), "targets": []map[string]string{{"type": "user", "id": bob}}},
		},
	})
	service = "pay-" + suffix
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy})
	return service, alice, bob
}

func openIncident(t *testing.T, s *stack, service string) incident.Incident {
	t.Helper()
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", map[string]string{
		"title": "payments failing", "service": service, "severity": "critical",
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var inc incident.Incident
	r.json(t, &inc)
	t.Cleanup(func() {
		if t.Failed() {
			// What the incident went through, to tell why a page did not come.
			t.Logf("incident: %s", do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID, nil).body)
			t.Logf("timeline: %s", do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).body)
		}
	})
	return inc
}

func (s *stack) ledger(t *testing.T, incidentID string) []store.Notification {
	t.Helper()
	ns, err := s.store.ListNotifications(context.Background(), incidentID)
	require.NoError(t, err)
	return ns
}

// settled reports whether the incident's ledger holds at least n
// deliveries and none is still being sent (claimed).
func (s *stack) settled(t *testing.T, incidentID string, n int) bool {
	t.Helper()
	ledger := s.ledger(t, incidentID)
	return len(ledger) >= n && !slices.ContainsFunc(ledger, func(d store.Notification) bool {
		return d.Status == store.NotificationClaimed
	})
}

// pendingTimers returns when each of the workflow's timers that neither
// fired nor was cancelled is due.
func (s *stack) pendingTimers(t *testing.T, workflowID string) map[string]time.Time {
	t.Helper()
	open := map[string]time.Time{}
	for _, ev := range history(t, s.temporal, workflowID).Events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			a := ev.GetTimerStartedEventAttributes()
			open[a.GetTimerId()] = ev.GetEventTime().AsTime().Add(a.GetStartToFireTimeout().AsDuration())
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			delete(open, ev.GetTimerFiredEventAttributes().GetTimerId())
		case enumspb.EVENT_TYPE_TIMER_CANCELED:
			delete(open, ev.GetTimerCanceledEventAttributes().GetTimerId())
		}
	}
	return open
}

func (s *stack) pushes(t *testing.T) int64 {
	t.Helper()
	st, err := s.gorush.Stats(context.Background())
	require.NoError(t, err)
	return st.IOS.PushSuccess + st.IOS.PushError
}

// Gorush's counters are global, so the tests that count them do not run in
// parallel with others.

func TestTwoStepPolicyPagesEachStepOnceInOrderUntilAcknowledged(t *testing.T) {
	s := newStack(t)
	const stepDelay, repeatDelay = 2 * time.Second, 3 * time.Second
	service, alice, bob := pagingService(t, s, stepDelay, repeatDelay)
	before := s.pushes(t)

	inc := openIncident(t, s, service)
	require.Eventually(t, func() bool { return s.settled(t, inc.ID, 2) }, 30*time.Second, 20*time.Millisecond,
		"alice, then bob after %s, each delivery finished", stepDelay)
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{"actor": "bob"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	ledger := s.ledger(t, inc.ID)
	require.Len(t, ledger, 2, "nothing else was paged before the acknowledgement")
	require.Equal(t, alice, ledger[0].Key.UserID)
	require.Equal(t, 0, ledger[0].Key.Step)
	require.Equal(t, bob, ledger[1].Key.UserID)
	require.Equal(t, 1, ledger[1].Key.Step)
	for _, n := range ledger {
		require.Equal(t, "push", n.Channel)
		require.Equal(t, 1, n.Attempts, "each page was claimed once")
		// Offline, APNs is unreachable: Gorush took the push and reports it failed.
		require.Equal(t, store.NotificationFailed, n.Status)
		require.NotEmpty(t, n.Detail)
	}

	// After the acknowledgement the timer that would have paged alice again
	// is cancelled (or never started): what is left are the resolution SLA's
	// (warning at 45 min, deadline at 1 h), and no activity runs, so no page
	// can follow.
	repeatDue := ledger[1].CreatedAt.Add(repeatDelay)
	require.Eventually(t, func() bool {
		for _, fire := range s.pendingTimers(t, inc.WorkflowID) {
			if fire.Before(repeatDue.Add(time.Minute)) {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "no paging timer left after the acknowledgement")
	desc, err := s.temporal.DescribeWorkflowExecution(context.Background(), inc.WorkflowID, "")
	require.NoError(t, err)
	require.Empty(t, desc.GetPendingActivities())
	require.Len(t, s.ledger(t, inc.ID), 2, "no page after the acknowledgement")
	require.Equal(t, int64(2), s.pushes(t)-before, "Gorush received exactly the two pages")

	var v incidentBody
	do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID, nil).json(t, &v)
	require.NotNil(t, v.Live.Escalation)
	require.Equal(t, 1, v.Live.Escalation.Step, "bob's step paged last")
	pages := v.Live.Escalation.Pages
	require.Len(t, pages, 2)
	r = do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/notifications", nil)
	require.Equal(t, http.StatusOK, r.status)
	var nv struct {
		Notifications []struct {
			Step   int    `json:"step"`
			UserID string `json:"user_id"`
			Status string `json:"status"`
		} `json:"notifications"`
	}
	r.json(t, &nv)
	require.Len(t, nv.Notifications, 2)
	require.Equal(t, 1, nv.Notifications[0].Step, "steps are 1-based in the API")
	require.Equal(t, bob, nv.Notifications[1].UserID)
	// Workflow time: a timer never fires early, however slow the machine.
	require.GreaterOrEqual(t, pages[1].At.Sub(pages[0].At), stepDelay, "bob waits for the step delay")

	r = do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil)
	var tl timelineBody
	r.json(t, &tl)
	var pageEvents []string
	for _, ev := range tl.Events {
		if ev.Type == incident.EventNotified || ev.Type == incident.EventNotifyFailed {
			pageEvents = append(pageEvents, ev.Data["user_id"].(string))
		}
	}
	require.Equal(t, []string{alice, bob}, pageEvents)
	require.Equal(t, incident.EventPolicy, tl.Events[1].Type, "the snapshot's version is on the timeline")
	require.EqualValues(t, 1, tl.Events[1].Data["policy_version"])

	r = do(t, http.MethodGet, s.url+"/metrics", nil)
	require.Contains(t, string(r.body), `notifications_sent_total{channel="push",result="failed"} 2`)

	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{"actor": "bob"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(context.Background(), inc.WorkflowID, "").Get(context.Background(), &final))
	replayAndRecord(t, s, inc.WorkflowID, "incident_escalation_v3.json")
}

// The worker's reply after a page is lost, so Temporal runs the activity
// again: the ledger keeps the retry from paging a second time.
func TestRetriedPageIsSentOnce(t *testing.T) {
	var lost atomic.Int32
	s := newStack(t, func(w sdkworker.Worker, acts *activities.Activities) {
		w.RegisterActivityWithOptions(func(ctx context.Context, in contract.NotifyInput) (contract.NotifyResult, error) {
			res, err := acts.NotifyUser(ctx, in)
			if err == nil && activity.GetInfo(ctx).Attempt == 1 {
				lost.Add(1)
				return res, errors.New("reply lost on the way back to Temporal")
			}
			return res, err
		}, activity.RegisterOptions{Name: contract.ActivityNotifyUser, DisableAlreadyRegisteredCheck: true})
	})
	service, alice, _ := pagingService(t, s, time.Hour, time.Hour)
	before := s.pushes(t)

	inc := openIncident(t, s, service)
	require.Eventually(t, func() bool {
		ns := s.ledger(t, inc.ID)
		return len(ns) == 1 && ns[0].Attempts == 2
	}, 30*time.Second, 20*time.Millisecond, "the retry claimed the page a second time")
	// The retry returns once it found the page done: the outcome reaches the timeline.
	require.Eventually(t, func() bool {
		var tl timelineBody
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).json(t, &tl)
		for _, ev := range tl.Events {
			if ev.Type == incident.EventNotifyFailed || ev.Type == incident.EventNotified {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond)

	require.Equal(t, int32(1), lost.Load())
	require.Equal(t, int64(1), s.pushes(t)-before, "Gorush received one request for alice's step")
	ns := s.ledger(t, inc.ID)
	require.Equal(t, alice, ns[0].Key.UserID)
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

func TestEscalationEndpoints(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	webhooks := make(chan hookCall, 16)
	hook := newHookServer(t, webhooks)
	suffix := randomID()
	carol := create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Carol", "email": "carol-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "webhook", "url": hook + "/carol", "format": "slack"}},
	})
	dave := create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Dave", "email": "dave-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "webhook", "url": hook + "/dave"}},
	})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{
		"name": "web", "steps": []map[string]any{
			{"delay": "0s", "targets": []map[string]string{{"type": "user", "id": carol}}},
			{"delay": "1h", "targets": []map[string]string{{"type": "user", "id": dave}}},
		},
	})
	service := "web-" + suffix
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy})
	inc := openIncident(t, s, service)
	base := s.url + "/api/v1/incidents/" + inc.ID
	first := next(t, webhooks)
	require.Equal(t, "/carol", first.path, "step 1 pages at once")
	require.Contains(t, first.body["text"], inc.ID, "carol's webhook takes Slack's body")

	// Escalate now: dave is paged without waiting the hour.
	r := do(t, http.MethodPost, base+"/escalate", map[string]string{"actor": "carol", "note": "need dave"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	second := next(t, webhooks)
	require.Equal(t, "/dave", second.path)
	require.Equal(t, "incident.page", second.body["type"])

	// Snooze validation and answer.
	r = do(t, http.MethodPost, base+"/snooze", map[string]any{"actor": "carol", "duration": "0s"})
	require.Equal(t, http.StatusBadRequest, r.status)
	r = do(t, http.MethodPost, base+"/snooze", map[string]any{"actor": "carol", "duration": "10m"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var v incidentBody
	r.json(t, &v)
	require.NotNil(t, v.Live)
	require.False(t, v.Live.Escalation.SnoozedUntil.IsZero())

	// Reassign to carol alone pages her now.
	r = do(t, http.MethodPost, base+"/reassign", map[string]any{"actor": "dave", "user_ids": []string{carol}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "/carol", next(t, webhooks).path)
	for _, bad := range []map[string]any{
		{"actor": "dave"},
		{"actor": "dave", "user_ids": []string{"usr_nobody"}},
		{"actor": "dave", "policy_id": "pol_nope"},
		{"actor": "dave", "policy_id": policy, "user_ids": []string{carol}},
	} {
		r = do(t, http.MethodPost, base+"/reassign", bad)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", bad, r.body)
	}

	r = do(t, http.MethodPost, base+"/resolve", map[string]string{"actor": "carol"})
	require.Equal(t, http.StatusOK, r.status)
	r = do(t, http.MethodPost, base+"/escalate", map[string]string{"actor": "carol"})
	require.Equal(t, http.StatusConflict, r.status)
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/inc_nope/escalate", map[string]string{"actor": "carol"})
	require.Equal(t, http.StatusNotFound, r.status)
}

type hookCall struct {
	path string
	body map[string]any
}

// newHookServer receives webhook pages on loopback and passes each on.
func newHookServer(t *testing.T, calls chan<- hookCall) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		calls <- hookCall{path: r.URL.Path, body: body}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// next waits for the next webhook page.
func next(t *testing.T, calls <-chan hookCall) hookCall {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook page within 30s")
		return hookCall{}
	}
}
