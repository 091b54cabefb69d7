package contract

import (
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/runbook"
)

// Runbooks run as children of their incident's workflow:
//
//	RunbookWorkflow (one per started runbook; ID: RunbookWorkflowID), started by IncidentWorkflow
//	  updates  complete_step (manual steps), approve_step (approval gates)
//	  signal   alerts_quiet (from the parent: no alert of the incident is firing)
//	  query    state (RunbookRun)
//	  activities LoadRunbookContext (local), RunAction
//	  reports every step transition to its parent (SignalRunbookReport); the
//	  parent records it in the timeline and in live.runbooks, and pages when
//	  an approval is overdue
//	IncidentWorkflow
//	  update   start_runbook (a runbook started by hand)
//	  signal   runbook_report
const RunbookWorkflow = "RunbookWorkflow"

// Updates of RunbookWorkflow: the API sends them to the child directly.
const (
	// UpdateCompleteStep marks the manual step in progress done or skipped.
	// Argument StepRequest, answer RunbookRun.
	UpdateCompleteStep = "complete_step"
	// UpdateApproveStep approves or rejects the approval gate in progress.
	// Argument ApprovalRequest, answer RunbookRun.
	UpdateApproveStep = "approve_step"
)

// UpdateStartRunbook starts a runbook on an incident by hand. Argument
// StartRunbookRequest, answer RunbookRun.
const UpdateStartRunbook = "start_runbook"

// Signals between an incident and its runbooks.
const (
	// SignalRunbookReport carries a RunbookReport from a runbook to its
	// incident's workflow.
	SignalRunbookReport = "runbook_report"
	// SignalAlertsQuiet tells a runbook waiting for its incident's alerts to
	// resolve that none is firing (RunbookAlertsQuiet).
	SignalAlertsQuiet = "alerts_quiet"
)

// Activities of RunbookWorkflow.
const (
	// ActivityLoadRunbookContext reads what an action's templates know of
	// an incident (runbook.Context), given its ID; a local activity.
	ActivityLoadRunbookContext = "LoadRunbookContext"
	// ActivityRunAction makes an action step's HTTP call once (ActionInput,
	// ActionResult); the workflow's retry policy tries it again.
	ActivityRunAction = "RunAction"
)

// ActionFailed is the application error type of an action that did not
// get a 2xx answer; its details hold the ActionResult of the attempt.
const ActionFailed = "action_failed"

// SearchRunbookWaiting is true while a runbook of the incident (on an
// IncidentWorkflow), or the runbook itself (on a RunbookWorkflow), waits
// for an approval.
var SearchRunbookWaiting = temporal.NewSearchAttributeKeyBool("RunbookWaiting")

// RunbookWorkflowID is the workflow ID of run (from 1) of the runbooks
// started on an incident. Incident IDs are unique, so it is too.
func RunbookWorkflowID(incidentID string, run int) string {
	return "runbook/" + incidentID + "/" + strconv.Itoa(run)
}

// RunbookActionKey is the Idempotency-Key of the call of step (from 1) of
// a run: the same for every attempt, so the receiver can tell a retry.
func RunbookActionKey(incidentID string, run, step int) string {
	return fmt.Sprintf("runbook/%s/%d/%d", incidentID, run, step)
}

// MaxRunbookRuns caps the runbooks started on one incident.
const MaxRunbookRuns = 50

// RunbookInput starts a RunbookWorkflow.
type RunbookInput struct {
	IncidentID string
	// IncidentWorkflowID is the parent's workflow ID: reports go to its
	// current run.
	IncidentWorkflowID string
	Run                int
	// Runbook is the snapshot the run works through.
	Runbook   runbook.Runbook
	StartedBy string
	StartedAt time.Time
}

