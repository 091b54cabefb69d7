package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// Escalation semantics, in workflow time:
//
//   - On open, step 1 pages at once. Each later step is due its delay after
//     the previous step was due, while the incident is open (not
//     acknowledged, mitigated, snoozed or resolved): a page that went out
//     late (every worker down for a while) does not push the later steps
//     back. A step still waits at least min(its delay, catchUpGap) after the
//     page before it, so that page's targets have a moment to answer; steps
//     that fell due meanwhile then follow at that pace.
//   - After the last step, the policy starts over Repeat more times; step 1's
//     delay is then the wait after the last step. When every round is paged
//     the escalation is exhausted and paging stops.
//   - Acknowledge stops paging. If the service has an acknowledgement timeout
//     and the incident is neither mitigated nor resolved in time, it returns
//     to open and paging resumes with the next step at once.
//   - escalate pages the next step now, whatever the status (except resolved).
//   - snooze stops paging until it ends; then the step paged last pages again
//     (unless the incident was acknowledged, mitigated or resolved meanwhile).
//   - reassign swaps the policy and pages its first step now.
//
// A page is one NotifyUser activity per target user, run in parallel; each
// delivery is claimed in the notification ledger under (incident, step,
// round, user, contact method), so a retried activity never pages twice.
// A user's notification rules that are not due at once follow on timers of
// their own (rules.go).

// escalationVersion marks the first workflow code that escalates. Histories
// recorded before it (no marker) replay without paging.
const (
	changeEscalation   = "escalation"
	escalationVersion1 = 1
)

// stepScheduleVersion marks timing each step from the previous step's due
// time rather than from when it paged. Histories recorded before it (no
// marker) time steps from the page.
const (
	changeStepSchedule   = "step-schedule"
	stepScheduleVersion1 = 1
)

// catchUpGap bounds how closely a late step's successor may follow it.
const catchUpGap = 30 * time.Second

// Why a page is sent: the reason in its NotifyInput, push data and events.
const (
	reasonEscalation  = "escalation"   // its step fell due
	reasonEscalate    = "escalate"     // a responder asked for the next step now
	reasonSnoozeEnded = "snooze_ended" // a snooze ended: the step paged last again
	reasonAckTimeout  = "ack_timeout"  // an acknowledgement lapsed
	reasonSLAWarning  = "sla_warning"  // an SLA target is near
	reasonSLABreach   = "sla_breach"   // an SLA target was missed
)

// notifyOptions: a page must not wait on a slow provider for long. The
// activity is retried with backoff until it is done: a provider that keeps
// failing is given up on by the activity itself after MaxProviderAttempts
// (the failure recorded, escalation going on), while the engine's own parts
// failing (Postgres down) only delay the page. NotifyUser heartbeats while
// it sends, so a page held by a worker that died is retried within
// HeartbeatTimeout (plus the first retry interval), not after the whole
// StartToCloseTimeout.
var notifyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute,
	HeartbeatTimeout:    3 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: nonRetryable,
	},
}

const maxPagesKept = 100

// escalator drives paging for one run.
type escalator struct {
	r *incidentRun
	e *contract.Escalation
	// wake is set by handlers whenever they change what the loop waits for.
	wake bool
	// chains run the paged users' notification rules (see rules.go).
	chains *ruleChains
}

// dueAction is what the loop does when its timer fires.
type dueAction int

const (
	actNone dueAction = iota
	// actPage pages the next escalation step.
	actPage
	// actSnoozeEnd ends a snooze and pages the step paged last again.
	actSnoozeEnd
	// actAckTimeout reopens an acknowledgement that lapsed.
	actAckTimeout
	// actSLAWarn and actSLABreach fire an SLA deadline's warning or breach.
	actSLAWarn
	actSLABreach
)

// due is the next thing the loop must do and when. slaType names the
// deadline for the SLA actions.
type due struct {
	at      time.Time
	action  dueAction
	slaType string
}

