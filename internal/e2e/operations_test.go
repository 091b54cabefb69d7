package e2e_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/app"
	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/devtemporal"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
	"github.com/incident-server/incident-server/worker"
)

// opsStack is a worker as `incident-server worker` starts it, on a database
// of its own (pg_dump dumps whole databases), with its schedules synced.
type opsStack struct {
	store     *store.Store
	temporal  client.Client
	backupDir string
	opts      worker.ScheduleOptions
	// lastRun is the workflow ID of the run trigger started last.
	lastRun string
}

// newOpsStack starts the stack; configure, if given, adjusts the
// activities before the worker starts.
func newOpsStack(t *testing.T, configure ...func(*activities.Activities)) *opsStack {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.Database(t, true)
	st, err := store.Open(ctx, dbURL, store.PoolOptions{MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, prefix, 5*time.Minute)

	srv, err := devtemporal.Start(ctx, devtemporal.Options{SearchAttributes: contract.SearchAttributeTypes})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	tc, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.HostPort(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	t.Cleanup(tc.Close)

	o := &opsStack{store: st, temporal: tc, backupDir: t.TempDir()}
	acts := &activities.Activities{
		Store: st, Cache: c, Directory: directory.New(st, c, 0, 0, nil), Metrics: metrics.New(),
		Temporal: tc,
		Backup:   activities.BackupOptions{DatabaseURL: dbURL, Dir: o.backupDir, Retention: 72 * time.Hour},
	}
	for _, c := range configure {
		c(acts)
	}
	w := worker.New(tc, taskQueue, worker.Options{}, acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	// What a worker does at start-up (cmd/incident-server: syncSchedules).
	o.opts = worker.ScheduleOptions{
		TaskQueue:       taskQueue,
		BackupCron:      "0 2 * * *",
		MaintenanceCron: "30 3 * * *",
		Maintenance:     contract.MaintenanceInput{Retention: 90 * 24 * time.Hour, ReconcileGrace: time.Millisecond},
		CatchupWindow:   time.Hour,
	}
	require.NoError(t, st.EnsureService(ctx, contract.OpsService, "incident-server", ""))
	require.NoError(t, worker.SyncSchedules(ctx, tc, o.opts))
	return o
}

// trigger runs a schedule's action now and waits for the run it started to
// finish, decoding its result.
func (o *opsStack) trigger(t *testing.T, scheduleID string, result any) error {
	t.Helper()
	ctx := t.Context()
	h := o.temporal.ScheduleClient().GetHandle(ctx, scheduleID)
	before, err := h.Describe(ctx)
	require.NoError(t, err)
	require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var run *client.ScheduleWorkflowExecution
	require.Eventually(t, func() bool {
		d, err := h.Describe(ctx)
		if err != nil || len(d.Info.RecentActions) == len(before.Info.RecentActions) {
			return false
		}
		run = d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		return run != nil
	}, 30*time.Second, 50*time.Millisecond, "the trigger starts a run")
	o.lastRun = run.WorkflowID
	return o.temporal.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, result)
}

func TestWorkerRegistersTheSchedulesIdempotentlyAndKeepsThemPaused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o := newOpsStack(t)

	for _, id := range []string{contract.BackupScheduleID, contract.MaintenanceScheduleID} {
		d, err := o.temporal.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		require.NoError(t, err, id)
		require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, d.Schedule.Policy.Overlap, id)
		require.Equal(t, time.Hour, d.Schedule.Policy.CatchupWindow, id)
		require.NotEmpty(t, d.Info.NextActionTimes, id)
		action, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
		require.True(t, ok, id)
		require.Equal(t, taskQueue, action.TaskQueue)
	}
	d, err := o.temporal.ScheduleClient().GetHandle(ctx, contract.BackupScheduleID).Describe(ctx)
	require.NoError(t, err)
	next := d.Info.NextActionTimes[0].UTC()
	require.Equal(t, 2, next.Hour())
	require.Equal(t, 0, next.Minute())

	// Paused in the Web UI, with a new cron in the configuration: a worker
	// restart updates the spec and leaves the pause alone.
	h := o.temporal.ScheduleClient().GetHandle(ctx, contract.BackupScheduleID)
	require.NoError(t, h.Pause(ctx, client.SchedulePauseOptions{Note: "disk swap"}))
	o.opts.BackupCron = "15 4 * * *"
	require.NoError(t, worker.SyncSchedules(ctx, o.temporal, o.opts))
	require.NoError(t, worker.SyncSchedules(ctx, o.temporal, o.opts))
	d, err = h.Describe(ctx)
	require.NoError(t, err)
	require.True(t, d.Schedule.State.Paused)
	require.Equal(t, []string{"15 4 * * *"}, cronOf(d))

	iter, err := o.temporal.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	require.NoError(t, err)
	n := 0
	for iter.HasNext() {
		_, err := iter.Next()
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 2, n, "syncing again creates no second schedule")
}

