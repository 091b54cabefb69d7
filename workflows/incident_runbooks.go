package workflows

import (
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/runbook"
)

// The incident's side of its runbooks (see RunbookWorkflow for a run's own
// semantics):
//
//   - the service's runbooks for the incident's severity arrive with the
//     open plan, snapshotted, and start once the incident is recorded; one
//     more can be started by hand (start_runbook);
//   - each run is a child workflow under RunbookWorkflowID that outlives a
//     continue-as-new of its parent (ParentClosePolicy ABANDON): the
//     parent tracks its runs in its state and carries them over;
//   - every report of a run is applied once, in order, to live.runbooks and
//     recorded as a timeline event keyed by (run, seq); an overdue approval
//     pages the current escalation step's targets once;
//   - a run waiting for the alerts to resolve is told when none fires;
//   - the resolve policy (the service's require_runbook_steps): resolve is
//     refused while a required step of the latest run of any runbook is not
//     done, and an alert's resolve is held back;
//   - once resolved, the incident cancels its runs and waits (at most
//     runbookStopGrace) for each to report how it ended before it closes.

// runbooksVersion marks runs that start their service's runbooks when they
// open. Histories recorded before it load no runbooks.
const (
	changeRunbooks   = "runbooks"
	runbooksVersion1 = 1
)

// runbookStopGrace bounds how long a resolved incident waits for its runs
// to confirm they stopped: an action in flight may finish its attempt
// first (at most runbook.MaxActionTimeout, plus a margin).
const runbookStopGrace = runbook.MaxActionTimeout + 30*time.Second

// reasonRunbookApproval is the page reason of an overdue approval.
const reasonRunbookApproval = "runbook_approval"

// runbookDesk is an incident run's runbooks.
type runbookDesk struct {
	book contract.RunbookBook
	// reports receives SignalRunbookReport.
	reports workflow.ReceiveChannel
	// busy is set while reports are being applied; the run does not end then.
	busy bool
}

// ensureRunbooks readies the desk and starts applying reports; idempotent.
func (r *incidentRun) ensureRunbooks(ctx workflow.Context, book contract.RunbookBook) *runbookDesk {
	if r.runbooks != nil {
		return r.runbooks
	}
	d := &runbookDesk{book: book, reports: workflow.GetSignalChannel(ctx, contract.SignalRunbookReport)}
	r.runbooks = d
	workflow.Go(ctx, func(ctx workflow.Context) {
		if err := workflow.Await(ctx, func() bool { return r.recorded }); err != nil {
			return
		}
		for _, rep := range d.book.Pending {
			d.busy = true
			r.applyReport(ctx, rep)
		}
		d.book.Pending, d.busy = nil, false
		for {
			if err := workflow.Await(ctx, func() bool { return d.reports.Len() > 0 || r.quietDue() }); err != nil {
				return
			}
			d.busy = true
			var rep contract.RunbookReport
			for d.reports.ReceiveAsync(&rep) {
				r.applyReport(ctx, rep)
				rep = contract.RunbookReport{}
			}
			r.tellQuiet(ctx)
			d.busy = false
		}
	})
	return d
}

// restoreRunbooks takes over the runbooks of the previous run.
func (r *incidentRun) restoreRunbooks(ctx workflow.Context, in contract.IncidentInput) {
	if in.Runbooks != nil {
		r.ensureRunbooks(ctx, *in.Runbooks)
	}
}

// runbooksBusy reports whether reports are being applied.
func (r *incidentRun) runbooksBusy() bool { return r.runbooks != nil && r.runbooks.busy }

// carryRunbooks is the book the next run continues with: reports received
// but not applied go with it.
func (r *incidentRun) carryRunbooks() *contract.RunbookBook {
	d := r.runbooks
	if d == nil {
		return nil
	}
	b := d.book
	var rep contract.RunbookReport
	for d.reports.ReceiveAsync(&rep) {
		b.Pending = append(b.Pending, rep)
		rep = contract.RunbookReport{}
	}
	return &b
}

// runbookViews is a copy of the runs, for the state query.
func (r *incidentRun) runbookViews() []contract.RunbookRun {
	if r.runbooks == nil {
		return nil
	}
	out := make([]contract.RunbookRun, len(r.runbooks.book.Runs))
	for i, e := range r.runbooks.book.Runs {
		v := e.RunbookRun
		v.Steps = append([]contract.RunbookStep(nil), e.Steps...)
		out[i] = v
	}
	return out
}