// next returns the earlier of d and o; d when they tie.
func (d due) next(o due) due {
	if o.at.IsZero() || (!d.at.IsZero() && !o.at.Before(d.at)) {
		return d
	}
	return o
}

// due returns the next escalation moment: a snooze ending, an
// acknowledgement lapsing, or the next page.
func (x *escalator) due() due {
	e := x.e
	switch {
	case x.r.inc.Status == incident.StatusResolved:
		return due{}
	case !e.SnoozedUntil.IsZero():
		return due{at: e.SnoozedUntil, action: actSnoozeEnd}
	case x.r.inc.Status == incident.StatusAcknowledged && !e.AckExpiresAt.IsZero():
		return due{at: e.AckExpiresAt, action: actAckTimeout}
	case x.r.inc.Status == incident.StatusOpen && !e.Exhausted && !e.NextPageAt.IsZero() && !e.Policy.Empty():
		return due{at: e.NextPageAt, action: actPage}
	}
	return due{}
}

// run pages until the incident resolves or the run should continue as new.
func (x *escalator) run(ctx workflow.Context, stop func() bool) error {
	x.chainsOf(ctx)
	x.resumeRules(ctx)
	for {
		x.wake = false
		// An accepted escalate pages before the run may end: its answer
		// promised the page, and it must not be lost to a continue-as-new.
		if x.e.EscalateNow != "" && x.r.inc.Status != incident.StatusResolved {
			reason := x.e.EscalateNow
			x.e.EscalateNow = ""
			if err := x.pageNext(ctx, reason); err != nil {
				return err
			}
			continue
		}
		if stop() {
			return nil
		}
		next := x.due().next(x.r.slaDue())
		if next.at.IsZero() {
			if err := workflow.Await(ctx, func() bool { return x.wake || stop() }); err != nil {
				return err
			}
			continue
		}
		if d := next.at.Sub(now(ctx)); d > 0 {
			woken, err := workflow.AwaitWithTimeout(ctx, d, func() bool { return x.wake || stop() })
			if err != nil {
				return err
			}
			if woken {
				continue
			}
		}
		var err error
		switch next.action {
		case actPage:
			err = x.pageNext(ctx, reasonEscalation)
		case actSnoozeEnd:
			err = x.endSnooze(ctx)
		case actAckTimeout:
			err = x.expireAck(ctx)
		case actSLAWarn, actSLABreach:
			err = x.r.fireSLA(ctx, next)
		}
		if err != nil {
			return err
		}
	}
}

// pageNext pages the step after the one paged last, wrapping into the next
// round, and schedules the step after it.
func (x *escalator) pageNext(ctx workflow.Context, reason string) error {
	e := x.e
	if e.Policy.Empty() {
		return x.r.recordEvent(ctx, x.event(ctx, incident.EventNotifyFailed, "no escalation policy: nobody was paged",
			map[string]any{"reason": reason}))
	}
	step, round := e.Step+1, e.Round
	if step >= len(e.Policy.Steps) {
		step, round = 0, round+1
	}
	if round > e.Policy.Repeat && reason == reasonEscalation {
		e.Exhausted = true
		e.NextPageAt = time.Time{}
		return x.r.recordEvent(ctx, x.event(ctx, incident.EventExhausted,
			fmt.Sprintf("every step paged %d time(s); paging stopped", e.Policy.Repeat+1), nil))
	}
	return x.page(ctx, step, round, reason)
}

