// Package contract is the one place that says how the engine's parts talk
// to its workflows: every workflow type, update, signal, query and activity
// name, every workflow and update ID scheme, the search attributes, and the
// inputs and outputs of each. The API and the load of the client side
// (package engine), the workflows, the activities and the worker all import
// it, and none of them spells a name or an ID format of its own.
//
// Everything here is recorded in workflow histories, schedules or search
// attributes of running incidents: add new names and fields; never rename,
// retype or remove one.
//
// A newcomer's map:
//
//	IncidentWorkflow (one per incident; ID: IncidentWorkflowID, DedupWorkflowID or RequestWorkflowID)
//	  updates  open, acknowledge, mitigate, resolve, escalate, snooze, reassign, note, start_runbook
//	  signals  alert, alerts (monitoring alerts: storms are signals, never updates), join
//	           (an open whose dedup key finds the incident open), runbook_report
//	  query    state (State)
//	  activities RecordChange, RecordEvent, RecordAlerts (local), LoadOpen (local), LoadEscalation, LoadPolicy, LoadSLA, NotifyUser, NotifyContact
//	  children RunbookWorkflow (one per runbook started; see runbook.go)
//	  activity ResolveOnCall (local): who is on call in the schedules a page targets
//	HeartbeatWorkflow (one per monitor; ID: HeartbeatWorkflowID)
//	  activity CheckHeartbeat (local): pings are writes to Postgres, read at each deadline
//	  signal   ping (the first ping after an overdue one, to resolve at once)
//	  opens IncidentWorkflow children under DedupWorkflowID(service, HeartbeatDedupKey(monitor))
//	HandoffWorkflow (one per on-call schedule; ID: HandoffWorkflowID)
//	  update   replan (the schedule, its overrides or its subscriptions changed)
//	  activities PlanHandoffs (local), SendHandoffNotice
//	BackupWorkflow, MaintenanceWorkflow (started by the Temporal Schedules BackupScheduleID, MaintenanceScheduleID)
//	  activities RunBackup, RunMaintenance, FindOrphans, RecordEvent
//	  open incidents about the engine itself on OpsService
package contract

import (
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/incident"
)

// DefaultTaskQueue is the task queue workflows and activities run on unless
// configured otherwise.
const DefaultTaskQueue = "incidents"

// Workflow types.
const (
	IncidentWorkflow = "IncidentWorkflow"
	// HeartbeatWorkflow watches one heartbeat monitor.
	HeartbeatWorkflow = "HeartbeatWorkflow"
	// BackupWorkflow dumps the database; the backup schedule starts it.
	BackupWorkflow = "BackupWorkflow"
	// MaintenanceWorkflow vacuums, purges and reconciles; the maintenance
	// schedule starts it.
	MaintenanceWorkflow = "MaintenanceWorkflow"
)

// Updates of IncidentWorkflow. Each has a validator: a request it rejects
// never reaches the history.
const (
	// UpdateOpen is sent with every request that opens an incident
	// (update-with-start). The request that started the run gets the new
	// incident back once it is recorded in Postgres; later requests with
	// the same dedup key join it. Argument OpenRequest, answer OpenResult.
	UpdateOpen = "open"
	// UpdateAcknowledge, UpdateMitigate and UpdateResolve move the incident
	// along its lifecycle. Argument TransitionRequest, answer the incident.
	UpdateAcknowledge = "acknowledge"
	UpdateMitigate    = "mitigate"
	UpdateResolve     = "resolve"
	// UpdateEscalate pages the next escalation step now. Argument
	// EscalateRequest, answer State.
	UpdateEscalate = "escalate"
	// UpdateSnooze stops paging for a while; paging resumes when it ends.
	// Argument SnoozeRequest, answer State.
	UpdateSnooze = "snooze"
	// UpdateReassign replaces the escalation policy and starts paging it
	// from its first step. Argument ReassignRequest, answer State.
	UpdateReassign = "reassign"
	// UpdateNote adds a responder's note to the timeline. It changes no
	// state, but goes through the workflow so that it takes its place in
	// the incident's one ordered history. Argument NoteRequest, answer the
	// event.
	UpdateNote = "note"
)

// Signals.
const (
	// SignalAlert delivers one alert (an AlertSignal) to an IncidentWorkflow.
	SignalAlert = "alert"
	// SignalAlerts delivers several alerts of one dedup key at once (an
	// Alertmanager group): one signal, however many alerts ([]AlertSignal).
	SignalAlerts = "alerts"
	// SignalJoin records a request to open an incident whose dedup key
	// finds one open (an OpenRequest) as a duplicate joining it: the API
	// sends it instead of the open update when the projection shows the
	// incident open, so a storm of opens with one key costs a signal each,
	// not an update (a workflow takes at most 10 updates at a time).
	SignalJoin = "join"
	// SignalPing delivers one ping (a HeartbeatPing) to a HeartbeatWorkflow.
	SignalPing = "ping"
)