// startRunbooksOnOpen keeps the service's resolve policy and starts its
// runbooks, once the incident is recorded.
func (r *incidentRun) startRunbooksOnOpen(ctx workflow.Context, plan contract.OpenPlan) error {
	if len(plan.Runbooks) == 0 && !plan.RequireRunbookSteps {
		return nil
	}
	if workflow.GetVersion(ctx, changeRunbooks, workflow.DefaultVersion, runbooksVersion1) < runbooksVersion1 {
		return nil
	}
	r.ensureRunbooks(ctx, contract.RunbookBook{RequireSteps: plan.RequireRunbookSteps})
	_, err := r.launchRunbooks(ctx, plan.Runbooks, "")
	return err
}

func (r *incidentRun) registerRunbooks(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateStartRunbook, r.startRunbook,
		workflow.UpdateHandlerOptions{Validator: r.validateStartRunbook}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateStartRunbook, err)
	}
	return nil
}

func (r *incidentRun) validateStartRunbook(_ workflow.Context, req contract.StartRunbookRequest) error {
	if err := r.checkTarget(req.IncidentID); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return rejection(err)
	}
	switch {
	case r.inc.Status == incident.StatusResolved:
		return rejection(fault.Conflictf("incident is resolved"))
	case r.runbooks != nil && len(r.runbooks.book.Runs) >= contract.MaxRunbookRuns:
		return rejection(fault.Conflictf("the incident has run %d runbooks, the most it may", contract.MaxRunbookRuns))
	}
	return nil
}

// startRunbook starts a runbook by hand and answers with its run.
func (r *incidentRun) startRunbook(ctx workflow.Context, req contract.StartRunbookRequest) (contract.RunbookRun, error) {
	r.ensureRunbooks(ctx, contract.RunbookBook{})
	runs, err := r.launchRunbooks(ctx, []runbook.Runbook{req.Runbook}, req.Actor)
	if err != nil {
		return contract.RunbookRun{}, err
	}
	return runs[0], nil
}

// launchRunbooks starts one run per runbook, numbered after the runs the
// incident has, and returns them as they stand. Each start is recorded
// before the run's workflow starts, so that it comes first in the
// timeline; a run whose workflow could not start is recorded as failed.
func (r *incidentRun) launchRunbooks(ctx workflow.Context, rbs []runbook.Runbook, actor string) ([]contract.RunbookRun, error) {
	d := r.runbooks
	at := now(ctx)
	first := len(d.book.Runs)
	var inputs []contract.RunbookInput
	for _, rb := range rbs {
		in := contract.RunbookInput{IncidentID: r.inc.ID, IncidentWorkflowID: r.inc.WorkflowID,
			Run: len(d.book.Runs) + 1, Runbook: rb, StartedBy: actor, StartedAt: at}
		inputs = append(inputs, in)
		// Tracked at once, so that a second start meanwhile gets the next number.
		d.book.Runs = append(d.book.Runs, contract.RunbookEntry{RunbookRun: contract.NewRunbookRun(in)})
	}
	for i := range inputs {
		e := &d.book.Runs[first+i]
		ev := r.runbookEvent(ctx, incident.EventRunbookStarted, e, nil,
			fmt.Sprintf("runbook %q (version %d, %d steps) started", e.Name, e.Version, len(e.Steps)))
		ev.ID, ev.Actor = fmt.Sprintf("runbook/%d/started", e.Run), actor
		if err := r.recordEvent(ctx, ev); err != nil {
			return nil, err
		}
	}
	children := make([]workflow.ChildWorkflowFuture, len(inputs))
	for i, in := range inputs {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: contract.RunbookWorkflowID(in.IncidentID, in.Run),
			// A continue-as-new closes the parent's run; the runbook goes
			// on and reports to the next one.
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowTaskTimeout:   contract.WorkflowTaskTimeout,
			WaitForCancellation:   true,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				contract.SearchService.ValueSet(r.inc.Service),
				contract.SearchSeverity.ValueSet(string(r.inc.Severity)),
				contract.SearchRunbookWaiting.ValueSet(false),
			),
		})
		children[i] = workflow.ExecuteChildWorkflow(cctx, contract.RunbookWorkflow, in)
	}
	out := make([]contract.RunbookRun, 0, len(inputs))
	for i, child := range children {
		err := child.GetChildWorkflowExecution().Get(ctx, nil)
		// Taken after the wait: a start meanwhile may have grown the list.
		e := &d.book.Runs[first+i]
		if err != nil {
			e.Status, e.FinishedAt = runbook.RunFailed, now(ctx)
			for j := range e.Steps {
				e.Steps[j].Status = runbook.StepCancelled
			}
			ev := r.runbookEvent(ctx, incident.EventRunbookFinished, e, nil, fmt.Sprintf("runbook %q could not start: %v", e.Name, err))
			ev.ID = fmt.Sprintf("runbook/%d/not-started", e.Run)
			if err := r.recordEvent(ctx, ev); err != nil {
				return nil, err
			}
		}
		v := d.book.Runs[first+i].RunbookRun
		v.Steps = append([]contract.RunbookStep(nil), v.Steps...)
		out = append(out, v)
	}
	return out, nil
}

