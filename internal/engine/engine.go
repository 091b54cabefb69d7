// Package engine is the client side of the workflow contract: the one way
// the API opens incidents, delivers alerts, sends commands, reads a live
// incident and drives heartbeat monitors and the handoff notices of
// on-call schedules. It speaks Temporal so its callers
// need not, and every error it returns carries a fault code: a validator's
// refusal keeps its code, a closed workflow is a conflict, and every
// passing refusal of Temporal (unreachable, overloaded, a workflow task in
// a failed state, a deadline) is fault.Unavailable, which the API answers
// with 503 so that senders retry.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// Client talks to the incident workflows. Its zero value is not usable:
// Temporal is required.
type Client struct {
	// Temporal is the connection to the Temporal frontend.
	Temporal client.Client
	// TaskQueue that workflows start on. Default contract.DefaultTaskQueue.
	TaskQueue string
	// Timeout bounds each call that waits for a workflow to answer (open,
	// acknowledge, …): past it the call is fault.Unavailable and may be
	// sent again. Default 10 s.
	Timeout time.Duration
}

func (c *Client) taskQueue() string {
	if c.TaskQueue == "" {
		return contract.DefaultTaskQueue
	}
	return c.TaskQueue
}

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 10 * time.Second
	}
	return c.Timeout
}

// OpenRequest asks to open an incident, or to join the one open under its
// dedup key.
type OpenRequest struct {
	incident.NewIncident
	// Actor is who opens it, for the timeline.
	Actor string
	// Caller identifies the credential; with IdempotencyKey it scopes a
	// retry, so two callers' keys never meet.
	Caller         string
	IdempotencyKey string
}

// Open starts an incident's workflow, or joins the open incident with the
// same service and dedup key, in one update-with-start call, and answers
// once the incident is recorded in Postgres, so it can be read back at
// once. With an IdempotencyKey a retried request (after a 503 or a lost
// answer) gets the first answer back instead of opening a second incident,
// even when the first attempt's update was lost after its workflow started.
func (c *Client) Open(ctx context.Context, req OpenRequest) (contract.OpenResult, error) {
	n := req.NewIncident
	id := incident.NewID(time.Now())
	ids := contract.OpenIDs(id, n.Service, n.DedupKey, req.Caller, req.IdempotencyKey)
	requestKey := ""
	if req.IdempotencyKey != "" {
		requestKey = ids.UpdateID
	}
	in := contract.NewIncidentInput(id, ids.WorkflowID, n.Service, incident.Alert{
		Title: n.Title, Description: n.Description, Severity: n.Severity, DedupKey: n.DedupKey,
	}, false)
	in.RequestKey = requestKey
	start := c.Temporal.NewWithStartWorkflowOperation(c.startOptions(ids.WorkflowID, n.Service, n.Severity),
		contract.IncidentWorkflow, in)
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	handle, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID:     ids.UpdateID,
			UpdateName:   contract.UpdateOpen,
			Args:         []any{contract.OpenRequest{IncidentID: id, Actor: req.Actor, RequestKey: requestKey}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return contract.OpenResult{}, classify("open incident", err)
	}
	var res contract.OpenResult
	if err := handle.Get(ctx, &res); err != nil {
		return contract.OpenResult{}, classify("open incident", err)
	}
	return res, nil
}

// Join records a request to open an incident whose dedup key finds inc
// open as a duplicate joining it: one signal, however many such requests
// arrive at once (where Open's update would queue behind the workflow's
// limit of updates in flight). A workflow that has closed meanwhile is a
// fault.Conflict: open it anew with Open.
func (c *Client) Join(ctx context.Context, inc incident.Incident, req OpenRequest) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	id := incident.NewID(time.Now())
	ids := contract.OpenIDs(id, req.Service, req.DedupKey, req.Caller, req.IdempotencyKey)
	join := contract.OpenRequest{IncidentID: id, Actor: req.Actor}
	if req.IdempotencyKey != "" {
		join.RequestKey = ids.UpdateID
	}
	if err := c.Temporal.SignalWorkflow(ctx, inc.WorkflowID, "", contract.SignalJoin, join); err != nil {
		return classify("join "+inc.WorkflowID, err)
	}
	return nil
}

