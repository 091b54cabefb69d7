package e2e_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/workflows"
)

// A job pings its monitor, then stops: after one interval an incident opens
// for the service; the next ping resolves it. Deleting the monitor stops
// its workflow.
func TestHeartbeatMissedOpensAnIncidentThatTheNextPingResolves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t)
	service := "hb-" + randomID()
	key := integrationKey(t, s, service)
	otherKey := integrationKey(t, s, "hb-other-"+randomID())
	monitors := s.url + "/api/v1/heartbeat-monitors"

	r := do(t, http.MethodPost, monitors, map[string]any{"service_id": service, "name": "nightly backup", "interval": "100ms"})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Equal(t, "invalid", r.errorCode(t))
	r = do(t, http.MethodPost, monitors, map[string]any{"service_id": "no-such-" + randomID(), "name": "nightly backup", "interval": "2s"})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)

	id := create(t, s.url, "/api/v1/heartbeat-monitors", map[string]any{"service_id": service, "name": "nightly backup", "interval": "2s"})
	r = do(t, http.MethodGet, monitors+"/"+id, nil)
	require.Equal(t, http.StatusOK, r.status)
	var m struct {
		ServiceID  string     `json:"service_id"`
		Interval   string     `json:"interval"`
		LastPingAt *time.Time `json:"last_ping_at"`
	}
	r.json(t, &m)
	require.Equal(t, service, m.ServiceID)
	require.Equal(t, "2s", m.Interval)
	require.Nil(t, m.LastPingAt)

	ping := func(key, id string) response {
		t.Helper()
		return do(t, http.MethodPost, s.url+"/api/v1/heartbeats/"+id, nil, "Authorization", "Bearer "+key)
	}
	before := time.Now()
	r = ping(key, id)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	var ack struct {
		Status    string    `json:"status"`
		NextDueAt time.Time `json:"next_due_at"`
	}
	r.json(t, &ack)
	require.Equal(t, "ok", ack.Status)
	require.WithinRange(t, ack.NextDueAt, before.Add(2*time.Second), time.Now().Add(2*time.Second))
	got, err := s.store.GetHeartbeatMonitor(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, got.LastPingAt, "the ping is recorded")

	// Keys that may not ping this monitor.
	r = ping(otherKey, id)
	require.Equal(t, http.StatusNotFound, r.status, "another service's key: as if unknown")
	require.Equal(t, "not_found", r.errorCode(t))
	r = ping("ik_wrong.key", id)
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = doRaw(t, http.MethodPost, s.url+"/api/v1/heartbeats/"+id, nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "no key")
	r = ping(key, "hb_unknown")
	require.Equal(t, http.StatusNotFound, r.status)

	// No more pings: down after one interval.
	var inc incident.Incident
	require.Eventually(t, func() bool {
		items := s.incidentsOf(t, service)
		if len(items) > 0 {
			inc = items[0]
		}
		return len(items) > 0
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "heartbeat missed: nightly backup", inc.Title)
	require.Equal(t, incident.SeverityCritical, inc.Severity)
	require.Equal(t, "heartbeat/"+id, inc.DedupKey)
	require.Equal(t, contract.DedupWorkflowID(service, "heartbeat/"+id), inc.WorkflowID)
	require.Eventually(t, func() bool {
		alerts, err := s.store.ListAlerts(ctx, inc.ID)
		require.NoError(t, err)
		return len(alerts) == 1 && alerts[0].Fingerprint == "heartbeat/"+id && alerts[0].Source == "heartbeat"
	}, 30*time.Second, 20*time.Millisecond, "the heartbeat is the incident's alert")

	r = ping(key, id)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(ctx, inc.WorkflowID, "").Get(ctx, &final))
	require.Equal(t, inc.ID, final.ID)
	require.Equal(t, incident.StatusResolved, final.Status, "the ping resolved it")
	require.Equal(t, "heartbeat", final.ResolvedBy)
	replayAndRecordOn(t, s.temporal, inc.WorkflowID, "incident_heartbeat_v3.json")
	replayAndRecordOn(t, s.temporal, contract.HeartbeatWorkflowID(id), "heartbeat_v2.json")

	r = do(t, http.MethodGet, monitors, nil)
	require.Equal(t, http.StatusOK, r.status)
	var list struct {
		Monitors []store.HeartbeatMonitor `json:"heartbeat_monitors"`
	}
	r.json(t, &list)
	require.Condition(t, func() bool {
		for _, x := range list.Monitors {
			if x.ID == id {
				return true
			}
		}
		return false
	}, "listed")

	// Postgres down answers 503, which the job's retry can cure; Temporal
	// down does not stop pings, which are writes to Postgres, but it does
	// stop creating a monitor, and leaves nothing half made.
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/incidents?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	pgDown := s.serve(api.Options{Temporal: s.temporal, Store: store.New(pool), TaskQueue: taskQueue})
	r = do(t, http.MethodPost, pgDown+"/api/v1/heartbeats/"+id, nil, "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	lazy, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(lazy.Close)
	temporalDown := s.serve(api.Options{Temporal: lazy, Store: s.store, TaskQueue: taskQueue, UpdateTimeout: time.Second})
	before = time.Now()
	r = do(t, http.MethodPost, temporalDown+"/api/v1/heartbeats/"+id, nil, "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	got, err = s.store.GetHeartbeatMonitor(ctx, id)
	require.NoError(t, err)
	require.False(t, got.LastPingAt.Before(before.Add(-time.Second)), "the ping is recorded")
	r = do(t, http.MethodPost, temporalDown+"/api/v1/heartbeat-monitors", map[string]any{"service_id": service, "name": "unwatched", "interval": "2s"})
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	all, err := s.store.ListHeartbeatMonitors(ctx)
	require.NoError(t, err)
	for _, x := range all {
		require.NotEqual(t, "unwatched", x.Name, "a monitor whose workflow did not start is removed again")
	}

	r = do(t, http.MethodDelete, monitors+"/"+id, nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	err = s.temporal.GetWorkflow(ctx, contract.HeartbeatWorkflowID(id), "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "deleting the monitor cancels its workflow: %v", err)
	// The real history, timers, child start, signals and cancel included,
	// replays against the workflow code.
	replayer := sdkworker.NewWorkflowReplayer()
	workflows.Register(replayer)
	require.NoError(t, replayer.ReplayWorkflowHistory(nil, history(t, s.temporal, contract.HeartbeatWorkflowID(id))))
	r = do(t, http.MethodGet, monitors+"/"+id, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	r = ping(key, id)
	require.Equal(t, http.StatusNotFound, r.status, "a deleted monitor takes no pings")
	r = do(t, http.MethodDelete, monitors+"/"+id, nil)
	require.Equal(t, http.StatusNotFound, r.status)
}

// Deleting a service deletes its monitors and stops their workflows, which
// would otherwise wait for a monitor that no longer exists.
func TestDeletingAServiceStopsItsHeartbeatMonitors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t)
	service := "hb-gone-" + randomID()
	create(t, s.url, "/api/v1/services", map[string]any{"id": service})
	id := create(t, s.url, "/api/v1/heartbeat-monitors", map[string]any{"service_id": service, "name": "cron", "interval": "1h"})

	r := do(t, http.MethodDelete, s.url+"/api/v1/services/"+service, nil)
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	err := s.temporal.GetWorkflow(ctx, contract.HeartbeatWorkflowID(id), "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "the monitor's workflow is cancelled: %v", err)
	r = do(t, http.MethodGet, s.url+"/api/v1/heartbeat-monitors/"+id, nil)
	require.Equal(t, http.StatusNotFound, r.status, "the monitor went with its service")
}
