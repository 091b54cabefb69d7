package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/runbook"
)

// Runbook semantics, in workflow time. A RunbookWorkflow is a child of its
// incident's workflow and works through a snapshot of the runbook, one
// step after the other:
//
//   - every transition of a step is reported to the incident's workflow
//     (SignalRunbookReport), which records it in the timeline and in
//     live.runbooks: the incident stays the single writer of its record;
//   - manual: running until complete_step marks it done or skipped (a
//     required step cannot be skipped);
//   - action: the incident's context is read (LoadRunbookContext, local),
//     then RunAction is tried up to the step's attempts with backoff; done
//     on a 2xx answer, failed on a final answer or once the attempts are
//     spent;
//   - approval: waiting_approval until approve_step approves (done) or
//     rejects (failed), sent by a user with the role the step requires;
//     past its timeout the incident pages its current escalation targets
//     once (ReportApprovalOverdue) and the gate keeps waiting;
//   - wait: a timer; or until the incident says none of its alerts fires
//     (SignalAlertsQuiet), failed after the timeout;
//   - a failed step ends the run (failed) unless its on_failure is
//     continue; the steps after it never run;
//   - cancellation (the incident resolved): a step that waits is cancelled
//     at once; an action in flight may finish, within its attempt timeout,
//     and is recorded as it ended, or as cancelled past it. The run then
//     closes as cancelled.
//
// The run's state is answered to QueryState (contract.RunbookRun) and
// returned when it completes.

// actionGrace is added to an action's attempt timeout for its activity's
// start-to-close timeout, and for how long a cancelled run waits for the
// call in flight.
const actionGrace = 5 * time.Second

// runbookRun is the state of one RunbookWorkflow.
type runbookRun struct {
	in   contract.RunbookInput
	view contract.RunbookRun
	// current is the index of the step in progress; -1 between steps.
	current int
	// decided is set by an update handler once the step in progress got
	// its decision (manual: done or skipped; approval: approved or rejected).
	decided bool
	// seq numbers the reports sent.
	seq int
	// orphaned is set once a report could not reach the incident's
	// workflow: it has closed, and nobody records what this run does, so
	// the run ends after the step in progress.
	orphaned bool
	quiet    workflow.ReceiveChannel
}

// RunbookWorkflow works through one runbook for one incident; see the
// semantics above.
func RunbookWorkflow(ctx workflow.Context, in contract.RunbookInput) (contract.RunbookRun, error) {
	r := &runbookRun{in: in, view: contract.NewRunbookRun(in), current: -1}
	if err := r.register(ctx); err != nil {
		return r.view, err
	}
	r.quiet = workflow.GetSignalChannel(ctx, contract.SignalAlertsQuiet)
	status := runbook.RunDone
	for i, step := range in.Runbook.Steps {
		if status != runbook.RunDone || r.orphaned || ctx.Err() != nil {
			if status == runbook.RunDone {
				status = runbook.RunCancelled
			}
			break
		}
		if err := r.runStep(ctx, i); err != nil {
			return r.view, err
		}
		switch st := r.view.Steps[i]; {
		case st.Status == runbook.StepCancelled:
			status = runbook.RunCancelled
		case st.Status == runbook.StepFailed && step.StopsOnFailure():
			status = runbook.RunFailed
		}
	}
	// The steps that never ran are cancelled; the incident marks them so
	// too when it hears the run finished.
	for i := range r.view.Steps {
		if !r.view.Steps[i].Finished() {
			r.view.Steps[i].Status = runbook.StepCancelled
		}
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.view.Status, r.view.FinishedAt = status, now(dctx)
	r.report(dctx, contract.ReportFinished, -1)
	if err := workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) }); err != nil {
		return r.view, err
	}
	if status == runbook.RunCancelled && ctx.Err() != nil {
		// Closed as cancelled, so the Web UI shows it so; the result is lost
		// with it, and the incident has the record.
		return r.view, temporal.NewCanceledError(r.view)
	}
	return r.view, nil
}

func (r *runbookRun) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (contract.RunbookRun, error) {
		return r.snapshot(), nil
	}); err != nil {
		return fmt.Errorf("register query %s: %w", contract.QueryState, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateCompleteStep, r.complete,
		workflow.UpdateHandlerOptions{Validator: r.validateComplete}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateCompleteStep, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateApproveStep, r.approve,
		workflow.UpdateHandlerOptions{Validator: r.validateApprove}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateApproveStep, err)
	}
	return nil
}

