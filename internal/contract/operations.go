package contract

import "time"

// BackupInput is the argument of BackupWorkflow.
type BackupInput struct {
	// Timeout bounds one attempt of the dump and its check. Default 1h.
	Timeout time.Duration
}

// BackupResult is what BackupWorkflow and ActivityRunBackup return.
type BackupResult struct {
	// File is the dump's path on the worker that took it.
	File      string
	SizeBytes int64
	// Pruned lists the older dumps deleted after this one was checked.
	Pruned []string
}

// MaintenanceInput is the argument of MaintenanceWorkflow, which passes it
// on to ActivityRunMaintenance.
type MaintenanceInput struct {
	// Retention: the timeline events and notifications of incidents
	// resolved longer ago than this are purged. Required.
	Retention time.Duration
	// ReconcileGrace skips incidents whose row changed more recently than
	// this when looking for orphans. Default 10m. The activity ignores it.
	ReconcileGrace time.Duration
	// AuditRetention: audit events older than this are purged. Zero (a
	// schedule created before it existed) applies the worker's
	// maintenance.audit_retention.
	AuditRetention time.Duration `json:",omitempty"`
}

// MaintenanceResult is what ActivityRunMaintenance returns.
type MaintenanceResult struct {
	VacuumedTables      int
	PurgedEvents        int64
	PurgedNotifications int64
	// PurgedAuditEvents counts the audit events deleted for being older
	// than the audit retention.
	PurgedAuditEvents int64
}

// MaintenanceReport is what MaintenanceWorkflow returns, shown as its
// result in the Web UI.
type MaintenanceReport struct {
	MaintenanceResult
	// Orphans are the active incidents found without a running workflow.
	Orphans []Orphan
}

// FindOrphansInput is the argument of ActivityFindOrphans.
type FindOrphansInput struct {
	// Grace skips incidents whose row changed more recently than this.
	Grace time.Duration
	// Limit caps how many active incidents one run checks.
	Limit int
}

// Orphan is an incident Postgres holds as active whose workflow is not running.
type Orphan struct {
	IncidentID string
	WorkflowID string
	Title      string
	Service    string
	// Reason says why: "workflow not found", the workflow's closed status
	// ("workflow completed", "workflow terminated", …), or "workflow moved
	// on to incident <id>" when a newer incident holds its dedup workflow ID.
	Reason string
}
