package activities_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// Two attempts of one page overlap when a worker that is still sending
// misses its heartbeat and Temporal starts the next attempt elsewhere. The
// second waits on the first's claim instead of sending the page again.
func TestOverlappingAttemptsSendAPageOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testenv.Store(t, testenv.Postgres(t))

	var calls atomic.Int32
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		once.Do(func() { close(arrived) })
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	hook, err := push.NewWebhookWith(push.WebhookOptions{AllowPrivate: true})
	require.NoError(t, err)
	waiting := make(chan string, 16)
	acts := &activities.Activities{Store: st, Directory: directory.New(st, nil, 0, 0, nil), Webhook: hook,
		Logger: slog.New(messages(waiting))}

	ann := oncall.User{Name: "Ann", Email: "ann@example.com", ContactMethods: []oncall.ContactMethod{{Type: oncall.ContactWebhook, URL: srv.URL + "/ann"}}}
	ann.Normalize()
	ann, err = st.CreateUser(ctx, ann)
	require.NoError(t, err)
	now := time.Now().UTC()
	inc := incident.Incident{ID: incident.NewID(time.Now()), Title: "disk full", Service: "db", Severity: incident.SeverityHigh,
		Status: incident.StatusOpen, CreatedAt: now, UpdatedAt: now, Version: 1}
	inc.WorkflowID = "incident/" + inc.ID
	_, err = st.ApplyTransition(ctx, inc, incident.Event{ID: "opened", IncidentID: inc.ID, Type: incident.EventOpened, EventTime: now})
	require.NoError(t, err)
	in := contract.NotifyInput{IncidentID: inc.ID, Title: inc.Title, Service: inc.Service, Severity: inc.Severity, Page: 1, UserID: ann.ID}

	notify := func() (contract.NotifyResult, error) {
		var ts testsuite.WorkflowTestSuite
		env := ts.NewTestActivityEnvironment()
		env.RegisterActivity(acts)
		val, err := env.ExecuteActivity(acts.NotifyUser, in)
		if err != nil {
			return contract.NotifyResult{}, err
		}
		var res contract.NotifyResult
		return res, val.Get(&res)
	}
	type result struct {
		res contract.NotifyResult
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() { r, err := notify(); first <- result{r, err} }()
	<-arrived // the first attempt is sending
	go func() { r, err := notify(); second <- result{r, err} }()

	// The second attempt finds the claim held and says so while it waits.
	select {
	case why := <-waiting:
		require.Equal(t, "page held by an overlapping attempt; waiting", why)
	case r := <-second:
		t.Fatalf("the second attempt returned while the first was still sending: %+v", r)
	case <-time.After(time.Minute):
		t.Fatal("the second attempt neither waited nor returned")
	}
	ns, err := st.ListNotifications(ctx, inc.ID)
	require.NoError(t, err)
	require.Len(t, ns, 1)
	require.Equal(t, store.NotificationClaimed, ns[0].Status)
	require.Equal(t, 1, ns[0].Attempts, "a held claim is not an attempt")
	close(release)

	r1 := <-first
	require.NoError(t, r1.err)
	require.Len(t, r1.res.Deliveries, 1)
	require.Equal(t, store.NotificationSent, r1.res.Deliveries[0].Status)
	require.False(t, r1.res.Deliveries[0].Repeat)
	r2 := <-second
	require.NoError(t, r2.err)
	require.Len(t, r2.res.Deliveries, 1)
	require.True(t, r2.res.Deliveries[0].Repeat, "the second attempt reports the first one's delivery")
	require.Equal(t, store.NotificationSent, r2.res.Deliveries[0].Status)
	require.Equal(t, int32(1), calls.Load(), "the receiver got the page once")
}

// messages is a slog handler that sends each record's message to ch,
// dropping it when ch is full.
type messages chan<- string

func (m messages) Enabled(context.Context, slog.Level) bool { return true }
func (m messages) Handle(_ context.Context, r slog.Record) error {
	select {
	case m <- r.Message:
	default:
	}
	return nil
}
func (m messages) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m messages) WithGroup(string) slog.Handler      { return m }