// snapshot is a copy of the run's state, safe to hand out.
func (r *runbookRun) snapshot() contract.RunbookRun {
	v := r.view
	v.Steps = append([]contract.RunbookStep(nil), r.view.Steps...)
	return v
}

// runStep runs step i to its end: done, skipped, failed or cancelled. It
// returns an error only when the workflow itself cannot go on.
func (r *runbookRun) runStep(ctx workflow.Context, i int) error {
	step := r.in.Runbook.Steps[i]
	st := &r.view.Steps[i]
	r.current, r.decided = i, false
	st.Status, st.StartedAt = runbook.StepRunning, now(ctx)
	var err error
	switch step.Kind {
	case runbook.KindManual:
		r.report(ctx, contract.ReportStep, i)
		err = r.awaitDecision(ctx, st)
	case runbook.KindApproval:
		err = r.runApproval(ctx, i)
	case runbook.KindWait:
		err = r.runWait(ctx, i)
	case runbook.KindAction:
		r.report(ctx, contract.ReportStep, i)
		err = r.runAction(ctx, i)
	default:
		st.Status, st.Output = runbook.StepFailed, fmt.Sprintf("unknown step kind %q", step.Kind)
	}
	if err != nil {
		return err
	}
	r.current = -1
	st.FinishedAt = now(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.report(dctx, contract.ReportStep, i)
	return nil
}

// awaitDecision waits for the update handlers to decide the step in
// progress; a cancellation cancels it.
func (r *runbookRun) awaitDecision(ctx workflow.Context, st *contract.RunbookStep) error {
	err := workflow.Await(ctx, func() bool { return r.decided })
	return r.cancelled(st, err, "the incident resolved before the step was decided")
}

// cancelled marks st cancelled when err is the run's cancellation, and
// returns any other error.
func (r *runbookRun) cancelled(st *contract.RunbookStep, err error, why string) error {
	if err == nil {
		return nil
	}
	if temporal.IsCanceledError(err) {
		st.Status, st.Output = runbook.StepCancelled, why
		return nil
	}
	return err
}

// runApproval holds the run at an approval gate until a decision; past the
// gate's timeout it asks the incident, once, to page.
func (r *runbookRun) runApproval(ctx workflow.Context, i int) error {
	step, st := r.in.Runbook.Steps[i], &r.view.Steps[i]
	st.Status = runbook.StepWaitingApproval
	r.report(ctx, contract.ReportStep, i)
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.SearchRunbookWaiting.ValueSet(true)); err != nil {
		return err
	}
	var err error
	if step.Approval != nil && step.Approval.Timeout > 0 {
		var decided bool
		decided, err = workflow.AwaitWithTimeout(ctx, step.Approval.Timeout.D(), func() bool { return r.decided })
		if err == nil && !decided {
			st.Overdue = true
			r.report(ctx, contract.ReportApprovalOverdue, i)
		}
	}
	if err == nil && !r.decided {
		err = workflow.Await(ctx, func() bool { return r.decided })
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if uerr := workflow.UpsertTypedSearchAttributes(dctx, contract.SearchRunbookWaiting.ValueSet(false)); uerr != nil {
		return uerr
	}
	return r.cancelled(st, err, "the incident resolved before anyone decided")
}

// runWait sleeps the step's duration, or waits until the incident says no
// alert fires.
func (r *runbookRun) runWait(ctx workflow.Context, i int) error {
	w, st := r.in.Runbook.Steps[i].Wait, &r.view.Steps[i]
	if w == nil {
		st.Status, st.Output = runbook.StepFailed, "wait step without settings"
		return nil
	}
	if !w.UntilAlertsResolved {
		r.report(ctx, contract.ReportStep, i)
		if err := workflow.Sleep(ctx, w.Duration.D()); err != nil {
			return r.cancelled(st, err, "the incident resolved during the wait")
		}
		st.Status = runbook.StepDone
		return nil
	}
	r.report(ctx, contract.ReportAwaitingAlerts, i)
	timerCtx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	timer := workflow.NewTimer(timerCtx, w.AlertsTimeout())
	quiet, timedOut := false, false
	var err error
	for !quiet && !timedOut && err == nil {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(f workflow.Future) {
			if err = f.Get(ctx, nil); err == nil {
				timedOut = true
			}
		})
		sel.AddReceive(r.quiet, func(c workflow.ReceiveChannel, _ bool) {
			var q contract.RunbookAlertsQuiet
			c.Receive(ctx, &q)
			// An answer to an earlier step's question is stale.
			quiet = q.Step == i+1
		})
		sel.Select(ctx)
	}
	switch {
	case err != nil:
		return r.cancelled(st, err, "the incident resolved during the wait")
	case quiet:
		st.Status, st.Output = runbook.StepDone, "no alert of the incident is firing"
	default:
		st.Status, st.Output = runbook.StepFailed, fmt.Sprintf("alerts still firing after %s", w.AlertsTimeout())
	}
	return nil
}

