package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
)

// integrationKey creates a service and an integration key for it.
func integrationKey(t *testing.T, s *stack, service string) string {
	t.Helper()
	create(t, s.url, "/api/v1/services", map[string]any{"id": service})
	r := do(t, http.MethodPost, s.url+"/api/v1/services/"+service+"/integration-keys", map[string]string{"name": "monitoring"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var k struct {
		Key string `json:"key"`
	}
	r.json(t, &k)
	return k.Key
}

func amPayload(status string, fingerprints ...string) map[string]any {
	var alerts []map[string]any
	for _, fp := range fingerprints {
		alerts = append(alerts, map[string]any{
			"status": status, "fingerprint": fp,
			"labels":      map[string]string{"alertname": "DiskFull", "instance": fp, "severity": "critical"},
			"annotations": map[string]string{"summary": "disk full on " + fp},
			"startsAt":    "2026-11-25T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "http://prometheus.local/graph",
		})
	}
	return map[string]any{
		"version": "4", "groupKey": `{}:{alertname="DiskFull"}`, "status": status, "receiver": "incident-server",
		"groupLabels": map[string]string{"alertname": "DiskFull"}, "commonLabels": map[string]string{"alertname": "DiskFull"},
		"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager.local", "truncatedAlerts": 0,
		"alerts": alerts,
	}
}

// onlyIncident waits for the service's one incident to be recorded.
func (s *stack) onlyIncident(t *testing.T, service string) incident.Incident {
	t.Helper()
	var inc incident.Incident
	require.Eventually(t, func() bool {
		items := s.incidentsOf(t, service)
		if len(items) == 1 {
			inc = items[0]
		}
		return len(items) == 1
	}, time.Minute, 20*time.Millisecond, "one incident of %s", service)
	return inc
}

func (s *stack) incidentsOf(t *testing.T, service string) []incident.Incident {
	t.Helper()
	items, _, err := s.store.ListIncidents(context.Background(), store.ListFilter{Service: service})
	require.NoError(t, err)
	return items
}

func TestAlertmanagerGroupIsOneIncidentThatResolvesItself(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service := "am-" + randomID()
	key := integrationKey(t, s, service)
	url := s.url + "/api/v1/integrations/alertmanager"

	r := doRaw(t, http.MethodPost, url, amPayload("firing", "fp-a", "fp-b"))
	require.Equal(t, http.StatusUnauthorized, r.status, "no key")
	r = do(t, http.MethodPost, url, amPayload("firing", "fp-a", "fp-b"), "Authorization", "Bearer ik_wrong.key")
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = doRaw(t, http.MethodPost, url, `{"alerts": "nope"}`, "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)

	for range 6 {
		r = do(t, http.MethodPost, url, amPayload("firing", "fp-a", "fp-b"), "Authorization", "Bearer "+key)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	inc := s.onlyIncident(t, service)
	require.Equal(t, incident.SeverityCritical, inc.Severity)
	require.Equal(t, "disk full on fp-a", inc.Title)

	var alerts []incident.AlertState
	require.Eventually(t, func() bool {
		var err error
		alerts, err = s.store.ListAlerts(context.Background(), inc.ID)
		require.NoError(t, err)
		return len(alerts) == 2 && alerts[0].Count == 6 && alerts[1].Count == 6
	}, 30*time.Second, 20*time.Millisecond, "two fingerprints, each seen six times")

	r = do(t, http.MethodPost, url, amPayload("resolved", "fp-a", "fp-b"), "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusOK, r.status)
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(context.Background(), inc.WorkflowID, "").Get(context.Background(), &final))
	require.Equal(t, incident.StatusResolved, final.Status, "every alert resolved")
	require.Equal(t, "alertmanager", final.ResolvedBy)
	require.Len(t, s.incidentsOf(t, service), 1, "still one incident")
	replayAndRecord(t, s, inc.WorkflowID, "incident_alerts_v3.json")
}

func TestEventsV2LifecycleByDedupKey(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service := "pd-" + randomID()
	key := integrationKey(t, s, service)
	event := func(action string) map[string]any {
		return map[string]any{
			"routing_key": key, "event_action": action, "dedup_key": "db-1/replication",
			"payload": map[string]any{"summary": "replication lag 5m", "source": "db-1", "severity": "error"},
			"links":   []map[string]string{{"href": "https://grafana.local/d/db", "text": "dashboard"}},
		}
	}
	send := func(action string) {
		t.Helper()
		r := do(t, http.MethodPost, s.url+"/v2/enqueue", event(action))
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		var body struct {
			Status   string `json:"status"`
			DedupKey string `json:"dedup_key"`
		}
		r.json(t, &body)
		require.Equal(t, "success", body.Status)
		require.Equal(t, "db-1/replication", body.DedupKey)
	}
	send("trigger")
	inc := s.onlyIncident(t, service)
	require.Equal(t, incident.SeverityHigh, inc.Severity, "error maps to high")
	require.Eventually(t, func() bool {
		var tl timelineBody
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).json(t, &tl)
		for _, ev := range tl.Events {
			if ev.Type == incident.EventAlert {
				details, _ := ev.Data["details"].(map[string]any)
				return strings.Contains(fmt.Sprint(details), "grafana.local/d/db")
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "links are kept on the alert's event")

	send("acknowledge")
	require.Eventually(t, func() bool {
		got, err := s.store.GetIncident(context.Background(), inc.ID)
		require.NoError(t, err)
		return got.Status == incident.StatusAcknowledged && got.AcknowledgedBy == "events_v2"
	}, 30*time.Second, 20*time.Millisecond)
	send("resolve")
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(context.Background(), inc.WorkflowID, "").Get(context.Background(), &final))
	require.Equal(t, incident.StatusResolved, final.Status)

	send("trigger")
	require.Eventually(t, func() bool { return len(s.incidentsOf(t, service)) == 2 }, 30*time.Second, 20*time.Millisecond,
		"a trigger after resolve opens a second incident")

	// PagerDuty's answers for what can never succeed.
	r := doRaw(t, http.MethodPost, s.url+"/v2/enqueue", `not json`)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "Unrecognized object")
	bad := event("trigger")
	bad["payload"] = map[string]any{"source": "db-1", "severity": "error"}
	r = do(t, http.MethodPost, s.url+"/v2/enqueue", bad)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), `"status":"invalid event"`)
	wrongKey := event("trigger")
	wrongKey["routing_key"] = "R0UT1NGKEY0000000000000000000000"
	r = do(t, http.MethodPost, s.url+"/v2/enqueue", wrongKey)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
}

// 10,000 firing alerts of one group (100 alerts re-sent 100 times) make one
// incident, and its one-step policy pages once. Not parallel: it counts
// Gorush's pushes.
func TestAlertStormIsOneIncidentAndOnePage(t *testing.T) {
	s := newStack(t)
	service, key := soloPagedService(t, s, "storm")
	before := s.pushes(t)

	fingerprints := make([]string, 100)
	for i := range fingerprints {
		fingerprints[i] = fmt.Sprintf("fp-%03d", i)
	}
	payload := amPayload("firing", fingerprints...)
	const posts = 100
	start := time.Now()
	for range posts {
		r := do(t, http.MethodPost, s.url+"/api/v1/integrations/alertmanager", payload, "Authorization", "Bearer "+key)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	accepted := time.Since(start)

	inc := s.onlyIncident(t, service)
	require.Eventually(t, func() bool {
		alerts, err := s.store.ListAlerts(context.Background(), inc.ID)
		require.NoError(t, err)
		total := 0
		for _, a := range alerts {
			total += a.Count
		}
		return len(alerts) == 100 && total == 100*posts
	}, 2*time.Minute, 100*time.Millisecond, "every alert is counted on its fingerprint")
	recorded := time.Since(start)
	t.Logf("storm: %d alerts accepted in %s (%.0f alerts/s), all recorded after %s",
		100*posts, accepted, float64(100*posts)/accepted.Seconds(), recorded)

	require.Len(t, s.incidentsOf(t, service), 1, "one incident")
	require.Len(t, s.ledger(t, inc.ID), 1, "one page for the policy's one step")
	require.Equal(t, int64(1), s.pushes(t)-before, "Gorush got one push")
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// With Postgres unreachable the Alertmanager endpoint answers 503, which
// Alertmanager retries; the re-sent post lands once it is back.
func TestAlertmanagerRetriesWhilePostgresIsDown(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service := "pgdown-" + randomID()
	key := integrationKey(t, s, service)
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/incidents?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	down := s.serve(api.Options{Temporal: s.temporal, Store: store.New(pool), TaskQueue: taskQueue})

	r := do(t, http.MethodPost, down+"/api/v1/integrations/alertmanager", amPayload("firing", "fp-a"), "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
	require.NotEmpty(t, r.header.Get("Retry-After"))
	require.Empty(t, s.incidentsOf(t, service), "nothing half-written")

	r = do(t, http.MethodPost, s.url+"/api/v1/integrations/alertmanager", amPayload("firing", "fp-a"), "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Eventually(t, func() bool { return len(s.incidentsOf(t, service)) == 1 }, 30*time.Second, 20*time.Millisecond)
}

func TestAlertDuringMaintenancePagesNobody(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service, key := soloPagedService(t, s, "mw")
	now := time.Now().UTC()
	r := do(t, http.MethodPost, s.url+"/api/v1/maintenance-windows", map[string]any{
		"service_id": service, "starts_at": now.Add(-time.Minute), "ends_at": now.Add(time.Hour), "reason": "database upgrade",
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	r = do(t, http.MethodPost, s.url+"/api/v1/maintenance-windows", map[string]any{
		"service_id": service, "starts_at": now, "ends_at": now.Add(-time.Hour), "reason": "backwards",
	})
	require.Equal(t, http.StatusBadRequest, r.status, "a window must end after it starts")

	r = do(t, http.MethodPost, s.url+"/api/v1/integrations/alertmanager", amPayload("firing", "fp-a"), "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	inc := s.onlyIncident(t, service)
	var tl timelineBody
	require.Eventually(t, func() bool {
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).json(t, &tl)
		for _, ev := range tl.Events {
			if ev.Type == incident.EventPolicy {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond)
	var policyEvent incident.Event
	for _, ev := range tl.Events {
		if ev.Type == incident.EventPolicy {
			policyEvent = ev
		}
	}
	require.Contains(t, policyEvent.Message, "database upgrade")
	var v incidentBody
	do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID, nil).json(t, &v)
	require.NotNil(t, v.Live)
	require.NotNil(t, v.Live.Escalation)
	require.True(t, v.Live.Escalation.Policy.Empty(), "nobody is paged")
	require.Empty(t, s.ledger(t, inc.ID))
}

// soloPagedService creates a service whose one-step policy pages a user
// with an iOS device at once, and an integration key for it.
func soloPagedService(t *testing.T, s *stack, prefix string) (service, key string) {
	t.Helper()
	suffix := randomID()
	alice := create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Alice", "email": "alice-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "push", "platform": "ios", "token": "tok-" + prefix + "-" + suffix}},
	})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{
		"name": "solo", "steps": []map[string]any{{"delay": "0s", "targets": []map[string]string{{"type": "user", "id": alice}}}},
	})
	service = prefix + "-" + suffix
	key = integrationKey(t, s, service)
	r := do(t, http.MethodPut, s.url+"/api/v1/services/"+service, map[string]any{"escalation_policy_id": policy})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return service, key
}
