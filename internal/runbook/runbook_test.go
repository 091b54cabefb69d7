package runbook_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/runbook"
)

func valid() runbook.Runbook {
	return runbook.Runbook{
		Name: "Failover", ServiceID: "db",
		Steps: []runbook.Step{
			{Name: "Check lag", Kind: runbook.KindManual, Instructions: "Look at the dashboard."},
			{Name: "Promote", Kind: runbook.KindAction, Action: &runbook.Action{
				URL:     "https://deploy.example.com/promote/{{.Incident.Service}}",
				Headers: map[string]string{"Authorization": `Bearer {{secret "deploy"}}`},
				Body:    json.RawMessage(`{"id":"{{.Incident.ID}}","n":12345678901234567890,"tags":["{{.Labels.zone}}"]}`),
			}},
			{Name: "Approve", Kind: runbook.KindApproval},
			{Name: "Settle", Kind: runbook.KindWait, Wait: &runbook.Wait{UntilAlertsResolved: true}},
		},
	}
}

func TestNormalizeAppliesDefaults(t *testing.T) {
	t.Parallel()
	rb := valid()
	rb.Steps[0].Kind = " Manual "
	rb.Normalize()
	require.NoError(t, rb.Validate())
	require.Equal(t, runbook.KindManual, rb.Steps[0].Kind)
	require.Equal(t, runbook.OnFailureStop, rb.Steps[1].OnFailure)
	require.Equal(t, http.MethodPost, rb.Steps[1].Action.Method)
	require.Equal(t, oncall.RoleResponder, rb.Steps[2].Approval.Role)
	require.Equal(t, 5, rb.Steps[1].Action.Attempts())
	require.Equal(t, 10*time.Second, rb.Steps[1].Action.AttemptTimeout())
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		edit  func(*runbook.Runbook)
		field string
	}{
		{"no name", func(r *runbook.Runbook) { r.Name = "" }, "name"},
		{"no steps", func(r *runbook.Runbook) { r.Steps = nil }, "steps"},
		{"severities without a service", func(r *runbook.Runbook) {
			r.ServiceID, r.Severities = "", []incident.Severity{incident.SeverityLow}
		}, "severities"},
		{"unknown severity", func(r *runbook.Runbook) { r.Severities = []incident.Severity{"urgent"} }, "severities[0]"},
		{"unknown kind", func(r *runbook.Runbook) { r.Steps[0].Kind = "script" }, "steps[0].kind"},
		{"settings of another kind", func(r *runbook.Runbook) { r.Steps[0].Wait = &runbook.Wait{Duration: 1} }, "steps[0].wait"},
		{"action without action", func(r *runbook.Runbook) { r.Steps[1].Action = nil }, "steps[1].action"},
		{"relative URL", func(r *runbook.Runbook) { r.Steps[1].Action.URL = "/promote" }, "steps[1].action.url"},
		{"bad template", func(r *runbook.Runbook) { r.Steps[1].Action.URL = "https://x/{{.Incident.ID" }, "steps[1].action.url"},
		{"secret in the URL", func(r *runbook.Runbook) { r.Steps[1].Action.URL = `https://x/{{secret "deploy"}}` }, "steps[1].action.url"},
		{"secret in the body", func(r *runbook.Runbook) {
			r.Steps[1].Action.Body = json.RawMessage(`{"token":"{{secret \"deploy\"}}"}`)
		}, "steps[1].action.body"},
		{"body not JSON", func(r *runbook.Runbook) { r.Steps[1].Action.Body = json.RawMessage(`{`) }, "steps[1].action.body"},
		{"body on GET", func(r *runbook.Runbook) { r.Steps[1].Action.Method = http.MethodGet }, "steps[1].action.body"},
		{"reserved header", func(r *runbook.Runbook) { r.Steps[1].Action.Headers["idempotency-key"] = "x" }, "steps[1].action.headers"},
		{"timeout too long", func(r *runbook.Runbook) { r.Steps[1].Action.Timeout = oncall.Duration(2 * time.Minute) }, "steps[1].action.timeout"},
		{"too many attempts", func(r *runbook.Runbook) { r.Steps[1].Action.MaxAttempts = 11 }, "steps[1].action.max_attempts"},
		{"viewer approves", func(r *runbook.Runbook) { r.Steps[2].Approval.Role = oncall.RoleViewer }, "steps[2].approval.role"},
		{"wait with both", func(r *runbook.Runbook) { r.Steps[3].Wait.Duration = oncall.Duration(time.Minute) }, "steps[3].wait"},
		{"wait with neither", func(r *runbook.Runbook) { r.Steps[3].Wait.UntilAlertsResolved = false }, "steps[3].wait"},
		{"bad on_failure", func(r *runbook.Runbook) { r.Steps[3].OnFailure = "retry" }, "steps[3].on_failure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rb := valid()
			rb.Normalize()
			c.edit(&rb)
			err := rb.Validate()
			e, ok := fault.As(err)
			require.True(t, ok && e.Code == fault.Invalid, "want invalid, got %v", err)
			require.Equal(t, c.field, e.Field, "%v", err)
		})
	}
}