// entry returns the run numbered run, or nil.
func (d *runbookDesk) entry(run int) *contract.RunbookEntry {
	if run < 1 || run > len(d.book.Runs) {
		return nil
	}
	return &d.book.Runs[run-1]
}

// active reports whether a run has not finished.
func (d *runbookDesk) active() bool {
	for _, e := range d.book.Runs {
		if e.Status == runbook.RunRunning {
			return true
		}
	}
	return false
}

// applyReport applies one report of a run to the incident's state and
// records it. A report of another incident (an earlier one under a reused
// dedup workflow ID) or one applied already is dropped.
func (r *incidentRun) applyReport(ctx workflow.Context, rep contract.RunbookReport) {
	d := r.runbooks
	e := d.entry(rep.Run)
	if rep.IncidentID != r.inc.ID || e == nil || rep.Seq <= e.Applied || e.Status != runbook.RunRunning {
		return
	}
	e.Applied = rep.Seq
	var msg string
	var step *contract.RunbookStep
	typ := incident.EventRunbookStep
	switch rep.Kind {
	case contract.ReportFinished:
		e.Status, e.FinishedAt, e.AwaitingAlerts = rep.Status, rep.FinishedAt, 0
		var notRun []string
		for i := range e.Steps {
			if !e.Steps[i].Finished() {
				e.Steps[i].Status = runbook.StepCancelled
				notRun = append(notRun, fmt.Sprint(e.Steps[i].No))
			}
		}
		typ, msg = incident.EventRunbookFinished, fmt.Sprintf("runbook %q %s", e.Name, rep.Status)
		if len(notRun) > 0 {
			msg += fmt.Sprintf("; step(s) %s did not run", strings.Join(notRun, ", "))
		}
	default:
		if rep.Step.No < 1 || rep.Step.No > len(e.Steps) {
			return
		}
		step = &e.Steps[rep.Step.No-1]
		instructions := step.Instructions
		*step = rep.Step
		step.Instructions = instructions
		e.AwaitingAlerts = 0
		if rep.Kind == contract.ReportAwaitingAlerts && !step.Finished() {
			e.AwaitingAlerts = step.No
		}
		msg = stepMessage(e, *step)
		if rep.Kind == contract.ReportApprovalOverdue {
			typ = incident.EventRunbookApprovalOverdue
			msg = fmt.Sprintf("runbook %q step %d %q awaits approval past its timeout; paging the current escalation targets",
				e.Name, step.No, step.Name)
		}
	}
	ev := r.runbookEvent(ctx, typ, e, step, msg)
	ev.ID = fmt.Sprintf("runbook/%d/%d", e.Run, rep.Seq)
	if step != nil && step.Finished() {
		ev.Actor = step.Actor
	}
	if err := r.recordEvent(ctx, ev); err != nil {
		workflow.GetLogger(ctx).Error("runbook event not recorded", "incident_id", r.inc.ID, "run", e.Run, "error", err)
	}
	if err := r.upsertRunbookWaiting(ctx); err != nil {
		workflow.GetLogger(ctx).Error("search attribute not updated", "incident_id", r.inc.ID, "error", err)
	}
	if rep.Kind == contract.ReportApprovalOverdue && r.inc.Status != incident.StatusResolved {
		if err := r.pageForApproval(ctx); err != nil {
			workflow.GetLogger(ctx).Error("page for an overdue approval failed", "incident_id", r.inc.ID, "run", e.Run, "error", err)
		}
	}
}

