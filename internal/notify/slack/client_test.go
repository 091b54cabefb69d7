package slack_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/push"
)

const botToken = "xoxb-test-bot-token"

type request struct {
	Method, Path, Auth, ContentType string
	Body                            string
}

type answer struct {
	status     int
	body       string
	retryAfter string
}

// standIn is a stand-in for Slack's Web API: it records every request and
// answers each method with the answer given for it.
func standIn(t *testing.T, answers map[string]answer) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		mu.Unlock()
		a, ok := answers[r.URL.Path]
		if !ok {
			a = answer{status: 404, body: `{"ok":false,"error":"unknown_method"}`}
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

var page = notify.Page{IncidentID: "inc_42", Title: "p99 above 2s <!channel> & more", Service: "checkout", Severity: "critical",
	Step: 1, Reason: "escalation", IncidentURL: "https://pager.example.com/incidents/inc_42", DeliveryID: "inc_42/0/1#1/u_alice/cm_slack"}

func TestPostMessageSendsThePageAsDocumented(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, map[string]answer{"/api/chat.postMessage": {200,
		`{"ok":true,"channel":"C0123ABCD","ts":"1503435956.000247","message":{"text":"x","type":"message"}}`, ""}})
	c := &slack.Client{BotToken: botToken, BaseURL: srv.URL + "/api"}
	posted, err := c.PostMessage(t.Context(), "C0123ABCD", slack.PageMessage(page))
	require.NoError(t, err)
	require.Equal(t, slack.Posted{Channel: "C0123ABCD", TS: "1503435956.000247"}, posted)

	reqs := got()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/api/chat.postMessage", r.Path)
	require.Equal(t, "Bearer "+botToken, r.Auth)
	require.Equal(t, "application/json; charset=utf-8", r.ContentType)
	require.JSONEq(t, `{
		"channel": "C0123ABCD",
		"text": "[CRITICAL] checkout: p99 above 2s &lt;!channel&gt; &amp; more (inc_42)",
		"blocks": [
			{"type": "section", "block_id": "incident_page", "text": {"type": "mrkdwn",
				"text": "*[CRITICAL] checkout: p99 above 2s &lt;!channel&gt; &amp; more (inc_42)*\nEscalation step 1 (escalation)\n<https://pager.example.com/incidents/inc_42|Open the incident>"}},
			{"type": "actions", "block_id": "incident_actions", "elements": [
				{"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "action_id": "incident_acknowledge", "value": "inc_42", "style": "primary"},
				{"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "action_id": "incident_resolve", "value": "inc_42"}
			]}
		],
		"metadata": {"event_type": "incident_page", "event_payload": {"incident_id": "inc_42", "delivery_id": "inc_42/0/1#1/u_alice/cm_slack"}}
	}`, r.Body)
}

func TestUpdateMessageReplacesTheButtons(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, map[string]answer{"/chat.update": {200, `{"ok":true,"channel":"C0123ABCD","ts":"1503435956.000247","text":"x"}`, ""}})
	c := &slack.Client{BotToken: botToken, BaseURL: srv.URL}
	require.NoError(t, c.UpdateMessage(t.Context(), "C0123ABCD", "1503435956.000247", slack.ActedMessage(page, "Acknowledged by Alice <alice@example.com>")))
	r := got()[0]
	require.Equal(t, "/chat.update", r.Path)
	require.Equal(t, "Bearer "+botToken, r.Auth)
	require.JSONEq(t, `{
		"channel": "C0123ABCD", "ts": "1503435956.000247",
		"text": "[CRITICAL] checkout: p99 above 2s &lt;!channel&gt; &amp; more (inc_42)",
		"blocks": [
			{"type": "section", "block_id": "incident_page", "text": {"type": "mrkdwn",
				"text": "*[CRITICAL] checkout: p99 above 2s &lt;!channel&gt; &amp; more (inc_42)*\nEscalation step 1 (escalation)\n<https://pager.example.com/incidents/inc_42|Open the incident>"}},
			{"type": "section", "block_id": "incident_status", "text": {"type": "mrkdwn", "text": "Acknowledged by Alice &lt;alice@example.com&gt;"}}
		],
		"metadata": {"event_type": "incident_page", "event_payload": {"incident_id": "inc_42", "delivery_id": "inc_42/0/1#1/u_alice/cm_slack"}}
	}`, r.Body)
}

