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

	"github.com/incident-server/incident-server/internal/incident"
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

	// QueryState returns the workflow's live State.
	QueryState = "state"

	// ActivityRecordChange writes a new incident version and its timeline
	// event to Postgres, then through to Redis.
	ActivityRecordChange = "RecordChange"
	// ActivityRecordEvent appends a timeline event that changes no state.
	ActivityRecordEvent = "RecordEvent"
)

// Search attributes the workflow keeps current, so that the Temporal Web UI
// can find incidents by status, severity and service. The worker registers
// them on its namespace at start-up.
var (
	SearchStatus   = temporal.NewSearchAttributeKeyKeyword("IncidentStatus")
	SearchSeverity = temporal.NewSearchAttributeKeyKeyword("IncidentSeverity")
	SearchService  = temporal.NewSearchAttributeKeyKeyword("IncidentService")
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
	PendingWrites int       `json:"pending_writes"`
	AsOf          time.Time `json:"as_of"`
}
