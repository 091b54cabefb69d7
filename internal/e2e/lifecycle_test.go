package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
	"github.com/incident-server/incident-server/workflows"
)

type incidentBody struct {
	incident.Incident
	Live *contract.State `json:"live"`
}

type timelineBody struct {
	IncidentID string           `json:"incident_id"`
	Events     []incident.Event `json:"events"`
	NextAfter  *int64           `json:"next_after"`
}

func TestIncidentLifecycle(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()

	// Open.
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", map[string]any{
		"title": "checkout p99 above 2s", "service": "checkout", "severity": "critical",
		"description": "since the 14:02 deploy",
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var opened incident.Incident
	r.json(t, &opened)
	require.True(t, strings.HasPrefix(opened.ID, "inc_"))
	require.Equal(t, incident.StatusOpen, opened.Status)
	require.Equal(t, "/api/v1/incidents/"+opened.ID, r.header.Get("Location"))
	base := s.url + "/api/v1/incidents/" + opened.ID

	// The answer comes after the projection: it reads back at once.
	r = do(t, http.MethodGet, base, nil)
	require.Equal(t, http.StatusOK, r.status)
	var got incidentBody
	r.json(t, &got)
	require.Equal(t, opened.ID, got.ID)
	require.Equal(t, "since the 14:02 deploy", got.Description)
	require.NotNil(t, got.Live, "an active incident shows its workflow's live state")
	require.True(t, got.Live.Recorded)
	require.Equal(t, incident.StatusOpen, got.Live.Incident.Status)

	// Acknowledge, then the same again is a conflict.
	// The credential names the actor.
	alice := []string{"Authorization", "Bearer " + testenv.TokenFor(t, "alice", auth.Responder)}
	r = do(t, http.MethodPost, base+"/acknowledge", map[string]string{"note": "looking"}, alice...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var acked incident.Incident
	r.json(t, &acked)
	require.Equal(t, incident.StatusAcknowledged, acked.Status)
	require.Equal(t, "alice", acked.AcknowledgedBy)

	r = do(t, http.MethodPost, base+"/acknowledge", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, string(fault.Conflict), r.errorCode(t))

	// Mitigate, resolve; after that every transition is a conflict.
	// An actor named in the body is kept beside the caller's own name.
	r = do(t, http.MethodPost, base+"/mitigate", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = do(t, http.MethodPost, base+"/resolve", map[string]string{"note": "rolled back 14:02 deploy"},
		"Authorization", "Bearer "+testenv.TokenFor(t, "bob", auth.Responder))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var resolved incident.Incident
	r.json(t, &resolved)
	require.Equal(t, incident.StatusResolved, resolved.Status)
	require.Equal(t, int64(4), resolved.Version)

	for _, action := range []string{"acknowledge", "mitigate", "resolve"} {
		r = do(t, http.MethodPost, base+"/"+action, map[string]string{"actor": "carol"})
		require.Equal(t, http.StatusConflict, r.status, action)
		require.Equal(t, string(fault.Conflict), r.errorCode(t), action)
	}

	// Unknown incidents are 404 on every route.
	for _, path := range []string{"/api/v1/incidents/inc_nope", "/api/v1/incidents/inc_nope/timeline"} {
		r = do(t, http.MethodGet, s.url+path, nil)
		require.Equal(t, http.StatusNotFound, r.status, path)
		require.Equal(t, string(fault.NotFound), r.errorCode(t), path)
	}
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/inc_nope/acknowledge", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusNotFound, r.status)

	// The workflow has completed with the resolved incident.
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(ctx, opened.WorkflowID, "").Get(ctx, &final))
	require.Equal(t, incident.StatusResolved, final.Status)

	// The projection: the row …
	row, err := s.store.GetIncident(ctx, opened.ID)
	require.NoError(t, err)
	require.Equal(t, incident.StatusResolved, row.Status)
	require.Equal(t, int64(4), row.Version)
	require.Equal(t, "bob", row.ResolvedBy)
	require.Equal(t, "alice", row.AcknowledgedBy)
	require.NotNil(t, row.MitigatedAt)

	// … the timeline, in order, with the actors …
	r = do(t, http.MethodGet, base+"/timeline", nil)
	require.Equal(t, http.StatusOK, r.status)
	var tl timelineBody
	r.json(t, &tl)
	var types []incident.EventType
	var actors []string
	for _, ev := range tl.Events {
		if ev.Type == incident.EventPolicy {
			continue // the escalation snapshot, whenever it was loaded
		}
		types = append(types, ev.Type)
		actors = append(actors, ev.Actor)
	}
	require.Equal(t, []incident.EventType{incident.EventOpened, incident.EventAcknowledged, incident.EventMitigated, incident.EventResolved}, types)
	require.Equal(t, []string{"", "alice", "admin for alice", "bob"}, actors)

	// Read two at a time from the start, the same events come back, each
	// once; the last page has no next_after.
	var paged []incident.Event
	after, pages := int64(0), 0
	for {
		var page timelineBody
		do(t, http.MethodGet, fmt.Sprintf("%s/timeline?limit=2&after=%d", base, after), nil).json(t, &page)
		paged = append(paged, page.Events...)
		pages++
		require.LessOrEqual(t, pages, len(tl.Events)+1, "paging ends")
		if page.NextAfter == nil {
			break
		}
		require.Len(t, page.Events, 2)
		after = *page.NextAfter
	}
	require.ElementsMatch(t, tl.Events, paged)
	r = doRaw(t, http.MethodGet, base+"/timeline?after=-1", nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "after")
	for _, ev := range tl.Events {
		if ev.Type == incident.EventResolved {
			require.Equal(t, "rolled back 14:02 deploy", ev.Message, "the resolve note is on its event")
		}
	}

	// … and the Redis entry, written through with the guide's TTL.
	cached, ok, err := s.cache.GetIncident(ctx, opened.ID)
	require.NoError(t, err)
	require.True(t, ok, "the incident is cached")
	require.Equal(t, incident.StatusResolved, cached.Status)
	ttl, err := s.rdb.PTTL(ctx, s.prefix+"incident:"+opened.ID).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, time.Duration(0))
	require.LessOrEqual(t, ttl, 5*time.Minute)

	// The list shows it, newest first, and filters work.
	r = do(t, http.MethodGet, s.url+"/api/v1/incidents?status=resolved&service=checkout", nil)
	require.Equal(t, http.StatusOK, r.status)
	var list struct {
		Incidents []incident.Incident `json:"incidents"`
	}
	r.json(t, &list)
	require.Len(t, list.Incidents, 1)
	require.Equal(t, opened.ID, list.Incidents[0].ID)
	r = do(t, http.MethodGet, s.url+"/api/v1/incidents?status=open", nil)
	r.json(t, &list)
	require.Empty(t, list.Incidents)

	replayAndRecord(t, s, opened.WorkflowID, "incident_lifecycle_v5.json")
}

