package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/twilio"
	"github.com/incident-server/incident-server/internal/testenv"
)

// The fuzz targets send arbitrary bytes as the body of each route that
// takes JSON, as an admin, to the real handler over a real Postgres schema.
// Temporal is a client of an address where nothing listens, so a body that
// gets past validation meets an unavailable engine (503) instead of a nil
// one. Whatever the bytes, the answer is never a 500 or a panic, and every
// error has the one error shape.

// fuzzAPI serves the API over a schema of the target's own.
func fuzzAPI(f *testing.F) http.Handler {
	tc, err := client.NewLazyClient(client.Options{
		HostPort: "127.0.0.1:1",
		Logger:   sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		f.Fatalf("temporal client: %v", err)
	}
	f.Cleanup(tc.Close)
	return api.New(api.Options{
		Temporal:      tc,
		Store:         testenv.Store(f, testenv.Postgres(f)),
		Tokens:        testenv.Tokens(f),
		UpdateTimeout: 200 * time.Millisecond,
		ReadyTimeout:  200 * time.Millisecond,
	})
}

func fuzzBody(f *testing.F, method, path string, seeds ...string) {
	h := fuzzAPI(f)
	token := testenv.Token(f, auth.Admin)
	for _, s := range append(seeds, ``, `{}`, `null`, `[]`, `{"a":`, `"x"`, `{"id":1e999}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequestWithContext(t.Context(), method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with %q answered %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s with %q: error body %q is not the error shape", method, path, body, rec.Body)
			}
		}
	})
}

func FuzzOpenIncident(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/incidents", `{"title":"t","service":"svc","severity":"low","dedup_key":"k","description":"d"}`)
}

func FuzzTransition(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/incidents/inc_fuzz/acknowledge", `{"actor":"alice","note":"looking"}`, `{"note":5}`)
}

func FuzzNote(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/incidents/inc_fuzz/notes", `{"note":"rolled back"}`, `{"note":"","actor":"bob"}`)
}

func FuzzEscalate(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/incidents/inc_fuzz/escalate", `{"note":"need help"}`)
}

func FuzzSnooze(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/incidents/inc_fuzz/snooze", `{"duration":"10m"}`, `{"duration":"-1s"}`, `{"duration":"P1D"}`)
}

func FuzzReassign(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/incidents/inc_fuzz/reassign", `{"user_ids":["usr_x"]}`, `{"policy_id":"pol_x"}`)
}

func FuzzUser(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/users", `{"name":"Ann","email":"ann@example.com","time_zone":"Europe/Berlin",
		"contact_methods":[{"type":"push","platform":"ios","token":"t"},{"type":"webhook","url":"https://hooks.example.com/x"}]}`)
}

func FuzzUserWithChannels(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/users", `{"name":"Ann","email":"ann@example.com",
		"contact_methods":[{"type":"email","address":"ann@example.com"},{"type":"sms","address":"+1 (500) 555-0006"},
		{"type":"voice","address":"+15005550006"},{"type":"slack","address":"u024be7lh"}]}`,
		`{"name":"Ann","email":"ann@example.com","contact_methods":[{"type":"sms","address":"+1call","url":"x"}]}`)
}

func FuzzNotificationRules(f *testing.F) {
	fuzzBody(f, "PUT", "/api/v1/users/usr_fuzz/notification-rules",
		`{"high":[{"contact_method_id":"cm_a","delay":"0s"},{"contact_method_id":"cm_b","delay":"2m"}],"low":[]}`,
		`{"user_id":"usr_other"}`, `{"high":[{"contact_method_id":"cm_a","delay":"-1s"}]}`, `{"low":[{"delay":1e300}]}`)
}

// FuzzSignedSMSReply sends arbitrary bodies to the SMS reply route, each
// signed as Twilio signs its webhooks: whatever a (compromised or buggy)
// sender with the auth token posts, the answer is never a 500 or a panic.
func FuzzSignedSMSReply(f *testing.F) {
	const token, sid, public = "fuzz-auth-token", "ACfuzz", "https://incidents.example.com"
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1",
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		f.Fatalf("temporal client: %v", err)
	}
	f.Cleanup(tc.Close)
	h := api.New(api.Options{Temporal: tc, Store: testenv.Store(f, testenv.Postgres(f)), UpdateTimeout: 200 * time.Millisecond,
		Inbound: api.Inbound{Links: &notify.Links{PublicURL: public, Secret: []byte("0123456789abcdef0123456789abcdef")},
			TwilioAccountSID: sid, TwilioAuthToken: token}})
	for _, s := range []string{
		"MessageSid=SM1&AccountSid=ACfuzz&From=%2B15005550006&To=%2B15005550001&Body=4",
		"MessageSid=SM1&AccountSid=ACfuzz&From=%2B15005550006&To=%2B15005550001&Body=ack+k3m9",
		"MessageSid=SM1&AccountSid=ACfuzz&From=x&To=y&Body=%FF%FE", "AccountSid=ACfuzz&AccountSid=ACfuzz", "%zz", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			form = url.Values{}
		}
		req := httptest.NewRequestWithContext(t.Context(), "POST", notify.SMSPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Signature(token, public+notify.SMSPath, form))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("body %q answered %d: %s", body, rec.Code, rec.Body)
		}
	})
}

// FuzzAckLink opens and posts arbitrary link tokens: never a 500, never an
// acknowledgement.
func FuzzAckLink(f *testing.F) {
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1",
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		f.Fatalf("temporal client: %v", err)
	}
	f.Cleanup(tc.Close)
	h := api.New(api.Options{Temporal: tc, Store: testenv.Store(f, testenv.Postgres(f)), UpdateTimeout: 200 * time.Millisecond,
		Inbound: api.Inbound{Links: &notify.Links{PublicURL: "https://incidents.example.com", Secret: []byte("0123456789abcdef0123456789abcdef")}}})
	for _, s := range []string{"AQAAAABrDWcIHmluY18x", "not-a-token", "", "%2F..%2F", strings.Repeat("A", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, method := range []string{"GET", "POST"} {
			req := httptest.NewRequestWithContext(t.Context(), method, "/", nil)
			req.URL.Path = notify.AckPath + token
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 || rec.Code == http.StatusOK && method == "POST" {
				t.Fatalf("%s of token %q answered %d: %s", method, token, rec.Code, rec.Body)
			}
		}
	})
}

func FuzzUserUpdate(f *testing.F) {
	fuzzBody(f, "PUT", "/api/v1/users/usr_fuzz", `{"id":"usr_fuzz","name":"Ann","email":"ann@example.com"}`)
}

func FuzzPolicy(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/escalation-policies", `{"name":"primary","repeat":1,"steps":[{"delay":"5m","targets":[{"type":"user","id":"usr_x"}]}]}`)
}

func FuzzSLAPolicy(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/sla-policies", `{"severity":"high","service":"svc","response":"15m","resolution":"4h","warning_fraction":0.8}`)
}

func FuzzMaintenanceWindow(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/maintenance-windows", `{"service_id":"svc","starts_at":"2026-11-25T10:00:00Z","ends_at":"2026-11-25T11:00:00Z","reason":"upgrade"}`)
}

func FuzzService(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/services", `{"id":"checkout","description":"pays","escalation_policy_id":"pol_x","ack_timeout":"30m","breach_user_ids":["usr_x"]}`)
}

func FuzzIntegrationKey(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/services/svc/integration-keys", `{"name":"prometheus"}`)
}

func FuzzAPIKey(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/api-keys", `{"name":"bot","role":"responder","expires_at":"2030-01-01T00:00:00Z"}`, `{"name":"bot","role":"root"}`)
}

func FuzzHeartbeatMonitor(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/heartbeat-monitors", `{"service_id":"svc","name":"nightly","interval":"24h"}`)
}