// page notifies every target of one step, records each outcome, and
// schedules the next step.
func (x *escalator) page(ctx workflow.Context, step, round int, reason string) error {
	e := x.e
	at := now(ctx)
	// When the page was due: the step's scheduled time for a page its timer
	// sent, now for one a person or an SLA asked for.
	due := at
	if reason == reasonEscalation && !e.NextPageAt.IsZero() && e.NextPageAt.Before(at) {
		due = e.NextPageAt
	}
	// Every page gets its own number, which keys its deliveries in the
	// ledger: paging a step again is a new delivery, a retry is not.
	e.PageCount++
	pageNo := e.PageCount
	e.Step, e.Round = step, round
	e.Exhausted = false
	// The next step is due its delay after this one (step 1's delay when
	// this was the last step and another round follows; after the last step
	// of the last round one more tick only marks the end).
	next := step + 1
	if next >= len(e.Policy.Steps) {
		next = 0
	}
	e.NextPageAt = x.nextDue(ctx, due, at, e.Policy.Steps[next].Delay.D())
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.SearchEscalationLevel.ValueSet(int64(step+1))); err != nil {
		return err
	}
	return x.notifyUsers(ctx, pageRef{step: step, round: round, no: pageNo, at: at, due: due, reason: reason}, nil)
}

