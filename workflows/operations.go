package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
)

// backupRetry gives a failing dump three attempts, minutes apart, before
// the backup is declared failed: a database restart or a full disk for a
// moment should not page anyone.
var backupRetry = &temporal.RetryPolicy{
	InitialInterval:        time.Minute,
	BackoffCoefficient:     2,
	MaximumAttempts:        3,
	NonRetryableErrorTypes: nonRetryable,
}

// BackupWorkflow takes one backup. When every attempt failed it opens (or
// joins) a high-severity incident on OpsService and fails, so the run shows
// as failed in the Web UI too.
func BackupWorkflow(ctx workflow.Context, in contract.BackupInput) (contract.BackupResult, error) {
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		RetryPolicy:         backupRetry,
	})
	var res contract.BackupResult
	err := workflow.ExecuteActivity(actx, contract.ActivityRunBackup).Get(ctx, &res)
	if err == nil {
		workflow.GetLogger(ctx).Info("backup done", "file", res.File, "size_bytes", res.SizeBytes)
		return res, nil
	}
	openOpsIncident(ctx, opsAlert{
		key:         "backup",
		title:       "database backup failed",
		description: "The scheduled database backup failed after every attempt: " + cause(err),
		severity:    incident.SeverityHigh,
	})
	return res, fmt.Errorf("backup: %w", err)
}

// reconcileLimit caps the active incidents one maintenance run checks.
const reconcileLimit = 1000

// MaintenanceWorkflow purges old timelines, vacuums, and reconciles
// Postgres with Temporal: every active incident whose workflow is not
// running gets a workflow_missing event on its timeline, and together they
// open (or join) one incident on OpsService. A failed purge does not stop
// the reconciliation; the run fails afterwards with the purge's error.
func MaintenanceWorkflow(ctx workflow.Context, in contract.MaintenanceInput) (contract.MaintenanceReport, error) {
	log := workflow.GetLogger(ctx)
	grace := in.ReconcileGrace
	if grace <= 0 {
		grace = 10 * time.Minute
	}
	var rep contract.MaintenanceReport
	mctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: nonRetryable},
	})
	maintErr := workflow.ExecuteActivity(mctx, contract.ActivityRunMaintenance, in).
		Get(ctx, &rep.MaintenanceResult)
	if maintErr != nil {
		log.Error("database maintenance", "error", maintErr)
	}

	fctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: nonRetryable},
	})
	if err := workflow.ExecuteActivity(fctx, contract.ActivityFindOrphans, contract.FindOrphansInput{Grace: grace, Limit: reconcileLimit}).
		Get(ctx, &rep.Orphans); err != nil {
		return rep, errors.Join(maintErr, fmt.Errorf("find orphaned incidents: %w", err))
	}
	if len(rep.Orphans) > 0 {
		reportOrphans(ctx, rep.Orphans)
	}
	if maintErr != nil {
		return rep, fmt.Errorf("database maintenance: %w", maintErr)
	}
	return rep, nil
}

// reportOrphans writes the workflow_missing events and opens the incident.
// An event that cannot be written is logged: the incident still names
// every orphan.
func reportOrphans(ctx workflow.Context, orphans []contract.Orphan) {
	runID := workflow.GetInfo(ctx).WorkflowExecution.ID
	now := workflow.Now(ctx).UTC()
	ectx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: nonRetryable},
	})
	futures := make([]workflow.Future, len(orphans))
	for i, o := range orphans {
		futures[i] = workflow.ExecuteActivity(ectx, contract.ActivityRecordEvent, incident.Event{
			// One event per incident per maintenance run.
			ID:         "workflow_missing/" + runID,
			IncidentID: o.IncidentID,
			Type:       incident.EventWorkflowMissing,
			Actor:      string(incident.SourceEngine),
			Message:    "the incident is active but its workflow is not running (" + o.Reason + "): nothing pages for it or resolves it",
			Data:       map[string]any{"workflow_id": o.WorkflowID, "reason": o.Reason},
			EventTime:  now,
		})
	}
	for i, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("record workflow_missing", "incident_id", orphans[i].IncidentID, "error", err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Postgres holds %d active incident(s) whose Temporal workflow is not running:", len(orphans))
	for i, o := range orphans {
		if i == 20 {
			fmt.Fprintf(&b, "\n… and %d more", len(orphans)-i)
			break
		}
		fmt.Fprintf(&b, "\n- %s (%s, workflow %s): %s", o.IncidentID, o.Service, o.WorkflowID, o.Reason)
	}
	openOpsIncident(ctx, opsAlert{
		key:         "reconcile",
		title:       fmt.Sprintf("%d active incident(s) without a running workflow", len(orphans)),
		description: b.String(),
		severity:    incident.SeverityHigh,
	})
}

// opsAlert is an incident the engine opens about itself.
type opsAlert struct {
	// key is the dedup key on OpsService (contract.OpsDedupKey): while an
	// incident with the key is open, the next alert joins it.
	key         string
	title       string
	description string
	severity    incident.Severity
}

// openOpsIncident opens an incident on OpsService through openIncident, as
// a missed heartbeat does. Failures are logged: the caller's own result
// still tells what went wrong.
func openOpsIncident(ctx workflow.Context, a opsAlert) {
	log := workflow.GetLogger(ctx)
	incidentID := contract.OpsIncidentID(a.key, workflow.Now(ctx).UTC())
	wfID := contract.OpsWorkflowID(a.key)
	alert := incident.Alert{
		Source: incident.SourceEngine, Action: incident.AlertTrigger,
		DedupKey: contract.OpsDedupKey(a.key), Fingerprint: contract.OpsDedupKey(a.key),
		Title: a.title, Description: a.description, Severity: a.severity,
	}
	err := openIncident(ctx, contract.NewIncidentInput(incidentID, wfID, contract.OpsService, alert, false),
		contract.AlertSignal{ID: incidentID, Alert: alert})
	if err != nil {
		log.Error("open incident", "key", a.key, "workflow_id", wfID, "error", err)
		return
	}
	log.Info("incident opened", "key", a.key, "incident_id", incidentID, "workflow_id", wfID)
}

// cause is the innermost message of an activity failure: what pg_dump said,
// without Temporal's wrapping.
func cause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
