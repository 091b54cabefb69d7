package e2e_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// TestSmokeTestsScript runs deploy/scripts/smoke-tests.sh, the check
// deploy.sh and rollback.sh run after a rollout, against a whole stack: it
// must pass, and the incident it made must be resolved.
func TestSmokeTestsScript(t *testing.T) {
	t.Parallel()
	s := newStack(t)

	id := runSmokeTests(t, s.url, testenv.Token(t, auth.Responder))

	r := do(t, http.MethodGet, s.url+"/api/v1/incidents/"+id, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var got incidentBody
	r.json(t, &got)
	require.Equal(t, incident.StatusResolved, got.Status)
	require.Equal(t, "smoke-test", got.Service)
	require.Contains(t, got.AcknowledgedBy, "smoke-test", "the actor the script names")

	stored, err := s.store.GetIncident(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, incident.StatusResolved, stored.Status)
}

// TestSmokeTestsThroughPgBouncer runs the whole engine, API and worker
// activities, on a store that reaches Postgres through PgBouncer in
// transaction pooling mode with the exec mode the Kubernetes config uses,
// and drives it with the smoke tests.
func TestSmokeTestsThroughPgBouncer(t *testing.T) {
	t.Parallel()
	bouncer := testenv.StartPgBouncer(t, testenv.PgBouncerOptions{PoolSize: 2})
	dbURL := bouncer.URL(t, testenv.DatabaseName(t))
	st, err := store.Open(t.Context(), dbURL, store.PoolOptions{MaxConns: 2, QueryExecMode: "exec"})
	require.NoError(t, err)
	_, err = store.MigrateUp(t.Context(), st.Pool())
	require.NoError(t, err)
	st.Close()
	s := newStackWith(t, func(cfg *config.Config) {
		cfg.Database.URL = dbURL
		cfg.Database.QueryExecMode = "exec"
	})

	id := runSmokeTests(t, s.url, testenv.Token(t, auth.Responder))

	stored, err := s.store.GetIncident(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, incident.StatusResolved, stored.Status)
	events, err := s.store.Timeline(context.Background(), id, 0)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(events), 3)
}

// TestSmokeTestsScriptFailsAgainstABrokenAPI: an API that refuses to open
// incidents makes the script exit 1.
func TestSmokeTestsScriptFailsAgainstABrokenAPI(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /api/v1/incidents", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"code":"unavailable","message":"temporal unreachable"}}`, http.StatusServiceUnavailable)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	url := ts.URL

	cmd, stdout, stderr := smokeTestsCommand(t, url, "")
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "stderr: %s", stderr)
	require.Equal(t, 1, exit.ExitCode())
	require.Empty(t, stdout.String())
	require.Contains(t, stderr.String(), "FAIL: open: HTTP 503")
}

// runSmokeTests runs the script against baseURL, with token as its bearer
// token when not empty, requires it to pass and returns the incident ID it
// printed.
func runSmokeTests(t *testing.T, baseURL, token string) string {
	t.Helper()
	cmd, stdout, stderr := smokeTestsCommand(t, baseURL, token)
	require.NoError(t, cmd.Run(), "smoke-tests.sh failed:\n%s", stderr)
	id := strings.TrimSpace(stdout.String())
	require.True(t, strings.HasPrefix(id, "inc_"), "stdout %q is not an incident ID; stderr:\n%s", id, stderr)
	return id
}

// smokeTestsCommand is the one place the script's invocation is built.
func smokeTestsCommand(t *testing.T, baseURL, token string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "scripts", "smoke-tests.sh"))
	require.NoError(t, err)
	args := []string{script, "--base-url", baseURL, "--timeout", "60"}
	if token != "" {
		args = append(args, "--token", token)
	}
	cmd := exec.CommandContext(t.Context(), "bash", args...)
	// Only what the script needs: no token or base URL leaks in from the
	// environment of the test run.
	cmd.Env = []string{"PATH=" + pathEnv(t)}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func pathEnv(t *testing.T) string {
	t.Helper()
	var dirs []string
	for _, tool := range []string{"bash", "curl", "jq", "mktemp", "date", "cat", "chmod", "rm"} {
		p, err := exec.LookPath(tool)
		require.NoError(t, err, "smoke-tests.sh needs %s", tool)
		dirs = append(dirs, filepath.Dir(p))
	}
	return strings.Join(dirs, ":")
}
