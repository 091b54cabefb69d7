package e2e_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/apicheck"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/testenv"
)

// authFixture is what the route table's requests act on: service A, which
// pages a user through a policy, with an integration key, and service B's
// integration key, the credential that must not work anywhere but
// ingestion for B.
type authFixture struct {
	s        *stack
	service  string
	user     string
	policy   string
	keyA     string
	keyB     string
	incident string
	monitor  string
	// checklist and gate are runbooks started by hand: a manual step, and
	// an approval for responders.
	checklist, gate string
	schedule        string
}

func newAuthFixture(t *testing.T, s *stack) *authFixture {
	t.Helper()
	f := &authFixture{s: s}
	f.service, f.user, _ = pagingService(t, s, time.Hour, time.Hour)
	var svc struct {
		EscalationPolicyID string `json:"escalation_policy_id"`
	}
	do(t, http.MethodGet, s.url+"/api/v1/services/"+f.service, nil).json(t, &svc)
	f.policy = svc.EscalationPolicyID
	f.keyA = f.integrationKey(t, f.service)
	serviceB := "other-" + randomID()
	f.keyB = integrationKey(t, s, serviceB)
	f.incident = openIncident(t, s, f.service).ID
	f.monitor = create(t, s.url, "/api/v1/heartbeat-monitors", map[string]any{"service_id": f.service, "name": "nightly", "interval": "1h"})
	f.checklist = create(t, s.url, "/api/v1/runbooks", map[string]any{"name": "checklist",
		"steps": []map[string]any{{"name": "look", "kind": "manual"}}})
	f.gate = create(t, s.url, "/api/v1/runbooks", map[string]any{"name": "gate",
		"steps": []map[string]any{{"name": "go ahead?", "kind": "approval"}}})
	f.schedule = create(t, s.url, "/api/v1/schedules", map[string]any{"name": "primary", "time_zone": "UTC",
		"layers": []map[string]any{{"members": []string{f.user}, "start": "2026-03-02T09:00", "turn": "daily"}}})
	return f
}

// step starts runbook on a fresh incident, waits until its first step is
// in progress, and returns that step's path.
func (f *authFixture) step(t *testing.T, runbook string) string {
	t.Helper()
	id := f.fresh(t)
	r := do(t, http.MethodPost, f.s.url+"/api/v1/incidents/"+id+"/runbooks", map[string]string{"runbook_id": runbook})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	awaitStep(t, f.s, id, 1, 1, "running", "waiting_approval")
	return "/api/v1/incidents/" + id + "/runbooks/1/steps/1"
}

// calendarFeed makes the calendar feed of owner (a schedule's or a user's
// path) as admin and returns the path of its URL.
func (f *authFixture) calendarFeed(t *testing.T, owner string) string {
	t.Helper()
	r := do(t, http.MethodPost, f.s.url+owner+"/calendar-feed", nil)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var feed struct {
		Path string `json:"path"`
	}
	r.json(t, &feed)
	return feed.Path
}