// nextDue is when the step after a page due at due and sent at at falls
// due: delay after due, but not sooner than min(delay, catchUpGap) after
// at. Runs recorded before this rule time it delay after at.
func (x *escalator) nextDue(ctx workflow.Context, due, at time.Time, delay time.Duration) time.Time {
	if !due.Before(at) ||
		workflow.GetVersion(ctx, changeStepSchedule, workflow.DefaultVersion, stepScheduleVersion1) < stepScheduleVersion1 {
		return at.Add(delay)
	}
	return latest(due.Add(delay), at.Add(min(delay, catchUpGap)))
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pageRef identifies one page: its step and round, its number within the
// incident (which keys its deliveries in the ledger), when it was sent and
// due, and why.
type pageRef struct {
	step, round, no int
	at, due         time.Time
	reason          string
}

// alert pages the current step's targets again without moving the
// escalation (an SLA warning or breach). Nobody is paged before the first
// step or without a policy.
//
// The service's breach contacts are alerted too, policy or not.
func (x *escalator) alert(ctx workflow.Context, reason string) error {
	e := x.e
	if e == nil || (e.Policy.Empty() && len(e.Policy.BreachUserIDs) == 0) {
		return nil
	}
	e.PageCount++
	at := now(ctx)
	return x.notifyUsers(ctx, pageRef{step: max(e.Step, 0), round: e.Round, no: e.PageCount, at: at, due: at, reason: reason},
		e.Policy.BreachUserIDs)
}

// notifyUsers pages the targets of p's step (when the policy has it) and
// extra users, each once, in parallel, and records each outcome.
func (x *escalator) notifyUsers(ctx workflow.Context, p pageRef, extra []string) error {
	e := x.e
	var users []string
	seen := map[string]bool{}
	if p.step < len(e.Policy.Steps) {
		for _, t := range e.Policy.Steps[p.step].Targets {
			if t.Type == oncall.TargetUser && !seen[t.ID] {
				seen[t.ID] = true
				users = append(users, t.ID)
			}
		}
	}
	oc, err := x.resolveSchedules(ctx, p, seen)
	if err != nil {
		return err
	}
	users = append(users, oc.users...)
	for _, u := range extra {
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	actx := workflow.WithActivityOptions(ctx, notifyOptions)
	urgency := x.urgency(ctx)
	inputs := make([]contract.NotifyInput, len(users))
	futures := make([]workflow.Future, len(users))
	for i, u := range users {
		inputs[i] = contract.NotifyInput{
			IncidentID: x.r.inc.ID,
			Title:      x.r.inc.Title,
			Severity:   x.r.inc.Severity,
			Service:    x.r.inc.Service,
			Step:       p.step,
			Round:      p.round,
			Page:       p.no,
			UserID:     u,
			Reason:     p.reason,
			DueAt:      p.due,
			Urgency:    urgency,
		}
		futures[i] = workflow.ExecuteActivity(actx, contract.ActivityNotifyUser, inputs[i])
	}
	for i, f := range futures {
		var res contract.NotifyResult
		err := f.Get(ctx, &res)
		page := contract.Page{No: p.no, Step: p.step, Round: p.round, UserID: users[i], At: p.at}
		var events []incident.Event
		if err != nil {
			page.Failed = 1
			events = append(events, x.deliveryEvent(ctx, page, p.due, contract.Delivery{Status: "failed", Detail: err.Error()}))
		}
		for _, d := range res.Deliveries {
			if d.Status == "sent" {
				page.Delivered++
			} else {
				page.Failed++
			}
			// Recorded even when a retry found the delivery done: the
			// attempt that did it may not have lived to report it. The
			// event's key makes the write happen once.
			events = append(events, x.deliveryEvent(ctx, page, p.due, d))
		}
		if err == nil && len(res.Deliveries) == 0 && len(res.Later) == 0 {
			page.Failed = 1
			events = append(events, x.deliveryEvent(ctx, page, p.due, contract.Delivery{Status: "failed", Detail: "user has no contact methods"}))
		}
		e.Pages = append(e.Pages, page)
		if len(e.Pages) > maxPagesKept {
			e.Pages = e.Pages[len(e.Pages)-maxPagesKept:]
		}
		for _, ev := range events {
			if err := x.r.recordEvent(ctx, oc.annotate(ev, users[i])); err != nil {
				return err
			}
		}
		if err == nil {
			x.scheduleRules(ctx, inputs[i], p.at, res.Later)
		}
	}
	return nil
}

func (x *escalator) deliveryEvent(ctx workflow.Context, p contract.Page, due time.Time, d contract.Delivery) incident.Event {
	where := fmt.Sprintf("step %d", p.Step+1)
	if d.Rule > 0 {
		where += fmt.Sprintf(", rule %d", d.Rule)
	}
	typ, msg := incident.EventNotified, fmt.Sprintf("paged %s (%s) via %s", p.UserID, where, d.Channel)
	if d.Status != "sent" {
		typ, msg = incident.EventNotifyFailed, fmt.Sprintf("could not page %s (%s): %s", p.UserID, where, d.Detail)
	}
	key := fmt.Sprintf("notify/%d/%s/%s", p.No, p.UserID, d.ContactMethodID)
	data := map[string]any{
		"step": p.Step + 1, "round": p.Round, "user_id": p.UserID,
		"channel": d.Channel, "contact_method_id": d.ContactMethodID, "detail": d.Detail,
		"due_at": due.Format(time.RFC3339Nano),
	}
	if d.DeliveryID != "" {
		data["delivery_id"] = d.DeliveryID
	}
	if d.Rule > 0 {
		// One contact method may be paged by two rules: each is an event.
		key += fmt.Sprintf("#r%d", d.Rule)
		data["rule"] = d.Rule
	}
	ev := x.event(ctx, typ, msg, data)
	ev.ID = key
	return ev
}

// event builds a timeline event of this incident at the current time;
// recordEvent gives it an ID unless the caller sets one.
func (x *escalator) event(ctx workflow.Context, typ incident.EventType, msg string, data map[string]any) incident.Event {
	return incident.Event{
		IncidentID: x.r.inc.ID,
		Type:       typ,
		Message:    msg,
		Data:       data,
		EventTime:  now(ctx),
	}
}

func (x *escalator) endSnooze(ctx workflow.Context) error {
	x.e.SnoozedUntil = time.Time{}
	if err := x.r.recordEvent(ctx, x.event(ctx, incident.EventSnoozeEnded, "snooze ended", nil)); err != nil {
		return err
	}
	if x.r.inc.Status != incident.StatusOpen || x.e.Policy.Empty() {
		return nil
	}
	step, round := x.e.Step, x.e.Round
	if step < 0 {
		step = 0
	}
	return x.page(ctx, step, round, reasonSnoozeEnded)
}

// expireAck reopens an incident whose acknowledgement lapsed, through the
// same path as every status change, and pages the next step at once.
func (x *escalator) expireAck(ctx workflow.Context) error {
	x.e.AckExpiresAt = time.Time{}
	if x.r.inc.Status != incident.StatusAcknowledged {
		return nil
	}
	msg := fmt.Sprintf("acknowledgement lapsed after %s without mitigation; paging resumes", x.e.Policy.AckTimeout.D())
	if _, err := x.r.move(ctx, incident.StatusOpen, "", incident.EventAckTimeout, msg); err != nil {
		return err
	}
	x.e.NextPageAt = x.r.inc.UpdatedAt
	return nil
}

// startEscalation loads the service's policy, records which version the
// incident pages with, and schedules step 1 for now.
func (r *incidentRun) startEscalation(ctx workflow.Context) error {
	var snap oncall.Snapshot
	actx := workflow.WithActivityOptions(ctx, projectionOptions)
	if err := workflow.ExecuteActivity(actx, contract.ActivityLoadEscalation, r.inc.Service).Get(ctx, &snap); err != nil {
		return fmt.Errorf("load escalation policy: %w", err)
	}
	return r.recordEvent(ctx, r.startPaging(ctx, snap))
}

// startPaging starts the escalation with snap, step 1 due now, and returns
// the event that records which policy (and version) the incident pages
// with, or why it pages nobody.
func (r *incidentRun) startPaging(ctx workflow.Context, snap oncall.Snapshot) incident.Event {
	r.esc.e = &contract.Escalation{Policy: snap, Step: -1, NextPageAt: now(ctx)}
	msg := fmt.Sprintf("paging with policy %q version %d", snap.Name, snap.Version)
	switch {
	case snap.Maintenance != "":
		msg = "opened during maintenance: nobody will be paged; " + snap.Maintenance
	case snap.Empty():
		msg = fmt.Sprintf("service %s has no escalation policy: nobody will be paged", r.inc.Service)
	}
	data := map[string]any{
		"policy_id": snap.PolicyID, "policy_version": snap.Version, "steps": len(snap.Steps),
		"repeat": snap.Repeat, "ack_timeout": snap.AckTimeout.D().String(),
	}
	if snap.Maintenance != "" {
		data["maintenance"] = snap.Maintenance
	}
	return r.esc.event(ctx, incident.EventPolicy, msg, data)
}

// openLocally opens a new incident within the run's first workflow task:
// one local activity loads its SLA targets, escalation snapshot and
// runbooks, the deadlines and step 1 are set, and one local activity
// records the incident with its opened event and the policy it pages with.
// The open update is answered as that task completes; the runbooks start
// after it.
func (r *incidentRun) openLocally(ctx workflow.Context) error {
	var plan contract.OpenPlan
	lctx := workflow.WithLocalActivityOptions(ctx, localProjectionOptions)
	if err := workflow.ExecuteLocalActivity(lctx, contract.ActivityLoadOpen,
		contract.LoadOpenInput{Service: r.inc.Service, Severity: r.inc.Severity}).Get(ctx, &plan); err != nil {
		return fmt.Errorf("load what the incident opens with: %w", err)
	}
	r.setSLA(plan.SLA)
	if err := r.upsertSLASearch(ctx); err != nil {
		return err
	}
	policy := r.startPaging(ctx, plan.Escalation)
	if err := r.record(ctx, incident.Change{Incident: r.inc, Event: r.openedEvent(), Also: []incident.Event{policy}}); err != nil {
		return err
	}
	r.recorded = true
	return r.startRunbooksOnOpen(ctx, plan)
}

func (r *incidentRun) registerEscalation(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateEscalate, r.escalate,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req contract.EscalateRequest) error {
			return r.validateEscalation(req.IncidentID, req, true)
		}}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateEscalate, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateSnooze, r.snooze,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req contract.SnoozeRequest) error {
			return r.validateEscalation(req.IncidentID, req, false)
		}}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateSnooze, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateReassign, r.reassign,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req contract.ReassignRequest) error {
			return r.validateEscalation(req.IncidentID, req, false)
		}}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateReassign, err)
	}
	return nil
}

