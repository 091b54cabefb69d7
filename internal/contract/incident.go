package contract

import (
	"slices"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/runbook"
)

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
	Alerts []incident.AlertState
	// PendingAlerts arrived too late for the previous run to handle them.
	PendingAlerts []AlertSignal
	// PendingJoins are join signals the previous run had not handled.
	PendingJoins []OpenRequest `json:",omitempty"`
	// RequestKey is the OpenRequest.RequestKey of the request that started
	// the run, if it had one: a retry of that request, with the same key
	// and a new proposed incident ID, is answered as the opener, not as a
	// duplicate. Carried across continue-as-new.
	RequestKey string `json:",omitempty"`
	// Runbooks are the incident's runbook runs and resolve policy, carried
	// across continue-as-new; nil before any.
	Runbooks *RunbookBook `json:",omitempty"`
}

// NewIncidentInput is the input of a new incident's run: its ID, its
// workflow's ID and what the opening request or alert says of it.
func NewIncidentInput(id, workflowID, service string, a incident.Alert, autoResolve bool) IncidentInput {
	return IncidentInput{
		Incident: incident.Incident{
			ID: id, WorkflowID: workflowID, Title: a.Title, Description: a.Description,
			Service: service, Severity: a.Severity, DedupKey: a.DedupKey,
		},
		AutoResolve: autoResolve,
	}
}

// AlertSignal is the argument of SignalAlert (and, in a list, of
// SignalAlerts): one alert as received.
type AlertSignal struct {
	// ID is unique per received alert. For a trigger it is also the ID of
	// the incident the alert opens when none is open under its dedup key.
	ID string
	incident.Alert
}

// OpenRequest is the argument of UpdateOpen.
type OpenRequest struct {
	// IncidentID is the ID this request proposed for a new incident. It
	// equals the run's incident ID only for the request that started the run.
	IncidentID string
	Actor      string
	// RequestKey identifies a request sent with an Idempotency-Key (the
	// open's update ID); "" otherwise. Retries of one request share it.
	RequestKey string `json:",omitempty"`
}

// Validate checks what the workflow needs of an open request.
func (r OpenRequest) Validate() error {
	if r.IncidentID == "" {
		return fault.New(fault.Invalid, "incident ID is required")
	}
	return nil
}

// OpenResult is the answer to UpdateOpen.
type OpenResult struct {
	Incident incident.Incident
	// Created is true for the request that opened the incident and false for
	// one that joined it through its dedup key.
	Created bool
}

// TransitionRequest is the argument of the acknowledge, mitigate and resolve
// updates.
type TransitionRequest struct {
	// IncidentID guards against a dedup workflow ID that has since moved on
	// to a newer incident: the update is rejected unless it matches. Every
	// request below carries it for the same reason.
	IncidentID string
	Actor      string
	Note       string
	// Channel is where the action came from when it was not the REST API:
	// one of InboundChannels. It is recorded in the event's data.
	Channel string `json:",omitempty"`
}

// Channels an acknowledgement or resolution can come from besides the REST
// API, as TransitionRequest.Channel and the event's data name them.
const (
	InboundSMS   = "sms"   // a reply to a page SMS
	InboundVoice = "voice" // a keypress during a voice page
	InboundSlack = "slack" // a button of a Slack page
	InboundLink  = "link"  // a one-click acknowledge link (email, push)
)

// InboundChannels lists the values of TransitionRequest.Channel.
var InboundChannels = []string{InboundSMS, InboundVoice, InboundSlack, InboundLink}

// Validate checks the request's own fields (not the incident's status).
func (r TransitionRequest) Validate() error {
	if r.Channel != "" && !slices.Contains(InboundChannels, r.Channel) {
		return fault.InvalidField("channel", "must be one of "+strings.Join(InboundChannels, ", "))
	}
	return incident.ValidateActor(r.Actor, r.Note)
}

// NoteRequest is the argument of UpdateNote. Note is required.
type NoteRequest struct {
	IncidentID string
	Actor      string
	Note       string
}

// Validate checks the request's own fields.
func (r NoteRequest) Validate() error {
	if err := incident.ValidateNote(r.Note); err != nil {
		return err
	}
	return incident.ValidateActor(r.Actor, r.Note)
}

// EscalateRequest is the argument of UpdateEscalate.
type EscalateRequest struct {
	IncidentID string
	Actor      string
	Note       string
}

// Validate checks the request's own fields.
func (r EscalateRequest) Validate() error { return incident.ValidateActor(r.Actor, r.Note) }

// SnoozeRequest is the argument of UpdateSnooze.
type SnoozeRequest struct {
	IncidentID string
	Actor      string
	Duration   time.Duration
}

// Validate checks the request's own fields.
func (r SnoozeRequest) Validate() error {
	if err := incident.ValidateActor(r.Actor, ""); err != nil {
		return err
	}
	return oncall.ValidateSnooze(r.Duration)
}

// ReassignRequest is the argument of UpdateReassign: a policy, or users
// paged together as a one-step policy.
type ReassignRequest struct {
	IncidentID string
	Actor      string
	PolicyID   string
	UserIDs    []string
}