// stepMessage is the timeline's line for a step's new status.
func stepMessage(e *contract.RunbookEntry, st contract.RunbookStep) string {
	msg := fmt.Sprintf("runbook %q step %d %q: %s", e.Name, st.No, st.Name, strings.ReplaceAll(st.Status, "_", " "))
	switch {
	case st.Actor != "":
		msg += " by " + st.Actor
	case st.HTTPStatus != 0:
		msg += fmt.Sprintf(" (HTTP %d after %d attempt(s))", st.HTTPStatus, st.Attempts)
	}
	if st.Status == runbook.StepFailed || st.Status == runbook.StepCancelled {
		if st.Output != "" && st.HTTPStatus == 0 {
			msg += ": " + st.Output
		}
	}
	if st.Note != "" {
		msg += ": " + st.Note
	}
	return msg
}

// runbookEvent is a timeline event about run e (and its step st, if any).
func (r *incidentRun) runbookEvent(ctx workflow.Context, typ incident.EventType, e *contract.RunbookEntry, st *contract.RunbookStep, msg string) incident.Event {
	data := map[string]any{"run": e.Run, "runbook_id": e.RunbookID, "runbook": e.Name, "version": e.Version,
		"status": e.Status, "workflow_id": e.WorkflowID}
	if st != nil {
		data["step"], data["step_name"], data["kind"], data["step_status"] = st.No, st.Name, string(st.Kind), st.Status
		if st.Note != "" {
			data["note"] = st.Note
		}
		if st.Kind == runbook.KindAction && st.Finished() {
			data["http_status"], data["attempts"], data["output"] = st.HTTPStatus, st.Attempts, st.Output
		}
	}
	return incident.Event{IncidentID: r.inc.ID, Type: typ, Message: msg, Data: data, EventTime: now(ctx)}
}

// upsertRunbookWaiting keeps RunbookWaiting true while a run waits for an
// approval.
func (r *incidentRun) upsertRunbookWaiting(ctx workflow.Context) error {
	d := r.runbooks
	waiting := false
	for _, e := range d.book.Runs {
		for _, st := range e.Steps {
			if e.Status == runbook.RunRunning && st.Status == runbook.StepWaitingApproval {
				waiting = true
			}
		}
	}
	if waiting == d.book.Waiting {
		return nil
	}
	d.book.Waiting = waiting
	return workflow.UpsertTypedSearchAttributes(ctx, contract.SearchRunbookWaiting.ValueSet(waiting))
}

// pageForApproval pages the current escalation step's targets once, for
// an approval nobody gave in time.
func (r *incidentRun) pageForApproval(ctx workflow.Context) error {
	x := r.esc
	if x.e == nil || x.e.Policy.Empty() {
		return r.recordEvent(ctx, x.event(ctx, incident.EventNotifyFailed,
			"no escalation policy: nobody was paged for the overdue runbook approval", map[string]any{"reason": reasonRunbookApproval}))
	}
	x.e.PageCount++
	at := now(ctx)
	return x.notifyUsers(ctx, pageRef{step: max(x.e.Step, 0), round: x.e.Round, no: x.e.PageCount, at: at, due: at,
		reason: reasonRunbookApproval}, nil)
}

// quietDue reports whether a run waits for the alerts to resolve and none
// fires.
func (r *incidentRun) quietDue() bool {
	if r.runbooks == nil || r.alerts.firing() {
		return false
	}
	for _, e := range r.runbooks.book.Runs {
		if e.AwaitingAlerts > 0 && e.Status == runbook.RunRunning {
			return true
		}
	}
	return false
}

// firing reports whether an alert of the incident fires.
func (b *alertBook) firing() bool {
	for _, st := range b.byFingerprint {
		if st.Status == incident.AlertFiring {
			return true
		}
	}
	return false
}

