// Package contract holds the inputs and outputs of the activities that the
// incident workflows schedule. Workflows and activities both import it, so
// neither imports the other: activities stay free of workflow code and
// workflows free of storage. The types are recorded in workflow histories;
// change them only compatibly.
package contract

import (
	"time"

	"github.com/incident-server/incident-server/internal/incident"
)

// NotifyInput is the argument of ActivityNotifyUser.
type NotifyInput struct {
	IncidentID string
	Title      string
	Severity   incident.Severity
	Service    string
	// Step and Round identify the page; with the user and contact method
	// they form the delivery's idempotency key.
	Step  int
	Round int
	// Page numbers the page within the incident: a step paged again (after
	// a snooze or a reassignment) is a new delivery, not a retry.
	Page   int
	UserID string
	// Reason says why the user is paged: "escalation", "escalate", "snooze_ended", "ack_timeout".
	Reason string
}

// NotifyResult is what ActivityNotifyUser returns.
type NotifyResult struct {
	UserID     string
	Deliveries []Delivery
}

// Delivery is the outcome of one contact method.
type Delivery struct {
	ContactMethodID string
	Channel         string
	// Status is "sent" or "failed".
	Status string
	Detail string
	// Repeat is set when the ledger already held this delivery: a retried
	// activity that found it done and did not send again.
	Repeat bool
}

// LoadSLAInput is the argument of ActivityLoadSLA.
type LoadSLAInput struct {
	Service  string
	Severity incident.Severity
}

// RecordAlertsInput is the argument of ActivityRecordAlerts.
type RecordAlertsInput struct {
	IncidentID string
	Alerts     []AlertState
}

// AlertState is one alert (fingerprint) of an incident.
type AlertState struct {
	Fingerprint string    `json:"fingerprint"`
	Title       string    `json:"title"`
	Source      string    `json:"source"`
	Status      string    `json:"status"` // firing | resolved
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Count       int       `json:"count"`
}

// BackupResult is what ActivityRunBackup returns.
type BackupResult struct {
	// File is the dump's path on the worker that took it.
	File      string
	SizeBytes int64
	// Pruned lists the older dumps deleted after this one was checked.
	Pruned []string
}

// MaintenanceInput is the argument of ActivityRunMaintenance.
type MaintenanceInput struct {
	// Retention: the timeline events and notifications of incidents
	// resolved longer ago than this are purged.
	Retention time.Duration
}

// MaintenanceResult is what ActivityRunMaintenance returns.
type MaintenanceResult struct {
	VacuumedTables      int
	PurgedEvents        int64
	PurgedNotifications int64
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