// validateEscalation checks what every escalation update needs: the right
// incident, a valid request, not resolved, and (for escalate) a policy.
func (r *incidentRun) validateEscalation(incidentID string, req interface{ Validate() error }, needPolicy bool) error {
	if err := r.checkTarget(incidentID); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return rejection(err)
	}
	switch {
	case r.inc.Status == incident.StatusResolved:
		return rejection(fault.Conflictf("incident is resolved"))
	case r.esc.e == nil:
		return rejection(fault.Conflictf("this incident does not escalate"))
	case needPolicy && r.esc.e.Policy.Empty():
		return rejection(fault.Conflictf("the incident has no escalation policy; reassign it first"))
	}
	return nil
}

func (r *incidentRun) escalate(ctx workflow.Context, req contract.EscalateRequest) (contract.State, error) {
	x := r.esc
	x.e.SnoozedUntil = time.Time{}
	x.e.EscalateNow, x.wake = reasonEscalate, true
	ev := x.event(ctx, incident.EventEscalated, "escalated to the next step", map[string]any{"note": req.Note})
	ev.Actor = req.Actor
	if err := r.recordEvent(ctx, ev); err != nil {
		return contract.State{}, err
	}
	return r.state(ctx), nil
}

func (r *incidentRun) snooze(ctx workflow.Context, req contract.SnoozeRequest) (contract.State, error) {
	x := r.esc
	until := now(ctx).Add(req.Duration)
	x.e.SnoozedUntil = until
	x.wake = true
	stopped := x.stopRules()
	ev := x.event(ctx, incident.EventSnoozed, fmt.Sprintf("paging snoozed for %s", req.Duration),
		map[string]any{"until": until.Format(time.RFC3339Nano)})
	ev.Actor = req.Actor
	if err := r.recordEvent(ctx, ev); err != nil {
		return contract.State{}, err
	}
	if err := x.recordStopped(ctx, stopped, "snoozed"); err != nil {
		return contract.State{}, err
	}
	return r.state(ctx), nil
}

