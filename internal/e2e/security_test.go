package e2e_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// receiver is a webhook endpoint on loopback that counts what reaches it
// and keeps the last body with its signature header.
type receiver struct {
	url  string // http://127.0.0.1:<port>
	port string
	hits atomic.Int64
	last atomic.Pointer[signedBody]
}

type signedBody struct {
	signature string
	body      []byte
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.last.Store(&signedBody{signature: req.Header.Get(outbound.SignatureHeader), body: body})
		r.hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)
	u, err := url.Parse(ts.URL)
	require.NoError(t, err)
	r.url, r.port = ts.URL, u.Port()
	return r
}

// strictStack is a stack configured as production is: outbound calls may
// not reach private addresses, except those allow lists; webhooks are
// signed with signingSecret.
func strictStack(t *testing.T, allow ...string) *stack {
	t.Helper()
	no := false
	return newStackWith(t, func(cfg *config.Config) {
		cfg.Outbound.AllowPrivate = &no
		cfg.Outbound.Allow = allow
		cfg.Outbound.SigningSecret = signingSecret
	})
}

const signingSecret = "webhook-signing-secret-of-32-bytes-at-least"

// webhookService creates a user whose one contact method is a webhook to
// hook, and a service whose policy pages the user at once.
func webhookService(t *testing.T, s *stack, hook string) (service, user string) {
	t.Helper()
	suffix := randomID()
	user = create(t, s.url, "/api/v1/users", map[string]any{
		"name": "Hook", "email": "hook-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "webhook", "url": hook}},
	})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{
		"name": "hook", "steps": []map[string]any{{"targets": []map[string]string{{"type": "user", "id": user}}}},
	})
	service = "hook-" + suffix
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy})
	return service, user
}

// delivered waits for the incident's one delivery to have an outcome.
func (s *stack) delivered(t *testing.T, incidentID string) store.Notification {
	t.Helper()
	var n store.Notification
	require.Eventually(t, func() bool {
		ns := s.ledger(t, incidentID)
		if len(ns) != 1 || ns[0].Status == store.NotificationClaimed {
			return false
		}
		n = ns[0]
		return true
	}, 30*time.Second, 20*time.Millisecond, "the page has an outcome")
	return n
}

