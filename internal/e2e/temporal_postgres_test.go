package e2e_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// The embedded Temporal server on Postgres, the production shape of its
// store: an incident goes open → page → acknowledge → resolve through the
// API, and the server is stopped and started again on the same databases
// while the incident waits on its next step's timer, which then fires.
func TestTemporalOnPostgresKeepsAnIncidentsTimerAcrossARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	temporalURL := temporalDatabaseURL(t)
	port := freeLoopbackPort(t)
	var srv *devtemporal.Server
	// Registered before the stack, so it runs after the worker and API
	// have stopped: it stops whichever server is running then.
	t.Cleanup(func() {
		if srv != nil {
			srv.Stop()
		}
	})
	start := func() {
		t.Helper()
		var err error
		srv, err = devtemporal.Start(ctx, devtemporal.Options{
			PostgresURL:      temporalURL,
			Port:             port,
			SearchAttributes: contract.SearchAttributeTypes,
		})
		require.NoError(t, err)
	}
	start()
	s := newStackOn(t, srv.HostPort(), srv.Namespace(), nil)

	const stepDelay = 8 * time.Second
	service, alice, bob := pagingService(t, s, stepDelay, time.Hour)
	inc := openIncident(t, s, service)
	require.Equal(t, incident.StatusOpen, inc.Status)
	finished := func(ns []store.Notification) bool {
		return !slices.ContainsFunc(ns, func(n store.Notification) bool { return n.Status == store.NotificationClaimed })
	}
	require.Eventually(t, func() bool {
		ns := s.ledger(t, inc.ID)
		return len(ns) == 1 && finished(ns)
	}, 30*time.Second, 20*time.Millisecond, "alice is paged at once")
	require.Equal(t, alice, s.ledger(t, inc.ID)[0].Key.UserID)
	var bobDue time.Time
	require.Eventually(t, func() bool {
		for _, due := range s.pendingTimers(t, inc.WorkflowID) {
			if due.After(time.Now()) && (bobDue.IsZero() || due.Before(bobDue)) {
				bobDue = due
			}
		}
		return !bobDue.IsZero()
	}, 10*time.Second, 20*time.Millisecond, "the workflow waits on bob's step timer")

	// Stop the server with the timer pending and start a new one on the
	// same databases: the schema is set up already, the namespace exists,
	// and the timer is a row that the new server's history shard loads.
	srv.Stop()
	srv = nil
	require.Len(t, s.ledger(t, inc.ID), 1, "bob's step has not paged before the restart")
	start()

	require.Eventually(t, func() bool {
		ns := s.ledger(t, inc.ID)
		return len(ns) == 2 && finished(ns)
	}, 60*time.Second, 50*time.Millisecond, "bob's timer fires on the restarted server")
	ledger := s.ledger(t, inc.ID)
	require.Equal(t, bob, ledger[1].Key.UserID)
	require.Equal(t, 1, ledger[1].Key.Step)
	require.False(t, ledger[1].CreatedAt.Before(bobDue), "a timer never fires early: claimed %s, due %s", ledger[1].CreatedAt, bobDue)

	// The restarted server answers updates (the worker reconnected).
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{"actor": "bob"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var acked incident.Incident
	r.json(t, &acked)
	require.Equal(t, incident.StatusAcknowledged, acked.Status)
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{"actor": "bob"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(ctx, inc.WorkflowID, "").Get(ctx, &final))
	require.Equal(t, incident.StatusResolved, final.Status)
	stored, err := s.store.GetIncident(ctx, inc.ID)
	require.NoError(t, err)
	require.Equal(t, incident.StatusResolved, stored.Status)
}

// temporalDatabaseURL names a database of the test Postgres server that
// does not exist yet, for a Temporal server to create with its visibility
// database beside it; both are dropped when the test ends.
func temporalDatabaseURL(t *testing.T) string {
	t.Helper()
	base := testenv.DatabaseURL(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	name := "temporal_" + randomID()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		for _, db := range []string{name, name + "_visibility"} {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Errorf("drop %s: %v", db, err)
			}
		}
	})
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// freeLoopbackPort returns a port that was free a moment ago, for a server
// that must come back on the same address.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
