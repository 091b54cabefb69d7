package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/apicheck"
	"github.com/incident-server/incident-server/internal/backup"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// runCmd runs the binary's entry point and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(t.Context(), Commands(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, store.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	s.SetKeyring(testenv.Keyring(t))
	return s
}

// seed writes a user, policies, a service and incidents with timelines.
func seed(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	u := oncall.User{Name: "Ann", Email: "ann@example.com", ContactMethods: []oncall.ContactMethod{
		{Type: oncall.ContactWebhook, URL: "https://hooks.example.com/ann", Format: oncall.WebhookSlack},
	}}
	u.Normalize()
	u, err := s.CreateUser(ctx, u)
	require.NoError(t, err)
	pol, err := s.CreatePolicy(ctx, oncall.Policy{Name: "primary", Repeat: 1, Steps: []oncall.Step{
		{Delay: oncall.Duration(5 * time.Minute), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: u.ID}}},
	}})
	require.NoError(t, err)
	_, err = s.CreateSLAPolicy(ctx, oncall.SLAPolicy{Severity: incident.SeverityCritical,
		Response: oncall.Duration(5 * time.Minute), Resolution: oncall.Duration(time.Hour), WarningFraction: 0.75})
	require.NoError(t, err)
	_, err = s.CreateService(ctx, oncall.Service{ID: "checkout", Name: "Checkout", EscalationPolicyID: pol.ID})
	require.NoError(t, err)
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range []string{"inc_1", "inc_2"} {
		_, err := s.ApplyTransition(ctx, incident.Incident{ID: id, WorkflowID: "incident/" + id, Title: "checkout down",
			Service: "checkout", Severity: incident.SeverityCritical, Status: incident.StatusOpen,
			CreatedAt: at, UpdatedAt: at, Version: 1},
			incident.Event{ID: "opened", IncidentID: id, Type: incident.EventOpened, EventTime: at, Seq: 1})
		require.NoError(t, err)
	}
}

func TestExportThenImportIntoAnEmptyDatabaseExportsTheSameBytes(t *testing.T) {
	src, dst := testenv.PostgresURL(t), testenv.PostgresURL(t)
	seed(t, openStore(t, src))
	dir := t.TempDir()

	t.Setenv("DATABASE_URL", src)
	files := map[string]string{}
	for _, kind := range []string{"config", "policies"} {
		code, out, errOut := runCmd(t, "export", kind)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, `"format": "incident-server.export/v1"`)
		files[kind] = filepath.Join(dir, kind+".json")
		require.NoError(t, os.WriteFile(files[kind], []byte(out), 0o600))
	}

	t.Setenv("DATABASE_URL", dst)
	code, out, errOut := runCmd(t, "import", files["config"], files["policies"])
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "services: 1 rows")
	// Idempotent: importing again, from standard input, succeeds.
	policies, err := os.ReadFile(files["policies"])
	require.NoError(t, err)
	stdin = bytes.NewReader(policies)
	t.Cleanup(func() { stdin = os.Stdin })
	code, _, errOut = runCmd(t, "import", "-")
	require.Equal(t, 0, code, errOut)

	for kind, file := range files {
		want, err := os.ReadFile(file)
		require.NoError(t, err)
		code, got, errOut := runCmd(t, "export", kind)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, string(want), got, kind)
	}

	code, _, errOut = runCmd(t, "export", "everything")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "config or policies")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"format":"incident-server.export/v1","kind":"config","extra":1}`), 0o600))
	code, _, errOut = runCmd(t, "import", filepath.Join(dir, "bad.json"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `unknown field "extra"`)
}

func TestRestoreRefusesADatabaseWithTablesAndFillsAnEmptyOne(t *testing.T) {
	ctx := t.Context()
	src := testenv.Database(t, true)
	seed(t, openStore(t, src))
	tools, err := backup.FindTools("")
	require.NoError(t, err)
	dump, err := tools.Dump(ctx, src, t.TempDir(), time.Now())
	require.NoError(t, err)

	used := testenv.Database(t, true)
	t.Setenv("DATABASE_URL", used)
	code, _, errOut := runCmd(t, "restore", "-from", dump.File)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "is not empty")
	require.Contains(t, errOut, "-force")

	empty := testenv.Database(t, false)
	t.Setenv("DATABASE_URL", empty)
	code, out, errOut := runCmd(t, "restore", "-from", dump.File)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "restored")
	restored := openStore(t, empty)
	for _, id := range []string{"inc_1", "inc_2"} {
		inc, err := restored.GetIncident(ctx, id)
		require.NoError(t, err)
		require.Equal(t, "checkout down", inc.Title)
	}

	// -force replaces what the dump holds in the used database.
	t.Setenv("DATABASE_URL", used)
	code, _, errOut = runCmd(t, "restore", "-force", "-from", dump.File)
	require.Equal(t, 0, code, errOut)
	_, err = openStore(t, used).GetIncident(ctx, "inc_1")
	require.NoError(t, err)

	code, _, errOut = runCmd(t, "restore")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "-from FILE")
}

// The health command reports the API's readiness answer and exits 0 only
// when it is ready. The API's own readiness checks are tested with the API;
// this stands in for its two answers, which api/openapi.yaml holds to the
// API's (as it holds the command's request).
func TestHealthExitsZeroWhenReadyAndNamesWhatIsNot(t *testing.T) {
	t.Parallel()
	spec, err := apicheck.Load()
	require.NoError(t, err)
	serve := func(status int, body string) string {
		h, wait := spec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			require.Equal(t, "/health/ready", r.URL.Path)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}), func(err error) { t.Errorf("api/openapi.yaml: %v", err) })
		t.Cleanup(wait)
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		return ts.URL
	}

	code, out, errOut := runCmd(t, "health", "-url", serve(http.StatusOK, `{"status":"ready","checks":{"postgres":"ok","temporal":"ok"}}`))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"status":"ready"`)

	code, out, errOut = runCmd(t, "health", "-url", serve(http.StatusServiceUnavailable,
		`{"error":{"code":"unavailable","message":"not ready: postgres unreachable"},"checks":{"postgres":"unavailable","temporal":"ok"}}`))
	require.Equal(t, 1, code)
	require.Contains(t, out, `"postgres":"unavailable"`)
	require.True(t, strings.Contains(errOut, "not ready (HTTP 503)") && strings.Contains(errOut, "postgres unreachable"), errOut)

	code, _, errOut = runCmd(t, "health", "-url", "http://127.0.0.1:1", "-timeout", "2s")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not reachable")
}