// actionOptions: one attempt is bounded by the step's timeout; transient
// failures (5xx, 408, 429, timeouts, connection errors) are tried again
// with backoff until the step's attempts are spent; a final answer is not.
func actionOptions(a runbook.Action) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: a.AttemptTimeout() + actionGrace,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        int32(a.Attempts()),
			NonRetryableErrorTypes: nonRetryable,
		},
	}
}

// runAction makes the step's call. A cancellation lets the call in flight
// finish within its attempt timeout.
func (r *runbookRun) runAction(ctx workflow.Context, i int) error {
	step, st := r.in.Runbook.Steps[i], &r.view.Steps[i]
	if step.Action == nil {
		st.Status, st.Output = runbook.StepFailed, "action step without an action"
		return nil
	}
	var c runbook.Context
	lctx := workflow.WithLocalActivityOptions(ctx, localProjectionOptions)
	if err := workflow.ExecuteLocalActivity(lctx, contract.ActivityLoadRunbookContext, r.in.IncidentID).Get(ctx, &c); err != nil {
		if temporal.IsCanceledError(err) {
			return r.cancelled(st, err, "the incident resolved before the call was made")
		}
		st.Status, st.Output = runbook.StepFailed, "could not read the incident: "+err.Error()
		return nil
	}
	// The call runs on a context of its own, so that the run's cancellation
	// does not cut it off mid-request.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	callCtx, stopCall := workflow.WithCancel(dctx)
	call := workflow.ExecuteActivity(workflow.WithActivityOptions(callCtx, actionOptions(*step.Action)), contract.ActivityRunAction,
		contract.ActionInput{IncidentID: r.in.IncidentID, Run: r.in.Run, Step: i + 1, Runbook: r.in.Runbook, Context: c})
	cancelled := false
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(call, func(workflow.Future) {})
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { cancelled = true })
	sel.Select(ctx)
	if cancelled && !call.IsReady() {
		graceCtx, stopGrace := workflow.WithCancel(dctx)
		defer stopGrace()
		grace := workflow.NewTimer(graceCtx, step.Action.AttemptTimeout()+actionGrace)
		late := workflow.NewSelector(dctx)
		late.AddFuture(call, func(workflow.Future) {})
		late.AddFuture(grace, func(workflow.Future) {})
		late.Select(dctx)
		if !call.IsReady() {
			stopCall()
			st.Status, st.Output = runbook.StepCancelled, "the incident resolved while the call was in flight"
			return nil
		}
	}
	var res contract.ActionResult
	err := call.Get(dctx, &res)
	if err == nil {
		st.Status = runbook.StepDone
		st.HTTPStatus, st.Output, st.Attempts = res.Status, res.Excerpt, res.Attempt
		return nil
	}
	st.Status, st.Output = runbook.StepFailed, err.Error()
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok && appErr.Type() == contract.ActionFailed && appErr.HasDetails() {
		if derr := appErr.Details(&res); derr == nil {
			st.HTTPStatus, st.Output, st.Attempts = res.Status, res.Excerpt, res.Attempt
		}
	}
	return nil
}