// startOptions are the options of every incident workflow the API starts.
// Workflow code opens incidents with the same ID reuse policy and search
// attributes (workflows.openIncident).
func (c *Client) startOptions(workflowID, service string, severity incident.Severity) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       workflowID,
		TaskQueue:                c.taskQueue(),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    contract.IDReusePolicy,
		WorkflowTaskTimeout:      contract.WorkflowTaskTimeout,
		TypedSearchAttributes:    contract.OpenSearchAttributes(service, severity),
	}
}

// DeliverAlerts signals the alerts of one request for service to the
// incidents open under their dedup keys: one signal per key, however many
// alerts it holds, starting the incident (signal-with-start) when a trigger
// finds none open. autoResolve is asked, once, only when an incident may
// start: whether the service's incidents resolve when all their alerts have.
// It returns once Temporal holds every signal durably; the incidents and
// their timelines follow from there.
func (c *Client) DeliverAlerts(ctx context.Context, service string, alerts []incident.Alert, autoResolve func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	var keys []string
	groups := map[string][]contract.AlertSignal{}
	for _, a := range alerts {
		if _, seen := groups[a.DedupKey]; !seen {
			keys = append(keys, a.DedupKey)
		}
		// Each alert's ID is unique; a trigger's is also the ID of the
		// incident it opens when none is open under its key.
		groups[a.DedupKey] = append(groups[a.DedupKey], contract.AlertSignal{ID: incident.NewID(time.Now()), Alert: a})
	}
	resolves := (*bool)(nil)
	for _, key := range keys {
		sigs := groups[key]
		wfID := contract.DedupWorkflowID(service, key)
		first := -1
		for i, sig := range sigs {
			if sig.Action == incident.AlertTrigger {
				first = i
				break
			}
		}
		if first < 0 {
			err := c.Temporal.SignalWorkflow(ctx, wfID, "", contract.SignalAlerts, sigs)
			if _, gone := errors.AsType[*serviceerror.NotFound](err); gone {
				continue // nothing open under this key: nothing to resolve
			}
			if err != nil {
				return classify("signal "+wfID, err)
			}
			continue
		}
		if resolves == nil {
			r := autoResolve(ctx)
			resolves = &r
		}
		trigger := sigs[first]
		in := contract.NewIncidentInput(trigger.ID, wfID, service, trigger.Alert, *resolves)
		_, err := c.Temporal.SignalWithStartWorkflow(ctx, wfID, contract.SignalAlerts, sigs,
			c.startOptions(wfID, service, trigger.Severity), contract.IncidentWorkflow, in)
		if err != nil {
			return classify("signal-with-start "+wfID, err)
		}
	}
	return nil
}

// Command sends update (acknowledge, note, escalate, …) with arg to inc's
// workflow and decodes its answer into out. idempotencyKey, when set, makes
// a retry get the first answer back.
func (c *Client) Command(ctx context.Context, inc incident.Incident, update, idempotencyKey string, arg, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	handle, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   inc.WorkflowID,
		UpdateID:     contract.CommandUpdateID(update, idempotencyKey),
		UpdateName:   update,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return classify(update+" incident", err)
	}
	if err := handle.Get(ctx, out); err != nil {
		return classify(update+" incident", err)
	}
	return nil
}

// RunbookCommand sends update (complete_step, approve_step) with arg to
// run (from 1) of the runbooks started on inc, and decodes its answer into
// out. idempotencyKey, when set, makes a retry get the first answer back.
// A run that does not exist, or has ended, is a conflict.
func (c *Client) RunbookCommand(ctx context.Context, inc incident.Incident, run int, update, idempotencyKey string, arg, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	wfID := contract.RunbookWorkflowID(inc.ID, run)
	handle, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   wfID,
		UpdateID:     contract.CommandUpdateID(update, idempotencyKey),
		UpdateName:   update,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, out)
	}
	if _, gone := errors.AsType[*serviceerror.NotFound](err); gone {
		return fmt.Errorf("%s %s: %w", update, wfID, fault.Conflictf("runbook run %d of incident %s is not running", run, inc.ID))
	}
	if err != nil {
		return classify(update+" "+wfID, err)
	}
	return nil
}

