package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/testenv"
)

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// An integration key of service A acts on A's incidents only, whatever
// dedup key, group or monitor it names.
func TestIntegrationKeyReachesOnlyItsService(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	serviceA, serviceB := "a-"+randomID(), "b-"+randomID()
	keyA := integrationKey(t, s, serviceA)
	keyB := integrationKey(t, s, serviceB)
	ctx := context.Background()

	// B has an incident from each ingestion path.
	r := do(t, http.MethodPost, s.url+"/v2/enqueue", map[string]any{"routing_key": keyB, "event_action": "trigger", "dedup_key": "shared",
		"payload": map[string]any{"summary": "b is down", "source": "b", "severity": "critical"}})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	r = do(t, http.MethodPost, s.url+"/api/v1/integrations/alertmanager", amPayload("firing", "fp-b"), bearer(keyB)...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Eventually(t, func() bool { return len(s.incidentsOf(t, serviceB)) == 2 }, 30*time.Second, 20*time.Millisecond)

	// A's key sends acknowledge and resolve for the same dedup key and
	// group: they land on A, where there is nothing to close.
	for _, action := range []string{"acknowledge", "resolve"} {
		r = do(t, http.MethodPost, s.url+"/api/v1/integrations/events-v2", map[string]any{"routing_key": keyA, "event_action": action, "dedup_key": "shared"})
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	}
	r = do(t, http.MethodPost, s.url+"/api/v1/integrations/alertmanager", amPayload("resolved", "fp-b"), bearer(keyA)...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = do(t, http.MethodPost, s.url+"/api/v1/integrations/generic",
		map[string]any{"summary": "b", "severity": "low", "dedup_key": "shared", "action": "resolve"}, bearer(keyA)...)
	require.Less(t, r.status, 300, "%s", r.body)

	// B's monitor does not take A's pings.
	monitor := create(t, s.url, "/api/v1/heartbeat-monitors", map[string]any{"service_id": serviceB, "name": "cron", "interval": "1h"})
	r = do(t, http.MethodPost, s.url+"/api/v1/heartbeats/"+monitor, nil, bearer(keyA)...)
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)

	// A resolve for a dedup key that A never opened leaves nothing behind,
	// and B's incidents are as they were: open, touched by nobody.
	for _, inc := range s.incidentsOf(t, serviceB) {
		got, err := s.store.GetIncident(ctx, inc.ID)
		require.NoError(t, err)
		require.Equal(t, incident.StatusOpen, got.Status, "B's incident %s", inc.ID)
	}
	for _, inc := range s.incidentsOf(t, serviceA) {
		require.Equal(t, serviceA, inc.Service)
	}
}

func TestUserTokensAreChecked(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// Minted two hours ago with the server's secret, for an hour.
	old := testenv.Tokens(t)
	old.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expiredTok, err := old.Mint("alice", auth.Admin, time.Hour)
	require.NoError(t, err)
	other, err := auth.NewTokens([]byte("a-different-secret-thirty-two-bytes!!"))
	require.NoError(t, err)
	forged, err := other.Mint("mallory", auth.Admin, time.Hour)
	require.NoError(t, err)

	for name, c := range map[string]struct {
		token, message string
	}{
		"expired":         {expiredTok, "token expired: mint a new one"},
		"wrong signature": {forged, "invalid token"},
		"alg none":        {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5Iiwicm9sZSI6ImFkbWluIiwiZXhwIjo5OTk5OTk5OTk5fQ.", "invalid token"},
		"garbage":         {"hello", "invalid token"},
		"revoked-looking": {"ak_aaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "invalid API key: unknown, revoked or expired"},
	} {
		r := doRaw(t, http.MethodGet, s.url+"/api/v1/incidents", nil, bearer(c.token)...)
		require.Equal(t, http.StatusUnauthorized, r.status, name)
		var body struct {
			Error struct{ Code, Message string }
		}
		r.json(t, &body)
		require.Equal(t, string(fault.Unauthorized), body.Error.Code, name)
		require.Equal(t, c.message, body.Error.Message, name)
	}
}

func TestAPIKeysCarryTheirRoleAndName(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service := "k-" + randomID()
	create(t, s.url, "/api/v1/services", map[string]any{"id": service})
	r := do(t, http.MethodPost, s.url+"/api/v1/api-keys", map[string]any{"name": "chatops", "role": "responder"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var k struct {
		ID, Key, Role, CreatedBy string `json:"-"`
	}
	var raw map[string]any
	r.json(t, &raw)
	k.ID, k.Key, k.Role, k.CreatedBy = raw["id"].(string), raw["key"].(string), raw["role"].(string), raw["created_by"].(string)
	require.Equal(t, "responder", k.Role)
	require.Equal(t, "admin", k.CreatedBy)
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))

	// The key acts, and the timeline names it.
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents", map[string]string{"title": "t", "service": service, "severity": "low"}, bearer(k.Key)...)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var inc incident.Incident
	r.json(t, &inc)
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/notes", map[string]string{"note": "paging the db team", "actor": "alice"}, bearer(k.Key)...)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var note incident.Event
	r.json(t, &note)
	require.Equal(t, incident.EventNote, note.Type)
	require.Equal(t, "api-key:chatops for alice", note.Actor)
	var tl timelineBody
	do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID+"/timeline", nil).json(t, &tl)
	var found bool
	for _, ev := range tl.Events {
		if ev.ID == note.ID {
			found = true
			require.Equal(t, "paging the db team", ev.Message)
			require.Equal(t, note.Seq, ev.Seq, "the note has its place in the incident's order")
		}
	}
	require.True(t, found, "the note is on the timeline: %+v", tl.Events)
	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{}, bearer(k.Key)...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	replayAndRecord(t, s, inc.WorkflowID, "incident_note_v3.json")

	// Its role stops at responder.
	r = do(t, http.MethodPost, s.url+"/api/v1/users", map[string]string{"name": "x", "email": "x@example.com"}, bearer(k.Key)...)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, "this needs the admin role; the credential has responder", errMessage(t, r))

	// Use is recorded; the key is never listed.
	r = do(t, http.MethodGet, s.url+"/api/v1/api-keys", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.NotContains(t, string(r.body), k.Key[len(k.ID)+1:])
	require.Contains(t, string(r.body), `"last_used_at"`)

	// Revoked, it stops working at once.
	r = do(t, http.MethodDelete, s.url+"/api/v1/api-keys/"+k.ID, nil)
	require.Equal(t, http.StatusNoContent, r.status)
	r = do(t, http.MethodGet, s.url+"/api/v1/incidents", nil, bearer(k.Key)...)
	require.Equal(t, http.StatusUnauthorized, r.status)

	// Bad requests for keys.
	for _, body := range []string{`{"name":"x","role":"root"}`, `{"name":"","role":"viewer"}`, `{"name":"x","role":"viewer","expires_at":"2001-01-01T00:00:00Z"}`, `{"name":"x","role":"viewer","scope":"all"}`} {
		r = doRaw(t, http.MethodPost, s.url+"/api/v1/api-keys", body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
	}
}

func errMessage(t *testing.T, r response) string {
	t.Helper()
	var body struct {
		Error struct{ Message string }
	}
	r.json(t, &body)
	return body.Error.Message
}

func TestRateLimitAnswers429AndFailsOpenWithoutRedis(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// One token a minute after a burst of three: nothing refills meanwhile.
	limit := auth.Limit{Rate: 1.0 / 60, Burst: 3}
	url := s.serve(api.Options{Temporal: s.temporal, Store: s.store, TaskQueue: taskQueue, Metrics: s.metrics,
		Limiter: auth.NewLimiter(s.rdb, s.prefix), RateLimit: limit, EventsV2Limit: limit})
	viewer := bearer(testenv.TokenFor(t, "alice", auth.Viewer))
	for i := range 3 {
		r := do(t, http.MethodGet, url+"/api/v1/incidents", nil, viewer...)
		require.Equal(t, http.StatusOK, r.status, "request %d", i+1)
	}
	r := do(t, http.MethodGet, url+"/api/v1/incidents", nil, viewer...)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, string(fault.RateLimited), r.errorCode(t))
	after, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, after, 0)
	require.LessOrEqual(t, after, 60)
	r = do(t, http.MethodGet, url+"/api/v1/incidents", nil, bearer(testenv.TokenFor(t, "bob", auth.Viewer))...)
	require.Equal(t, http.StatusOK, r.status, "another credential has its own budget")

	// Events API v2: per integration key, in PagerDuty's words.
	service := "rl-" + randomID()
	key := integrationKey(t, s, service)
	var last response
	for range 4 {
		last = do(t, http.MethodPost, url+"/v2/enqueue", map[string]any{"routing_key": key, "event_action": "trigger", "dedup_key": "x",
			"payload": map[string]any{"summary": "s", "source": "src", "severity": "info"}})
	}
	require.Equal(t, http.StatusTooManyRequests, last.status, "%s", last.body)
	require.Contains(t, string(last.body), "throttle event")
	require.NotEmpty(t, last.header.Get("Retry-After"))

	// Redis gone: every request is served, and the fail-open is counted.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	url = s.serve(api.Options{Temporal: s.temporal, Store: s.store, TaskQueue: taskQueue, Metrics: s.metrics,
		Limiter: auth.NewLimiter(dead, s.prefix), RateLimit: limit})
	for i := range 6 {
		r := do(t, http.MethodGet, url+"/api/v1/incidents", nil, viewer...)
		require.Equal(t, http.StatusOK, r.status, "request %d without Redis", i+1)
	}
	r = do(t, http.MethodGet, url+"/metrics", nil)
	require.Regexp(t, `(?m)^rate_limiter_fail_open_total [1-9]`, string(r.body))
	require.Regexp(t, `(?m)^http_rate_limited_total\{scope="rest"\} [1-9]`, string(r.body))
}