// backup.cron "" is how a deployment that backs up another way (the
// Kubernetes base's pg_dump CronJob) turns the backup schedule off: a worker
// start deletes the schedule an earlier configuration created and leaves
// maintenance alone, and a cron set again brings the schedule back.
func TestAnEmptyBackupCronRemovesTheBackupSchedule(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o := newOpsStack(t)
	backup := o.temporal.ScheduleClient().GetHandle(ctx, contract.BackupScheduleID)

	o.opts.BackupCron = ""
	require.NoError(t, worker.SyncSchedules(ctx, o.temporal, o.opts))
	require.NoError(t, worker.SyncSchedules(ctx, o.temporal, o.opts), "with nothing left to delete")
	_, err := backup.Describe(ctx)
	var missing *serviceerror.NotFound
	require.ErrorAs(t, err, &missing, "the backup schedule is gone")
	_, err = o.temporal.ScheduleClient().GetHandle(ctx, contract.MaintenanceScheduleID).Describe(ctx)
	require.NoError(t, err, "maintenance still runs")
	var on []string
	for _, s := range o.opts.Schedules() {
		on = append(on, s.ID)
	}
	require.Equal(t, []string{contract.MaintenanceScheduleID}, on, "`schedules sync` lists only the schedules that run")

	o.opts.BackupCron = "15 4 * * *"
	require.NoError(t, worker.SyncSchedules(ctx, o.temporal, o.opts))
	d, err := backup.Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"15 4 * * *"}, cronOf(d))
	require.NotEmpty(t, d.Info.NextActionTimes)
}

// cronOf returns a schedule's spec as cron text. The server stores cron
// expressions as calendar specs, so they are compared through them.
func cronOf(d *client.ScheduleDescription) []string {
	var out []string
	for _, c := range d.Schedule.Spec.Calendars {
		if len(c.Minute) == 1 && len(c.Hour) == 1 {
			out = append(out, strconv.Itoa(c.Minute[0].Start)+" "+strconv.Itoa(c.Hour[0].Start)+" * * *")
		}
	}
	out = append(out, d.Schedule.Spec.CronExpressions...)
	return out
}

func TestTriggeredBackupWritesACheckedDumpAndRecordsIt(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o := newOpsStack(t)

	var res contract.BackupResult
	require.NoError(t, o.trigger(t, contract.BackupScheduleID, &res))
	fi, err := os.Stat(res.File)
	require.NoError(t, err, "the dump is on disk")
	require.Equal(t, fi.Size(), res.SizeBytes)
	require.Positive(t, res.SizeBytes)

	runs, err := o.store.ListBackups(ctx, 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, store.BackupOK, runs[0].Status)
	require.Equal(t, res.File, runs[0].File)
	require.Equal(t, res.SizeBytes, runs[0].SizeBytes)
	require.NotNil(t, runs[0].FinishedAt)
	require.Empty(t, runs[0].Error)
	replayAndRecordOn(t, o.temporal, o.lastRun, "backup_v1.json")

	// The freshness the BackupStale alert watches.
	reg := metrics.New()
	reg.BackupGauge(o.store.LastBackupSuccess)
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil))
	m := regexp.MustCompile(`(?m)^backup_last_success_timestamp_seconds (\S+)$`).FindStringSubmatch(rec.Body.String())
	require.NotNil(t, m, "the gauge is exposed")
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	require.InDelta(t, float64(runs[0].FinishedAt.Unix()), v, 1)
}

