package apicheck_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/apicheck"
	"github.com/incident-server/incident-server/internal/incident"
)

// jwtLike passes the user token scheme's form check (three dot-separated
// parts); whether it is valid is the server's to say.
const jwtLike = "Bearer a.b.c"

// served runs handler behind the checker and returns the mismatches it
// reported for one request.
func served(t *testing.T, handler http.HandlerFunc, req *http.Request) []error {
	t.Helper()
	c, err := apicheck.Load()
	require.NoError(t, err)
	var mu sync.Mutex
	var fails []error
	h, wait := c.Handler(handler, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		fails = append(fails, err)
	})
	ts := httptest.NewServer(h)
	defer ts.Close()
	u := ts.URL + req.URL.String()
	r, err := http.NewRequest(req.Method, u, req.Body)
	require.NoError(t, err)
	r.Header = req.Header
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	ts.Close() // waits for the handler
	wait()     // and for the check
	mu.Lock()
	defer mu.Unlock()
	return fails
}

func get(path string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", jwtLike)
	return r
}

// answerJSON answers v with status.
func answerJSON(status int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

// anIncident is an incident as the API answers it, as a JSON object.
func anIncident(t *testing.T) map[string]any {
	t.Helper()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	raw, err := json.Marshal(incident.Incident{ID: "inc_1", WorkflowID: "incident/checkout/disk", Title: "disk full",
		Service: "checkout", Severity: incident.SeverityHigh, Status: incident.StatusAcknowledged,
		CreatedAt: at, UpdatedAt: at, AcknowledgedAt: &at, AcknowledgedBy: "alice", Version: 2})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// The incident the domain type encodes is what the document describes.
func TestIncidentMatchesTheDocument(t *testing.T) {
	t.Parallel()
	require.Empty(t, served(t, answerJSON(http.StatusOK, anIncident(t)), get("/api/v1/incidents/inc_1")))
}

// A field renamed in the code and not in the document is caught: the
// answer lacks a required field, and has one the document does not know.
func TestRenamedResponseFieldFails(t *testing.T) {
	t.Parallel()
	inc := anIncident(t)
	inc["name"] = inc["title"]
	delete(inc, "title")
	fails := served(t, answerJSON(http.StatusOK, inc), get("/api/v1/incidents/inc_1"))
	require.Len(t, fails, 1)
	msg := fails[0].Error()
	require.Contains(t, msg, "getIncident")
	require.Contains(t, msg, "response 200")
	require.Contains(t, msg, "title")
	require.Contains(t, msg, "name")

	// An optional field renamed is caught too: answers are closed.
	inc = anIncident(t)
	inc["acked_by"] = inc["acknowledged_by"]
	delete(inc, "acknowledged_by")
	fails = served(t, answerJSON(http.StatusOK, inc), get("/api/v1/incidents/inc_1"))
	require.Len(t, fails, 1)
	require.Contains(t, fails[0].Error(), "acked_by")
}

// A status the operation does not list, and an error whose code is not
// its status's, are mismatches.
func TestUndocumentedAnswersFail(t *testing.T) {
	t.Parallel()
	fails := served(t, answerJSON(http.StatusTeapot, map[string]any{}), get("/api/v1/incidents/inc_1"))
	require.Len(t, fails, 1)
	require.Contains(t, fails[0].Error(), "status is not supported")

	wrongCode := map[string]any{"error": map[string]string{"code": "invalid", "message": "incident not found"}}
	fails = served(t, answerJSON(http.StatusNotFound, wrongCode), get("/api/v1/incidents/inc_1"))
	require.Len(t, fails, 1)
	require.Contains(t, fails[0].Error(), "not_found")

	// A route the document does not have must still answer the error shape.
	fails = served(t, answerJSON(http.StatusNotFound, map[string]string{"message": "no"}), get("/api/v1/nothing-here"))
	require.Len(t, fails, 1)
	require.Contains(t, fails[0].Error(), "no operation")
}

// A request the document does not allow is a mismatch, unless the test
// marks it as malformed on purpose; its answer is checked either way.
func TestRequestsAreChecked(t *testing.T) {
	t.Parallel()
	refused := answerJSON(http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "invalid", "message": "unknown field \"colour\""}})
	post := func(skip bool) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/incidents", strings.NewReader(`{"title":"t","service":"s","severity":"low","colour":"red"}`))
		r.Header.Set("Authorization", jwtLike)
		r.Header.Set("Content-Type", "application/json")
		if skip {
			r.Header.Set(apicheck.SkipRequest, "1")
		}
		return r
	}
	fails := served(t, refused, post(false))
	require.Len(t, fails, 1)
	require.Contains(t, fails[0].Error(), "request")
	require.Contains(t, fails[0].Error(), "colour")

	var sawMarker bool
	fails = served(t, func(w http.ResponseWriter, r *http.Request) {
		sawMarker = r.Header.Get(apicheck.SkipRequest) != ""
		refused(w, r)
	}, post(true))
	require.Empty(t, fails)
	require.False(t, sawMarker, "the marker never reaches the server")

	// Marked, the answer is still checked.
	fails = served(t, answerJSON(http.StatusBadRequest, map[string]string{"error": "bad"}), post(true))
	require.Len(t, fails, 1)
	require.True(t, strings.Contains(fails[0].Error(), "response 400"), "%v", errors.Join(fails...))
}

// The credential a route's security names must be there, in its form: an
// integration key is not a user token.
func TestCredentialsAreChecked(t *testing.T) {
	t.Parallel()
	list := answerJSON(http.StatusOK, map[string]any{"incidents": []any{}})
	r := get("/api/v1/incidents")
	r.Header.Set("Authorization", "Bearer ik_abc.def")
	fails := served(t, list, r)
	require.Len(t, fails, 1)
	require.Contains(t, fails[0].Error(), "security requirement")

	r = get("/api/v1/incidents")
	r.Header.Set("Authorization", "Bearer ak_abc.def")
	require.Empty(t, served(t, list, r))
}

// A request without a credential, refused with 401, is the documented
// refusal; the same request let through is a mismatch.
func TestMissingCredentialRefusedIsDocumented(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/api/v1/incidents", nil)
	unauthorized := answerJSON(http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": "unauthorized", "message": "a credential is required"}})
	require.Empty(t, served(t, unauthorized, r))

	r = httptest.NewRequest(http.MethodGet, "/api/v1/incidents", nil)
	fails := served(t, answerJSON(http.StatusOK, map[string]any{"incidents": []any{}}), r)
	require.Len(t, fails, 1)
	require.Contains(t, fails[0].Error(), "security requirement")
}