func (r *incidentRun) reassign(ctx workflow.Context, req contract.ReassignRequest) (contract.State, error) {
	x := r.esc
	var snap oncall.Snapshot
	if req.PolicyID != "" {
		actx := workflow.WithActivityOptions(ctx, projectionOptions)
		if err := workflow.ExecuteActivity(actx, contract.ActivityLoadPolicy, req.PolicyID).Get(ctx, &snap); err != nil {
			return contract.State{}, err
		}
	} else {
		targets := make([]oncall.Target, len(req.UserIDs))
		for i, u := range req.UserIDs {
			targets[i] = oncall.Target{Type: oncall.TargetUser, ID: u}
		}
		snap = oncall.Snapshot{Name: "reassigned users", Steps: []oncall.Step{{Targets: targets}}}
	}
	snap.AckTimeout = x.e.Policy.AckTimeout
	stopped := x.stopRules()
	x.e = &contract.Escalation{Policy: snap, Step: -1, NextPageAt: now(ctx), Pages: x.e.Pages, PageCount: x.e.PageCount}
	x.wake = true
	ev := x.event(ctx, incident.EventReassigned, fmt.Sprintf("reassigned to %q version %d", snap.Name, snap.Version),
		map[string]any{"policy_id": snap.PolicyID, "policy_version": snap.Version, "user_ids": req.UserIDs})
	ev.Actor = req.Actor
	if err := r.recordEvent(ctx, ev); err != nil {
		return contract.State{}, err
	}
	if err := x.recordStopped(ctx, stopped, "reassigned"); err != nil {
		return contract.State{}, err
	}
	return r.state(ctx), nil
}