const userJSON = `{"ok":true,"user":{"id":"W012A3CDE","team_id":"T012AB3C4","name":"spengler","deleted":false,
"real_name":"Egon Spengler","is_bot":false,"profile":{"email":"spengler@ghostbusters.example.com","display_name":"spengler"}}}`

func TestUserLookupsAreFormEncoded(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, map[string]answer{"/users.lookupByEmail": {200, userJSON, ""}, "/users.info": {200, userJSON, ""}})
	c := &slack.Client{BotToken: botToken, BaseURL: srv.URL}

	u, err := c.LookupUserByEmail(t.Context(), "spengler@ghostbusters.example.com")
	require.NoError(t, err)
	require.Equal(t, "W012A3CDE", u.ID)
	require.Equal(t, "T012AB3C4", u.TeamID)
	require.Equal(t, "spengler@ghostbusters.example.com", u.Profile.Email)
	require.False(t, u.Deleted)
	require.False(t, u.IsBot)

	u, err = c.UserInfo(t.Context(), "W012A3CDE")
	require.NoError(t, err)
	require.Equal(t, "Egon Spengler", u.RealName)

	reqs := got()
	require.Len(t, reqs, 2)
	require.Equal(t, "/users.lookupByEmail", reqs[0].Path)
	require.Equal(t, "application/x-www-form-urlencoded", reqs[0].ContentType)
	require.Equal(t, "Bearer "+botToken, reqs[0].Auth)
	require.Equal(t, url.Values{"email": {"spengler@ghostbusters.example.com"}}.Encode(), reqs[0].Body)
	require.Equal(t, "/users.info", reqs[1].Path)
	require.Equal(t, "user=W012A3CDE", reqs[1].Body)
}

func requirePushError(t *testing.T, err error, status int, permanent bool) *push.Error {
	t.Helper()
	var pe *push.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, status, pe.Status, "status in %v", err)
	require.Equal(t, permanent, pe.Permanent, "permanent in %v", err)
	require.Equal(t, permanent, push.IsPermanent(err))
	return pe
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		a          answer
		permanent  bool
		code       string
		retryAfter time.Duration
	}{
		{"invalid auth", answer{200, `{"ok":false,"error":"invalid_auth"}`, ""}, true, "invalid_auth", 0},
		{"channel not found", answer{200, `{"ok":false,"error":"channel_not_found"}`, ""}, true, "channel_not_found", 0},
		{"not in channel", answer{200, `{"ok":false,"error":"not_in_channel"}`, ""}, true, "not_in_channel", 0},
		{"archived", answer{200, `{"ok":false,"error":"is_archived"}`, ""}, true, "is_archived", 0},
		{"ratelimited in body", answer{200, `{"ok":false,"error":"ratelimited"}`, ""}, false, "ratelimited", 0},
		{"internal error", answer{200, `{"ok":false,"error":"internal_error"}`, ""}, false, "internal_error", 0},
		{"429 with Retry-After", answer{429, ``, "30"}, false, "ratelimited", 30 * time.Second},
		{"503", answer{503, `upstream unavailable`, ""}, false, "", 0},
		{"500 with code", answer{500, `{"ok":false,"error":"fatal_error"}`, ""}, false, "fatal_error", 0},
		{"404", answer{404, `{"ok":false,"error":"unknown_method"}`, ""}, true, "unknown_method", 0},
		{"302", answer{302, ``, ""}, true, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := standIn(t, map[string]answer{"/chat.postMessage": tc.a})
			c := &slack.Client{BotToken: botToken, BaseURL: srv.URL}
			_, err := c.PostMessage(t.Context(), "C1", slack.PageMessage(page))
			requirePushError(t, err, tc.a.status, tc.permanent)
			var apiErr *slack.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, "chat.postMessage", apiErr.Method)
			require.Equal(t, tc.code, apiErr.Code)
			require.Equal(t, tc.code, slack.ErrorCode(err))
			require.Equal(t, tc.retryAfter, apiErr.RetryAfter)
		})
	}
}

