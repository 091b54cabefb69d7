package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
)

// The web console's tests drive a real, headless Chromium (Debian's
// chromium, which `make test` installs when missing) with chromedp, against
// the end-to-end stack. The browser runs with a fresh profile, no sandbox
// (tests run as root), and every host name resolving nowhere but loopback.

// chromium finds the browser binary; a missing one fails the test, as a
// missing Postgres does.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: `make test` installs it (apt-get install chromium)")
	return ""
}

// browser is one Chromium process; each tab has its own cookies.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts Chromium for the test and stops it when the test ends,
// before the stack's servers close (it is started after them).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it lives as long as ctx.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return &browser{t: t, ctx: ctx}
}

// tab is a page in a browser context of its own: its own cookies, as a
// second person's browser would have.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b *browser) tab(t *testing.T, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, append([]chromedp.ContextOption{chromedp.WithNewBrowserContext()}, opts...)...)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return &tab{t: t, ctx: ctx}
}

// do runs steps with a deadline, failing the test on an error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	require.NoError(tb.t, chromedp.Do(ctx, steps...))
}

// eval evaluates a JavaScript expression into v.
func (tb *tab) eval(expr string, v any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
	require.NoError(tb.t, err, "evaluate %s", expr)
	if v != nil {
		require.NoError(tb.t, json.Unmarshal(raw, v), "result of %s: %s", expr, raw)
	}
}

// text is an element's text, once the element exists. It is found and
// read in one evaluation: the console may re-render the element between a
// lookup and a read made as two protocol calls.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	var s string
	tb.eval(`new Promise(resolve => {
		const read = () => {
			const el = document.querySelector(`+jsString(sel)+`);
			if (el) { resolve(el.textContent); } else { setTimeout(read, 20); }
		};
		read();
	})`, &s)
	return strings.TrimSpace(s)
}

// attr is an attribute of an element, "" when it has none.
func (tb *tab) attr(sel, name string) string {
	tb.t.Helper()
	var v string
	tb.eval(`(document.querySelector(`+jsString(sel)+`) || {getAttribute: () => ''}).getAttribute(`+jsString(name)+`) || ''`, &v)
	return v
}

// waitFor waits until the JavaScript condition holds. The condition is
// checked by a promise the evaluation itself holds, not by chromedp's
// polling, which compiles it with new Function: the console's CSP forbids
// that, as it should.
func (tb *tab) waitFor(cond string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	expr := `new Promise((resolve, reject) => {
		const start = Date.now();
		(function check() {
			let ok = false;
			try { ok = !!(` + cond + `); } catch (e) {}
			if (ok) return resolve(true);
			if (Date.now() - start > 40000) return reject(new Error('timed out'));
			setTimeout(check, 5);
		})();
	})`
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
	require.NoError(tb.t, err, "waiting for %s", cond)
}

// loginLink mints a one-time login link through the admin API.
func loginLink(t *testing.T, s *stack, user string, role auth.Role) string {
	t.Helper()
	r := do(t, http.MethodPost, s.url+"/api/v1/login-links", map[string]string{"user": user, "role": string(role)})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var link struct {
		URL string `json:"url"`
	}
	r.json(t, &link)
	require.True(t, strings.HasPrefix(link.URL, s.url+"/console/login#ll_"), link.URL)
	return link.URL
}

// signIn opens a login link in the tab and waits until the console shows
// the user signed in, on the incident list.
func (tb *tab) signIn(s *stack, user string, role auth.Role) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(loginLink(tb.t, s, user, role)))
	tb.waitFor(`document.getElementById('who-name') && document.getElementById('who-name').textContent === ` + jsString(user))
	tb.waitFor(`location.pathname === '/console/incidents'`)
	require.Equal(tb.t, string(role), tb.text("#who-role"))
	tb.waitFor(`document.body.dataset.live === 'on'`)
}

// sessionCookie is the tab's console session cookie as the server set it.
func (tb *tab) sessionCookie(url string) *network.Cookie {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	require.NoError(tb.t, err)
	for _, c := range res.Cookies {
		if c.Name == "incident_session" {
			return c
		}
	}
	tb.t.Fatalf("no session cookie for %s", url)
	return nil
}

// screenshot saves the whole page at width as PNG under the test's
// directory, and under docs/images when CONSOLE_SCREENSHOTS is set (to
// refresh the pictures in docs/console.md and the README).
func (tb *tab) screenshot(name string, width int64) {
	tb.t.Helper()
	tb.shoot(name, width, chromedp.FullScreenshot(100))
}

// screenshotOf saves the element sel at width, as screenshot does the page.
func (tb *tab) screenshotOf(name, sel string, width int64) {
	tb.t.Helper()
	tb.shoot(name, width, chromedp.Screenshot(sel))
}

func (tb *tab) shoot(name string, width int64, capture chromedp.Action[[]byte]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	tb.requireFits(width)
	png, err := chromedp.Run(ctx, capture)
	require.NoError(tb.t, err)
	require.Greater(tb.t, len(png), 1000)
	require.Equal(tb.t, "\x89PNG", string(png[:4]))
	require.NoError(tb.t, os.WriteFile(filepath.Join(tb.t.TempDir(), name), png, 0o644))
	if os.Getenv("CONSOLE_SCREENSHOTS") != "" {
		dir := filepath.Join("..", "..", "docs", "images")
		require.NoError(tb.t, os.MkdirAll(dir, 0o755))
		require.NoError(tb.t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	}
	require.NoError(tb.t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
}

// requireFits lays the page out at width and fails the test if anything
// is wider than the screen (no sideways scrolling at 375 px). The page
// stays at width.
func (tb *tab) requireFits(width int64) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	require.NoError(tb.t, chromedp.Do(ctx, chromedp.EmulateViewport(width, 900)))
	// Layout settles at the new width before it is measured.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
	require.NoError(tb.t, err)
	var wide []string
	tb.eval(`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > `+strconv.FormatInt(width, 10)+` + 1 && e.offsetParent !== null)
		.slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right))`, &wide)
	require.Empty(tb.t, wide, "elements wider than %d px", width)
}

// installProbe records, from before the page's own scripts run, when rows
// of the incident list and the incident's status appear (wall-clock ms),
// so live-update delays are measured where the DOM changes.
func (tb *tab) installProbe() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.__rows = {}; window.__status = [];
		new MutationObserver(() => {
			document.querySelectorAll('#incidents tr[data-id]').forEach(r => { if (!window.__rows[r.dataset.id]) window.__rows[r.dataset.id] = Date.now(); });
			const s = document.getElementById('status');
			if (s && (window.__status.length === 0 || window.__status[window.__status.length-1].text !== s.textContent)) {
				window.__status.push({text: s.textContent, at: Date.now(), perf: performance.now()});
			}
		}).observe(document, {subtree: true, childList: true, characterData: true});
	`})
	require.NoError(tb.t, err)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