// State asks inc's workflow for its live state, within timeout. It returns
// false when the workflow has closed or moved on to a newer incident under
// the same dedup key.
func (c *Client) State(ctx context.Context, inc incident.Incident, timeout time.Duration) (contract.State, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := c.Temporal.QueryWorkflow(ctx, inc.WorkflowID, "", contract.QueryState)
	if err != nil {
		return contract.State{}, false, classify("query "+inc.WorkflowID, err)
	}
	var st contract.State
	if err := v.Get(&st); err != nil {
		return contract.State{}, false, fmt.Errorf("decode state of %s: %w", inc.WorkflowID, err)
	}
	return st, st.Incident.ID == inc.ID, nil
}

// PingHeartbeat delivers a ping received at at to the monitor's workflow,
// starting the workflow (signal-with-start) when it is not running: a
// monitor whose workflow was lost (terminated by an operator, or never
// started) is watched again from this ping on.
func (c *Client) PingHeartbeat(ctx context.Context, in contract.HeartbeatInput, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	wfID := contract.HeartbeatWorkflowID(in.MonitorID)
	_, err := c.Temporal.SignalWithStartWorkflow(ctx, wfID, contract.SignalPing, contract.HeartbeatPing{At: at},
		client.StartWorkflowOptions{ID: wfID, TaskQueue: c.taskQueue(), WorkflowIDReusePolicy: contract.IDReusePolicy,
			WorkflowTaskTimeout: contract.WorkflowTaskTimeout},
		contract.HeartbeatWorkflow, in)
	if err != nil {
		return classify("signal-with-start "+wfID, err)
	}
	return nil
}

// StartHeartbeat starts a new monitor's workflow, waiting for its first
// ping (or deadline) from now.
func (c *Client) StartHeartbeat(ctx context.Context, in contract.HeartbeatInput) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	wfID := contract.HeartbeatWorkflowID(in.MonitorID)
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wfID, TaskQueue: c.taskQueue(), WorkflowIDReusePolicy: contract.IDReusePolicy,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowTaskTimeout:      contract.WorkflowTaskTimeout,
	}, contract.HeartbeatWorkflow, in)
	if err != nil {
		return classify("start "+wfID, err)
	}
	return nil
}

// StopHeartbeat cancels a monitor's workflow. A workflow that does not
// exist or has already closed is stopped already.
func (c *Client) StopHeartbeat(ctx context.Context, monitorID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	wfID := contract.HeartbeatWorkflowID(monitorID)
	err := c.Temporal.CancelWorkflow(ctx, wfID, "")
	if _, gone := errors.AsType[*serviceerror.NotFound](err); err == nil || gone {
		return nil
	}
	return classify("cancel "+wfID, err)
}

// Ready checks that the Temporal frontend answers.
func (c *Client) Ready(ctx context.Context) error {
	if _, err := c.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return classify("check temporal health", err)
	}
	return nil
}

// classify gives a Temporal error of op its fault code. See the package
// comment; Classify is the same for other callers.
func classify(op string, err error) error {
	return fmt.Errorf("%s: %w", op, Classify(err))
}