// Outside development, a webhook URL naming a refused address is refused
// when saved; a name that resolves to one is saved, and its page fails for
// good at dial time, saying why, without a byte reaching the address.
func TestWebhooksToPrivateAddressesAreRefused(t *testing.T) {
	t.Parallel()
	s := strictStack(t)
	rcv := newReceiver(t)

	for _, hook := range []string{rcv.url + "/page", "http://169.254.169.254/latest/meta-data/"} {
		r := do(t, http.MethodPost, s.url+"/api/v1/users", map[string]any{
			"name": "Mallory", "email": "mallory-" + randomID() + "@example.com",
			"contact_methods": []map[string]string{{"type": "webhook", "url": hook}},
		})
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", hook, r.body)
		require.Equal(t, "invalid", r.errorCode(t))
		require.Contains(t, errMessage(t, r), "contact_methods[0].url: points at ")
	}

	service, _ := webhookService(t, s, "http://localhost:"+rcv.port+"/page")
	inc := openIncident(t, s, service)
	n := s.delivered(t, inc.ID)
	require.Equal(t, store.NotificationFailed, n.Status)
	require.Equal(t, "webhook", n.Channel)
	require.Contains(t, n.Detail, "refused to connect")
	require.Contains(t, n.Detail, "loopback")
	require.Equal(t, 1, n.Attempts, "a refusal is permanent: never retried")

	var tl timelineBody
	require.Eventually(t, func() bool {
		do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).json(t, &tl)
		for _, ev := range tl.Events {
			if ev.Type == incident.EventNotifyFailed && strings.Contains(ev.Message, "refused to connect") {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "the timeline says why the page failed")
	require.Zero(t, rcv.hits.Load(), "nothing reached the loopback receiver")
}

// outbound.allow lets a listed internal address through, literal or not;
// the page carries the signature of outbound.signing_secret.
func TestAllowListedAddressIsPaged(t *testing.T) {
	t.Parallel()
	s := strictStack(t, "127.0.0.1/32")
	rcv := newReceiver(t)
	service, _ := webhookService(t, s, rcv.url+"/page")
	inc := openIncident(t, s, service)
	n := s.delivered(t, inc.ID)
	require.Equal(t, store.NotificationSent, n.Status, n.Detail)
	require.EqualValues(t, 1, rcv.hits.Load())
	got := rcv.last.Load()
	require.Contains(t, string(got.body), inc.ID)
	require.NoError(t, outbound.Verify([]byte(signingSecret), got.signature, got.body, time.Now(), time.Minute))
}

type auditPage struct {
	AuditEvents []store.AuditEvent `json:"audit_events"`
	NextCursor  string             `json:"next_cursor"`
}

func auditOf(t *testing.T, s *stack, query url.Values) []store.AuditEvent {
	t.Helper()
	r := do(t, http.MethodGet, s.url+"/api/v1/audit?"+query.Encode(), nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var page auditPage
	r.json(t, &page)
	return page.AuditEvents
}

// A configuration change, a command and a refused write each leave an
// audit event with the caller, the route, the object, the status and the
// request ID; webhook secrets never reach it; viewers cannot read it.
func TestAuditTrailRecordsWritesCommandsAndRefusals(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	rcv := newReceiver(t)
	const secretPath = "/services/T0/B0/aUdItSeCrEt"
	alice := bearer(testenv.TokenFor(t, "alice", auth.Admin))

	// A configuration change, as alice.
	r := do(t, http.MethodPost, s.url+"/api/v1/users", map[string]any{
		"name": "Carol", "email": "carol-" + randomID() + "@example.com",
		"contact_methods": []map[string]string{{"type": "webhook", "url": rcv.url + secretPath, "format": "slack"}},
	}, append(alice, "X-Request-ID", "req-config")...)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.NotContains(t, string(r.body), "aUdItSeCrEt", "answers redact webhook URLs")
	var carol struct {
		ID string `json:"id"`
	}
	r.json(t, &carol)
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{
		"name": "carol", "steps": []map[string]any{{"targets": []map[string]string{{"type": "user", "id": carol.ID}}}},
	})
	service := "audit-" + randomID()
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy})

	// A command, as a responder.
	inc := openIncident(t, s, service)
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{},
		append(bearer(testenv.TokenFor(t, "rita", auth.Responder)), "X-Request-ID", "req-ack")...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	// A write refused for its role.
	r = do(t, http.MethodDelete, s.url+"/api/v1/services/"+service, nil,
		append(bearer(testenv.TokenFor(t, "vic", auth.Viewer)), "X-Request-ID", "req-refused")...)
	require.Equal(t, http.StatusForbidden, r.status)

	config := auditOf(t, s, url.Values{"actor": {"alice"}})
	require.Len(t, config, 1)
	e := config[0]
	require.Equal(t, "user", e.CredentialKind)
	require.Equal(t, "alice", e.CredentialID)
	require.Equal(t, http.MethodPost, e.Method)
	require.Equal(t, "/api/v1/users", e.Route)
	require.Equal(t, carol.ID, e.Target)
	require.Equal(t, http.StatusCreated, e.Status)
	require.Equal(t, "req-config", e.RequestID)
	require.Contains(t, string(e.Summary), `"after"`)
	require.Contains(t, string(e.Summary), "http://127.0.0.1:"+rcv.port+"/…")

	ack := auditOf(t, s, url.Values{"route": {"/api/v1/incidents/:id/acknowledge"}})
	require.Len(t, ack, 1)
	require.Equal(t, "rita", ack[0].Actor)
	require.Equal(t, inc.ID, ack[0].Target)
	require.Equal(t, http.StatusOK, ack[0].Status)
	require.Equal(t, "req-ack", ack[0].RequestID)
	require.Empty(t, ack[0].Summary, "a command changes no configuration")

	refused := auditOf(t, s, url.Values{"actor": {"vic"}})
	require.Len(t, refused, 1)
	require.Equal(t, "/api/v1/services/:id", refused[0].Route)
	require.Equal(t, service, refused[0].Target)
	require.Equal(t, http.StatusForbidden, refused[0].Status)
	require.Equal(t, "req-refused", refused[0].RequestID)

	opened := auditOf(t, s, url.Values{"route": {"/api/v1/incidents"}})
	require.Len(t, opened, 1)
	require.Equal(t, inc.ID, opened[0].Target, "an open names the incident it opened")

	// The whole trail, every page of it, holds no webhook secret.
	all := do(t, http.MethodGet, s.url+"/api/v1/audit?limit=200", nil)
	require.Equal(t, http.StatusOK, all.status)
	require.NotContains(t, string(all.body), "aUdItSeCrEt")
	var page auditPage
	all.json(t, &page)
	require.Equal(t, "req-refused", page.AuditEvents[0].RequestID, "newest first")

	r = do(t, http.MethodGet, s.url+"/api/v1/audit", nil, bearer(testenv.TokenFor(t, "vic", auth.Viewer))...)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "forbidden", r.errorCode(t))
}
