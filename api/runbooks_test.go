package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/outbound"
)

func TestRunbooksAreValidatedAndVersioned(t *testing.T) {
	t.Parallel()
	policy, err := outbound.NewClient(outbound.Options{})
	require.NoError(t, err)
	a := newOncallAPIWith(t, api.Options{Outbound: policy})
	a.create("/services", `{"id":"db"}`)

	id := a.create("/runbooks", `{"name":"Failover","service_id":"db","severities":["Critical"],"steps":[
		{"name":"Check lag","kind":"manual","required":true,"instructions":"Look at **lag**."},
		{"name":"Promote","kind":"action","action":{"url":"https://deploy.example.com/{{.Incident.Service}}",
			"headers":{"Authorization":"Bearer {{secret \"deploy\"}}"},"body":{"id":"{{.Incident.ID}}"}}},
		{"name":"Approve","kind":"approval"}]}`)
	got := a.do(http.MethodGet, "/runbooks/"+id, "")
	require.Equal(t, http.StatusOK, got.status)
	require.EqualValues(t, 1, got.body["version"])
	require.Equal(t, []any{"critical"}, got.body["severities"], "normalized")
	steps := got.body["steps"].([]any)
	require.Equal(t, "POST", steps[1].(map[string]any)["action"].(map[string]any)["method"], "POST by default")
	require.Equal(t, "responder", steps[2].(map[string]any)["approval"].(map[string]any)["role"], "responders approve by default")
	require.Equal(t, "stop", steps[0].(map[string]any)["on_failure"])

	// A runbook read with GET can be edited and sent back: a new version.
	got.body["name"] = "DB failover"
	edited, err := json.Marshal(got.body)
	require.NoError(t, err)
	put := a.do(http.MethodPut, "/runbooks/"+id, string(edited))
	require.Equal(t, http.StatusOK, put.status, put.body)
	require.EqualValues(t, 2, put.body["version"])
	require.Len(t, a.do(http.MethodGet, "/runbooks", "").body["runbooks"], 1)

	for _, c := range []struct {
		name, body, field string
	}{
		{"no steps", `{"name":"x","steps":[]}`, "steps"},
		{"unknown service", `{"name":"x","service_id":"nope","steps":[{"name":"a","kind":"manual"}]}`, "service_id"},
		{"unknown kind", `{"name":"x","steps":[{"name":"a","kind":"script"}]}`, "steps[0].kind"},
		{"a secret in a URL", `{"name":"x","steps":[{"name":"a","kind":"action","action":{"url":"https://x.example.com/{{secret \"t\"}}"}}]}`, "steps[0].action.url"},
		{"cloud metadata", `{"name":"x","steps":[{"name":"a","kind":"action","action":{"url":"http://169.254.169.254/latest"}}]}`, "steps[0].action.url"},
		{"loopback", `{"name":"x","steps":[{"name":"a","kind":"action","action":{"url":"http://127.0.0.1:9000/x"}}]}`, "steps[0].action.url"},
		{"approval by viewers", `{"name":"x","steps":[{"name":"a","kind":"approval","approval":{"role":"viewer"}}]}`, "steps[0].approval.role"},
	} {
		ans := a.do(http.MethodPost, "/runbooks", c.body)
		require.Equal(t, http.StatusBadRequest, ans.status, "%s: %v", c.name, ans.body)
		require.Contains(t, ans.errorMessage(), c.field, c.name)
	}
	ans := a.do(http.MethodPost, "/runbooks", `{"name":"x","steps":[{"name":"a","kind":"manual","colour":"red"}]}`)
	require.Equal(t, http.StatusBadRequest, ans.status, "unknown fields are refused")

	require.Equal(t, http.StatusNoContent, a.do(http.MethodDelete, "/runbooks/"+id, "").status)
	require.Equal(t, http.StatusNotFound, a.do(http.MethodGet, "/runbooks/"+id, "").status)
}