func TestSecurityHeadersAndClosedMetrics(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for _, path := range []string{"/health", "/api/v1/incidents", "/api/v1/nothing"} {
		r := do(t, http.MethodGet, s.url+path, nil)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "DENY", r.header.Get("X-Frame-Options"), path)
		require.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'none'", path)
		require.Equal(t, "no-store", r.header.Get("Cache-Control"), path)
	}
	url := s.serve(api.Options{Temporal: s.temporal, Store: s.store, TaskQueue: taskQueue, MetricsAuth: true})
	r := do(t, http.MethodGet, url+"/metrics", nil, "Authorization", "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = do(t, http.MethodGet, url+"/metrics", nil, bearer(testenv.Token(t, auth.Viewer))...)
	require.Equal(t, http.StatusOK, r.status)
}

// selfSigned writes a P-256 certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func TestTLSRefusesOldProtocolsAndWeakCiphers(t *testing.T) {
	t.Parallel()
	certFile, keyFile := selfSigned(t)
	cfg, err := api.TLSConfig(certFile, keyFile)
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	ts.TLS = cfg
	ts.StartTLS()
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()

	dial := func(c *tls.Config) (*tls.ConnectionState, error) {
		c.InsecureSkipVerify = true // a self-signed test certificate
		conn, err := tls.Dial("tcp", addr, c)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		st := conn.ConnectionState()
		return &st, nil
	}
	_, err = dial(&tls.Config{MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	require.Error(t, err, "TLS 1.1 is refused")
	_, err = dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})
	require.Error(t, err, "a TLS 1.2 suite outside the guide's list is refused")
	st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), st.CipherSuite)
	st, err = dial(&tls.Config{})
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS13), st.Version)
}
