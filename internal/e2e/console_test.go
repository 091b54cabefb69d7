package e2e_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/runbook"
)

// rowSelector finds an incident's row in the list.
func rowSelector(id string) string { return `#incidents tr[data-id="` + id + `"]` }

// A responder signs in with a login link, sees an incident opened through
// the REST API appear in the list already open, without a reload, opens
// it, sees the page Gorush sent and the SLA counting down, and
// acknowledges it: the status and the timeline change. The session cookie
// is HttpOnly and SameSite=Strict, and a write with it but without the
// CSRF token is refused.
func TestConsoleResponderWorksAnIncident(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service, _, _ := pagingService(t, s, time.Hour, time.Hour)
	b := newBrowser(t)
	tb := b.tab(t)
	tb.installProbe()
	tb.signIn(s, "dana", auth.Responder)
	tb.eval(`window.__marker = 'no reload'; true`, nil)

	before := time.Now()
	inc := openIncident(t, s, service)
	answered := time.Now()
	tb.waitFor(`document.querySelector('` + rowSelector(inc.ID) + `')`)
	var seen int64
	tb.eval(`window.__rows[`+jsString(inc.ID)+`]`, &seen)
	shown := time.UnixMilli(seen)
	t.Logf("live list: incident row shown %v after the REST answer (%v after the request was sent)",
		shown.Sub(answered).Round(time.Millisecond), shown.Sub(before).Round(time.Millisecond))
	var marker string
	tb.eval(`window.__marker`, &marker)
	require.Equal(t, "no reload", marker, "the list changed without a reload")
	require.Equal(t, "open", tb.text(rowSelector(inc.ID)+` td.status`))

	tb.do(chromedp.Click(rowSelector(inc.ID) + ` td.title a`))
	tb.waitFor(`location.pathname === '/console/incidents/` + inc.ID + `' && document.getElementById('status')`)
	require.Equal(t, "open", tb.text("#status"))
	require.Equal(t, "payments failing", tb.text("#title"))

	// The page to alice went to Gorush (which reports it failed: APNs is
	// out of reach offline); the ledger row shows channel and outcome.
	tb.waitFor(`document.querySelector('#deliveries tbody tr')`)
	require.Equal(t, "push", tb.text(`#deliveries tbody tr td.channel`))
	require.Contains(t, tb.text(`#deliveries tbody tr`), "Alice")
	tb.waitFor(`document.querySelector('#timeline li[data-type="notified"], #timeline li[data-type="notify_failed"]')`)

	// A critical incident must be answered within 5 minutes: the countdown runs.
	first := tb.text("#sla-response .countdown")
	require.Regexp(t, `^in [45]m \d\ds$`, first)
	tb.waitFor(`document.querySelector('#sla-response .countdown').textContent !== ` + jsString(first))
	require.Equal(t, "pending", tb.text("#sla-response-status"))

	tb.do(chromedp.Click("#ack"))
	tb.waitFor(`document.getElementById('status').textContent === 'acknowledged'`)
	tb.waitFor(`document.querySelector('#timeline li[data-type="acknowledged"]')`)
	require.Contains(t, tb.text(`#timeline li[data-type="acknowledged"]`), "dana", "the timeline names the signed-in user")
	tb.waitFor(`document.getElementById('sla-response-status').textContent === 'met'`)
	tb.waitFor(`document.getElementById('ack').disabled`)

	t.Run("the session cookie", func(t *testing.T) {
		c := tb.sessionCookie(s.url)
		require.True(t, c.HTTPOnly, "scripts cannot read the session")
		require.Equal(t, network.CookieSameSiteStrict, c.SameSite)
		require.False(t, c.Secure, "plain HTTP here; Secure over TLS")
		var readable bool
		tb.eval(`document.cookie.includes('incident_session')`, &readable)
		require.False(t, readable)
	})

	t.Run("a forged write without the CSRF token is refused", func(t *testing.T) {
		// From the page itself, without the header the console adds.
		var res struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		}
		tb.eval(`fetch('/api/v1/incidents/`+inc.ID+`/mitigate', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'})
			.then(async r => ({status: r.status, code: (await r.json()).error.code}))`, &res)
		require.Equal(t, http.StatusForbidden, res.Status)
		require.Equal(t, "forbidden", res.Code)

		// From anywhere else with the cookie: no token, a wrong token, or
		// the right token from another origin.
		cookie := "incident_session=" + tb.sessionCookie(s.url).Value
		var session struct {
			CSRFToken string `json:"csrf_token"`
			User      string `json:"user"`
		}
		r := do(t, http.MethodGet, s.url+"/api/v1/session", nil, "Authorization", "", "Cookie", cookie)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.json(t, &session)
		require.Equal(t, "dana", session.User)
		require.NotEmpty(t, session.CSRFToken)
		url := s.url + "/api/v1/incidents/" + inc.ID + "/mitigate"
		for name, h := range map[string][]string{
			"no token":     {"Authorization", "", "Cookie", cookie},
			"wrong token":  {"Authorization", "", "Cookie", cookie, "X-CSRF-Token", "x" + session.CSRFToken},
			"cross-origin": {"Authorization", "", "Cookie", cookie, "X-CSRF-Token", session.CSRFToken, "Origin", "http://evil.example"},
			"cross-site":   {"Authorization", "", "Cookie", cookie, "X-CSRF-Token", session.CSRFToken, "Sec-Fetch-Site", "cross-site"},
		} {
			r := do(t, http.MethodPost, url, map[string]string{}, h...)
			require.Equal(t, http.StatusForbidden, r.status, "%s: %s", name, r.body)
		}
		got := do(t, http.MethodGet, s.url+"/api/v1/incidents/"+inc.ID, nil)
		require.Contains(t, string(got.body), `"status":"acknowledged"`, "nothing forged went through")
		// With the token, the same request is the console's own: accepted.
		r = do(t, http.MethodPost, url, map[string]string{}, "Authorization", "", "Cookie", cookie, "X-CSRF-Token", session.CSRFToken)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		tb.waitFor(`document.getElementById('status').textContent === 'mitigated'`)
	})

	t.Run("a viewer has no action buttons and the server refuses them anyway", func(t *testing.T) {
		viewer := b.tab(t)
		viewer.signIn(s, "vic", auth.Viewer)
		viewer.do(chromedp.Navigate(s.url + "/console/incidents/" + inc.ID))
		viewer.waitFor(`document.getElementById('status')`)
		var none bool
		viewer.eval(`document.getElementById('ack') === null && document.getElementById('resolve') === null && document.getElementById('actions').hidden`, &none)
		require.True(t, none, "no action buttons for a viewer")
		var status int
		viewer.eval(`fetch('/api/v1/session').then(r => r.json()).then(s => fetch('/api/v1/incidents/`+inc.ID+`/resolve',
			{method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token}, body: '{}'})).then(r => r.status)`, &status)
		require.Equal(t, http.StatusForbidden, status, "the role is checked as for a token")
	})

	t.Run("sign-out revokes the session", func(t *testing.T) {
		cookie := "incident_session=" + tb.sessionCookie(s.url).Value
		tb.do(chromedp.Click("#sign-out"))
		tb.waitFor(`document.getElementById('who').hidden && document.querySelector('form.signin')`)
		r := do(t, http.MethodGet, s.url+"/api/v1/session", nil, "Authorization", "", "Cookie", cookie)
		require.Equal(t, http.StatusUnauthorized, r.status, "the old cookie no longer works: %s", r.body)
	})
}

