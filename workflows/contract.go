// Package workflows holds the deterministic incident workflows and the
// contract through which the API, the worker and tests talk to them.
//
// The names in this file are recorded in workflow histories: renaming one
// breaks every running incident. Add new names; never rename old ones.
package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// DefaultTaskQueue is the task queue incident workflows and activities run on
// unless configured otherwise.
const DefaultTaskQueue = "incidents"

// Workflow type names.
const (
	IncidentWorkflowName = "IncidentWorkflow"
)

// Update, query and activity names of IncidentWorkflow.
const (
	// UpdateOpen is sent with every request that opens an incident (update-with-start).
	// The request that started the run gets the new incident back once it is
	// recorded in Postgres; later requests with the same dedup key join it.
	UpdateOpen        = "open"
	UpdateAcknowledge = "acknowledge"
	UpdateMitigate    = "mitigate"
	UpdateResolve     = "resolve"
	// UpdateEscalate pages the next escalation step now.
	UpdateEscalate = "escalate"
	// UpdateSnooze stops paging for a while; paging resumes when it ends.
	UpdateSnooze = "snooze"
	// UpdateReassign replaces the escalation policy and starts paging it
	// from its first step.
	UpdateReassign = "reassign"
	// UpdateNote adds a responder's note to the timeline. It changes no
	// state, but goes through the workflow so that it takes its place in
	// the incident's one ordered history.
	UpdateNote = "note"

	// SignalAlert delivers one alert from a monitoring system (Alertmanager,
	// Events v2, a webhook). Alert storms arrive as signals, never updates:
	// they need no answer, and a run takes thousands of them.
	SignalAlert = "alert"
	// SignalAlerts delivers several alerts of one dedup key at once (an
	// Alertmanager group): one signal, however many alerts.
	SignalAlerts = "alerts"

	// QueryState returns the workflow's live State.
	QueryState = "state"

	// ActivityRecordChange writes a new incident version and its timeline
	// event to Postgres, then through to Redis.
	ActivityRecordChange = "RecordChange"
	// ActivityRecordEvent appends a timeline event that changes no state.
	ActivityRecordEvent = "RecordEvent"
	// ActivityLoadEscalation returns the escalation snapshot of a service.
	ActivityLoadEscalation = "LoadEscalation"
	// ActivityLoadPolicy returns the snapshot of one escalation policy.
	ActivityLoadPolicy = "LoadPolicy"
	// ActivityRecordAlerts upserts the incident's alerts (one row per
	// fingerprint) in Postgres.
	ActivityRecordAlerts = "RecordAlerts"
	// ActivityLoadSLA returns the SLA targets of a service and severity.
	ActivityLoadSLA = "LoadSLA"
	// ActivityNotifyUser pages one user on every contact method, each
	// delivery claimed once in the notification ledger.
	ActivityNotifyUser = "NotifyUser"
)

// Search attributes the workflow keeps current, so that the Temporal Web UI
// can find incidents by status, severity and service. The worker registers
// them on its namespace at start-up.
var (
	SearchStatus   = temporal.NewSearchAttributeKeyKeyword("IncidentStatus")
	SearchSeverity = temporal.NewSearchAttributeKeyKeyword("IncidentSeverity")
	SearchService  = temporal.NewSearchAttributeKeyKeyword("IncidentService")
	// SearchEscalationLevel is the 1-based escalation step last paged.
	SearchEscalationLevel = temporal.NewSearchAttributeKeyInt64("EscalationLevel")
	// SearchSLADeadline is the next SLA deadline not yet met or missed.
	SearchSLADeadline = temporal.NewSearchAttributeKeyTime("SLADeadline")
)

// Error types carried by the application errors that validators and handlers
// return. The API maps each to one HTTP status.
const (
	ErrTypeInvalid  = "invalid"   // the request can never succeed as sent
	ErrTypeConflict = "conflict"  // illegal in the incident's current status
	ErrTypeNotFound = "not_found" // the incident is not the one this workflow owns
	ErrTypeRetry    = "retry"     // the incident is closing; send again shortly
)

