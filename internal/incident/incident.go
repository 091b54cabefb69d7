// Package incident holds the domain rules of an incident's lifecycle: its
// statuses, severities, the transitions between them, its alerts, its IDs
// and input validation. It imports only the standard library and the error
// vocabulary (package fault), so that workflows, activities and the API
// share one definition of what is legal.
package incident

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/fault"
)

// Status is where an incident is in its lifecycle.
type Status string

// The lifecycle: open → acknowledged → mitigated → resolved. Acknowledge may
// be skipped; resolved is final.
const (
	StatusOpen         Status = "open"
	StatusAcknowledged Status = "acknowledged"
	StatusMitigated    Status = "mitigated"
	StatusResolved     Status = "resolved"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusOpen, StatusAcknowledged, StatusMitigated, StatusResolved}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Active reports whether an incident in this status still needs attention.
func (s Status) Active() bool { return s.Valid() && s != StatusResolved }

// Severity is how urgent an incident is.
type Severity string

// Severities from most to least urgent.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityInfo     Severity = "info"
)

// Severities lists every severity, most urgent first.
var Severities = []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo}

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool {
	for _, v := range Severities {
		if s == v {
			return true
		}
	}
	return false
}

// Action is a lifecycle command a responder can issue.
type Action string

// The lifecycle actions.
const (
	ActionAcknowledge Action = "acknowledge"
	ActionMitigate    Action = "mitigate"
	ActionResolve     Action = "resolve"
)

// Target is the status an action leads to.
func (a Action) Target() (Status, bool) {
	switch a {
	case ActionAcknowledge:
		return StatusAcknowledged, true
	case ActionMitigate:
		return StatusMitigated, true
	case ActionResolve:
		return StatusResolved, true
	}
	return "", false
}

// transitions lists, for each status, the statuses it may move to.
var transitions = map[Status][]Status{
	StatusOpen:         {StatusAcknowledged, StatusMitigated, StatusResolved},
	StatusAcknowledged: {StatusMitigated, StatusResolved},
	StatusMitigated:    {StatusResolved},
	StatusResolved:     nil,
}

// CanTransition returns nil when a responder may move an incident in
// status from to status to, and a fault.Conflict saying why not otherwise.
func CanTransition(from, to Status) error {
	for _, s := range transitions[from] {
		if s == to {
			return nil
		}
	}
	switch {
	case from == StatusResolved:
		return fault.Conflictf("incident is resolved; cannot move to %s", to)
	case from == to:
		return fault.Conflictf("incident is already %s", to)
	}
	return fault.Conflictf("cannot move from %s to %s", from, to)
}

// Move applies a status change made at time at by actor: the status, the
// time and author it records, and a new version. It does not ask whether
// the move is allowed: a responder's move passes CanTransition first; the
// engine's own (an acknowledgement that lapses reopens the incident) are
// decided by its workflow.
func (inc *Incident) Move(to Status, actor string, at time.Time) {
	inc.Status = to
	inc.UpdatedAt = at
	inc.Version++
	switch to {
	case StatusOpen:
		inc.AcknowledgedAt, inc.AcknowledgedBy = nil, ""
	case StatusAcknowledged:
		inc.AcknowledgedAt, inc.AcknowledgedBy = &at, actor
	case StatusMitigated:
		inc.MitigatedAt = &at
	case StatusResolved:
		inc.ResolvedAt, inc.ResolvedBy = &at, actor
	}
}

// Limits on free text, in characters.
const (
	MaxTitleLen       = 512
	MaxDescriptionLen = 16 * 1024
	MaxServiceLen     = 128
	MaxDedupKeyLen    = 255
	MaxActorLen       = 255
	MaxNoteLen        = 4096
)

// NewIncident is what it takes to open an incident.
type NewIncident struct {
	Title       string   `json:"title"`
	Service     string   `json:"service"`
	Severity    Severity `json:"severity"`
	Description string   `json:"description,omitempty"`
	DedupKey    string   `json:"dedup_key,omitempty"`
}