func TestAppliesToItsServiceAndSeverities(t *testing.T) {
	t.Parallel()
	rb := valid()
	require.True(t, rb.Applies("db", incident.SeverityInfo), "no severities: every one")
	require.False(t, rb.Applies("web", incident.SeverityInfo))
	rb.Severities = []incident.Severity{incident.SeverityCritical}
	require.True(t, rb.Applies("db", incident.SeverityCritical))
	require.False(t, rb.Applies("db", incident.SeverityHigh))
	rb.ServiceID = ""
	require.False(t, rb.Applies("", incident.SeverityCritical), "by hand only")
}

func TestRenderBuildsTheRequestFromTheIncident(t *testing.T) {
	t.Parallel()
	rb := valid()
	rb.Normalize()
	data := runbook.NewData(runbook.Context{
		Incident: runbook.IncidentData{ID: "inc_1", Service: "db", Severity: "critical"},
		Labels:   map[string]string{"zone": "eu-1"},
	}, rb, 2, 2, "runbook/inc_1/2/2")
	secrets := map[string]string{"deploy": "s3cret"}
	req, err := rb.Steps[1].Action.Render(data, func(n string) (string, bool) { v, ok := secrets[n]; return v, ok })
	require.NoError(t, err)
	require.Equal(t, http.MethodPost, req.Method)
	require.Equal(t, "https://deploy.example.com/promote/db", req.URL)
	require.Equal(t, "Bearer s3cret", req.Header.Get("Authorization"))
	require.Equal(t, "application/json", req.Header.Get("Content-Type"))
	require.JSONEq(t, `{"id":"inc_1","n":12345678901234567890,"tags":["eu-1"]}`, string(req.Body))
	require.Contains(t, string(req.Body), "12345678901234567890", "numbers are sent as written")

	_, err = rb.Steps[1].Action.Render(data, func(string) (string, bool) { return "", false })
	require.ErrorContains(t, err, `"deploy"`, "an unknown secret is named")

	// Without a body: the incident, its labels and annotations, and the step.
	a := runbook.Action{Method: http.MethodPost, URL: "https://hooks.example.com/x"}
	req, err = a.Render(data, nil)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(req.Body, &body))
	require.Equal(t, "runbook.action", body["type"])
	require.Equal(t, "runbook/inc_1/2/2", body["idempotency_key"])
	require.Equal(t, map[string]any{"zone": "eu-1"}, body["labels"])
	require.Equal(t, "Promote", body["runbook"].(map[string]any)["step_name"])

	// A missing label renders empty; a GET has no body.
	a = runbook.Action{Method: http.MethodGet, URL: "https://x.example.com/{{.Labels.missing}}"}
	req, err = a.Render(data, nil)
	require.NoError(t, err)
	require.Equal(t, "https://x.example.com/", req.URL)
	require.Nil(t, req.Body)
}

func TestRoleAllows(t *testing.T) {
	t.Parallel()
	require.True(t, runbook.RoleAllows(oncall.RoleAdmin, oncall.RoleResponder))
	require.True(t, runbook.RoleAllows(oncall.RoleResponder, oncall.RoleResponder))
	require.False(t, runbook.RoleAllows(oncall.RoleResponder, oncall.RoleAdmin))
	require.False(t, runbook.RoleAllows(oncall.RoleViewer, oncall.RoleResponder))
	require.False(t, runbook.RoleAllows("", oncall.RoleResponder))
}