// IncidentWorkflowID is the workflow ID of an incident opened without a dedup key.
func IncidentWorkflowID(incidentID string) string { return "incident/" + incidentID }

// DedupWorkflowID is the workflow ID shared by every alert with the same
// service and dedup key. While an incident under it is open, new alerts join
// it; after it resolves, the same ID starts a new incident. The key is hashed
// so that any text is a valid, bounded ID.
func DedupWorkflowID(service, dedupKey string) string {
	sum := sha256.Sum256([]byte(dedupKey))
	return "incident-dedup/" + service + "/" + hex.EncodeToString(sum[:16])
}

// RequestWorkflowID is the workflow ID of an incident opened with an
// Idempotency-Key and no dedup key: the same caller retrying the same
// request for the same service reaches the same workflow, so a retry after
// a lost answer can never open a second incident.
func RequestWorkflowID(caller, service, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(caller + "\x00" + service + "\x00" + idempotencyKey))
	return "incident-request/" + service + "/" + hex.EncodeToString(sum[:16])
}

// IncidentInput starts an IncidentWorkflow run.
type IncidentInput struct {
	// Incident is the incident to open: ID, WorkflowID, title, service,
	// severity and so on. Status, times and version are set by the workflow.
	Incident incident.Incident
	// Continued is set when a run continues a previous one as new: the
	// incident is already recorded and Incident holds its current state.
	Continued bool
	// Duplicates counts the alerts that joined the incident in earlier runs.
	Duplicates int
	// Seq is the sequence number of the last timeline event written.
	Seq int64
	// Escalation is the paging state carried over from the previous run.
	Escalation *Escalation
	// SLA is the deadline state carried over from the previous run.
	SLA *SLAState
	// AutoResolve resolves the incident once every alert in it has resolved
	// (the service's setting when the incident opened).
	AutoResolve bool
	// Alerts are the alerts the incident holds, carried across runs.
	Alerts []AlertState
	// PendingAlerts arrived too late for the previous run to handle them.
	PendingAlerts []AlertSignal
}

// Alert actions.
const (
	AlertTrigger     = "trigger"
	AlertAcknowledge = "acknowledge"
	AlertResolve     = "resolve"
)

// AlertSignal is the argument of SignalAlert.
type AlertSignal struct {
	// ID is unique per received alert. For a trigger it is also the ID of
	// the incident the alert opens when none is open under its dedup key.
	ID          string
	Source      string
	Action      string
	Fingerprint string
	Title       string
	Description string
	Severity    incident.Severity
	Labels      map[string]string `json:",omitempty"`
	URL         string            `json:",omitempty"`
	// Details are the sender's extra data (annotations, custom_details,
	// links, images), kept on the alert's timeline event.
	Details map[string]any `json:",omitempty"`
}

// SLAState is an incident's SLA: its targets and where each deadline stands.
type SLAState struct {
	Targets    oncall.SLA `json:"targets"`
	Response   Deadline   `json:"response"`
	Resolution Deadline   `json:"resolution"`
}

// Deadline is one SLA target of one incident.
type Deadline struct {
	DueAt  time.Time `json:"due_at,omitzero"`
	WarnAt time.Time `json:"warn_at,omitzero"`
	// MetAt is when the target was met, zero until then.
	MetAt    time.Time `json:"met_at,omitzero"`
	Warned   bool      `json:"warned"`
	Breached bool      `json:"breached"`
	// Status is derived: none (no target), pending, at_risk (past the
	// warning), met or breached.
	Status string `json:"status"`
}