// Validate checks the request's own fields.
func (r ReassignRequest) Validate() error {
	if err := incident.ValidateActor(r.Actor, ""); err != nil {
		return err
	}
	return oncall.ValidateReassign(r.PolicyID, r.UserIDs)
}

// State is the answer to QueryState.
type State struct {
	Incident   incident.Incident `json:"incident"`
	Duplicates int               `json:"duplicates"`
	// Recorded is false until the opening of the incident is in Postgres.
	Recorded bool `json:"recorded"`
	// PendingWrites counts projection writes not yet acknowledged by Postgres.
	PendingWrites int                   `json:"pending_writes"`
	Escalation    *Escalation           `json:"escalation,omitempty"`
	SLA           *SLAState             `json:"sla,omitempty"`
	Alerts        []incident.AlertState `json:"alerts,omitempty"`
	// Runbooks are the runbooks started on the incident, oldest first.
	Runbooks []RunbookRun `json:"runbooks,omitempty"`
	// AsOf is the workflow time of the run's last workflow task: the state
	// is current as of then (a query does not advance it).
	AsOf time.Time `json:"as_of"`
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
	// Rules are the notification rule steps of paged users still to be
	// sent, in the order they were scheduled; they survive a
	// continue-as-new. Acknowledge, mitigate, resolve, snooze and reassign
	// drop them.
	Rules []PendingRule `json:"rules,omitempty"`
}

// PendingRule is one notification rule step waiting for its time.
type PendingRule struct {
	// Input is the step's ActivityNotifyContact input: the page, the user,
	// the contact method and the rule.
	Input NotifyInput `json:"input"`
	// PagedAt is when the user was paged; FireAt when the step is due.
	PagedAt time.Time `json:"paged_at"`
	FireAt  time.Time `json:"fire_at"`
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

// SLA types, as recorded in events and metrics.
const (
	SLAResponse   = "response"
	SLAResolution = "resolution"
)

// Deadline statuses.
const (
	SLANone     = "none"
	SLAPending  = "pending"
	SLAAtRisk   = "at_risk"
	SLAMet      = "met"
	SLABreached = "breached"
)

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
	// Status is derived: SLANone (no target), SLAPending, SLAAtRisk (past
	// the warning), SLAMet or SLABreached.
	Status string `json:"status"`
}

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
	// Reason says why the user is paged: "escalation", "escalate",
	// "snooze_ended", "ack_timeout", "sla_warning", "sla_breach",
	// "runbook_approval" (a runbook's approval is overdue).
	Reason string
	// DueAt is when the page was due: its step's scheduled time for an
	// escalation page, when it was asked for otherwise. Zero in runs
	// recorded before it was kept.
	DueAt time.Time `json:",omitzero"`
	// Urgency ("high" or "low", see oncall.UrgencyOf) asks ActivityNotifyUser
	// to apply the user's notification rules of that urgency. Empty (runs
	// recorded before rules existed) pages every contact method at once.
	Urgency string `json:",omitempty"`
	// ContactMethodID and Rule name the one contact method and the rule
	// (from 1) that ActivityNotifyContact sends.
	ContactMethodID string `json:",omitempty"`
	Rule            int    `json:",omitempty"`
}

// NotifyResult is what ActivityNotifyUser returns.
type NotifyResult struct {
	UserID     string
	Deliveries []Delivery
	// Later are the user's notification rules not due at once, ordered by
	// delay: the workflow sends each when its delay has passed, unless the
	// incident was acknowledged, mitigated or resolved by then.
	Later []RuleStep `json:",omitempty"`
}

// RuleStep is one notification rule still to be sent.
type RuleStep struct {
	// Rule numbers the rule among the user's rules of the urgency, from 1.
	Rule            int
	ContactMethodID string
	// Delay is the rule's delay after the user was paged.
	Delay time.Duration
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
	// DeliveryID identifies the delivery (its ledger key, hashed): the same
	// for every attempt, so a receiver can drop a repeat.
	DeliveryID string `json:",omitempty"`
	// Rule is the notification rule that sent the delivery, from 1; 0 for
	// a page to every contact method at once.
	Rule int `json:",omitempty"`
}

// LoadOpenInput is the argument of ActivityLoadOpen.
type LoadOpenInput struct {
	Service  string
	Severity incident.Severity
}

// OpenPlan is what ActivityLoadOpen returns: what a new incident starts
// with.
type OpenPlan struct {
	// SLA are the targets of the incident's service and severity.
	SLA oncall.SLA
	// Escalation is the service's escalation snapshot (empty when it has
	// no policy; paging nobody, with the reason, during maintenance).
	Escalation oncall.Snapshot
	// Runbooks are the service's runbooks that start on an incident of its
	// severity, snapshotted; none in runs recorded before runbooks existed.
	Runbooks []runbook.Runbook `json:",omitempty"`
	// RequireRunbookSteps is the service's resolve policy
	// (require_runbook_steps).
	RequireRunbookSteps bool `json:",omitempty"`
}

// LoadSLAInput is the argument of ActivityLoadSLA.
type LoadSLAInput struct {
	Service  string
	Severity incident.Severity
}

// RecordAlertsInput is the argument of ActivityRecordAlerts.
type RecordAlertsInput struct {
	IncidentID string
	Alerts     []incident.AlertState
}
