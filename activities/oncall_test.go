package activities_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/schedule"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// hooks receives webhook bodies on loopback.
type hooks struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	h.mu.Lock()
	h.bodies = append(h.bodies, body)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hooks) received() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.bodies...)
}

// onCallFixture is a daily rotation of ann (a webhook) and bob (a push
// device, with no Gorush: the log sink) in Berlin, begun a week ago.
func onCallFixture(t *testing.T) (*activities.Activities, *store.Store, *hooks, oncall.Schedule, string, string) {
	t.Helper()
	ctx := t.Context()
	st := testenv.Store(t, testenv.Postgres(t))
	h := &hooks{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	hook, err := push.NewWebhookWith(push.WebhookOptions{AllowPrivate: true})
	require.NoError(t, err)
	acts := &activities.Activities{Store: st, Directory: directory.New(st, nil, 0, 0, nil), Webhook: hook}

	ann := oncall.User{Name: "Ann", Email: "ann@example.com", ContactMethods: []oncall.ContactMethod{{Type: oncall.ContactWebhook, URL: srv.URL + "/ann"}}}
	ann.Normalize()
	ann, err = st.CreateUser(ctx, ann)
	require.NoError(t, err)
	bob := oncall.User{Name: "Bob", Email: "bob@example.com", ContactMethods: []oncall.ContactMethod{{Type: oncall.ContactPush, Platform: oncall.PlatformIOS, Token: "bob-phone"}}}
	bob.Normalize()
	bob, err = st.CreateUser(ctx, bob)
	require.NoError(t, err)
	begun, err := schedule.ParseLocalDateTime(time.Now().Add(-7*24*time.Hour).Format("2006-01-02") + "T09:00")
	require.NoError(t, err)
	sch, err := st.CreateSchedule(ctx, oncall.Schedule{Schedule: schedule.Schedule{Name: "primary", TimeZone: "Europe/Berlin",
		Layers: []schedule.Layer{{Name: "daily", Members: []string{ann.ID, bob.ID}, Start: begun, Turn: schedule.Daily}}}})
	require.NoError(t, err)
	return acts, st, h, sch, ann.ID, bob.ID
}

// aDay is how long a daily turn lasts: 23 h or 25 h across a transition.
var aDay = []time.Duration{23 * time.Hour, 24 * time.Hour, 25 * time.Hour}

func TestResolveOnCallAnswersEachSchedule(t *testing.T) {
	t.Parallel()
	acts, _, _, sch, ann, bob := onCallFixture(t)
	at := time.Now().UTC()
	got, err := acts.ResolveOnCall(t.Context(), contract.ResolveOnCallInput{ScheduleIDs: []string{sch.ID, "sch_nobody"}, At: at})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Contains(t, []string{ann, bob}, got[0].UserID)
	require.Equal(t, contract.OnCall{ScheduleID: sch.ID, ScheduleName: "primary", UserID: got[0].UserID, Source: "layer",
		Layer: 1, LayerName: "daily", ShiftStart: got[0].ShiftStart, ShiftEnd: got[0].ShiftEnd}, got[0])
	require.False(t, at.Before(got[0].ShiftStart))
	require.True(t, at.Before(got[0].ShiftEnd))
	require.Contains(t, aDay, got[0].ShiftEnd.Sub(got[0].ShiftStart), "a daily turn")
	require.Equal(t, contract.OnCall{ScheduleID: "sch_nobody", Problem: "schedule not found (deleted after the policy was snapshotted)"}, got[1])
}

func TestPlanHandoffsListsSubscribersNoticesSoonestFirst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	acts, st, _, sch, ann, bob := onCallFixture(t)
	at := time.Now().UTC()

	plan, err := acts.PlanHandoffs(ctx, contract.PlanHandoffsInput{ScheduleID: sch.ID, At: at})
	require.NoError(t, err)
	require.Empty(t, plan.Notices, "nobody subscribed")
	require.True(t, plan.ReplanAt.IsZero(), "and nothing to wake for until someone does")

	_, _, err = st.PutHandoffSubscription(ctx, oncall.HandoffSubscription{ScheduleID: sch.ID, UserID: ann, MinutesBefore: 30})
	require.NoError(t, err)
	plan, err = acts.PlanHandoffs(ctx, contract.PlanHandoffsInput{ScheduleID: sch.ID, At: at})
	require.NoError(t, err)
	require.Len(t, plan.Notices, 4, "every other day for eight days")
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	for i, n := range plan.Notices {
		require.Equal(t, ann, n.UserID)
		require.Equal(t, bob, n.FromUserID)
		require.True(t, n.ShiftStart.After(at))
		require.Equal(t, "09:00", n.ShiftStart.In(berlin).Format("15:04"), "handoffs at 09:00 local")
		require.Equal(t, n.ShiftStart.Add(-30*time.Minute), n.NoticeAt)
		if !n.ShiftEnd.IsZero() { // zero when bob takes over past the horizon
			require.Contains(t, aDay, n.ShiftEnd.Sub(n.ShiftStart), "her turn lasts a day")
		}
		require.Equal(t, "layer", n.Source)
		require.Equal(t, "primary", n.ScheduleName)
		if i > 0 {
			require.True(t, n.NoticeAt.After(plan.Notices[i-1].NoticeAt))
		}
	}
	require.Equal(t, at.Add(8*24*time.Hour).Add(-30*time.Minute), plan.ReplanAt)

	require.NoError(t, st.DeleteSchedule(ctx, sch.ID))
	plan, err = acts.PlanHandoffs(ctx, contract.PlanHandoffsInput{ScheduleID: sch.ID, At: at})
	require.NoError(t, err)
	require.True(t, plan.Deleted)
}

func TestSendHandoffNoticeSendsOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	acts, st, h, sch, ann, bob := onCallFixture(t)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts.SendHandoffNotice)
	start := time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)
	n := contract.HandoffNotice{ScheduleID: sch.ID, ScheduleName: "primary", TimeZone: "Europe/Berlin", UserID: ann, FromUserID: bob,
		NoticeAt: start.Add(-15 * time.Minute), ShiftStart: start, Source: "layer", Layer: 1}

	for i := range 2 {
		v, err := env.ExecuteActivity(acts.SendHandoffNotice, n)
		require.NoError(t, err)
		var res contract.SendHandoffResult
		require.NoError(t, v.Get(&res))
		require.Len(t, res.Deliveries, 1)
		require.Equal(t, "sent", res.Deliveries[0].Status)
		require.Equal(t, i == 1, res.Deliveries[0].Repeat, "the second call finds the notice sent")
	}
	got := h.received()
	require.Len(t, got, 1, "one webhook call")
	require.Equal(t, "oncall.handoff", got[0]["type"])
	require.Equal(t, "On call from 09:00 CEST: primary", got[0]["title"])
	require.Equal(t, "Your on-call shift in primary starts at Mon 30 Mar 09:00 CEST, taking over from Bob.", got[0]["message"])
	data := got[0]["data"].(map[string]any)
	require.Equal(t, sch.ID, data["schedule_id"])
	require.Equal(t, "2026-03-30T07:00:00Z", data["shift_start"])

	n.UserID, n.FromUserID = bob, ann
	v, err := env.ExecuteActivity(acts.SendHandoffNotice, n)
	require.NoError(t, err)
	var res contract.SendHandoffResult
	require.NoError(t, v.Get(&res))
	require.Equal(t, "log", res.Deliveries[0].Channel, "no Gorush: the log sink")
	ledger, err := st.ListHandoffDeliveries(ctx, sch.ID, start, start.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, ledger, 2)
}