// Normalize trims surrounding white space from every text field.
func (n *NewIncident) Normalize() {
	n.Title = strings.TrimSpace(n.Title)
	n.Service = strings.TrimSpace(n.Service)
	n.Severity = Severity(strings.ToLower(strings.TrimSpace(string(n.Severity))))
	n.Description = strings.TrimSpace(n.Description)
	n.DedupKey = strings.TrimSpace(n.DedupKey)
}

// Validate returns a fault.Invalid naming the first field that is wrong.
func (n NewIncident) Validate() error {
	switch {
	case n.Title == "":
		return fault.InvalidField("title", "is required")
	case utf8.RuneCountInString(n.Title) > MaxTitleLen:
		return fault.InvalidField("title", fmt.Sprintf("is longer than %d characters", MaxTitleLen))
	case n.Service == "":
		return fault.InvalidField("service", "is required")
	case utf8.RuneCountInString(n.Service) > MaxServiceLen:
		return fault.InvalidField("service", fmt.Sprintf("is longer than %d characters", MaxServiceLen))
	case !ValidServiceName(n.Service):
		return fault.InvalidField("service", "may hold only letters, digits, '.', '_' and '-'")
	case n.Severity == "":
		return fault.InvalidField("severity", "is required")
	case !n.Severity.Valid():
		return fault.InvalidField("severity", fmt.Sprintf("must be one of %s", joinSeverities()))
	case utf8.RuneCountInString(n.Description) > MaxDescriptionLen:
		return fault.InvalidField("description", fmt.Sprintf("is longer than %d characters", MaxDescriptionLen))
	case utf8.RuneCountInString(n.DedupKey) > MaxDedupKeyLen:
		return fault.InvalidField("dedup_key", fmt.Sprintf("is longer than %d characters", MaxDedupKeyLen))
	}
	return nil
}

// ValidateActor checks the actor and note of a lifecycle command: the actor
// is required, both have length limits.
func ValidateActor(actor, note string) error {
	switch {
	case strings.TrimSpace(actor) == "":
		return fault.InvalidField("actor", "is required")
	case utf8.RuneCountInString(actor) > MaxActorLen:
		return fault.InvalidField("actor", fmt.Sprintf("is longer than %d characters", MaxActorLen))
	case utf8.RuneCountInString(note) > MaxNoteLen:
		return fault.InvalidField("note", fmt.Sprintf("is longer than %d characters", MaxNoteLen))
	}
	return nil
}

// ValidateNote checks a note added to the timeline: required, and within
// MaxNoteLen.
func ValidateNote(note string) error {
	if strings.TrimSpace(note) == "" {
		return fault.InvalidField("note", "is required")
	}
	if utf8.RuneCountInString(note) > MaxNoteLen {
		return fault.InvalidField("note", fmt.Sprintf("is longer than %d characters", MaxNoteLen))
	}
	return nil
}

// ValidServiceName reports whether s is usable as a service name: letters,
// digits, '.', '_' and '-', at least one. The name appears in workflow IDs
// and URLs, so nothing else is allowed.
func ValidServiceName(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return s != ""
}