// Escalation is where an incident's paging stands. It is part of the
// workflow's state, shown by QueryState and carried across continue-as-new.
type Escalation struct {
	Policy oncall.Snapshot `json:"policy"`
	// Step is the 0-based index of the step paged last; -1 before the first page.
	Step int `json:"step"`
	// Round counts completed passes over the policy's steps.
	Round int `json:"round"`
	// PageCount numbers the pages so far; each page is one more.
	PageCount int `json:"page_count"`
	// NextPageAt is when the next step is due while the incident is open and
	// not snoozed; zero when no step is left.
	NextPageAt time.Time `json:"next_page_at,omitzero"`
	// SnoozedUntil stops paging until then.
	SnoozedUntil time.Time `json:"snoozed_until,omitzero"`
	// AckExpiresAt is when an acknowledgement that was neither mitigated nor
	// resolved lapses and the incident returns to open.
	AckExpiresAt time.Time `json:"ack_expires_at,omitzero"`
	// Exhausted is set once every step of every round has been paged.
	Exhausted bool `json:"exhausted"`
	// EscalateNow holds the reason of an accepted escalate whose page is
	// still to be sent; it survives a continue-as-new.
	EscalateNow string `json:"escalate_now,omitempty"`
	// Pages lists who was paged, oldest first (the most recent 100).
	Pages []Page `json:"pages"`
}

// Page records one user paged at one step.
type Page struct {
	Step  int `json:"step"`
	Round int `json:"round"`
	// No is the page's number within the incident, from 1.
	No     int       `json:"no"`
	UserID string    `json:"user_id"`
	At     time.Time `json:"at"`
	// Delivered counts contact methods that took the page; Failed those that did not.
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
}

// EscalateRequest is the argument of UpdateEscalate.
type EscalateRequest struct {
	IncidentID string
	Actor      string
	Note       string
}

// SnoozeRequest is the argument of UpdateSnooze.
type SnoozeRequest struct {
	IncidentID string
	Actor      string
	Duration   time.Duration
}

// ReassignRequest is the argument of UpdateReassign: a policy, or users
// paged together as a one-step policy.
type ReassignRequest struct {
	IncidentID string
	Actor      string
	PolicyID   string
	UserIDs    []string
}

// OpenRequest is the argument of UpdateOpen.
type OpenRequest struct {
	// IncidentID is the ID this request proposed for a new incident. It
	// equals the run's incident ID only for the request that started the run.
	IncidentID string
	Actor      string
}

// OpenResult is the answer to UpdateOpen.
type OpenResult struct {
	Incident incident.Incident
	// Created is true for the request that opened the incident and false for
	// one that joined it through its dedup key.
	Created bool
}

// TransitionRequest is the argument of the acknowledge, mitigate and resolve updates.
// NoteRequest is the argument of UpdateNote. Note is required.
type NoteRequest struct {
	IncidentID string
	Actor      string
	Note       string
}

type TransitionRequest struct {
	// IncidentID guards against a dedup workflow ID that has since moved on
	// to a newer incident: the update is rejected unless it matches.
	IncidentID string
	Actor      string
	Note       string
}

// State is the answer to QueryState.
type State struct {
	Incident   incident.Incident `json:"incident"`
	Duplicates int               `json:"duplicates"`
	// Recorded is false until the opening of the incident is in Postgres.
	Recorded bool `json:"recorded"`
	// PendingWrites counts projection writes not yet acknowledged by Postgres.
	PendingWrites int          `json:"pending_writes"`
	Escalation    *Escalation  `json:"escalation,omitempty"`
	SLA           *SLAState    `json:"sla,omitempty"`
	Alerts        []AlertState `json:"alerts,omitempty"`
	// AsOf is the workflow time of the run's last workflow task: the state
	// is current as of then (a query does not advance it).
	AsOf time.Time `json:"as_of"`
}

// Activity inputs and outputs live in package contract, which both the
// workflows and the activities import; the aliases keep their names here.
type (
	NotifyInput       = contract.NotifyInput
	NotifyResult      = contract.NotifyResult
	Delivery          = contract.Delivery
	LoadSLAInput      = contract.LoadSLAInput
	RecordAlertsInput = contract.RecordAlertsInput
	AlertState        = contract.AlertState
)
