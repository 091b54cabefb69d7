package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/apicheck"
)

// notDescribed are the routes the document leaves out on purpose: the web
// console's files, which are a page and its assets, not an API.
var notDescribed = map[string]bool{"GET /console/*path": true}

var ginParam = regexp.MustCompile(`/[:*]([A-Za-z_]+)`)

// openAPIPath writes a gin route template as an OpenAPI path: /:id → /{id}.
func openAPIPath(route string) string { return ginParam.ReplaceAllString(route, "/{$1}") }

// The document loads, is a valid OpenAPI 3.1 document, and describes
// exactly the routes the server registers: every route is in it with its
// method, and every operation in it is a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	c, err := apicheck.Load()
	require.NoError(t, err)
	require.Equal(t, "3.1.0", c.Doc.OpenAPI)

	registered := map[string]bool{}
	for _, r := range api.New(api.Options{}).(*gin.Engine).Routes() {
		key := r.Method + " " + openAPIPath(r.Path)
		if notDescribed[r.Method+" "+r.Path] {
			continue
		}
		registered[key] = true
	}
	documented := map[string]bool{}
	for path, item := range c.Doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var undocumented, unregistered []string
	for k := range registered {
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			unregistered = append(unregistered, k)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unregistered)
	require.Empty(t, undocumented, "routes the server registers that api/openapi.yaml does not describe")
	require.Empty(t, unregistered, "operations in api/openapi.yaml that the server does not register")
}

// Every operation names the role it needs, its operation ID and its
// answers; every error answer it lists is the one error shape.
func TestOpenAPIOperationsAreComplete(t *testing.T) {
	t.Parallel()
	c, err := apicheck.Load()
	require.NoError(t, err)
	ids := map[string]string{}
	for path, item := range c.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			role, _ := op.Extensions["x-required-role"].(string)
			require.Contains(t, []string{"viewer", "responder", "admin", "none"}, role, "%s: x-required-role", where)
			if strings.HasPrefix(path, "/api/v1/") && role != "none" {
				require.Nil(t, op.Security, "%s: a role route takes the document's credentials", where)
			}
			require.NotEmpty(t, op.OperationID, where)
			require.Empty(t, ids[op.OperationID], "%s: operationId %s is also %s's", where, op.OperationID, ids[op.OperationID])
			ids[op.OperationID] = where
			require.NotNil(t, op.Responses.Value("500"), "%s: every route may answer 500", where)
			if role != "none" {
				for _, code := range []string{"401", "403", "429", "503"} {
					require.NotNil(t, op.Responses.Value(code), "%s: a route that checks a role may answer %s", where, code)
				}
			}
		}
	}
}

// The API serves the document as JSON, with an ETag that a revalidation
// is answered 304 to, and without a credential.
func TestOpenAPIServedAsJSON(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(api.New(api.Options{}))
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/api/v1/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Cache-Control"), "max-age=")
	etag := resp.Header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]{32}"$`, etag)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Contains(t, doc.Paths, "/api/v1/incidents/{id}/acknowledge")

	// The JSON served is the YAML's content, as the validator loads it.
	served, err := api.OpenAPIJSON(api.OpenAPIYAML)
	require.NoError(t, err)
	_, err = apicheck.New(served)
	require.NoError(t, err)

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1/openapi.json", nil)
	req.Header.Set("If-None-Match", etag)
	again, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	again.Body.Close()
	require.Equal(t, http.StatusNotModified, again.StatusCode)
	require.Equal(t, etag, again.Header.Get("ETag"))
}

// OpenAPIJSON keeps what YAML says: quoted numbers stay strings, numbers
// stay numbers, anchors are expanded, key order is kept.
func TestOpenAPIJSONConversion(t *testing.T) {
	t.Parallel()
	out, err := api.OpenAPIJSON([]byte("b: &x {\"200\": 1.5, n: null, t: true}\na: *x\nv: \"3.1\"\n"))
	require.NoError(t, err)
	require.JSONEq(t, `{"b":{"200":1.5,"n":null,"t":true},"a":{"200":1.5,"n":null,"t":true},"v":"3.1"}`, string(out))
	require.True(t, strings.HasPrefix(string(out), `{"b":`), "keys keep their order: %s", out)
	_, err = api.OpenAPIJSON([]byte("x: 0x1F\n"))
	require.ErrorContains(t, err, "decimal")
}