func (f *authFixture) integrationKey(t *testing.T, service string) string {
	t.Helper()
	r := do(t, http.MethodPost, f.s.url+"/api/v1/services/"+service+"/integration-keys", map[string]string{"name": "monitoring"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	r.json(t, &k)
	return k.Key
}

// fresh opens a new incident on A, for commands that can run once.
func (f *authFixture) fresh(t *testing.T) string { return openIncident(t, f.s, f.service).ID }

// read GETs path as admin and returns the raw body, for PUT to send back.
func (f *authFixture) read(t *testing.T, path string) []byte {
	t.Helper()
	r := do(t, http.MethodGet, f.s.url+path, nil)
	require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
	return r.body
}

// credential is one column of the table.
type credential struct {
	name   string
	header func(f *authFixture) string // the Authorization value; "" sends none
	role   auth.Role                   // for user tokens; "" otherwise
}

var credentials = []credential{
	{"none", func(*authFixture) string { return "" }, ""},
	{"viewer", func(*authFixture) string { return "" }, auth.Viewer},
	{"responder", func(*authFixture) string { return "" }, auth.Responder},
	{"admin", func(*authFixture) string { return "" }, auth.Admin},
	{"other service's integration key", func(f *authFixture) string { return "Bearer " + f.keyB }, ""},
}

// need says who may call a route: a role, anyone (open), an integration
// key of the service (ingest), the token in the URL (urlToken), or a role
// for one's own user and admin for anyone else's (selfOr): the table's
// tokens are for no user, so below admin they act for someone else.
type need string

const (
	open     need = "open"
	ingest   need = "integration key"
	urlToken need = "token in the URL"
	// signed routes take no bearer credential: Twilio's or Slack's
	// signature, or a signed link token, is what authenticates them, so
	// every column of the table, none of which signs, gets 401.
	signed need = "signature"
)

func selfOr(r auth.Role) need { return need("self:" + string(r)) }

type routeCase struct {
	method, route string
	need          need
	// path and body build one request; they may create what it acts on.
	path func(t *testing.T, f *authFixture) string
	body func(t *testing.T, f *authFixture) any
}

// streams are the routes whose answer never ends: only their status is read.
var streams = map[string]bool{"/api/v1/stream": true}

// otherKey is what an ingestion route answers service B's key: alerts are
// taken for B (and only B), a ping for A's monitor is not found.
var otherKey = map[string]int{
	"/api/v1/integrations/alertmanager": http.StatusOK,
	"/api/v1/integrations/generic":      http.StatusOK,
	"/api/v1/heartbeats/:id":            http.StatusNotFound,
}

func fixed(p string) func(*testing.T, *authFixture) string {
	return func(*testing.T, *authFixture) string { return p }
}

func routeTable() []routeCase {
	inc := func(suffix string) func(*testing.T, *authFixture) string {
		return func(t *testing.T, f *authFixture) string { return "/api/v1/incidents/" + f.incident + suffix }
	}
	freshInc := func(suffix string) func(*testing.T, *authFixture) string {
		return func(t *testing.T, f *authFixture) string { return "/api/v1/incidents/" + f.fresh(t) + suffix }
	}
	body := func(v any) func(*testing.T, *authFixture) any { return func(*testing.T, *authFixture) any { return v } }
	newUser := func(t *testing.T, f *authFixture) string {
		return create(t, f.s.url, "/api/v1/users", map[string]any{"name": "Temp", "email": "temp-" + randomID() + "@example.com"})
	}
	newPolicy := func(t *testing.T, f *authFixture) string {
		return create(t, f.s.url, "/api/v1/escalation-policies", map[string]any{"name": "temp",
			"steps": []map[string]any{{"targets": []map[string]string{{"type": "user", "id": f.user}}}}})
	}
	newSLA := func(t *testing.T, f *authFixture) string {
		return create(t, f.s.url, "/api/v1/sla-policies", map[string]any{"severity": "low", "service": "sla-" + randomID(), "response": "1h", "resolution": "4h"})
	}
	newWindow := func(t *testing.T, f *authFixture) string {
		now := time.Now().UTC()
		return create(t, f.s.url, "/api/v1/maintenance-windows", map[string]any{
			"service_id": f.service, "starts_at": now.Add(24 * time.Hour), "ends_at": now.Add(25 * time.Hour), "reason": "upgrade"})
	}
	newService := func(t *testing.T, f *authFixture) string {
		return create(t, f.s.url, "/api/v1/services", map[string]any{"id": "svc-" + randomID()})
	}
	item := func(collection string, make func(*testing.T, *authFixture) string) func(*testing.T, *authFixture) string {
		return func(t *testing.T, f *authFixture) string { return "/api/v1/" + collection + "/" + make(t, f) }
	}
	// put reads a fresh object and sends it back unchanged.
	put := func(collection string, make func(*testing.T, *authFixture) string) (func(*testing.T, *authFixture) string, func(*testing.T, *authFixture) any) {
		var last string
		return func(t *testing.T, f *authFixture) string {
				last = "/api/v1/" + collection + "/" + make(t, f)
				return last
			}, func(t *testing.T, f *authFixture) any {
				return f.read(t, last)
			}
	}
	putUser, putUserBody := put("users", newUser)
	putPolicy, putPolicyBody := put("escalation-policies", newPolicy)
	putSLA, putSLABody := put("sla-policies", newSLA)
	putWindow, putWindowBody := put("maintenance-windows", newWindow)
	putService, putServiceBody := put("services", newService)
	newRunbook := func(t *testing.T, f *authFixture) string {
		return create(t, f.s.url, "/api/v1/runbooks", map[string]any{"name": "temp", "steps": []map[string]any{{"name": "s", "kind": "manual"}}})
	}
	putRunbook, putRunbookBody := put("runbooks", newRunbook)
	step := func(runbook func(*authFixture) string, command string) func(*testing.T, *authFixture) string {
		return func(t *testing.T, f *authFixture) string { return f.step(t, runbook(f)) + "/" + command }
	}
	checklist := func(f *authFixture) string { return f.checklist }
	gate := func(f *authFixture) string { return f.gate }
	now := time.Now().UTC()
	schedule := func(members ...string) map[string]any {
		return map[string]any{"name": "rota", "time_zone": "Europe/Berlin", "layers": []map[string]any{
			{"members": members, "start": "2026-03-02T09:00", "turn": "weekly"}}}
	}
	newSchedule := func(t *testing.T, f *authFixture) string {
		return create(t, f.s.url, "/api/v1/schedules", schedule(f.user))
	}
	// Overrides of the fixture's schedule never overlap: each covers an
	// hour of its own.
	var overrides atomic.Int64
	overrideBody := func(t *testing.T, f *authFixture) any {
		at := now.Add(48*time.Hour + time.Duration(overrides.Add(1))*time.Hour)
		return map[string]any{"user_id": f.user, "start": at, "end": at.Add(time.Hour)}
	}
	schedulePath := func(suffix string) func(*testing.T, *authFixture) string {
		return func(t *testing.T, f *authFixture) string { return "/api/v1/schedules/" + f.schedule + suffix }
	}
	putSchedule, putScheduleBody := put("schedules", newSchedule)

	return []routeCase{
		{"GET", "/health", open, fixed("/health"), nil},
		{"GET", "/health/ready", open, fixed("/health/ready"), nil},
		{"GET", "/metrics", open, fixed("/metrics"), nil},
		{"GET", "/api/v1/openapi.json", open, fixed("/api/v1/openapi.json"), nil},

		{"POST", "/api/v1/incidents", need(auth.Responder), fixed("/api/v1/incidents"), func(t *testing.T, f *authFixture) any {
			return map[string]string{"title": "disk full", "service": f.service, "severity": "low"}
		}},
		{"GET", "/api/v1/incidents", need(auth.Viewer), fixed("/api/v1/incidents"), nil},
		{"GET", "/api/v1/incidents/:id", need(auth.Viewer), inc(""), nil},
		{"GET", "/api/v1/incidents/:id/timeline", need(auth.Viewer), inc("/timeline"), nil},
		{"GET", "/api/v1/incidents/:id/notifications", need(auth.Viewer), inc("/notifications"), nil},
		{"GET", "/api/v1/incidents/:id/alerts", need(auth.Viewer), inc("/alerts"), nil},
		{"POST", "/api/v1/incidents/:id/acknowledge", need(auth.Responder), freshInc("/acknowledge"), body(map[string]string{})},
		{"POST", "/api/v1/incidents/:id/mitigate", need(auth.Responder), freshInc("/mitigate"), body(map[string]string{})},
		{"POST", "/api/v1/incidents/:id/resolve", need(auth.Responder), freshInc("/resolve"), body(map[string]string{})},
		{"POST", "/api/v1/incidents/:id/escalate", need(auth.Responder), inc("/escalate"), body(map[string]string{})},
		{"POST", "/api/v1/incidents/:id/snooze", need(auth.Responder), inc("/snooze"), body(map[string]string{"duration": "10m"})},
		{"POST", "/api/v1/incidents/:id/reassign", need(auth.Responder), inc("/reassign"), func(t *testing.T, f *authFixture) any {
			return map[string]any{"user_ids": []string{f.user}}
		}},
		{"POST", "/api/v1/incidents/:id/notes", need(auth.Responder), inc("/notes"), body(map[string]string{"note": "looking at the dashboards"})},

		{"POST", "/api/v1/users", need(auth.Admin), fixed("/api/v1/users"), func(*testing.T, *authFixture) any {
			return map[string]any{"name": "New", "email": "new-" + randomID() + "@example.com"}
		}},
		{"GET", "/api/v1/users", need(auth.Viewer), fixed("/api/v1/users"), nil},
		{"GET", "/api/v1/users/:id", need(auth.Viewer), func(t *testing.T, f *authFixture) string { return "/api/v1/users/" + f.user }, nil},
		{"PUT", "/api/v1/users/:id", need(auth.Admin), putUser, putUserBody},
		{"DELETE", "/api/v1/users/:id", need(auth.Admin), item("users", newUser), nil},

		{"POST", "/api/v1/escalation-policies", need(auth.Admin), fixed("/api/v1/escalation-policies"), func(t *testing.T, f *authFixture) any {
			return map[string]any{"name": "p", "steps": []map[string]any{{"targets": []map[string]string{{"type": "user", "id": f.user}}}}}
		}},
		{"GET", "/api/v1/escalation-policies", need(auth.Viewer), fixed("/api/v1/escalation-policies"), nil},
		{"GET", "/api/v1/escalation-policies/:id", need(auth.Viewer), func(t *testing.T, f *authFixture) string { return "/api/v1/escalation-policies/" + f.policy }, nil},
		{"PUT", "/api/v1/escalation-policies/:id", need(auth.Admin), putPolicy, putPolicyBody},
		{"DELETE", "/api/v1/escalation-policies/:id", need(auth.Admin), item("escalation-policies", newPolicy), nil},

		{"POST", "/api/v1/sla-policies", need(auth.Admin), fixed("/api/v1/sla-policies"), func(*testing.T, *authFixture) any {
			return map[string]any{"severity": "info", "service": "sla-" + randomID(), "response": "1h", "resolution": "4h"}
		}},
		{"GET", "/api/v1/sla-policies", need(auth.Viewer), fixed("/api/v1/sla-policies"), nil},
		{"GET", "/api/v1/sla-policies/:id", need(auth.Viewer), item("sla-policies", newSLA), nil},
		{"PUT", "/api/v1/sla-policies/:id", need(auth.Admin), putSLA, putSLABody},
		{"DELETE", "/api/v1/sla-policies/:id", need(auth.Admin), item("sla-policies", newSLA), nil},

		{"POST", "/api/v1/maintenance-windows", need(auth.Responder), fixed("/api/v1/maintenance-windows"), func(t *testing.T, f *authFixture) any {
			return map[string]any{"service_id": f.service, "starts_at": now.Add(48 * time.Hour), "ends_at": now.Add(49 * time.Hour), "reason": "r"}
		}},
		{"GET", "/api/v1/maintenance-windows", need(auth.Viewer), fixed("/api/v1/maintenance-windows"), nil},
		{"GET", "/api/v1/maintenance-windows/:id", need(auth.Viewer), item("maintenance-windows", newWindow), nil},
		{"PUT", "/api/v1/maintenance-windows/:id", need(auth.Responder), putWindow, putWindowBody},
		{"DELETE", "/api/v1/maintenance-windows/:id", need(auth.Responder), item("maintenance-windows", newWindow), nil},

		{"POST", "/api/v1/services", need(auth.Admin), fixed("/api/v1/services"), func(*testing.T, *authFixture) any {
			return map[string]any{"id": "svc-" + randomID()}
		}},
		{"GET", "/api/v1/services", need(auth.Viewer), fixed("/api/v1/services"), nil},
		{"GET", "/api/v1/services/:id", need(auth.Viewer), func(t *testing.T, f *authFixture) string { return "/api/v1/services/" + f.service }, nil},
		{"PUT", "/api/v1/services/:id", need(auth.Admin), putService, putServiceBody},
		{"DELETE", "/api/v1/services/:id", need(auth.Admin), item("services", newService), nil},

		{"POST", "/api/v1/services/:id/integration-keys", need(auth.Admin), func(t *testing.T, f *authFixture) string {
			return "/api/v1/services/" + f.service + "/integration-keys"
		}, body(map[string]string{"name": "grafana"})},
		{"GET", "/api/v1/services/:id/integration-keys", need(auth.Admin), func(t *testing.T, f *authFixture) string {
			return "/api/v1/services/" + f.service + "/integration-keys"
		}, nil},
		{"DELETE", "/api/v1/services/:id/integration-keys/:key_id", need(auth.Admin), func(t *testing.T, f *authFixture) string {
			key := f.integrationKey(t, f.service)
			return "/api/v1/services/" + f.service + "/integration-keys/" + key[:strings.IndexByte(key, '.')]
		}, nil},

		{"POST", "/api/v1/api-keys", need(auth.Admin), fixed("/api/v1/api-keys"), body(map[string]string{"name": "bot", "role": "viewer"})},
		{"GET", "/api/v1/api-keys", need(auth.Admin), fixed("/api/v1/api-keys"), nil},
		{"DELETE", "/api/v1/api-keys/:id", need(auth.Admin), func(t *testing.T, f *authFixture) string {
			return "/api/v1/api-keys/" + create(t, f.s.url, "/api/v1/api-keys", map[string]string{"name": "temp", "role": "viewer"})
		}, nil},

		{"POST", "/api/v1/heartbeat-monitors", need(auth.Admin), fixed("/api/v1/heartbeat-monitors"), func(t *testing.T, f *authFixture) any {
			return map[string]any{"service_id": f.service, "name": "hourly", "interval": "1h"}
		}},
		{"GET", "/api/v1/heartbeat-monitors", need(auth.Viewer), fixed("/api/v1/heartbeat-monitors"), nil},
		{"GET", "/api/v1/heartbeat-monitors/:id", need(auth.Viewer), func(t *testing.T, f *authFixture) string {
			return "/api/v1/heartbeat-monitors/" + f.monitor
		}, nil},
		{"DELETE", "/api/v1/heartbeat-monitors/:id", need(auth.Admin), func(t *testing.T, f *authFixture) string {
			return "/api/v1/heartbeat-monitors/" + create(t, f.s.url, "/api/v1/heartbeat-monitors", map[string]any{"service_id": f.service, "name": "temp", "interval": "1h"})
		}, nil},

		{"POST", "/api/v1/schedules", need(auth.Admin), fixed("/api/v1/schedules"), func(t *testing.T, f *authFixture) any { return schedule(f.user) }},
		{"GET", "/api/v1/schedules", need(auth.Viewer), fixed("/api/v1/schedules"), nil},
		{"GET", "/api/v1/schedules/:id", need(auth.Viewer), schedulePath(""), nil},
		{"PUT", "/api/v1/schedules/:id", need(auth.Admin), putSchedule, putScheduleBody},
		{"DELETE", "/api/v1/schedules/:id", need(auth.Admin), item("schedules", newSchedule), nil},
		{"POST", "/api/v1/schedules/:id/overrides", selfOr(auth.Responder), schedulePath("/overrides"), overrideBody},
		{"GET", "/api/v1/schedules/:id/overrides", need(auth.Viewer), schedulePath("/overrides"), nil},
		{"DELETE", "/api/v1/schedules/:id/overrides/:override_id", selfOr(auth.Responder), func(t *testing.T, f *authFixture) string {
			return "/api/v1/schedules/" + f.schedule + "/overrides/" + create(t, f.s.url, "/api/v1/schedules/"+f.schedule+"/overrides", overrideBody(t, f))
		}, nil},
		{"GET", "/api/v1/schedules/:id/on-call", need(auth.Viewer), schedulePath("/on-call"), nil},
		{"GET", "/api/v1/schedules/:id/shifts", need(auth.Viewer), schedulePath("/shifts"), nil},
		{"GET", "/api/v1/users/:id/shifts", need(auth.Viewer), func(t *testing.T, f *authFixture) string { return "/api/v1/users/" + f.user + "/shifts" }, nil},
		{"POST", "/api/v1/schedules/:id/calendar-feed", need(auth.Admin), schedulePath("/calendar-feed"), nil},
		{"DELETE", "/api/v1/schedules/:id/calendar-feed", need(auth.Admin), func(t *testing.T, f *authFixture) string {
			f.calendarFeed(t, "/api/v1/schedules/"+f.schedule)
			return "/api/v1/schedules/" + f.schedule + "/calendar-feed"
		}, nil},
		{"POST", "/api/v1/users/:id/calendar-feed", selfOr(auth.Viewer), func(t *testing.T, f *authFixture) string { return "/api/v1/users/" + f.user + "/calendar-feed" }, nil},
		{"DELETE", "/api/v1/users/:id/calendar-feed", selfOr(auth.Viewer), func(t *testing.T, f *authFixture) string {
			f.calendarFeed(t, "/api/v1/users/"+f.user)
			return "/api/v1/users/" + f.user + "/calendar-feed"
		}, nil},
		{"GET", "/api/v1/calendars/:token", urlToken, func(t *testing.T, f *authFixture) string {
			return f.calendarFeed(t, "/api/v1/schedules/"+f.schedule)
		}, nil},
		{"PUT", "/api/v1/schedules/:id/handoff-subscriptions/:user_id", selfOr(auth.Viewer), func(t *testing.T, f *authFixture) string {
			return "/api/v1/schedules/" + f.schedule + "/handoff-subscriptions/" + f.user
		}, body(map[string]int{"minutes_before": 10})},
		{"GET", "/api/v1/schedules/:id/handoff-subscriptions", need(auth.Viewer), schedulePath("/handoff-subscriptions"), nil},
		{"DELETE", "/api/v1/schedules/:id/handoff-subscriptions/:user_id", selfOr(auth.Viewer), func(t *testing.T, f *authFixture) string {
			p := "/api/v1/schedules/" + f.schedule + "/handoff-subscriptions/" + f.user
			r := do(t, http.MethodPut, f.s.url+p, map[string]int{"minutes_before": 10})
			require.Contains(t, []int{http.StatusOK, http.StatusCreated}, r.status, "%s", r.body)
			return p
		}, nil},

		{"GET", "/api/v1/audit", need(auth.Admin), fixed("/api/v1/audit"), nil},

		{"POST", "/api/v1/runbooks", need(auth.Admin), fixed("/api/v1/runbooks"), body(map[string]any{"name": "new",
			"steps": []map[string]any{{"name": "look", "kind": "manual"}}})},
		{"GET", "/api/v1/runbooks", need(auth.Viewer), fixed("/api/v1/runbooks"), nil},
		{"GET", "/api/v1/runbooks/:id", need(auth.Viewer), item("runbooks", newRunbook), nil},
		{"PUT", "/api/v1/runbooks/:id", need(auth.Admin), putRunbook, putRunbookBody},
		{"DELETE", "/api/v1/runbooks/:id", need(auth.Admin), item("runbooks", newRunbook), nil},
		{"POST", "/api/v1/incidents/:id/runbooks", need(auth.Responder), freshInc("/runbooks"), func(t *testing.T, f *authFixture) any {
			return map[string]string{"runbook_id": f.checklist}
		}},
		{"POST", "/api/v1/incidents/:id/runbooks/:run/steps/:step/complete", need(auth.Responder), step(checklist, "complete"), body(map[string]string{})},
		{"POST", "/api/v1/incidents/:id/runbooks/:run/steps/:step/skip", need(auth.Responder), step(checklist, "skip"), body(map[string]string{"note": "not needed"})},
		{"POST", "/api/v1/incidents/:id/runbooks/:run/steps/:step/approve", need(auth.Responder), step(gate, "approve"), body(map[string]string{})},
		{"POST", "/api/v1/incidents/:id/runbooks/:run/steps/:step/reject", need(auth.Responder), step(gate, "reject"), body(map[string]string{"note": "too risky"})},
		{"POST", "/api/v1/sessions", open, fixed("/api/v1/sessions"), func(t *testing.T, f *authFixture) any {
			link := loginLink(t, f.s, "someone", auth.Viewer)
			return map[string]string{"login": link[strings.IndexByte(link, '#')+1:]}
		}},
		{"GET", "/api/v1/session", need(auth.Viewer), fixed("/api/v1/session"), nil},
		{"DELETE", "/api/v1/session", need(auth.Viewer), fixed("/api/v1/session"), nil},
		{"POST", "/api/v1/login-links", need(auth.Admin), fixed("/api/v1/login-links"), body(map[string]string{"user": "someone", "role": "responder"})},
		{"GET", "/api/v1/stream", need(auth.Viewer), fixed("/api/v1/stream"), nil},
		{"GET", "/console/*path", open, fixed("/console/incidents"), nil},
		{"GET", "/api/v1/users/:id/notification-rules", need(auth.Viewer), func(t *testing.T, f *authFixture) string {
			return "/api/v1/users/" + f.user + "/notification-rules"
		}, nil},
		{"PUT", "/api/v1/users/:id/notification-rules", need(auth.Admin), func(t *testing.T, f *authFixture) string {
			return "/api/v1/users/" + f.user + "/notification-rules"
		}, func(t *testing.T, f *authFixture) any {
			return f.read(t, "/api/v1/users/"+f.user+"/notification-rules")
		}},

		{"POST", "/api/v1/inbound/twilio/sms", signed, fixed("/api/v1/inbound/twilio/sms"), body(map[string]string{"Body": "4"})},
		{"POST", "/api/v1/inbound/twilio/voice", signed, fixed("/api/v1/inbound/twilio/voice?token=x"), body(map[string]string{"Digits": "4"})},
		{"POST", "/api/v1/inbound/slack/interactions", signed, fixed("/api/v1/inbound/slack/interactions"), body(map[string]string{"payload": "{}"})},
		{"GET", "/ack/:token", signed, fixed("/ack/not-a-token"), nil},
		{"POST", "/ack/:token", signed, fixed("/ack/not-a-token"), nil},

		{"POST", "/api/v1/integrations/alertmanager", ingest, fixed("/api/v1/integrations/alertmanager"), func(*testing.T, *authFixture) any {
			return amPayload("firing", "fp-"+randomID())
		}},
		{"POST", "/api/v1/integrations/generic", ingest, fixed("/api/v1/integrations/generic"), func(*testing.T, *authFixture) any {
			return map[string]any{"summary": "queue depth", "severity": "low", "dedup_key": "q-" + randomID()}
		}},
		{"POST", "/api/v1/heartbeats/:id", ingest, func(t *testing.T, f *authFixture) string { return "/api/v1/heartbeats/" + f.monitor }, nil},
	}
}

// authExempt are the routes the table does not drive with a header
// credential: Events API v2 carries its routing key in the body, and
// TestIntegrationKeyReachesOnlyItsService covers it.
var authExempt = map[string]bool{
	"POST /api/v1/integrations/events-v2": true,
	"POST /v2/enqueue":                    true,
}

// Every route × every kind of credential: 401 without a credential that
// the route takes, 403 with too weak a role, 2xx otherwise.
func TestEveryRouteChecksItsCredential(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.url = s.serve(api.Options{Temporal: s.temporal, Store: s.store, Cache: s.cache, Directory: s.dir, TaskQueue: taskQueue, Metrics: s.metrics,
		Inbound: api.Inbound{
			Links:            &notify.Links{PublicURL: publicURL, Secret: []byte(linkSecret)},
			TwilioAccountSID: twilioSID, TwilioAuthToken: twilioToken,
			SlackSigningSecret: slackSecret, Slack: &slack.Client{BotToken: slackBot},
		}})
	f := newAuthFixture(t, s)
	table := routeTable()

	// The table covers every route the server has.
	h := api.New(api.Options{Temporal: s.temporal, Store: s.store, Tokens: testenv.Tokens(t)})
	covered := map[string]bool{}
	for _, rc := range table {
		covered[rc.method+" "+rc.route] = true
	}
	for _, ri := range h.(*gin.Engine).Routes() {
		key := ri.Method + " " + ri.Path
		require.True(t, covered[key] || authExempt[key], "route %s is missing from the table", key)
	}

	for _, rc := range table {
		creds := credentials
		if rc.need == ingest {
			creds = append(creds, credential{"own service's integration key", func(f *authFixture) string { return "Bearer " + f.keyA }, ""})
		}
		for _, cred := range creds {
			t.Run(rc.method+" "+rc.route+" as "+cred.name, func(t *testing.T) {
				header := cred.header(f)
				if cred.role != "" {
					header = "Bearer " + testenv.TokenFor(t, "user-"+string(cred.role), cred.role)
				}
				want := expected(rc, cred)
				path := rc.path(t, f)
				var body any
				if rc.body != nil {
					body = rc.body(t, f)
				}
				// A request without the credential its route takes is
				// malformed on purpose: only its answer is held to the
				// document.
				var mark []string
				if want == http.StatusUnauthorized {
					mark = unchecked
				}
				if streams[rc.route] {
					status := streamStatus(t, s.url+path, header, mark...)
					if want == http.StatusOK {
						require.Equal(t, http.StatusOK, status)
					} else {
						require.Equal(t, want, status)
					}
					return
				}
				r := do(t, rc.method, s.url+path, body, append([]string{"Authorization", header}, mark...)...)
				if want == http.StatusOK {
					require.GreaterOrEqual(t, r.status, 200, "%s", r.body)
					require.Less(t, r.status, 300, "%s", r.body)
					return
				}
				require.Equal(t, want, r.status, "%s", r.body)
				if rc.need == signed && strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
					return // a link's page, read by a browser
				}
				code := map[int]string{401: string(fault.Unauthorized), 403: string(fault.Forbidden), 404: string(fault.NotFound)}[want]
				require.Equal(t, code, r.errorCode(t))
				if want == http.StatusUnauthorized && rc.need != signed {
					require.Contains(t, r.header.Get("WWW-Authenticate"), "Bearer")
				}
			})
		}
	}
}

// streamStatus opens a stream and returns its status without waiting for
// a body that never ends. header is name, value pairs.
func streamStatus(t *testing.T, url, authorization string, header ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// expected is the status class a credential gets on a route: 200 stands
// for any 2xx.
func expected(rc routeCase, c credential) int {
	switch rc.need {
	case open:
		return http.StatusOK
	case urlToken:
		return http.StatusOK
	case signed:
		return http.StatusUnauthorized
	case ingest:
		switch {
		case c.name == "own service's integration key":
			return http.StatusOK
		case strings.HasPrefix(c.name, "other service"):
			return otherKey[rc.route]
		}
		// No key, or a user token, which is not an integration key.
		return http.StatusUnauthorized
	}
	if c.role == "" {
		return http.StatusUnauthorized
	}
	if base, self := strings.CutPrefix(string(rc.need), "self:"); self {
		if !c.role.Allows(auth.Admin) {
			return http.StatusForbidden // too weak a role, or for another user
		}
		return http.StatusOK
	} else if !c.role.Allows(auth.Role(base)) {
		return http.StatusForbidden
	}
	return http.StatusOK
}

// ginParam finds a gin route's parameters, to write them as the
// document's: /:id → /{id}.
var ginParam = regexp.MustCompile(`/[:*]([A-Za-z_]+)`)

// The role api/openapi.yaml names for each operation is the one this
// table holds the server to: x-required-role (and x-self-or-admin) for the
// role routes, and for the others the credential their security names.
func TestOpenAPIRolesMatchTheAccessTable(t *testing.T) {
	t.Parallel()
	c, err := apicheck.Load()
	require.NoError(t, err)
	for _, rc := range routeTable() {
		if rc.route == "/console/*path" {
			continue // the console's files: not in the document
		}
		path := ginParam.ReplaceAllString(rc.route, "/{$1}")
		item := c.Doc.Paths.Value(path)
		require.NotNil(t, item, "%s is not in api/openapi.yaml", path)
		op := item.GetOperation(rc.method)
		require.NotNil(t, op, "%s %s is not in api/openapi.yaml", rc.method, path)
		require.Equal(t, rc.need, documentedNeed(op), "%s %s: x-required-role and security in api/openapi.yaml", rc.method, path)
	}
}

// documentedNeed reads what an operation of the document says it needs, in
// the table's terms.
func documentedNeed(op *openapi3.Operation) need {
	role, _ := op.Extensions["x-required-role"].(string)
	if role != "none" {
		if self, _ := op.Extensions["x-self-or-admin"].(bool); self {
			return selfOr(auth.Role(role))
		}
		return need(role)
	}
	if urlTok, _ := op.Extensions["x-url-token"].(bool); urlTok {
		return urlToken
	}
	if sig, _ := op.Extensions["x-signed"].(bool); sig {
		return signed
	}
	if op.Security != nil {
		for _, req := range *op.Security {
			switch {
			case req["integrationKey"] != nil:
				return ingest
			case req["twilioSignature"] != nil, req["slackSignature"] != nil:
				return signed
			}
		}
	}
	return open
}
