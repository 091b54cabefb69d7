package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/incident-server/incident-server/api"
	"github.com/incident-server/incident-server/internal/backup"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// runCmd runs the binary's entry point and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, store.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(s.Close)
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

func TestHealthExitsZeroWhenReadyAndNamesWhatIsNot(t *testing.T) {
	ctx := context.Background()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	tc, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	st := store.New(testenv.Postgres(t))
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, prefix, time.Minute)
	serve := func(c *cache.Cache) string {
		ts := httptest.NewServer(api.New(api.Options{Temporal: tc, Store: st, Cache: c,
			Directory: directory.New(st, c, 0, 0, nil), TaskQueue: "health"}))
		t.Cleanup(ts.Close)
		return ts.URL
	}

	code, out, errOut := runCmd(t, "health", "-url", serve(c))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"status":"ready"`)

	// Redis on a port nothing listens on.
	dead := cache.New(cache.NewClient("127.0.0.1:1", "", 0, cache.ClientOptions{DialTimeout: time.Second}), prefix, time.Minute)
	code, out, errOut = runCmd(t, "health", "-url", serve(dead))
	require.Equal(t, 1, code)
	require.Contains(t, out, `"redis":"unavailable"`)
	require.True(t, strings.Contains(errOut, "not ready (HTTP 503)") && strings.Contains(errOut, "redis unreachable"), errOut)

	code, _, errOut = runCmd(t, "health", "-url", "http://127.0.0.1:1", "-timeout", "2s")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not reachable")
}

func TestWorkerStartRegistersTheSchedules(t *testing.T) {
	ctx := t.Context()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	tc, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	dbURL := testenv.PostgresURL(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("REDIS_ADDR", testenv.RedisAddr(t))
	t.Setenv("TEMPORAL_ADDRESS", srv.HostPort())
	t.Setenv("TEMPORAL_NAMESPACE", srv.Namespace())
	t.Setenv("INCIDENT_SERVER_ADDR", "127.0.0.1:0")
	t.Setenv("INCIDENT_BACKUP_CRON", "45 1 * * *")

	wctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		var out, errOut bytes.Buffer
		done <- run(wctx, []string{"worker"}, &out, &errOut)
	}()
	h := tc.ScheduleClient().GetHandle(ctx, "incident-server-backup")
	var d *client.ScheduleDescription
	require.Eventually(t, func() bool {
		d, err = h.Describe(ctx)
		return err == nil
	}, 60*time.Second, 50*time.Millisecond, "the worker creates the backup schedule")
	require.Equal(t, 45, d.Info.NextActionTimes[0].UTC().Minute())
	_, err = tc.ScheduleClient().GetHandle(ctx, "incident-server-maintenance").Describe(ctx)
	require.NoError(t, err)
	// And the built-in service the engine reports on.
	_, err = openStore(t, dbURL).GetService(ctx, "incident-server")
	require.NoError(t, err)

	stop()
	require.Equal(t, 0, <-done)
}
