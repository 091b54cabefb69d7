package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/testenv"
)

type auditEvent struct {
	ID             int64           `json:"id"`
	At             time.Time       `json:"at"`
	Actor          string          `json:"actor"`
	CredentialKind string          `json:"credential_kind"`
	CredentialID   string          `json:"credential_id"`
	Method         string          `json:"method"`
	Route          string          `json:"route"`
	Path           string          `json:"path"`
	Target         string          `json:"target"`
	Status         int             `json:"status"`
	RequestID      string          `json:"request_id"`
	Summary        json.RawMessage `json:"summary"`
}

// send is do with a chosen token and request ID; it returns the raw body.
func (a *oncallAPI) send(method, path, body, token, requestID string) (int, []byte) {
	a.t.Helper()
	rec := a.serve(method, path, body, "Authorization", "Bearer "+token, "X-Request-ID", requestID)
	return rec.Code, rec.Body.Bytes()
}

func (a *oncallAPI) audit(query url.Values) []auditEvent {
	a.t.Helper()
	status, body := a.send(http.MethodGet, "/audit?"+query.Encode(), "", testenv.Token(a.t, auth.Admin), "read-audit")
	require.Equal(a.t, http.StatusOK, status, "%s", body)
	var page struct {
		AuditEvents []auditEvent `json:"audit_events"`
		NextCursor  string       `json:"next_cursor"`
	}
	require.NoError(a.t, json.Unmarshal(body, &page))
	return page.AuditEvents
}

// Configuration writes are recorded with the object before and after, as
// the API shows it; refused writes with their status; reads not at all.
func TestAuditTrailOfConfigurationWrites(t *testing.T) {
	t.Parallel()
	a := newOncallAPI(t)
	alice := testenv.TokenFor(t, "alice", auth.Admin)
	status, body := a.send(http.MethodPost, "/users", `{"name":"Ann","email":"ann@example.com",
		"contact_methods":[{"type":"webhook","url":"`+slackHook+`"}]}`, alice, "req-create")
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var ann map[string]any
	require.NoError(t, json.Unmarshal(body, &ann))
	id := ann["id"].(string)
	ann["name"] = "Ann B."
	edited, err := json.Marshal(ann)
	require.NoError(t, err)
	status, body = a.send(http.MethodPut, "/users/"+id, string(edited), alice, "req-update")
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, _ = a.send(http.MethodDelete, "/users/"+id, "", testenv.TokenFor(t, "vic", auth.Viewer), "req-refused")
	require.Equal(t, http.StatusForbidden, status)
	status, _ = a.send(http.MethodGet, "/users/"+id, "", alice, "req-read")
	require.Equal(t, http.StatusOK, status)

	events := a.audit(url.Values{})
	require.Len(t, events, 3, "reads are not recorded")
	refused, update, create := events[0], events[1], events[2]

	require.Equal(t, "alice", create.Actor)
	require.Equal(t, "user", create.CredentialKind)
	require.Equal(t, "alice", create.CredentialID)
	require.Equal(t, "POST", create.Method)
	require.Equal(t, "/api/v1/users", create.Route)
	require.Equal(t, id, create.Target, "a create names what it created")
	require.Equal(t, http.StatusCreated, create.Status)
	require.Equal(t, "req-create", create.RequestID)
	var cs struct{ Before, After map[string]any }
	require.NoError(t, json.Unmarshal(create.Summary, &cs))
	require.Nil(t, cs.Before)
	require.Equal(t, "Ann", cs.After["name"])

	require.Equal(t, "/api/v1/users/:id", update.Route)
	require.Equal(t, "/api/v1/users/"+id, update.Path)
	require.Equal(t, id, update.Target)
	var us struct{ Before, After map[string]any }
	require.NoError(t, json.Unmarshal(update.Summary, &us))
	require.Equal(t, "Ann", us.Before["name"])
	require.Equal(t, "Ann B.", us.After["name"])

	require.Equal(t, "vic", refused.Actor)
	require.Equal(t, "DELETE", refused.Method)
	require.Equal(t, id, refused.Target)
	require.Equal(t, http.StatusForbidden, refused.Status)
	require.Equal(t, "req-refused", refused.RequestID)
	require.Empty(t, refused.Summary)

	for _, e := range events {
		require.NotContains(t, string(e.Summary), "sEcReT", "webhook URLs are redacted in summaries")
	}
	require.Contains(t, string(create.Summary), "https://hooks.slack.com/…")

	// Filters.
	require.Len(t, a.audit(url.Values{"actor": {"alice"}}), 2)
	require.Len(t, a.audit(url.Values{"route": {"/api/v1/users/:id"}}), 2)
	require.Len(t, a.audit(url.Values{"target": {id}, "limit": {"1"}}), 1)
	require.Len(t, a.audit(url.Values{"to": {create.At.Add(-time.Second).Format(time.RFC3339)}}), 0)
	require.Len(t, a.audit(url.Values{"from": {create.At.Add(-time.Second).Format(time.RFC3339)}}), 3)
	for _, q := range []string{"from=yesterday", "limit=0", "limit=201", "cursor=zzz",
		"from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z"} {
		status, body := a.send(http.MethodGet, "/audit?"+q, "", alice, "bad")
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", q, body)
	}
	status, _ = a.send(http.MethodGet, "/audit", "", testenv.Token(t, auth.Responder), "no")
	require.Equal(t, http.StatusForbidden, status, "the trail is for admins")
}