// RunbookRun is where one run of a runbook stands: what its workflow
// answers to QueryState and returns, and what the incident shows under
// live.runbooks.
type RunbookRun struct {
	// Run numbers the incident's runs from 1.
	Run        int    `json:"run"`
	WorkflowID string `json:"workflow_id"`
	RunbookID  string `json:"runbook_id"`
	Name       string `json:"name"`
	// Version is the runbook's version the run snapshotted.
	Version int64 `json:"version"`
	// Status is runbook.RunRunning, RunDone, RunFailed or RunCancelled.
	Status string `json:"status"`
	// StartedBy is who started it by hand; "" when it started with the incident.
	StartedBy  string        `json:"started_by,omitempty"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	Steps      []RunbookStep `json:"steps"`
}

// RunbookStep is where one step of a run stands.
type RunbookStep struct {
	// No numbers the steps from 1.
	No       int          `json:"no"`
	Name     string       `json:"name"`
	Kind     runbook.Kind `json:"kind"`
	Required bool         `json:"required,omitempty"`
	// Status is one of runbook.StepPending, StepRunning,
	// StepWaitingApproval, StepDone, StepSkipped, StepFailed, StepCancelled.
	Status       string `json:"status"`
	Instructions string `json:"instructions,omitempty"`
	// Role is who may decide an approval step.
	Role oncall.Role `json:"role,omitempty"`
	// Actor is who completed, skipped, approved or rejected the step.
	Actor      string    `json:"actor,omitempty"`
	Note       string    `json:"note,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Attempts, HTTPStatus and Output are an action's: how many calls were
	// made, the last answer's status and the start of its body (or why no
	// answer came).
	Attempts   int    `json:"attempts,omitempty"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Output     string `json:"output,omitempty"`
	// Overdue is set on an approval not decided within its timeout; the
	// incident's escalation targets were paged once.
	Overdue bool `json:"overdue,omitempty"`
}

// Finished reports whether a step's status is final.
func (s RunbookStep) Finished() bool {
	switch s.Status {
	case runbook.StepDone, runbook.StepSkipped, runbook.StepFailed, runbook.StepCancelled:
		return true
	}
	return false
}

// NewRunbookRun is the state a run starts in: every step pending.
func NewRunbookRun(in RunbookInput) RunbookRun {
	rb := in.Runbook
	run := RunbookRun{
		Run: in.Run, WorkflowID: RunbookWorkflowID(in.IncidentID, in.Run), RunbookID: rb.ID, Name: rb.Name,
		Version: rb.Version, Status: runbook.RunRunning, StartedBy: in.StartedBy, StartedAt: in.StartedAt,
		Steps: make([]RunbookStep, len(rb.Steps)),
	}
	for i, s := range rb.Steps {
		st := RunbookStep{No: i + 1, Name: s.Name, Kind: s.Kind, Required: s.Required, Status: runbook.StepPending,
			Instructions: s.Instructions}
		if s.Kind == runbook.KindApproval {
			st.Role = s.Role()
		}
		run.Steps[i] = st
	}
	return run
}

// Kinds of RunbookReport.
const (
	// ReportStep: a step changed status.
	ReportStep = "step"
	// ReportApprovalOverdue: an approval was not decided within its
	// timeout; the incident pages its current escalation targets once.
	ReportApprovalOverdue = "approval_overdue"
	// ReportAwaitingAlerts: a wait step waits for the incident's alerts to
	// resolve; the incident answers with SignalAlertsQuiet when none fires.
	ReportAwaitingAlerts = "awaiting_alerts"
	// ReportFinished: the run ended (Status says how).
	ReportFinished = "finished"
)

// RunbookReport is the argument of SignalRunbookReport.
type RunbookReport struct {
	IncidentID string
	Run        int
	// Seq numbers a run's reports from 1: the incident applies each once,
	// in order, and keys its timeline event by it.
	Seq  int
	Kind string
	// Step is the step the report is about, as it now stands (without its
	// instructions, which the incident holds); zero for ReportFinished.
	Step RunbookStep
	// Status is the run's status after the report; FinishedAt is set once
	// it has ended.
	Status     string
	FinishedAt time.Time `json:",omitzero"`
	// At is when it happened, in the runbook's workflow time.
	At time.Time
}

// RunbookAlertsQuiet is the argument of SignalAlertsQuiet.
type RunbookAlertsQuiet struct {
	// Step is the step (from 1) that asked.
	Step int
}

// StartRunbookRequest is the argument of UpdateStartRunbook. The API reads
// the runbook and sends its snapshot.
type StartRunbookRequest struct {
	IncidentID string
	Actor      string
	Runbook    runbook.Runbook
}

// Validate checks the request's own fields.
func (r StartRunbookRequest) Validate() error {
	if err := incident.ValidateActor(r.Actor, ""); err != nil {
		return err
	}
	if r.Runbook.ID == "" {
		return fault.InvalidField("runbook_id", "is required")
	}
	return r.Runbook.Validate()
}

// StepRequest is the argument of UpdateCompleteStep.
type StepRequest struct {
	IncidentID string
	// Step is the step's number, from 1.
	Step  int
	Actor string
	Note  string
	// Skip marks the step skipped instead of done.
	Skip bool
}

// Validate checks the request's own fields.
func (r StepRequest) Validate() error {
	if r.Step < 1 {
		return fault.InvalidField("step", "must be a step number, from 1")
	}
	return incident.ValidateActor(r.Actor, r.Note)
}

// ApprovalRequest is the argument of UpdateApproveStep.
type ApprovalRequest struct {
	IncidentID string
	Step       int
	Actor      string
	// Role is the role of the credential that sent it, as the API
	// authenticated it: the gate refuses one weaker than it requires.
	Role    oncall.Role
	Approve bool
	Note    string
}

// Validate checks the request's own fields.
func (r ApprovalRequest) Validate() error {
	if r.Step < 1 {
		return fault.InvalidField("step", "must be a step number, from 1")
	}
	if !r.Role.Valid() {
		return fault.InvalidField("role", "must be viewer, responder or admin")
	}
	return incident.ValidateActor(r.Actor, r.Note)
}

// ActionInput is the argument of ActivityRunAction.
type ActionInput struct {
	IncidentID string
	Run        int
	// Step is the step's number, from 1.
	Step    int
	Runbook runbook.Runbook
	// Context is the incident as it was when the step started: the same
	// for every attempt, so every attempt sends the same body.
	Context runbook.Context
}

// Action is the step's action.
func (in ActionInput) Action() runbook.Action {
	if in.Step < 1 || in.Step > len(in.Runbook.Steps) || in.Runbook.Steps[in.Step-1].Action == nil {
		return runbook.Action{}
	}
	return *in.Runbook.Steps[in.Step-1].Action
}

// ActionResult is what an attempt of ActivityRunAction got: a 2xx answer
// as its result, any other outcome in the details of its ActionFailed
// error.
type ActionResult struct {
	// Status is the answer's HTTP status; 0 when none came.
	Status int
	// Excerpt is the start of the answer's body, or why no answer came.
	Excerpt string
	// Attempt numbers the attempt, from 1.
	Attempt int
}

// RunbookBook is an incident's runbooks: the runs started on it and its
// service's resolve policy. It is part of the incident workflow's state,
// carried across continue-as-new.
type RunbookBook struct {
	// RequireSteps refuses resolve while a required step of the latest run
	// of any runbook is not done (the service's require_runbook_steps when
	// the incident opened).
	RequireSteps bool `json:",omitempty"`
	Runs         []RunbookEntry
	// Pending are reports received but not handled by the previous run.
	Pending []RunbookReport `json:",omitempty"`
	// Waiting is set while a run waits for an approval: the incident's
	// RunbookWaiting search attribute.
	Waiting bool `json:",omitempty"`
}

// RunbookEntry is one run as the incident tracks it.
type RunbookEntry struct {
	RunbookRun
	// Applied is the Seq of the last report applied.
	Applied int
	// AwaitingAlerts is the step (from 1) waiting for the incident's alerts
	// to resolve; 0 when none.
	AwaitingAlerts int `json:",omitempty"`
}