func TestTriggeredMaintenanceReportsAnIncidentWhoseWorkflowIsGone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o := newOpsStack(t, func(a *activities.Activities) { a.AuditRetention = 365 * 24 * time.Hour })

	// Audit events past the audit retention are purged; recent ones stay.
	for _, age := range []time.Duration{400 * 24 * time.Hour, time.Hour} {
		_, err := o.store.RecordAudit(ctx, store.AuditEvent{At: time.Now().Add(-age), Actor: "alice", CredentialKind: "user",
			CredentialID: "alice", Method: "PUT", Route: "/api/v1/users/:id", Path: "/api/v1/users/usr_1", Target: "usr_1", Status: 200})
		require.NoError(t, err)
	}

	// An active incident whose workflow Temporal never heard of, last
	// written an hour ago: past the grace.
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	orphan := incident.Incident{ID: "inc_orphan", WorkflowID: "incident/inc_orphan", Title: "disk full", Service: "storage",
		Severity: incident.SeverityHigh, Status: incident.StatusOpen, CreatedAt: at, UpdatedAt: at, Version: 1}
	_, err := o.store.ApplyTransition(ctx, orphan, incident.Event{ID: "opened", IncidentID: orphan.ID,
		Type: incident.EventOpened, EventTime: at, Seq: 1})
	require.NoError(t, err)

	// And one whose workflow ran and was terminated.
	term := incident.Incident{ID: "inc_terminated", WorkflowID: contract.IncidentWorkflowID("inc_terminated"),
		Title: "queue stuck", Service: "billing", Severity: incident.SeverityLow}
	_, err = o.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: term.WorkflowID, TaskQueue: taskQueue},
		contract.IncidentWorkflow, contract.IncidentInput{Incident: term})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := o.store.GetIncident(ctx, term.ID)
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "the incident is recorded")
	require.NoError(t, o.temporal.TerminateWorkflow(ctx, term.WorkflowID, "", "operator mistake"))

	// And an older incident under a dedup workflow ID that has since
	// opened a newer one, which its workflow is running.
	newer := incident.Incident{ID: "inc_newer", WorkflowID: contract.DedupWorkflowID("search", "index-lag"),
		Title: "index lag", Service: "search", Severity: incident.SeverityLow, DedupKey: "index-lag"}
	_, err = o.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: newer.WorkflowID, TaskQueue: taskQueue},
		contract.IncidentWorkflow, contract.IncidentInput{Incident: newer})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := o.store.GetIncident(ctx, newer.ID)
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "the newer incident is recorded")
	older := newer
	older.ID, older.Status, older.CreatedAt, older.UpdatedAt, older.Version = "inc_older", incident.StatusOpen, at, at, 1
	_, err = o.store.ApplyTransition(ctx, older, incident.Event{ID: "opened", IncidentID: older.ID,
		Type: incident.EventOpened, EventTime: at, Seq: 1})
	require.NoError(t, err)

	var rep contract.MaintenanceReport
	require.NoError(t, o.trigger(t, contract.MaintenanceScheduleID, &rep))
	reasons := map[string]string{}
	for _, or := range rep.Orphans {
		reasons[or.IncidentID] = or.Reason
	}
	require.Equal(t, map[string]string{
		"inc_orphan":     "workflow not found",
		"inc_terminated": "workflow terminated",
		"inc_older":      "workflow moved on to incident inc_newer",
	}, reasons)
	require.Positive(t, rep.VacuumedTables)
	require.EqualValues(t, 1, rep.PurgedAuditEvents)
	left, _, err := o.store.ListAudit(ctx, store.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, left, 1)

	tl, err := o.store.Timeline(ctx, orphan.ID, 10)
	require.NoError(t, err)
	require.Len(t, tl, 2)
	require.Equal(t, incident.EventWorkflowMissing, tl[1].Type)

	// The report is an incident of its own, opened by a real incident
	// workflow on the built-in service.
	var opened []incident.Incident
	require.Eventually(t, func() bool {
		opened, _, err = o.store.ListIncidents(ctx, store.ListFilter{Service: contract.OpsService})
		return err == nil && len(opened) == 1
	}, 30*time.Second, 50*time.Millisecond, "an incident opens on %s", contract.OpsService)
	require.Equal(t, "3 active incident(s) without a running workflow", opened[0].Title)
	require.Contains(t, opened[0].Description, "inc_orphan")
	require.Contains(t, opened[0].Description, "inc_terminated")
	require.Equal(t, incident.StatusOpen, opened[0].Status)
	require.Equal(t, contract.OpsWorkflowID("reconcile"), opened[0].WorkflowID)
	replayAndRecordOn(t, o.temporal, o.lastRun, "maintenance_v1.json")
}

