package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// alertPath is a route the tests add to stand for an alert endpoint: it
// authenticates the X-Integration-Key header with integrationService and
// answers the service the key is for.
const alertPath = "/test/alerts"

// integrationAPI serves the API over a fresh schema, without Temporal, plus
// the alertPath route. It is an internal test so that integrationService,
// which alert endpoints call, can be exercised.
type integrationAPI struct {
	t       *testing.T
	handler http.Handler
	pool    *pgxpool.Pool
}

type integrationAnswer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func newIntegrationAPI(t *testing.T) *integrationAPI {
	t.Helper()
	pool := testenv.Postgres(t)
	s := &Server{
		store:   store.New(pool),
		metrics: metrics.New(),
		log:     slog.New(slog.DiscardHandler),
		maxBody: 1 << 20,
		tokens:  testenv.Tokens(t),
	}
	r := s.routes()
	r.POST(alertPath, func(c *gin.Context) {
		service, ok := s.integrationService(c, c.GetHeader("X-Integration-Key"))
		if !ok {
			return
		}
		c.JSON(http.StatusOK, gin.H{"service": service})
	})
	return &integrationAPI{t: t, handler: r, pool: pool}
}

func (a *integrationAPI) do(method, path, body string) integrationAnswer {
	a.t.Helper()
	req := httptest.NewRequestWithContext(a.t.Context(), method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testenv.Token(a.t, auth.Admin))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.serve(req)
}

func (a *integrationAPI) alert(key string) integrationAnswer {
	a.t.Helper()
	req := httptest.NewRequestWithContext(a.t.Context(), http.MethodPost, alertPath, nil)
	req.Header.Set("X-Integration-Key", key)
	return a.serve(req)
}

func (a *integrationAPI) serve(req *http.Request) integrationAnswer {
	a.t.Helper()
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	ans := integrationAnswer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Body.Len() > 0 {
		require.NoError(a.t, json.Unmarshal(rec.Body.Bytes(), &ans.body), ans.raw)
	}
	return ans
}

func (a *integrationAPI) service(id string) {
	a.t.Helper()
	ans := a.do(http.MethodPost, "/api/v1/services", `{"id":"`+id+`","name":"`+id+`"}`)
	require.Equal(a.t, http.StatusCreated, ans.status, ans.raw)
}

func keysPath(service string) string { return "/api/v1/services/" + service + "/integration-keys" }

func TestIntegrationKeyLifecycle(t *testing.T) {
	t.Parallel()
	a := newIntegrationAPI(t)
	a.service("checkout")

	created := a.do(http.MethodPost, keysPath("checkout"), `{"name":"prometheus"}`)
	require.Equal(t, http.StatusCreated, created.status, created.raw)
	require.Equal(t, "no-store", created.header.Get("Cache-Control"))
	fields := make([]string, 0, len(created.body))
	for f := range created.body {
		fields = append(fields, f)
	}
	require.ElementsMatch(t, []string{"id", "service_id", "name", "created_at", "key"}, fields)
	id, key := created.body["id"].(string), created.body["key"].(string)
	require.Equal(t, "checkout", created.body["service_id"])
	require.Equal(t, "prometheus", created.body["name"])
	require.True(t, strings.HasPrefix(key, id+"."), "key %q", key)
	_, secret, _ := strings.Cut(key, ".")

	list := a.do(http.MethodGet, keysPath("checkout"), "")
	require.Equal(t, http.StatusOK, list.status, list.raw)
	keys := list.body["integration_keys"].([]any)
	require.Len(t, keys, 1)
	listed := keys[0].(map[string]any)
	require.Equal(t, id, listed["id"])
	require.NotContains(t, listed, "key", "the key is shown at creation only")
	require.NotContains(t, list.raw, secret)
	require.NotContains(t, listed, "last_used_at")

	used := a.alert(key)
	require.Equal(t, http.StatusOK, used.status, used.raw)
	require.Equal(t, "checkout", used.body["service"])
	list = a.do(http.MethodGet, keysPath("checkout"), "")
	require.Contains(t, list.body["integration_keys"].([]any)[0], "last_used_at")

	del := a.do(http.MethodDelete, keysPath("checkout")+"/"+id, "")
	require.Equal(t, http.StatusNoContent, del.status, del.raw)
	del = a.do(http.MethodDelete, keysPath("checkout")+"/"+id, "")
	require.Equal(t, http.StatusNoContent, del.status, "a repeated revoke succeeds")
	list = a.do(http.MethodGet, keysPath("checkout"), "")
	require.Contains(t, list.body["integration_keys"].([]any)[0], "revoked_at")

	refused := a.alert(key)
	require.Equal(t, http.StatusUnauthorized, refused.status)
	require.JSONEq(t, `{"error":{"code":"unauthorized","message":"invalid integration key"}}`, refused.raw)
}

