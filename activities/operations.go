package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"

	"github.com/incident-server/incident-server/internal/backup"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/store"
)

// BackupOptions configures RunBackup.
type BackupOptions struct {
	// DatabaseURL is the database pg_dump reads; required.
	DatabaseURL string
	// Dir receives the dump files; required. It is on the worker's disk.
	Dir string
	// Retention: older dumps are deleted after a good one (the newest is
	// always kept); required.
	Retention time.Duration
	// PGBin is the directory of pg_dump and pg_restore; "" looks in
	// backup.DefaultPGBin, then on PATH.
	PGBin string
}

// RunBackup dumps the database, checks the dump with pg_restore --list,
// records the run in the backups table and then prunes old dumps.
//
// Idempotent per workflow run: the backups row is keyed by the run, so a
// retried attempt updates its run's row, and each attempt writes a file of
// its own. A failed attempt is recorded as failed and returned as an error,
// for the activity's retry policy; missing tools are not retried. A failed
// prune is logged and does not fail the backup.
func (a *Activities) RunBackup(ctx context.Context) (contract.BackupResult, error) {
	info := activity.GetInfo(ctx)
	runKey := info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID
	log := a.logger().With("workflow_id", info.WorkflowExecution.ID)
	started := time.Now().UTC()
	if err := a.Store.StartBackup(ctx, runKey, started); err != nil {
		return contract.BackupResult{}, err
	}
	tools, err := backup.FindTools(a.Backup.PGBin)
	if err != nil {
		a.finishBackup(ctx, runKey, backup.Result{}, err)
		return contract.BackupResult{}, toTemporal(fault.New(fault.Invalid, err.Error()))
	}
	res, err := tools.Dump(ctx, a.Backup.DatabaseURL, a.Backup.Dir, started)
	if err != nil {
		a.finishBackup(ctx, runKey, res, err)
		return contract.BackupResult{}, err
	}
	if err := a.finishBackup(ctx, runKey, res, nil); err != nil {
		return contract.BackupResult{}, err
	}
	pruned, err := backup.Prune(a.Backup.Dir, a.Backup.Retention, time.Now())
	if err != nil {
		log.WarnContext(ctx, "prune backups", "dir", a.Backup.Dir, "error", err)
	}
	log.InfoContext(ctx, "backup taken", "file", res.File, "size_bytes", res.Size, "pruned", len(pruned))
	return contract.BackupResult{File: res.File, SizeBytes: res.Size, Pruned: pruned}, nil
}

// finishBackup records a run's outcome. Recording a failure is best
// effort: the error that caused it is what the caller returns.
func (a *Activities) finishBackup(ctx context.Context, runKey string, res backup.Result, cause error) error {
	status, msg := store.BackupOK, ""
	if cause != nil {
		status, msg = store.BackupFailed, cause.Error()
	}
	// A cancelled or timed-out attempt still gets its row finished.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := a.Store.FinishBackup(wctx, runKey, time.Now().UTC(), res.File, res.Size, status, msg)
	if err != nil && cause != nil {
		a.logger().WarnContext(ctx, "record failed backup", "run_key", runKey, "error", err)
	}
	return err
}

// RunMaintenance refreshes planner statistics and reclaims dead rows
// (VACUUM (ANALYZE), never FULL), purges the timeline events and
// notifications of incidents resolved before the retention, and the audit
// events older than the audit retention (the input's, else the worker's).
// Redis needs no sweep: every key the engine writes carries a TTL, so
// Redis expires them itself. Idempotent: running it twice purges nothing
// more.
func (a *Activities) RunMaintenance(ctx context.Context, in contract.MaintenanceInput) (contract.MaintenanceResult, error) {
	if in.Retention <= 0 {
		return contract.MaintenanceResult{}, toTemporal(fault.InvalidField("retention", fmt.Sprintf("must be positive, got %s", in.Retention)))
	}
	var out contract.MaintenanceResult
	var err error
	if out.PurgedEvents, out.PurgedNotifications, err = a.Store.PurgeResolved(ctx, time.Now().Add(-in.Retention)); err != nil {
		return out, err
	}
	auditRetention := in.AuditRetention
	if auditRetention <= 0 {
		auditRetention = a.AuditRetention
	}
	if auditRetention > 0 {
		if out.PurgedAuditEvents, err = a.Store.PurgeAudit(ctx, time.Now().Add(-auditRetention)); err != nil {
			return out, err
		}
	}
	// Console sign-in rows that can no longer authenticate anyone; a day
	// later than their expiry, so a session that just ended still shows.
	purgedSessions, err := a.Store.PurgeSessions(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		return out, err
	}
	// After the purge, so the space it frees is reclaimed at once.
	if out.VacuumedTables, err = a.Store.Vacuum(ctx); err != nil {
		return out, err
	}
	a.logger().InfoContext(ctx, "database maintenance", "vacuumed_tables", out.VacuumedTables,
		"purged_events", out.PurgedEvents, "purged_notifications", out.PurgedNotifications,
		"purged_audit_events", out.PurgedAuditEvents, "purged_sessions", purgedSessions)
	return out, nil
}

// FindOrphans returns the active incidents (by Postgres) whose workflow is
// not running: Temporal does not know it, it has closed, or it has moved on
// to a newer incident under the same dedup workflow ID. Incidents
// whose row changed within the grace are skipped, so a workflow that is
// just closing is not reported. Read-only, so safe to retry.
func (a *Activities) FindOrphans(ctx context.Context, in contract.FindOrphansInput) ([]contract.Orphan, error) {
	if a.Temporal == nil {
		return nil, toTemporal(fault.New(fault.Internal, "find orphans: no Temporal client"))
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 1000
	}
	active, err := a.Store.ActiveNotUpdatedSince(ctx, time.Now().Add(-in.Grace), limit)
	if err != nil {
		return nil, err
	}
	var orphans []contract.Orphan
	for i, inc := range active {
		activity.RecordHeartbeat(ctx, i)
		reason := ""
		if inc.Superseded != "" {
			reason = "workflow moved on to incident " + inc.Superseded
		} else if reason, err = a.workflowGone(ctx, inc.WorkflowID); err != nil {
			return nil, fmt.Errorf("describe workflow %s of %s: %w", inc.WorkflowID, inc.ID, err)
		}
		if reason != "" {
			orphans = append(orphans, contract.Orphan{IncidentID: inc.ID, WorkflowID: inc.WorkflowID,
				Title: inc.Title, Service: inc.Service, Reason: reason})
		}
	}
	return orphans, nil
}

// workflowGone says why the latest run of wfID is not running, or "" when it is.
func (a *Activities) workflowGone(ctx context.Context, wfID string) (string, error) {
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return "workflow not found", nil
	}
	if err != nil {
		return "", err
	}
	st := desc.GetWorkflowExecutionInfo().GetStatus()
	if st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", nil
	}
	return "workflow " + strings.ToLower(strings.TrimPrefix(st.String(), "WORKFLOW_EXECUTION_STATUS_")), nil
}