// replayAndRecord replays the run's history against the current workflow
// code and, with RECORD_HISTORY=1, saves it as workflows/testdata/name for
// the replay test that guards later changes.
func replayAndRecord(t *testing.T, s *stack, workflowID, name string) {
	t.Helper()
	replayAndRecordOn(t, s.temporal, workflowID, name)
}

// replayAndRecordOn is replayAndRecord for any Temporal client.
func replayAndRecordOn(t *testing.T, c client.Client, workflowID, name string) {
	t.Helper()
	hist := history(t, c, workflowID)
	replayer := sdkworker.NewWorkflowReplayer()
	workflows.Register(replayer)
	require.NoError(t, replayer.ReplayWorkflowHistory(nil, hist))
	if os.Getenv("RECORD_HISTORY") != "" {
		raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "workflows", "testdata", name), raw, 0o644))
	}
}

func TestDedupKeyJoinsOpenIncidentAndReopensAfterResolve(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	alert := map[string]any{"title": "disk 95% on db-1", "service": "payments", "severity": "high", "dedup_key": "db-1/disk"}

	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", alert)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var first incident.Incident
	r.json(t, &first)

	for range 3 {
		r = do(t, http.MethodPost, s.url+"/api/v1/incidents", alert)
		require.Equal(t, http.StatusOK, r.status, "a repeat joins the open incident: %s", r.body)
		var again incident.Incident
		r.json(t, &again)
		require.Equal(t, first.ID, again.ID)
	}
	// The same key on another service is another incident.
	other := map[string]any{"title": "disk 95% on db-1", "service": "search", "severity": "high", "dedup_key": "db-1/disk"}
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents", other)
	require.Equal(t, http.StatusCreated, r.status)

	// A repeat joins by a signal: its event follows the answer.
	dups := func() int {
		var tl timelineBody
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+first.ID+"/timeline", nil).json(t, &tl)
		n := 0
		for _, ev := range tl.Events {
			if ev.Type == incident.EventDuplicate {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return dups() >= 3 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, 3, dups(), "each repeat is in the timeline, once")

	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+first.ID+"/resolve", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	// After resolve, the same key opens a new incident. The old run may still
	// be closing for a moment; a 503 asks the sender to retry.
	var reopened incident.Incident
	require.Eventually(t, func() bool {
		r = do(t, http.MethodPost, s.url+"/api/v1/incidents", alert)
		if r.status == http.StatusServiceUnavailable {
			return false
		}
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		r.json(t, &reopened)
		return true
	}, 30*time.Second, 50*time.Millisecond)
	require.NotEqual(t, first.ID, reopened.ID)
	require.Equal(t, first.WorkflowID, reopened.WorkflowID, "the dedup key maps to one workflow ID")

	// Acting on the old incident does not touch the new one.
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+first.ID+"/acknowledge", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusConflict, r.status)
	r = do(t, http.MethodGet, s.url+"/api/v1/incidents/"+reopened.ID, nil)
	var cur incidentBody
	r.json(t, &cur)
	require.Equal(t, incident.StatusOpen, cur.Status)
}

func TestBadInputGetsClearErrorAndWritesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	valid := `{"title":"t","service":"svc","severity":"low"}`
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		header []string
		status int
		code   string
	}{
		{"malformed JSON", "POST", "/api/v1/incidents", `{"title":`, nil, 400, string(fault.Invalid)},
		{"not an object", "POST", "/api/v1/incidents", `[1,2]`, nil, 400, string(fault.Invalid)},
		{"empty body", "POST", "/api/v1/incidents", ``, nil, 400, string(fault.Invalid)},
		{"two objects", "POST", "/api/v1/incidents", valid + valid, nil, 400, string(fault.Invalid)},
		{"unknown severity", "POST", "/api/v1/incidents", `{"title":"t","service":"svc","severity":"sev1"}`, nil, 400, string(fault.Invalid)},
		{"missing title", "POST", "/api/v1/incidents", `{"service":"svc","severity":"low"}`, nil, 400, string(fault.Invalid)},
		{"missing service", "POST", "/api/v1/incidents", `{"title":"t","severity":"low"}`, nil, 400, string(fault.Invalid)},
		{"wrong type", "POST", "/api/v1/incidents", `{"title":5,"service":"svc","severity":"low"}`, nil, 400, string(fault.Invalid)},
		{"unknown field", "POST", "/api/v1/incidents", `{"title":"t","service":"svc","severity":"low","sevrity":"x"}`, nil, 400, string(fault.Invalid)},
		{"over 1 MiB", "POST", "/api/v1/incidents", `{"title":"t","service":"svc","severity":"low","description":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, string(fault.TooLarge)},
		{"form body", "POST", "/api/v1/incidents", valid, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, string(fault.UnsupportedMedia)},
		{"bad status filter", "GET", "/api/v1/incidents?status=closed", nil, nil, 400, string(fault.Invalid)},
		{"bad limit", "GET", "/api/v1/incidents?limit=0", nil, nil, 400, string(fault.Invalid)},
		{"bad cursor", "GET", "/api/v1/incidents?cursor=not-a-cursor", nil, nil, 400, string(fault.Invalid)},
		{"note too long", "POST", "/api/v1/incidents/inc_x/acknowledge", `{"note":"` + strings.Repeat("x", incident.MaxNoteLen+1) + `"}`, nil, 400, string(fault.Invalid)},
		{"unknown route", "GET", "/api/v1/nothing", nil, nil, 404, string(fault.NotFound)},
		{"wrong method", "DELETE", "/api/v1/incidents", nil, nil, 405, string(fault.MethodNotAllowed)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != nil {
				body = c.body
			}
			r := doRaw(t, c.method, s.url+c.path, body, c.header...)
			require.Equal(t, c.status, r.status, "%s", r.body)
			require.Equal(t, c.code, r.errorCode(t))
			require.NotContains(t, string(r.body), "json:", "no internal error text")
		})
	}
	items, _, err := s.store.ListIncidents(context.Background(), store.ListFilter{})
	require.NoError(t, err)
	require.Empty(t, items, "no bad request wrote an incident")
	n, err := s.rdb.Keys(context.Background(), s.prefix+"*").Result()
	require.NoError(t, err)
	require.Empty(t, n, "no bad request wrote to Redis")
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	r := do(t, http.MethodGet, s.url+"/health", nil)
	require.Equal(t, http.StatusOK, r.status)

	r = do(t, http.MethodGet, s.url+"/health/ready", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	r.json(t, &ready)
	require.Equal(t, map[string]string{"postgres": "ok", "redis": "ok", "temporal": "ok"}, ready.Checks)

	r = do(t, http.MethodGet, s.url+"/metrics", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `http_requests_total{method="GET",route="/health/ready",status="200"} 1`)
	require.Contains(t, string(r.body), "http_request_duration_seconds_bucket")
}

// With Redis gone the API stays ready (it names Redis as degraded), and
// incidents still open and resolve: Redis is never the source of truth.
func TestRedisDownDoesNotStopIncidents(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	dead := cache.New(cache.NewClient("127.0.0.1:1", "", 0, cache.ClientOptions{DialTimeout: 200 * time.Millisecond}), "x:", time.Minute)
	url := s.serve(api.Options{Temporal: s.temporal, Store: s.store, Cache: dead, TaskQueue: taskQueue})

	r := do(t, http.MethodGet, url+"/health/ready", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var ready struct {
		Status   string            `json:"status"`
		Checks   map[string]string `json:"checks"`
		Degraded []string          `json:"degraded"`
	}
	r.json(t, &ready)
	require.Equal(t, "ready", ready.Status)
	require.Equal(t, map[string]string{"postgres": "ok", "redis": "unavailable", "temporal": "ok"}, ready.Checks)
	require.Equal(t, []string{"redis"}, ready.Degraded)

	r = do(t, http.MethodPost, url+"/api/v1/incidents", map[string]string{"title": "t", "service": "svc", "severity": "info"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var inc incident.Incident
	r.json(t, &inc)
	r = do(t, http.MethodGet, url+"/api/v1/incidents/"+inc.ID, nil)
	require.Equal(t, http.StatusOK, r.status, "reads fall back to Postgres: %s", r.body)
	r = do(t, http.MethodPost, url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{"actor": "alice"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

func history(t *testing.T, c client.Client, workflowID string) *historypb.History {
	t.Helper()
	ctx := context.Background()
	iter := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

// An Idempotency-Key makes a retried open (the first answer lost, or a 503)
// return the first incident instead of opening another.
func TestRetriedOpenWithIdempotencyKeyOpensOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service := "idem-" + randomID()
	body := map[string]string{"title": "checkout errors", "service": service, "severity": "high"}
	var ids []string
	for range 3 {
		r := do(t, http.MethodPost, s.url+"/api/v1/incidents", body, "Idempotency-Key", "req-1")
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		var inc incident.Incident
		r.json(t, &inc)
		ids = append(ids, inc.ID)
	}
	require.Equal(t, ids[0], ids[1])
	require.Equal(t, ids[0], ids[2])
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", body, "Idempotency-Key", "req-2")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var other incident.Incident
	r.json(t, &other)
	require.NotEqual(t, ids[0], other.ID, "another key is another request")
	require.Len(t, s.incidentsOf(t, service), 2)
}

// A retry of the keyed open that opened an incident with a dedup key
// (its first answer lost) finds the incident open and is answered as the
// opener: 201, and no duplicate on the timeline. Another key joins it.
func TestRetriedKeyedOpenOfADedupKeyIsTheOpener(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	body := map[string]string{"title": "replica lag", "service": "idem-" + randomID(), "severity": "high", "dedup_key": "db-2/lag"}
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", body, "Idempotency-Key", "lag-1")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var first incident.Incident
	r.json(t, &first)
	for range 2 {
		r = do(t, http.MethodPost, s.url+"/api/v1/incidents", body, "Idempotency-Key", "lag-1")
		require.Equal(t, http.StatusCreated, r.status, "a retry of the opener: %s", r.body)
		var again incident.Incident
		r.json(t, &again)
		require.Equal(t, first.ID, again.ID)
	}
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents", body, "Idempotency-Key", "lag-2")
	require.Equal(t, http.StatusOK, r.status, "another request joins: %s", r.body)

	var tl timelineBody
	require.Eventually(t, func() bool {
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+first.ID+"/timeline", nil).json(t, &tl)
		return slices.ContainsFunc(tl.Events, func(ev incident.Event) bool { return ev.Type == incident.EventDuplicate })
	}, 30*time.Second, 20*time.Millisecond)
	duplicates := 0
	for _, ev := range tl.Events {
		if ev.Type == incident.EventDuplicate {
			duplicates++
		}
	}
	require.Equal(t, 1, duplicates, "only the other key joined")
}

// A retried acknowledge sent with an Idempotency-Key gets its first answer
// back, though the incident's status now forbids acknowledging it; another
// request is refused.
func TestRetriedKeyedAcknowledgeGetsItsFirstAnswer(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", map[string]string{"title": "t", "service": "ack-" + randomID(), "severity": "low"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var inc incident.Incident
	r.json(t, &inc)
	ack := s.url + "/api/v1/incidents/" + inc.ID + "/acknowledge"
	var answers []incident.Incident
	for range 2 {
		r = do(t, http.MethodPost, ack, map[string]string{"note": "mine"}, "Idempotency-Key", "ack-1")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var got incident.Incident
		r.json(t, &got)
		answers = append(answers, got)
	}
	require.Equal(t, answers[0].Version, answers[1].Version, "the retry changed nothing")
	require.Equal(t, incident.StatusAcknowledged, answers[1].Status)

	r = do(t, http.MethodPost, ack, map[string]string{}, "Idempotency-Key", "ack-2")
	require.Equal(t, http.StatusConflict, r.status, "another request: %s", r.body)
	r = do(t, http.MethodPost, ack, map[string]string{})
	require.Equal(t, http.StatusConflict, r.status, "a request without a key: %s", r.body)
}

// An open is answered after one workflow task: the loads and the first
// record run as local activities inside it. So is an acknowledge.
func TestOpenAndAcknowledgeAreAnsweredAfterOneWorkflowTask(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", map[string]string{"title": "t", "service": "one-task", "severity": "low"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var inc incident.Incident
	r.json(t, &inc)
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	// Workflow tasks completed before each update completed.
	tasks, answered := 0, []int{}
	for _, ev := range history(t, s.temporal, inc.WorkflowID).Events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tasks++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
			answered = append(answered, tasks)
		}
	}
	require.Equal(t, []int{1, 2}, answered, "the open answered with the first task, the acknowledge with the next")
}

// A storm of opens with one dedup key makes one incident: the first opens
// it, the rest join it by a signal each (a workflow takes only ten updates
// at a time), and every answer names it.
func TestAStormOfOpensWithOneDedupKeyMakesOneIncident(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	body := map[string]any{"title": "disk full", "service": "storm-" + randomID(), "severity": "high", "dedup_key": "db-1/disk"}
	r := do(t, http.MethodPost, s.url+"/api/v1/incidents", body)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var first incident.Incident
	r.json(t, &first)

	const n = 200
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for range n {
		wg.Go(func() {
			for {
				r := do(t, http.MethodPost, s.url+"/api/v1/incidents", body)
				if r.status == http.StatusServiceUnavailable {
					continue // as a client that honours Retry-After would, sooner
				}
				assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
				var inc incident.Incident
				r.json(t, &inc)
				ids <- inc.ID
				return
			}
		})
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		require.Equal(t, first.ID, id)
	}
	require.Eventually(t, func() bool {
		var tl timelineBody
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+first.ID+"/timeline", nil).json(t, &tl)
		n := 0
		for _, ev := range tl.Events {
			if ev.Type == incident.EventDuplicate {
				n++
			}
		}
		return n == 200
	}, time.Minute, 50*time.Millisecond, "each join is in the timeline")
}