// QueryState returns an IncidentWorkflow's live State.
const QueryState = "state"

// Activities, each taking one input and idempotent under the key its
// implementation documents.
const (
	// ActivityRecordChange writes a new incident version and its timeline
	// event (an incident.Change) to Postgres, then through to Redis.
	ActivityRecordChange = "RecordChange"
	// ActivityRecordEvent appends a timeline event (an incident.Event) that
	// changes no state.
	ActivityRecordEvent = "RecordEvent"
	// ActivityRecordAlerts upserts an incident's alerts, one row per
	// fingerprint (RecordAlertsInput).
	ActivityRecordAlerts = "RecordAlerts"
	// ActivityLoadEscalation returns the escalation snapshot
	// (oncall.Snapshot) of a service, given its ID.
	ActivityLoadEscalation = "LoadEscalation"
	// ActivityLoadPolicy returns the snapshot of one escalation policy,
	// given its ID.
	ActivityLoadPolicy = "LoadPolicy"
	// ActivityLoadSLA returns the SLA targets (oncall.SLA) of a service and
	// severity (LoadSLAInput).
	ActivityLoadSLA = "LoadSLA"
	// ActivityLoadOpen returns both (OpenPlan) for a new incident
	// (LoadOpenInput), in one call: it runs as a local activity in the
	// run's first workflow task.
	ActivityLoadOpen = "LoadOpen"
	// ActivityNotifyUser pages one user on every contact method, each
	// delivery claimed once in the notification ledger (NotifyInput,
	// NotifyResult). With NotifyInput.Urgency set, a user with notification
	// rules of that urgency is paged by the rules due at once, and the
	// result lists the rules still to come (NotifyResult.Later).
	ActivityNotifyUser = "NotifyUser"
	// ActivityNotifyContact sends one notification rule's page: one contact
	// method, claimed once in the ledger under its rule (NotifyInput with
	// ContactMethodID and Rule, Delivery).
	ActivityNotifyContact = "NotifyContact"
	// ActivityCheckHeartbeat reads a heartbeat monitor's last ping
	// (HeartbeatStatus), given its ID; a local activity.
	ActivityCheckHeartbeat = "CheckHeartbeat"
	// ActivityRunBackup takes, checks and records one dump, then prunes
	// old ones (BackupResult).
	ActivityRunBackup = "RunBackup"
	// ActivityRunMaintenance purges old timelines and vacuums
	// (MaintenanceInput, MaintenanceResult).
	ActivityRunMaintenance = "RunMaintenance"
	// ActivityFindOrphans lists active incidents whose workflow is not
	// running (FindOrphansInput, []Orphan).
	ActivityFindOrphans = "FindOrphans"
)

// Temporal Schedules. Each run's workflow ID is the schedule ID followed by
// the scheduled time.
const (
	BackupScheduleID      = "incident-server-backup"
	MaintenanceScheduleID = "incident-server-maintenance"
)

// OpsService is the built-in service that the engine opens incidents about
// itself on: a failed backup, incidents without a workflow. Their alerts'
// source is incident.SourceEngine.
const OpsService = "incident-server"

// Search attributes IncidentWorkflow keeps current, so that the Temporal
// Web UI can find incidents by status, severity and service (and, with
// SearchRunbookWaiting, those waiting on a runbook approval). The worker
// registers them on its namespace at start-up (SearchAttributeTypes).
var (
	SearchStatus   = temporal.NewSearchAttributeKeyKeyword("IncidentStatus")
	SearchSeverity = temporal.NewSearchAttributeKeyKeyword("IncidentSeverity")
	SearchService  = temporal.NewSearchAttributeKeyKeyword("IncidentService")
	// SearchEscalationLevel is the 1-based escalation step last paged.
	SearchEscalationLevel = temporal.NewSearchAttributeKeyInt64("EscalationLevel")
	// SearchSLADeadline is the next SLA deadline not yet met or missed.
	SearchSLADeadline = temporal.NewSearchAttributeKeyTime("SLADeadline")
)

// OpenSearchAttributes are the search attributes an IncidentWorkflow starts
// with, before its first task upserts them.
func OpenSearchAttributes(service string, severity incident.Severity) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		SearchStatus.ValueSet(string(incident.StatusOpen)),
		SearchSeverity.ValueSet(string(severity)),
		SearchService.ValueSet(service),
	)
}