// Classify returns err with its fault code:
//
//   - an application error from a workflow (an update validator's refusal)
//     keeps the code that is its type; an unknown type is fault.Internal;
//   - NotFound (the workflow has closed: the incident was resolved
//     meanwhile) is fault.Conflict;
//   - every refusal that passes is fault.Unavailable: Unavailable,
//     ResourceExhausted, DeadlineExceeded, Canceled, Aborted,
//     WorkflowNotReady (a workflow task in a failed state, while a worker
//     retries it), NamespaceUnavailable, an update that timed out or was
//     cancelled, and a context deadline or cancellation;
//   - anything else is fault.Internal.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := fault.As(err); ok {
		return err
	}
	if multi, ok := errors.AsType[*serviceerror.MultiOperationExecution](err); ok {
		// Update-with-start: the first operation error that is not an
		// abort caused by the other one says what happened.
		for _, e := range multi.OperationErrors() {
			if _, aborted := errors.AsType[*serviceerror.MultiOperationAborted](e); e != nil && !aborted {
				return &fault.Error{Code: fault.CodeOf(Classify(e)), Message: publicOf(Classify(e)), Err: err}
			}
		}
	}
	if app, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		code := fault.Code(app.Type())
		for _, known := range fault.Codes {
			if code == known {
				return &fault.Error{Code: code, Message: app.Message(), Err: err}
			}
		}
		return &fault.Error{Code: fault.Internal, Message: "internal error", Err: err}
	}
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return &fault.Error{Code: fault.Conflict, Message: "incident is no longer open", Err: err}
	}
	if transient(err) {
		return fault.Down("the incident engine", err)
	}
	return &fault.Error{Code: fault.Internal, Message: "internal error", Err: err}
}

// transient reports the refusals a retry may cure.
func transient(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	}
	for _, is := range []func(error) bool{
		isType[*serviceerror.Unavailable],
		isType[*serviceerror.ResourceExhausted],
		isType[*serviceerror.DeadlineExceeded],
		isType[*serviceerror.Canceled],
		isType[*serviceerror.Aborted],
		isType[*serviceerror.WorkflowNotReady],
		isType[*serviceerror.NamespaceUnavailable],
		isType[*client.WorkflowUpdateServiceTimeoutOrCanceledError],
	} {
		if is(err) {
			return true
		}
	}
	return false
}

func isType[T error](err error) bool {
	_, ok := errors.AsType[T](err)
	return ok
}

func publicOf(err error) string {
	if e, ok := fault.As(err); ok {
		return e.Public()
	}
	return "internal error"
}

// ReplanHandoffs tells the schedule's HandoffWorkflow that the schedule,
// its overrides or its handoff subscriptions changed, starting the
// workflow when it is not running (update-with-start), and returns the
// plan it made afresh.
func (c *Client) ReplanHandoffs(ctx context.Context, scheduleID, reason string) (contract.HandoffPlan, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	wfID := contract.HandoffWorkflowID(scheduleID)
	start := c.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       wfID,
		TaskQueue:                c.taskQueue(),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    contract.IDReusePolicy,
		WorkflowTaskTimeout:      contract.WorkflowTaskTimeout,
	}, contract.HandoffWorkflow, contract.HandoffInput{ScheduleID: scheduleID})
	handle, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   contract.UpdateReplan,
			Args:         []any{contract.ReplanRequest{ScheduleID: scheduleID, Reason: reason}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return contract.HandoffPlan{}, classify("replan "+wfID, err)
	}
	var plan contract.HandoffPlan
	if err := handle.Get(ctx, &plan); err != nil {
		return contract.HandoffPlan{}, classify("replan "+wfID, err)
	}
	return plan, nil
}

// StartHandoffs starts the schedule's HandoffWorkflow unless it is
// running. Unlike ReplanHandoffs it needs no worker to answer, so a worker
// can call it before it polls.
func (c *Client) StartHandoffs(ctx context.Context, scheduleID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	wfID := contract.HandoffWorkflowID(scheduleID)
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wfID, TaskQueue: c.taskQueue(), WorkflowIDReusePolicy: contract.IDReusePolicy,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowTaskTimeout:      contract.WorkflowTaskTimeout,
	}, contract.HandoffWorkflow, contract.HandoffInput{ScheduleID: scheduleID})
	if err != nil {
		return classify("start "+wfID, err)
	}
	return nil
}

// StopHandoffs cancels the schedule's HandoffWorkflow. One that does not
// exist or has already closed is stopped already.
func (c *Client) StopHandoffs(ctx context.Context, scheduleID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	wfID := contract.HandoffWorkflowID(scheduleID)
	err := c.Temporal.CancelWorkflow(ctx, wfID, "")
	if _, gone := errors.AsType[*serviceerror.NotFound](err); err == nil || gone {
		return nil
	}
	return classify("cancel "+wfID, err)
}