// tellQuiet tells every run waiting for the alerts to resolve that none
// fires.
func (r *incidentRun) tellQuiet(ctx workflow.Context) {
	if !r.quietDue() {
		return
	}
	d := r.runbooks
	for i := range d.book.Runs {
		e := &d.book.Runs[i]
		if e.AwaitingAlerts == 0 || e.Status != runbook.RunRunning {
			continue
		}
		step := e.AwaitingAlerts
		e.AwaitingAlerts = 0
		err := workflow.SignalExternalWorkflow(ctx, e.WorkflowID, "", contract.SignalAlertsQuiet,
			contract.RunbookAlertsQuiet{Step: step}).Get(ctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Warn("runbook not told the alerts resolved", "incident_id", r.inc.ID, "run", e.Run, "error", err)
		}
	}
}

// missingSteps names the required steps not done, in the latest run of
// each runbook, when the resolve policy asks for them; nil otherwise.
func (r *incidentRun) missingSteps() []string {
	if r.runbooks == nil || !r.runbooks.book.RequireSteps {
		return nil
	}
	latest := map[string]int{}
	for i, e := range r.runbooks.book.Runs {
		latest[e.RunbookID] = i
	}
	var missing []string
	for i, e := range r.runbooks.book.Runs {
		if latest[e.RunbookID] != i {
			continue
		}
		for _, st := range e.Steps {
			if st.Required && st.Status != runbook.StepDone {
				missing = append(missing, fmt.Sprintf("%q step %d %q (%s)", e.Name, st.No, st.Name, strings.ReplaceAll(st.Status, "_", " ")))
			}
		}
	}
	return missing
}

// checkResolvePolicy refuses a resolve that the resolve policy forbids.
func (r *incidentRun) checkResolvePolicy() error {
	if missing := r.missingSteps(); len(missing) > 0 {
		return rejection(fault.Conflictf("the service requires its runbooks' required steps done before resolve; not done: %s",
			strings.Join(missing, "; ")))
	}
	return nil
}

// holdResolve records, instead of resolving, an alert's resolve that the
// resolve policy forbids, and reports whether it did.
func (r *incidentRun) holdResolve(ctx workflow.Context, actor string) (bool, error) {
	missing := r.missingSteps()
	if len(missing) == 0 {
		return false, nil
	}
	ev := r.esc.event(ctx, incident.EventResolveHeld,
		"resolve held: the service requires its runbooks' required steps done first; not done: "+strings.Join(missing, "; "),
		map[string]any{"missing": missing})
	ev.Actor = actor
	return true, r.recordEvent(ctx, ev)
}

// settleRunbooks runs before the incident's run ends: once resolved, it
// cancels the runs still in progress and waits, at most runbookStopGrace,
// for each to report how it ended (a run that does not is recorded as
// cancelled); in every case it lets the reports in hand be applied.
func (r *incidentRun) settleRunbooks(ctx workflow.Context) error {
	d := r.runbooks
	if d == nil {
		return nil
	}
	if r.inc.Status == incident.StatusResolved && d.active() {
		var cancels []workflow.Future
		for _, e := range d.book.Runs {
			if e.Status == runbook.RunRunning {
				cancels = append(cancels, workflow.RequestCancelExternalWorkflow(ctx, e.WorkflowID, ""))
			}
		}
		for _, f := range cancels {
			if err := f.Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("runbook not cancelled", "incident_id", r.inc.ID, "error", err)
			}
		}
		ended, err := workflow.AwaitWithTimeout(ctx, runbookStopGrace, func() bool { return !d.active() && !d.busy })
		if err != nil {
			return err
		}
		if !ended {
			if err := workflow.Await(ctx, func() bool { return !d.busy }); err != nil {
				return err
			}
			for i := range d.book.Runs {
				e := &d.book.Runs[i]
				if e.Status != runbook.RunRunning {
					continue
				}
				e.Status, e.FinishedAt, e.AwaitingAlerts = runbook.RunCancelled, now(ctx), 0
				for j := range e.Steps {
					if !e.Steps[j].Finished() {
						e.Steps[j].Status = runbook.StepCancelled
					}
				}
				ev := r.runbookEvent(ctx, incident.EventRunbookFinished, e, nil,
					fmt.Sprintf("runbook %q cancelled: it did not confirm within %s that it stopped", e.Name, runbookStopGrace))
				ev.ID = fmt.Sprintf("runbook/%d/unconfirmed", e.Run)
				if err := r.recordEvent(ctx, ev); err != nil {
					return err
				}
			}
		}
		if err := r.upsertRunbookWaiting(ctx); err != nil {
			return err
		}
	}
	return workflow.Await(ctx, func() bool { return !d.busy })
}