func joinSeverities() string {
	parts := make([]string, len(Severities))
	for i, s := range Severities {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// Incident is the state of one incident as the workflow holds it and as it
// is projected into Postgres and Redis.
type Incident struct {
	ID string `json:"id"`
	// WorkflowID is the Temporal workflow that owns this incident. Several
	// incidents may share one over time (a dedup key reused after resolve).
	WorkflowID     string     `json:"workflow_id"`
	Title          string     `json:"title"`
	Description    string     `json:"description,omitempty"`
	Service        string     `json:"service"`
	Severity       Severity   `json:"severity"`
	Status         Status     `json:"status"`
	DedupKey       string     `json:"dedup_key,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	MitigatedAt    *time.Time `json:"mitigated_at,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy     string     `json:"resolved_by,omitempty"`
	// ResponseDueAt and ResolutionDueAt are the incident's SLA deadlines,
	// nil when its severity has no target.
	ResponseDueAt   *time.Time `json:"response_due_at,omitempty"`
	ResolutionDueAt *time.Time `json:"resolution_due_at,omitempty"`
	// Version counts the transitions applied; the projection ignores a write
	// whose version is not newer than the row it holds.
	Version int64 `json:"version"`
}

// EventType names an entry in an incident's timeline.
type EventType string

// Timeline event types.
const (
	EventOpened       EventType = "opened"
	EventAcknowledged EventType = "acknowledged"
	EventMitigated    EventType = "mitigated"
	EventResolved     EventType = "resolved"
	EventDuplicate    EventType = "duplicate"
	EventNote         EventType = "note" // a responder's note

	// Escalation events.
	EventPolicy       EventType = "escalation_policy"    // the policy snapshot the incident pages with
	EventNotified     EventType = "notified"             // a contact method took a page
	EventNotifyFailed EventType = "notify_failed"        // a contact method (or a user) could not be paged
	EventEscalated    EventType = "escalated"            // a responder asked for the next step now
	EventSnoozed      EventType = "snoozed"              // paging paused
	EventSnoozeEnded  EventType = "snooze_ended"         // paging resumed
	EventReassigned   EventType = "reassigned"           // a new policy or set of users took over
	EventAckTimeout   EventType = "ack_timeout"          // an acknowledgement lapsed; the incident is open again
	EventExhausted    EventType = "escalation_exhausted" // every step of every round was paged
	// EventNoOneOnCall records that a schedule a page targeted had nobody on
	// call at the moment of the page (or could not be read), so the page
	// reached nobody through it.
	EventNoOneOnCall EventType = "no_one_on_call"
	// EventRulesStopped lists the notification rule steps that were not
	// sent because the incident was acknowledged, mitigated or resolved, or
	// paging was snoozed or reassigned.
	EventRulesStopped EventType = "notification_rules_stopped"

	// SLA events; their data names the sla_type (response, resolution).
	EventSLAWarning  EventType = "sla_warning"  // a target is near
	EventSLABreached EventType = "sla_breached" // a target was missed

	// Alert events: a new fingerprint joined the incident, or one resolved.
	EventAlert         EventType = "alert"
	EventAlertResolved EventType = "alert_resolved"

	// Runbook events: a run started, one of its steps changed status, an
	// approval was overdue and the escalation targets were paged, the run
	// ended; and a resolve by an alert held back by the resolve policy.
	// Their data names the run, the runbook and the step.
	EventRunbookStarted         EventType = "runbook_started"
	EventRunbookStep            EventType = "runbook_step"
	EventRunbookApprovalOverdue EventType = "runbook_approval_overdue"
	EventRunbookFinished        EventType = "runbook_finished"
	EventResolveHeld            EventType = "resolve_held"

	// EventWorkflowMissing is written by the maintenance run on an incident
	// that Postgres holds as active while its workflow is not running: no
	// timer will page for it, and nothing will resolve it.
	EventWorkflowMissing EventType = "workflow_missing"
)

// EventFor returns the timeline event type that records a move to status s.
func EventFor(s Status) EventType {
	switch s {
	case StatusAcknowledged:
		return EventAcknowledged
	case StatusMitigated:
		return EventMitigated
	case StatusResolved:
		return EventResolved
	}
	return EventOpened
}

// Event is one entry of an incident's timeline.
type Event struct {
	// ID is unique per incident and chosen by the writer, so a retried write
	// of the same event is recognised and stored once.
	ID         string         `json:"id"`
	IncidentID string         `json:"incident_id"`
	Type       EventType      `json:"type"`
	Actor      string         `json:"actor,omitempty"`
	Message    string         `json:"message,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
	EventTime  time.Time      `json:"event_time"`
	// Seq orders an incident's events as its workflow created them; events
	// can share an EventTime.
	Seq int64 `json:"seq"`
}

// Change is one new version of an incident together with the timeline event
// that records why it changed, and any events that follow it at once (a
// new incident's escalation policy). It is written to the projection as a
// unit.
type Change struct {
	Incident Incident `json:"incident"`
	Event    Event    `json:"event"`
	Also     []Event  `json:"also,omitempty"`
}
