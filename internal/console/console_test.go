package console_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/console"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	rd := r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		require.NoError(t, err)
		rd = zr
	}
	b, err := io.ReadAll(rd)
	require.NoError(t, err)
	return string(b)
}

func TestPagesGetIndexAndAssetsAreServedAsTheyAre(t *testing.T) {
	t.Parallel()
	h, err := console.New()
	require.NoError(t, err)

	page := get(t, h, "/console/incidents/inc_123")
	require.Equal(t, http.StatusOK, page.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", page.Header.Get("Content-Type"))
	require.Equal(t, console.CSP, page.Header.Get("Content-Security-Policy"))
	html := body(t, page)
	require.Contains(t, html, `<script type="module" src="/console/assets/app.js">`)

	js := get(t, h, "/console/assets/app.js", "Accept-Encoding", "br, gzip")
	require.Equal(t, http.StatusOK, js.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", js.Header.Get("Content-Type"))
	require.Equal(t, "gzip", js.Header.Get("Content-Encoding"))
	require.Contains(t, body(t, js), "export function navigate")

	again := get(t, h, "/console/assets/app.js", "If-None-Match", js.Header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, again.StatusCode, "revalidated by ETag")

	require.Equal(t, http.StatusNotFound, get(t, h, "/console/assets/missing.js").StatusCode,
		"a missing file is not answered with the page")
}

// The CSP forbids inline scripts and styles: the files must hold none.
func TestNoInlineScriptOrStyle(t *testing.T) {
	t.Parallel()
	h, err := console.New()
	require.NoError(t, err)
	html := body(t, get(t, h, "/console/"))
	require.NotRegexp(t, regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`), html, "no inline script")
	require.NotContains(t, html, "<style")
	require.NotContains(t, html, " style=")
	for _, f := range []string{"app.js", "api.js", "dom.js", "live.js", "views/list.js", "views/incident.js", "views/config.js", "views/signin.js", "views/oncall.js"} {
		src := body(t, get(t, h, "/console/assets/"+f))
		for _, banned := range []string{"innerHTML", "eval(", "new Function", ".style.", "setAttribute('style'"} {
			require.False(t, strings.Contains(src, banned), "%s uses %s", f, banned)
		}
	}
}