func TestFailedBackupIsRecordedAndOpensAnIncident(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// A pg_bin without the tools: the failure retrying cannot fix.
	o := newOpsStack(t, func(a *activities.Activities) { a.Backup.PGBin = t.TempDir() })

	err := o.trigger(t, contract.BackupScheduleID, nil)
	require.ErrorContains(t, err, "pg_dump not found")

	runs, err := o.store.ListBackups(ctx, 10)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, store.BackupFailed, runs[0].Status)
	require.Contains(t, runs[0].Error, "pg_dump not found")
	require.NotNil(t, runs[0].FinishedAt)

	var opened []incident.Incident
	require.Eventually(t, func() bool {
		opened, _, err = o.store.ListIncidents(ctx, store.ListFilter{Service: contract.OpsService})
		return err == nil && len(opened) == 1
	}, 30*time.Second, 50*time.Millisecond, "an incident opens on %s", contract.OpsService)
	require.Equal(t, "database backup failed", opened[0].Title)
	require.Equal(t, incident.SeverityHigh, opened[0].Severity)
	require.Contains(t, opened[0].Description, "pg_dump not found")
	replayAndRecordOn(t, o.temporal, o.lastRun, "backup_failed_v1.json")
}

// `incident-server worker` (app.RunWorker, the composition root the binary
// runs) registers the schedules and the built-in service as it starts, and
// stops cleanly.
func TestWorkerCommandRegistersTheSchedules(t *testing.T) {
	ctx := t.Context()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{SearchAttributes: contract.SearchAttributeTypes})
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
	t.Setenv("LOG_LEVEL", "error")

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.RunWorker(wctx, nil, io.Discard) }()
	h := tc.ScheduleClient().GetHandle(ctx, contract.BackupScheduleID)
	var d *client.ScheduleDescription
	require.Eventually(t, func() bool {
		d, err = h.Describe(ctx)
		return err == nil
	}, 60*time.Second, 50*time.Millisecond, "the worker creates the backup schedule")
	require.Equal(t, 45, d.Info.NextActionTimes[0].UTC().Minute())
	_, err = tc.ScheduleClient().GetHandle(ctx, contract.MaintenanceScheduleID).Describe(ctx)
	require.NoError(t, err)
	// And the built-in service the engine reports on.
	st, err := store.Open(ctx, dbURL, store.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	_, err = st.GetService(ctx, contract.OpsService)
	require.NoError(t, err)

	stop()
	require.NoError(t, <-done)
}
