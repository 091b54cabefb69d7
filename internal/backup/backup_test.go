package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/backup"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), url, store.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// seed writes incidents with timelines and the policies they page with.
func seed(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := t.Context()
	u := oncall.User{Name: "Ann", Email: "ann@example.com"}
	u.Normalize()
	u, err := s.CreateUser(ctx, u)
	require.NoError(t, err)
	_, err = s.CreatePolicy(ctx, oncall.Policy{Name: "primary", Repeat: 2, Steps: []oncall.Step{
		{Delay: oncall.Duration(5 * time.Minute), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: u.ID}}},
	}})
	require.NoError(t, err)
	_, err = s.CreateSLAPolicy(ctx, oncall.SLAPolicy{Severity: incident.SeverityHigh,
		Response: oncall.Duration(15 * time.Minute), Resolution: oncall.Duration(4 * time.Hour), WarningFraction: 0.8})
	require.NoError(t, err)
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range []string{"inc_a", "inc_b", "inc_c"} {
		inc := incident.Incident{ID: id, WorkflowID: "incident/" + id, Title: "checkout down " + id, Service: "checkout",
			Severity: incident.SeverityHigh, Status: incident.StatusOpen, CreatedAt: at, UpdatedAt: at, Version: 1}
		_, err := s.ApplyTransition(ctx, inc, incident.Event{ID: "opened", IncidentID: id, Type: incident.EventOpened,
			Data: map[string]any{"source": "api"}, EventTime: at, Seq: 1})
		require.NoError(t, err)
		_, err = s.AppendEvent(ctx, incident.Event{ID: "note", IncidentID: id, Type: incident.EventNotified,
			Message: "paged Ann", EventTime: at, Seq: 2})
		require.NoError(t, err)
	}
}

// rows renders every row of table as JSON, in primary key order.
func rows(t *testing.T, url, table, order string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	r, err := conn.Query(t.Context(), `SELECT to_jsonb(t)::text FROM `+table+` t ORDER BY `+order)
	require.NoError(t, err)
	out, err := pgx.CollectRows(r, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

func TestBackupThenRestoreIntoAFreshDatabaseGivesTheSameRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tools, err := backup.FindTools("")
	require.NoError(t, err)

	srcURL := testenv.Database(t, true)
	seed(t, openStore(t, srcURL))

	dir := t.TempDir()
	res, err := tools.Dump(ctx, srcURL, dir, time.Now())
	require.NoError(t, err)
	require.FileExists(t, res.File)
	require.Positive(t, res.Size)
	require.Regexp(t, `^incidents_\d{8}T\d{9}Z\.dump$`, filepath.Base(res.File))
	require.NoError(t, tools.Verify(ctx, res.File))

	dstURL := testenv.Database(t, false)
	require.NoError(t, tools.Restore(ctx, dstURL, res.File, false))

	for table, order := range map[string]string{
		"incidents": "id", "timeline_events": "id", "escalation_policies": "id",
		"sla_policies": "id", "users": "id", "schema_migrations": "version",
	} {
		want := rows(t, srcURL, table, order)
		require.NotEmpty(t, want, table)
		require.Equal(t, want, rows(t, dstURL, table, order), table)
	}
	// The restored database takes writes: its sequences came along.
	_, err = openStore(t, dstURL).AppendEvent(ctx, incident.Event{ID: "after", IncidentID: "inc_a",
		Type: incident.EventNotified, EventTime: time.Now()})
	require.NoError(t, err)

	// A second restore over the same tables fails and changes nothing;
	// with clean it replaces them.
	require.Error(t, tools.Restore(ctx, dstURL, res.File, false))
	require.Len(t, rows(t, dstURL, "timeline_events", "id"), 7)
	require.NoError(t, tools.Restore(ctx, dstURL, res.File, true))
	require.Equal(t, rows(t, srcURL, "timeline_events", "id"), rows(t, dstURL, "timeline_events", "id"))
}

func TestDumpOfAnUnreachableDatabaseLeavesNoFile(t *testing.T) {
	t.Parallel()
	tools, err := backup.FindTools("")
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = tools.Dump(t.Context(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", dir, time.Now())
	require.ErrorContains(t, err, "pg_dump")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)

	corrupt := filepath.Join(dir, backup.FileName(time.Now()))
	require.NoError(t, os.WriteFile(corrupt, []byte("not a dump"), 0o600))
	require.ErrorContains(t, tools.Verify(t.Context(), corrupt), "pg_restore --list")
}

func TestFindToolsHonoursTheConfiguredDirectory(t *testing.T) {
	t.Parallel()
	_, err := backup.FindTools(t.TempDir())
	require.ErrorContains(t, err, "pg_dump not found")
}

func TestPruneKeepsRecentFilesAndTheNewest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	write := func(at time.Time, suffix string) string {
		p := filepath.Join(dir, backup.FileName(at)+suffix)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
		require.NoError(t, os.Chtimes(p, at, at))
		return p
	}
	old1 := write(now.Add(-10*24*time.Hour), "")
	old2 := write(now.Add(-5*24*time.Hour), "")
	stale := write(now.Add(-5*24*time.Hour), ".partial")
	recent := write(now.Add(-time.Hour), "")
	other := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(other, []byte("x"), 0o600))
	require.NoError(t, os.Chtimes(other, now.Add(-30*24*time.Hour), now.Add(-30*24*time.Hour)))

	deleted, err := backup.Prune(dir, 72*time.Hour, now)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{old1, old2, stale}, deleted)
	require.FileExists(t, recent)
	require.FileExists(t, other)

	// When every dump is old, the newest stays.
	require.NoError(t, os.Chtimes(recent, now.Add(-20*24*time.Hour), now.Add(-20*24*time.Hour)))
	deleted, err = backup.Prune(dir, 72*time.Hour, now)
	require.NoError(t, err)
	require.Empty(t, deleted)
	require.FileExists(t, recent)
}