func TestUnknownUserIsPermanentWithItsCode(t *testing.T) {
	t.Parallel()
	srv, _ := standIn(t, map[string]answer{"/users.lookupByEmail": {200, `{"ok":false,"error":"users_not_found"}`, ""}})
	_, err := (&slack.Client{BotToken: botToken, BaseURL: srv.URL}).LookupUserByEmail(t.Context(), "nobody@example.com")
	requirePushError(t, err, 200, true)
	require.Equal(t, "users_not_found", slack.ErrorCode(err))
}

func TestAnswersThatAreNotSlacksArePermanent(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`<html>captive portal</html>`, `{"channel":"C1"}`, `{"ok":true,"channel":42}`} {
		srv, _ := standIn(t, map[string]answer{"/chat.postMessage": {200, body, ""}})
		_, err := (&slack.Client{BotToken: botToken, BaseURL: srv.URL}).PostMessage(t.Context(), "C1", slack.PageMessage(page))
		requirePushError(t, err, 200, true)
	}
}

func TestTransportFailuresAreTransientAndConfigurationErrorsPermanent(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	_, err = (&slack.Client{BotToken: botToken, BaseURL: closed}).PostMessage(t.Context(), "C1", slack.PageMessage(page))
	requirePushError(t, err, 0, false)

	blocking := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(blocking.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = (&slack.Client{BotToken: botToken, BaseURL: blocking.URL}).PostMessage(ctx, "C1", slack.PageMessage(page))
	requirePushError(t, err, 0, false)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = (&slack.Client{BaseURL: blocking.URL}).PostMessage(t.Context(), "C1", slack.PageMessage(page))
	requirePushError(t, err, 0, true)
	_, err = (&slack.Client{BotToken: botToken, BaseURL: "slack.com/api"}).PostMessage(t.Context(), "C1", slack.PageMessage(page))
	requirePushError(t, err, 0, true)
}

func TestTheCallersClientCarriesRequestsButNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		followed.Add(1)
		_, _ = io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1"}`)
	}))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	c := &slack.Client{BotToken: botToken, BaseURL: redirector.URL, HTTP: &http.Client{Timeout: 5 * time.Second}}
	_, err := c.PostMessage(t.Context(), "C1", slack.PageMessage(page))
	requirePushError(t, err, http.StatusTemporaryRedirect, true)
	require.Zero(t, followed.Load())
}

func TestRespondPostsTheEphemeralRefusal(t *testing.T) {
	t.Parallel()
	var got request
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	c := &slack.Client{BotToken: botToken, HTTP: srv.Client()}
	require.NoError(t, c.Respond(t.Context(), srv.URL+"/actions/T1/123/secret", slack.Ephemeral(slack.NotLinkedText)))
	require.Equal(t, http.MethodPost, got.Method)
	require.Equal(t, "/actions/T1/123/secret", got.Path)
	require.Empty(t, got.Auth, "the response_url is its own credential: no token")
	require.Equal(t, "application/json; charset=utf-8", got.ContentType)
	require.JSONEq(t, `{"response_type":"ephemeral","replace_original":false,
		"text":"You are not linked to an incident-server user, so this button did nothing. Ask an admin to link your Slack account, or use the same email address in both."}`, got.Body)

	err := c.Respond(t.Context(), "http://hooks.slack.example/actions/x", slack.Ephemeral("x"))
	requirePushError(t, err, 0, true)

	// A transport error names the host, not the path that authorizes.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	err = c.Respond(t.Context(), "https://"+addr+"/actions/T1/123/secret", slack.Ephemeral("x"))
	requirePushError(t, err, 0, false)
	require.NotContains(t, err.Error(), "secret")
}