func TestIntegrationKeyRefusesBadKeysAlike(t *testing.T) {
	t.Parallel()
	a := newIntegrationAPI(t)
	a.service("checkout")
	created := a.do(http.MethodPost, keysPath("checkout"), `{"name":"prometheus"}`)
	require.Equal(t, http.StatusCreated, created.status, created.raw)
	id := created.body["id"].(string)

	for _, key := range []string{"", "not-a-key", id + "." + strings.Repeat("a", 52), "0123456789abcdef0123456789abcdef"} {
		ans := a.alert(key)
		require.Equal(t, http.StatusUnauthorized, ans.status, key)
		require.JSONEq(t, `{"error":{"code":"unauthorized","message":"invalid integration key"}}`, ans.raw, key)
	}
}

func TestIntegrationKeyRejectsBadRequests(t *testing.T) {
	t.Parallel()
	a := newIntegrationAPI(t)
	a.service("checkout")
	a.service("search")
	created := a.do(http.MethodPost, keysPath("search"), `{"name":"datadog"}`)
	require.Equal(t, http.StatusCreated, created.status, created.raw)
	searchKey := created.body["id"].(string)

	for _, tc := range []struct {
		method, path, body string
		status             int
		message            string
	}{
		{http.MethodPost, keysPath("nope"), `{"name":"prometheus"}`, http.StatusNotFound, "service not found"},
		{http.MethodGet, keysPath("nope"), "", http.StatusNotFound, "service not found"},
		{http.MethodDelete, keysPath("nope") + "/" + searchKey, "", http.StatusNotFound, "integration key not found"},
		{http.MethodDelete, keysPath("checkout") + "/" + searchKey, "", http.StatusNotFound, "integration key not found"},
		{http.MethodDelete, keysPath("checkout") + "/ik_unknown", "", http.StatusNotFound, "integration key not found"},
		{http.MethodPost, keysPath("checkout"), `{"name":"prometheus","key":"mine"}`, http.StatusBadRequest, ""},
		{http.MethodPost, keysPath("checkout"), `{"name":" "}`, http.StatusBadRequest, "name: is required"},
	} {
		ans := a.do(tc.method, tc.path, tc.body)
		require.Equal(t, tc.status, ans.status, "%s %s %s: %s", tc.method, tc.path, tc.body, ans.raw)
		if tc.message != "" {
			require.Equal(t, tc.message, ans.body["error"].(map[string]any)["message"])
		}
	}

	list := a.do(http.MethodGet, keysPath("checkout"), "")
	require.Equal(t, http.StatusOK, list.status, list.raw)
	require.JSONEq(t, `{"integration_keys":[]}`, list.raw, "rejected requests made no key")
	search := a.do(http.MethodGet, keysPath("search"), "")
	require.NotContains(t, search.body["integration_keys"].([]any)[0], "revoked_at", "another service cannot revoke the key")
}

func TestIntegrationKeyDatabaseDown(t *testing.T) {
	t.Parallel()
	a := newIntegrationAPI(t)
	a.pool.Close()
	ans := a.alert("ik_" + strings.Repeat("a", 26) + "." + strings.Repeat("a", 52))
	require.Equal(t, http.StatusServiceUnavailable, ans.status, "an outage is not a bad key: the sender should retry")
	require.Equal(t, "5", ans.header.Get("Retry-After"))
	ans = a.do(http.MethodGet, keysPath("checkout"), "")
	require.Equal(t, http.StatusServiceUnavailable, ans.status)
}
