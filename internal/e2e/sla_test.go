package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
)

// A two-second response target on a real stack: the breach is recorded,
// alerts the paged user once through Gorush, and is counted once.
func TestShortResponseTargetBreaches(t *testing.T) {
	s := newStack(t)
	suffix := randomID()
	alice := create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Alice", "email": "alice-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "push", "platform": "ios", "token": "tok-alice-" + suffix}},
	})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{
		"name": "solo", "steps": []map[string]any{{"delay": "0s", "targets": []map[string]string{{"type": "user", "id": alice}}}},
	})
	hooks := make(chan hookCall, 4)
	bob := create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Bob", "email": "bob-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "webhook", "url": newHookServer(t, hooks) + "/bob"}},
	})
	service := "sla-" + suffix
	r0 := do(t, http.MethodPost, s.url+"/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy,
		"breach_user_ids": []string{"usr_nobody"}})
	require.Equal(t, http.StatusBadRequest, r0.status, "breach contacts must exist: %s", r0.body)
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy,
		"breach_user_ids": []string{bob}})
	create(t, s.url, "/api/v1/sla-policies", map[string]any{
		"severity": "high", "service": service, "response": "2s", "resolution": "1h", "warning_fraction": 1,
	})
	r := do(t, http.MethodPost, s.url+"/api/v1/sla-policies", map[string]any{"severity": "urgent", "response": "1m"})
	require.Equal(t, http.StatusBadRequest, r.status, "unknown severity: %s", r.body)
	before := s.pushes(t)

	r = do(t, http.MethodPost, s.url+"/api/v1/incidents", map[string]string{"title": "queue backing up", "service": service, "severity": "high"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var inc incident.Incident
	r.json(t, &inc)
	require.NotNil(t, inc.ResponseDueAt)
	require.Equal(t, 2*time.Second, inc.ResponseDueAt.Sub(inc.CreatedAt))

	var breach incident.Event
	require.Eventually(t, func() bool {
		var tl timelineBody
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).json(t, &tl)
		for _, ev := range tl.Events {
			if ev.Type == incident.EventSLABreached {
				breach = ev
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "the response target is missed")
	require.Equal(t, "response", breach.Data["sla_type"])
	require.GreaterOrEqual(t, breach.EventTime.Sub(inc.CreatedAt), 2*time.Second, "never before the deadline")

	// The page at open, and the breach alert to alice and to the service's
	// breach contact bob: three deliveries, each sent once.
	require.Eventually(t, func() bool { return s.settled(t, inc.ID, 3) }, 30*time.Second, 20*time.Millisecond,
		"three deliveries, each finished")
	alert := next(t, hooks)
	require.Equal(t, "/bob", alert.path)
	require.Equal(t, "sla_breach", alert.body["data"].(map[string]any)["reason"])
	var v incidentBody
	do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID, nil).json(t, &v)
	require.NotNil(t, v.Live.SLA)
	require.Equal(t, contract.SLABreached, v.Live.SLA.Response.Status)
	require.Equal(t, contract.SLAPending, v.Live.SLA.Resolution.Status)
	for _, action := range []string{"acknowledge", "resolve"} {
		r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/"+action, map[string]string{"actor": "alice"})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	require.Len(t, s.ledger(t, inc.ID), 3)
	require.Equal(t, int64(2), s.pushes(t)-before, "Gorush got alice's page and her one breach alert")
	require.Empty(t, hooks, "bob was alerted once")

	metrics := string(do(t, http.MethodGet, s.url+"/metrics", nil).body)
	require.Contains(t, metrics, `sla_breaches_total{severity="high",sla_type="response"} 1`)
	require.Contains(t, metrics, `incidents_total{service="`+service+`",severity="high"} 1`)
	for _, le := range []string{"30", "60", "300", "600", "1800", "3600", "+Inf"} {
		require.Contains(t, metrics, `incident_response_time_seconds_bucket{severity="high",le="`+le+`"} 1`, le)
	}
	for _, le := range []string{"300", "900", "1800", "3600", "14400", "86400", "+Inf"} {
		require.Contains(t, metrics, `incident_resolution_time_seconds_bucket{severity="high",le="`+le+`"} 1`, le)
	}
	require.True(t, strings.Contains(metrics, "\nactive_incidents "), "the gauge is served")
	require.Contains(t, metrics, "\nincidents_response_overdue 0")
}