// report tells the incident's workflow what became of step i (or, for
// ReportFinished, of the run), and waits until it is delivered, so reports
// arrive in order. It goes out even when the run is being cancelled. A
// report that cannot be delivered means the incident's workflow has
// closed: the run is orphaned.
func (r *runbookRun) report(ctx workflow.Context, kind string, i int) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	r.seq++
	rep := contract.RunbookReport{IncidentID: r.in.IncidentID, Run: r.in.Run, Seq: r.seq, Kind: kind,
		Status: runbook.RunRunning, At: now(ctx)}
	if kind == contract.ReportFinished {
		rep.Status, rep.FinishedAt = r.view.Status, r.view.FinishedAt
	}
	if i >= 0 {
		rep.Step = r.view.Steps[i]
		rep.Step.Instructions = "" // the incident has them
	}
	err := workflow.SignalExternalWorkflow(ctx, r.in.IncidentWorkflowID, "", contract.SignalRunbookReport, rep).Get(ctx, nil)
	if err != nil {
		r.orphaned = true
		workflow.GetLogger(ctx).Warn("runbook report not delivered", "incident_id", r.in.IncidentID,
			"workflow_id", r.in.IncidentWorkflowID, "run", r.in.Run, "seq", r.seq, "error", err)
	}
}

// stepOf returns the definition and state of step no (from 1), or a
// rejection.
func (r *runbookRun) stepOf(incidentID string, no int) (runbook.Step, contract.RunbookStep, error) {
	if incidentID != r.in.IncidentID {
		return runbook.Step{}, contract.RunbookStep{}, rejection(fault.Newf(fault.NotFound, "runbook run %d of incident %s is not this one", r.in.Run, incidentID))
	}
	if no < 1 || no > len(r.view.Steps) {
		return runbook.Step{}, contract.RunbookStep{}, rejection(fault.Newf(fault.NotFound, "the runbook has no step %d", no))
	}
	return r.in.Runbook.Steps[no-1], r.view.Steps[no-1], nil
}

// inProgress refuses a decision for a step that is not the one waiting.
func (r *runbookRun) inProgress(no int, st contract.RunbookStep) error {
	if r.current == no-1 && !r.decided && !st.Finished() {
		return nil
	}
	if st.Finished() {
		return rejection(fault.Conflictf("step %d is %s", no, st.Status))
	}
	if r.current < 0 {
		return rejection(fault.Conflictf("step %d is %s; no step is waiting", no, st.Status))
	}
	return rejection(fault.Conflictf("step %d is %s; step %d is in progress", no, st.Status, r.current+1))
}

func (r *runbookRun) validateComplete(_ workflow.Context, req contract.StepRequest) error {
	if err := req.Validate(); err != nil {
		return rejection(err)
	}
	def, st, err := r.stepOf(req.IncidentID, req.Step)
	if err != nil {
		return err
	}
	if def.Kind != runbook.KindManual {
		return rejection(fault.Conflictf("step %d is an %s step, not a manual one", req.Step, def.Kind))
	}
	if err := r.inProgress(req.Step, st); err != nil {
		return err
	}
	if req.Skip && def.Required {
		return rejection(fault.Conflictf("step %d is required: mark it done, it cannot be skipped", req.Step))
	}
	return nil
}

// complete marks the manual step in progress done or skipped.
func (r *runbookRun) complete(ctx workflow.Context, req contract.StepRequest) (contract.RunbookRun, error) {
	st := &r.view.Steps[req.Step-1]
	st.Status, st.Actor, st.Note = runbook.StepDone, req.Actor, req.Note
	if req.Skip {
		st.Status = runbook.StepSkipped
	}
	r.decided = true
	return r.snapshot(), nil
}

func (r *runbookRun) validateApprove(_ workflow.Context, req contract.ApprovalRequest) error {
	if err := req.Validate(); err != nil {
		return rejection(err)
	}
	def, st, err := r.stepOf(req.IncidentID, req.Step)
	if err != nil {
		return err
	}
	if def.Kind != runbook.KindApproval {
		return rejection(fault.Conflictf("step %d is a %s step, not an approval", req.Step, def.Kind))
	}
	if !runbook.RoleAllows(req.Role, def.Role()) {
		return rejection(fault.Newf(fault.Forbidden, "deciding step %d needs the %s role; the credential has %s", req.Step, def.Role(), req.Role))
	}
	return r.inProgress(req.Step, st)
}

// approve approves (done) or rejects (failed) the gate in progress.
func (r *runbookRun) approve(ctx workflow.Context, req contract.ApprovalRequest) (contract.RunbookRun, error) {
	st := &r.view.Steps[req.Step-1]
	st.Actor, st.Note = req.Actor, req.Note
	st.Status, st.Output = runbook.StepDone, "approved"
	if !req.Approve {
		st.Status, st.Output = runbook.StepFailed, "rejected"
	}
	r.decided = true
	return r.snapshot(), nil
}
