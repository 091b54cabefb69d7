package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
)

// Names of the scheduled operations. Like those in contract.go they are
// recorded in histories and schedules: add new names, never rename these.
const (
	// BackupWorkflowName dumps the database; the backup schedule starts it.
	BackupWorkflowName = "BackupWorkflow"
	// MaintenanceWorkflowName vacuums, purges and reconciles; the
	// maintenance schedule starts it.
	MaintenanceWorkflowName = "MaintenanceWorkflow"

	// BackupScheduleID and MaintenanceScheduleID are the Temporal Schedules
	// that start them; each run's workflow ID is the schedule ID followed
	// by the scheduled time.
	BackupScheduleID      = "incident-server-backup"
	MaintenanceScheduleID = "incident-server-maintenance"

	// ActivityRunBackup takes, checks and records one dump, then prunes old ones.
	ActivityRunBackup = "RunBackup"
	// ActivityRunMaintenance purges old timelines and vacuums.
	ActivityRunMaintenance = "RunMaintenance"
	// ActivityFindOrphans lists active incidents whose workflow is not running.
	ActivityFindOrphans = "FindOrphans"

	// OpsService is the built-in service that the engine opens incidents
	// about itself on: a failed backup, incidents without a workflow.
	OpsService = "incident-server"
	// OpsSource is the alert source and timeline actor of those incidents.
	OpsSource = "incident-server"
)

// BackupInput is the argument of BackupWorkflow.
type BackupInput struct {
	// Timeout bounds one attempt of the dump and its check. Default 1h.
	Timeout time.Duration
}

// MaintenanceInput is the argument of MaintenanceWorkflow.
type MaintenanceInput struct {
	// Retention: the timeline events and notifications of incidents
	// resolved longer ago than this are purged. Required.
	Retention time.Duration
	// ReconcileGrace skips incidents whose row changed more recently than
	// this when looking for orphans. Default 10m.
	ReconcileGrace time.Duration
}

// MaintenanceReport is what MaintenanceWorkflow returns, shown as its
// result in the Web UI.
type MaintenanceReport struct {
	contract.MaintenanceResult
	// Orphans are the active incidents found without a running workflow.
	Orphans []contract.Orphan
}

// backupRetry gives a failing dump three attempts, minutes apart, before
// the backup is declared failed: a database restart or a full disk for a
// moment should not page anyone.
var backupRetry = &temporal.RetryPolicy{
	InitialInterval:        time.Minute,
	BackoffCoefficient:     2,
	MaximumAttempts:        3,
	NonRetryableErrorTypes: []string{ErrTypeInvalid},
}

// BackupWorkflow takes one backup. When every attempt failed it opens (or
// joins) a high-severity incident on OpsService and fails, so the run shows
// as failed in the Web UI too.
func BackupWorkflow(ctx workflow.Context, in BackupInput) (contract.BackupResult, error) {
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		RetryPolicy:         backupRetry,
	})
	var res contract.BackupResult
	err := workflow.ExecuteActivity(actx, ActivityRunBackup).Get(ctx, &res)
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
func MaintenanceWorkflow(ctx workflow.Context, in MaintenanceInput) (MaintenanceReport, error) {
	log := workflow.GetLogger(ctx)
	grace := in.ReconcileGrace
	if grace <= 0 {
		grace = 10 * time.Minute
	}
	var rep MaintenanceReport
	mctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{ErrTypeInvalid}},
	})
	maintErr := workflow.ExecuteActivity(mctx, ActivityRunMaintenance, contract.MaintenanceInput{Retention: in.Retention}).
		Get(ctx, &rep.MaintenanceResult)
	if maintErr != nil {
		log.Error("database maintenance", "error", maintErr)
	}

	fctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{ErrTypeInvalid}},
	})
	if err := workflow.ExecuteActivity(fctx, ActivityFindOrphans, contract.FindOrphansInput{Grace: grace, Limit: reconcileLimit}).
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
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: []string{ErrTypeInvalid}},
	})
	futures := make([]workflow.Future, len(orphans))
	for i, o := range orphans {
		futures[i] = workflow.ExecuteActivity(ectx, ActivityRecordEvent, incident.Event{
			// One event per incident per maintenance run.
			ID:         "workflow_missing/" + runID,
			IncidentID: o.IncidentID,
			Type:       incident.EventWorkflowMissing,
			Actor:      OpsSource,
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
	// key is the dedup key on OpsService: while an incident with the key is
	// open, the next alert joins it.
	key         string
	title       string
	description string
	severity    incident.Severity
}

// OpsWorkflowID is the workflow ID of the incident the engine opens about
// itself under key ("backup", "reconcile").
func OpsWorkflowID(key string) string { return DedupWorkflowID(OpsService, OpsSource+"/"+key) }

// openOpsIncident opens an incident on OpsService through the normal path
// of a workflow that opens one (as a missed heartbeat does): the incident's
// workflow is started as an abandoned child under the key's dedup ID, and
// the alert is signalled to it. If an incident with the key is open, the
// start finds it running and the alert joins it. Failures are logged: the
// caller's own result still tells what went wrong.
func openOpsIncident(ctx workflow.Context, a opsAlert) {
	log := workflow.GetLogger(ctx)
	now := workflow.Now(ctx).UTC()
	incidentID := "inc_ops_" + a.key + "_" + strconv.FormatInt(now.UnixMilli(), 36)
	wfID := OpsWorkflowID(a.key)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	cctx := workflow.WithChildOptions(dctx, workflow.ChildWorkflowOptions{
		WorkflowID:            wfID,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchStatus.ValueSet(string(incident.StatusOpen)),
			SearchSeverity.ValueSet(string(a.severity)),
			SearchService.ValueSet(OpsService),
		),
	})
	child := workflow.ExecuteChildWorkflow(cctx, IncidentWorkflowName, IncidentInput{
		Incident: incident.Incident{
			ID: incidentID, WorkflowID: wfID, Title: a.title, Description: a.description,
			Service: OpsService, Severity: a.severity, DedupKey: OpsSource + "/" + a.key,
		},
	})
	err := child.GetChildWorkflowExecution().Get(dctx, nil)
	if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		log.Error("open incident", "key", a.key, "workflow_id", wfID, "error", err)
		return
	}
	alert := AlertSignal{
		ID: incidentID, Source: OpsSource, Action: AlertTrigger, Fingerprint: OpsSource + "/" + a.key,
		Title: a.title, Description: a.description, Severity: a.severity,
	}
	if serr := workflow.SignalExternalWorkflow(dctx, wfID, "", SignalAlert, alert).Get(dctx, nil); serr != nil {
		log.Error("signal incident", "key", a.key, "workflow_id", wfID, "error", serr)
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