// A change made through a second API process (same Postgres, Redis and
// Temporal) reaches a browser connected to the first.
func TestConsoleChangeThroughAnotherAPIReachesTheBrowser(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service, _, _ := pagingService(t, s, time.Hour, time.Hour)

	// The second API, built by the composition root as `incident-server api` builds it.
	ctx := context.Background()
	a2, err := app.Open(ctx, s.app.Config, app.Options{LogOutput: logOutput()})
	require.NoError(t, err)
	t.Cleanup(a2.Close)
	require.NoError(t, a2.LoadTokens(false))
	require.NoError(t, a2.LoadKeyring(false))
	require.NoError(t, a2.DialTemporal(ctx, s.temporalAddr))
	second := httptest.NewServer(checked(t, a2.Handler()))
	t.Cleanup(second.Close)

	b := newBrowser(t)
	tb := b.tab(t)
	tb.installProbe()
	tb.signIn(s, "erin", auth.Responder)

	// Opened through the second API: the list on the first shows it.
	sent := time.Now()
	r := do(t, http.MethodPost, second.URL+"/api/v1/incidents", map[string]string{"title": "queue backlog", "service": service, "severity": "high"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	answered := time.Now()
	var inc incident.Incident
	r.json(t, &inc)
	tb.waitFor(`document.querySelector('` + rowSelector(inc.ID) + `')`)
	var seen int64
	tb.eval(`window.__rows[`+jsString(inc.ID)+`]`, &seen)
	t.Logf("live list across APIs: row shown %v after the request to the second API was sent (%v after it answered)",
		time.UnixMilli(seen).Sub(sent).Round(time.Millisecond), time.UnixMilli(seen).Sub(answered).Round(time.Millisecond))

	// Acknowledged through the second API: the page open on the first changes.
	tb.do(chromedp.Navigate(s.url + "/console/incidents/" + inc.ID))
	tb.waitFor(`document.getElementById('status') && document.getElementById('status').textContent === 'open' && document.body.dataset.live === 'on'`)
	sent = time.Now()
	r = do(t, http.MethodPost, second.URL+"/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	answered = time.Now()
	tb.waitFor(`document.getElementById('status').textContent === 'acknowledged'`)
	var changes []struct {
		Text string `json:"text"`
		At   int64  `json:"at"`
	}
	tb.eval(`window.__status`, &changes)
	last := changes[len(changes)-1]
	require.Equal(t, "acknowledged", last.Text)
	t.Logf("live incident page across APIs: status shown %v after the request to the second API was sent (%v after it answered)",
		time.UnixMilli(last.At).Sub(sent).Round(time.Millisecond), time.UnixMilli(last.At).Sub(answered).Round(time.Millisecond))
	tb.waitFor(`document.querySelector('#timeline li[data-type="acknowledged"]')`)
}

// With Redis unreachable the console says live updates are paused and
// polls: an incident opened meanwhile still shows up in the list.
func TestConsolePollsWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close())
	s := newStackWith(t, func(c *config.Config) {
		c.Redis.Addr = dead
		c.Console.PollInterval = time.Second
	})
	service := "batch-" + randomID()
	b := newBrowser(t)
	tb := b.tab(t)
	tb.do(chromedp.Navigate(loginLink(t, s, "fay", auth.Responder)))
	tb.waitFor(`location.pathname === '/console/incidents' && document.body.dataset.live === 'off'`)
	banner := tb.text("#banner")
	require.Contains(t, banner, "Live updates are paused")
	require.Contains(t, banner, "every 1 s")

	inc := openIncident(t, s, service)
	answered := time.Now()
	tb.waitFor(`document.querySelector('` + rowSelector(inc.ID) + `')`)
	t.Logf("polling list: row shown within %v", time.Since(answered).Round(time.Millisecond))
}

// TestConsoleScreenshots fills a stack with a few incidents in every state,
// a runbook under way and two schedules, and takes the pictures
// docs/console.md shows of the list, an incident page and the on-call page
// at 1280 and 375 px, and of the runbooks panel (written to docs/images
// with CONSOLE_SCREENSHOTS=1). It also measures the incident page: bytes
// transferred on a cold load and the time to the first render and to the
// incident's data.
func TestConsoleScreenshots(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, runbookConfig)
	recv := newActionReceiver(t)
	suffix := randomID()
	alice := create(t, s.url, "/api/v1/users", map[string]any{"name": "Alice Chen", "email": "alice-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "push", "platform": "ios", "token": "alice-phone-" + suffix}}})
	bob := create(t, s.url, "/api/v1/users", map[string]any{"name": "Bob Okafor", "email": "bob-" + suffix + "@example.com",
		"contact_methods": []map[string]string{{"type": "push", "platform": "android", "token": "bob-phone-" + suffix}}})
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{"name": "Checkout primary", "repeat": 1,
		"steps": []map[string]any{
			{"delay": "10m", "targets": []map[string]string{{"type": "user", "id": alice}}},
			{"delay": "10m", "targets": []map[string]string{{"type": "user", "id": bob}}},
		}})
	for _, svc := range []string{"checkout", "payments", "search", "exports"} {
		create(t, s.url, "/api/v1/services", map[string]any{"id": svc, "escalation_policy_id": policy})
	}
	create(t, s.url, "/api/v1/runbooks", map[string]any{"name": "Roll back a bad deploy", "service_id": "checkout",
		"steps": []map[string]any{
			{"name": "Confirm the deploy is the cause", "kind": "manual", "required": true,
				"instructions": "Compare p99 on the release dashboard before and after the deploy."},
			{"name": "Roll back to the previous release", "kind": "action", "action": map[string]any{"url": recv.url + "/rollback"}},
			{"name": "Approve sending traffic back", "kind": "approval", "required": true, "approval": map[string]any{"role": "responder"}},
			{"name": "Post a status update", "kind": "manual", "instructions": "Say what broke, what was rolled back, and what is next."},
		}})
	carol := create(t, s.url, "/api/v1/users", map[string]any{"name": "Carol Díaz", "email": "carol-" + suffix + "@example.com"})
	checkoutOnCall := create(t, s.url, "/api/v1/schedules", map[string]any{"name": "Checkout primary", "time_zone": "Europe/Berlin",
		"layers": []map[string]any{
			{"name": "weekly", "members": []string{alice, bob}, "start": "2026-01-05T09:00", "turn": "weekly"},
			{"name": "weekend", "members": []string{carol}, "start": "2026-01-09T18:00", "turn": "weekly",
				"restrictions": []map[string]any{{"start_day": "fri", "start": "18:00", "end_day": "mon", "end": "09:00"}}},
		}})
	tomorrow := time.Now().UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 17*time.Hour)
	r := do(t, http.MethodPost, s.url+"/api/v1/schedules/"+checkoutOnCall+"/overrides", map[string]any{
		"user_id": carol, "start": tomorrow, "end": tomorrow.Add(4 * time.Hour)})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	create(t, s.url, "/api/v1/schedules", map[string]any{"name": "Search secondary", "time_zone": "America/New_York",
		"layers": []map[string]any{{"name": "daily", "members": []string{bob, alice}, "start": "2026-01-05T08:00", "turn": "daily"}}})
	open := func(title, service, severity string) string {
		r := do(t, http.MethodPost, s.url+"/api/v1/incidents", map[string]string{"title": title, "service": service, "severity": severity,
			"description": ""})
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		var inc incident.Incident
		r.json(t, &inc)
		return inc.ID
	}
	command := func(id, action string, body any) {
		r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+id+"/"+action, body)
		require.Less(t, r.status, 300, "%s %s: %s", action, id, r.body)
	}
	old := open("Nightly export finished late", "exports", "low")
	command(old, "resolve", map[string]string{"note": "the job was stuck behind a lock; rerun"})
	mit := open("Search results stale in eu-west", "search", "medium")
	command(mit, "mitigate", map[string]string{"note": "reindex started"})
	ack := open("Payments webhook answering 502", "payments", "high")
	command(ack, "acknowledge", map[string]string{})
	r = do(t, http.MethodPost, s.url+"/api/v1/services/checkout/integration-keys", map[string]string{"name": "alertmanager"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var ik struct {
		Key string `json:"key"`
	}
	r.json(t, &ik)
	key := ik.Key
	am := amPayload("firing", "checkout-eu-1", "checkout-us-2")
	for _, a := range am["alerts"].([]map[string]any) {
		a["labels"] = map[string]string{"alertname": "CheckoutLatencyHigh", "instance": a["fingerprint"].(string), "severity": "critical"}
		a["annotations"] = map[string]string{"summary": "Checkout p99 latency above 2s"}
	}
	r = do(t, http.MethodPost, s.url+"/api/v1/integrations/alertmanager", am, "Authorization", "Bearer "+key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	main := s.onlyIncident(t, "checkout").ID
	command(main, "notes", map[string]string{"note": "p99 rose at 14:02 with the 4.12 deploy; rolling back"})
	awaitStep(t, s, main, 1, 1, runbook.StepRunning)
	command(main, "runbooks/1/steps/1/complete", map[string]string{"note": "p99 doubled within a minute of 4.12"})
	awaitStep(t, s, main, 1, 3, runbook.StepWaitingApproval)

	b := newBrowser(t)
	tb := b.tab(t)
	tb.signIn(s, "alice", auth.Responder)
	tb.waitFor(`document.querySelectorAll('#incidents tr[data-id]').length === 4`)
	tb.screenshot("console-list-1280.png", 1280)
	tb.screenshot("console-list-375.png", 375)

	tb.do(chromedp.Navigate(s.url + "/console/incidents/" + main))
	tb.waitFor(`document.querySelector('#deliveries tbody tr') && document.querySelector('#timeline li[data-type="note"]') && document.querySelector('#alerts tbody tr')` +
		` && document.querySelector('#runbooks li[data-step="3"][data-status="waiting_approval"]')`)
	tb.screenshot("console-incident-1280.png", 1280)
	tb.screenshot("console-incident-375.png", 375)
	tb.screenshotOf("console-runbooks.png", "#runbooks", 1280)

	// The on-call page, signed in as Alice's user, so her shifts show too.
	oc := b.tab(t)
	oc.signIn(s, alice, auth.Responder)
	oc.do(chromedp.Navigate(s.url + "/console/on-call"))
	oc.waitFor(`document.querySelectorAll('#schedules .on-call-name').length === 2 && document.querySelector('#my-shift-list') && document.querySelector('tr[data-override]')`)
	oc.screenshot("console-oncall-1280.png", 1280)
	oc.screenshot("console-oncall-375.png", 375)

	// A cold load of the incident page, in a fresh browser context.
	cold := b.tab(t)
	cold.signIn(s, "alice", auth.Responder)
	ctx, cancel := context.WithTimeout(cold.ctx, 45*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
	require.NoError(t, err)
	cold.installProbe()
	cold.do(chromedp.Navigate(s.url + "/console/incidents/" + main))
	cold.waitFor(`document.querySelector('#deliveries tbody tr') && document.querySelector('#timeline li')`)
	var m struct {
		Bytes     int     `json:"bytes"`
		Requests  int     `json:"requests"`
		Assets    int     `json:"assets"`
		FCP       float64 `json:"fcp"`
		Data      float64 `json:"data"`
		DOMLoaded float64 `json:"dom_loaded"`
	}
	cold.eval(`(() => {
		const nav = performance.getEntriesByType('navigation')[0];
		const res = performance.getEntriesByType('resource');
		const paint = performance.getEntriesByName('first-contentful-paint')[0];
		return {
			bytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
			requests: 1 + res.length,
			assets: 1 + res.filter(r => r.name.includes('/console/')).length,
			fcp: paint ? paint.startTime : -1,
			data: window.__status.length ? window.__status[0].perf : -1,
			dom_loaded: nav.domContentLoadedEventEnd,
		};
	})()`, &m)
	t.Logf("incident page, cold load: %d bytes transferred in %d requests (%d console files); first contentful paint %.0f ms, DOMContentLoaded %.0f ms, incident shown %.0f ms",
		m.Bytes, m.Requests, m.Assets, m.FCP, m.DOMLoaded, m.Data)
	require.Greater(t, m.Bytes, 0)
	require.Less(t, m.Bytes, 200_000, "the incident page stays light")
	require.True(t, strings.HasPrefix(s.url, "http://127.0.0.1:"))
}
