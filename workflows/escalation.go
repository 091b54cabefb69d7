package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// Escalation semantics, in workflow time:
//
//   - On open, step 1 pages at once. Each later step pages its delay after
//     the previous step paged, while the incident is open (not acknowledged,
//     mitigated, snoozed or resolved).
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

// escalationVersion marks the first workflow code that escalates. Histories
// recorded before it (no marker) replay without paging.
const (
	changeEscalation   = "escalation"
	escalationVersion1 = 1
)

// notifyOptions: a page must not wait on a slow provider for long, and a
// provider outage is retried with backoff until the attempts run out; then
// the failure is recorded and escalation goes on.
var notifyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		MaximumAttempts:        6,
		NonRetryableErrorTypes: []string{ErrTypeInvalid},
	},
}

const maxPagesKept = 100

// escalator drives paging for one run.
type escalator struct {
	r *incidentRun
	e *Escalation
	// wake is set by handlers whenever they change what the loop waits for.
	wake bool
}

// due returns the next time the loop must act, and what it must do then.
func (x *escalator) due() (time.Time, string) {
	e := x.e
	switch {
	case x.r.inc.Status == incident.StatusResolved:
		return time.Time{}, ""
	case !e.SnoozedUntil.IsZero():
		return e.SnoozedUntil, "snooze_end"
	case x.r.inc.Status == incident.StatusAcknowledged && !e.AckExpiresAt.IsZero():
		return e.AckExpiresAt, "ack_timeout"
	case x.r.inc.Status == incident.StatusOpen && !e.Exhausted && !e.NextPageAt.IsZero() && !e.Policy.Empty():
		return e.NextPageAt, "page"
	}
	return time.Time{}, ""
}

// run pages until the incident resolves or the run should continue as new.
func (x *escalator) run(ctx workflow.Context, stop func() bool) error {
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
		at, action := x.due()
		if sat, saction := x.r.slaDue(); !sat.IsZero() && (at.IsZero() || sat.Before(at)) {
			at, action = sat, saction
		}
		if at.IsZero() {
			if err := workflow.Await(ctx, func() bool { return x.wake || stop() }); err != nil {
				return err
			}
			continue
		}
		if d := at.Sub(now(ctx)); d > 0 {
			woken, err := workflow.AwaitWithTimeout(ctx, d, func() bool { return x.wake || stop() })
			if err != nil {
				return err
			}
			if woken {
				continue
			}
		}
		var err error
		switch action {
		case "page":
			err = x.pageNext(ctx, "escalation")
		case "snooze_end":
			err = x.endSnooze(ctx)
		case "ack_timeout":
			err = x.expireAck(ctx)
		default:
			err = x.r.fireSLA(ctx, action)
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
	if round > e.Policy.Repeat && reason == "escalation" {
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
	// Every page gets its own number, which keys its deliveries in the
	// ledger: paging a step again is a new delivery, a retry is not.
	e.PageCount++
	pageNo := e.PageCount
	e.Step, e.Round = step, round
	e.Exhausted = false
	// The next step is due its delay after this page (step 1's delay when
	// this was the last step and another round follows).
	next := step + 1
	if next >= len(e.Policy.Steps) {
		next = 0
	}
	if step+1 >= len(e.Policy.Steps) && round >= e.Policy.Repeat {
		// Last step of the last round: one more tick only to mark the end.
		e.NextPageAt = at.Add(e.Policy.Steps[0].Delay.D())
	} else {
		e.NextPageAt = at.Add(e.Policy.Steps[next].Delay.D())
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, SearchEscalationLevel.ValueSet(int64(step+1))); err != nil {
		return err
	}
	return x.notifyStep(ctx, step, round, pageNo, at, reason)
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
	return x.notifyUsers(ctx, max(e.Step, 0), e.Round, e.PageCount, now(ctx), reason, e.Policy.BreachUserIDs)
}

// notifyStep pages every target user of one step in parallel and records
// each outcome. pageNo keys the deliveries in the ledger.
func (x *escalator) notifyStep(ctx workflow.Context, step, round, pageNo int, at time.Time, reason string) error {
	return x.notifyUsers(ctx, step, round, pageNo, at, reason, nil)
}

// notifyUsers pages the targets of one step (when the policy has it) and
// extra users, each once, in parallel, and records each outcome.
func (x *escalator) notifyUsers(ctx workflow.Context, step, round, pageNo int, at time.Time, reason string, extra []string) error {
	e := x.e
	var users []string
	seen := map[string]bool{}
	if step < len(e.Policy.Steps) {
		for _, t := range e.Policy.Steps[step].Targets {
			if t.Type == oncall.TargetUser && !seen[t.ID] {
				seen[t.ID] = true
				users = append(users, t.ID)
			}
		}
	}
	for _, u := range extra {
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	actx := workflow.WithActivityOptions(ctx, notifyOptions)
	futures := make([]workflow.Future, len(users))
	for i, u := range users {
		futures[i] = workflow.ExecuteActivity(actx, ActivityNotifyUser, NotifyInput{
			IncidentID: x.r.inc.ID,
			Title:      x.r.inc.Title,
			Severity:   x.r.inc.Severity,
			Service:    x.r.inc.Service,
			Step:       step,
			Round:      round,
			Page:       pageNo,
			UserID:     u,
			Reason:     reason,
		})
	}
	for i, f := range futures {
		var res NotifyResult
		err := f.Get(ctx, &res)
		p := Page{No: pageNo, Step: step, Round: round, UserID: users[i], At: at}
		var events []incident.Event
		if err != nil {
			p.Failed = 1
			events = append(events, x.deliveryEvent(ctx, p, Delivery{Status: "failed", Detail: err.Error()}))
		}
		for _, d := range res.Deliveries {
			if d.Status == "sent" {
				p.Delivered++
			} else {
				p.Failed++
			}
			// Recorded even when a retry found the delivery done: the
			// attempt that did it may not have lived to report it. The
			// event's key makes the write happen once.
			events = append(events, x.deliveryEvent(ctx, p, d))
		}
		if err == nil && len(res.Deliveries) == 0 {
			p.Failed = 1
			events = append(events, x.deliveryEvent(ctx, p, Delivery{Status: "failed", Detail: "user has no contact methods"}))
		}
		e.Pages = append(e.Pages, p)
		if len(e.Pages) > maxPagesKept {
			e.Pages = e.Pages[len(e.Pages)-maxPagesKept:]
		}
		for _, ev := range events {
			if err := x.r.recordEvent(ctx, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *escalator) deliveryEvent(ctx workflow.Context, p Page, d Delivery) incident.Event {
	typ, msg := incident.EventNotified, fmt.Sprintf("paged %s (step %d) via %s", p.UserID, p.Step+1, d.Channel)
	if d.Status != "sent" {
		typ, msg = incident.EventNotifyFailed, fmt.Sprintf("could not page %s (step %d): %s", p.UserID, p.Step+1, d.Detail)
	}
	key := fmt.Sprintf("notify/%d/%s/%s", p.No, p.UserID, d.ContactMethodID)
	ev := x.event(ctx, typ, msg, map[string]any{
		"step": p.Step + 1, "round": p.Round, "user_id": p.UserID,
		"channel": d.Channel, "contact_method_id": d.ContactMethodID, "detail": d.Detail,
	})
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
	return x.page(ctx, step, round, "snooze_ended")
}

func (x *escalator) expireAck(ctx workflow.Context) error {
	x.e.AckExpiresAt = time.Time{}
	if x.r.inc.Status != incident.StatusAcknowledged {
		return nil
	}
	at := now(ctx)
	x.r.inc.Status = incident.StatusOpen
	x.r.inc.UpdatedAt = at
	x.r.inc.AcknowledgedAt, x.r.inc.AcknowledgedBy = nil, ""
	x.r.inc.Version++
	ev := x.event(ctx, incident.EventAckTimeout,
		fmt.Sprintf("acknowledgement lapsed after %s without mitigation; paging resumes", x.e.Policy.AckTimeout.D()),
		map[string]any{"from": string(incident.StatusAcknowledged), "to": string(incident.StatusOpen)})
	ev.ID = fmt.Sprintf("v%d/%s", x.r.inc.Version, incident.EventAckTimeout)
	if err := x.r.upsertSearch(ctx); err != nil {
		return err
	}
	if err := x.r.record(ctx, incident.Change{Incident: x.r.inc, Event: ev}); err != nil {
		return err
	}
	x.e.NextPageAt = at
	return nil
}

// startEscalation loads the service's policy, records which version the
// incident pages with, and schedules step 1 for now.
func (r *incidentRun) startEscalation(ctx workflow.Context) error {
	var snap oncall.Snapshot
	actx := workflow.WithActivityOptions(ctx, projectionOptions)
	if err := workflow.ExecuteActivity(actx, ActivityLoadEscalation, r.inc.Service).Get(ctx, &snap); err != nil {
		return fmt.Errorf("load escalation policy: %w", err)
	}
	r.esc.e = &Escalation{Policy: snap, Step: -1, NextPageAt: now(ctx)}
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
	return r.recordEvent(ctx, r.esc.event(ctx, incident.EventPolicy, msg, data))
}

// Limits of the escalation updates.
const (
	MinSnooze = time.Second
	MaxSnooze = 24 * time.Hour
	MaxUsers  = oncall.MaxTargets
)

func (r *incidentRun) registerEscalation(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateEscalate, r.escalate,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req EscalateRequest) error {
			return r.validateEscalation(req.IncidentID, req.Actor, req.Note, true)
		}}); err != nil {
		return fmt.Errorf("register update %s: %w", UpdateEscalate, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSnooze, r.snooze,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req SnoozeRequest) error {
			if err := r.validateEscalation(req.IncidentID, req.Actor, "", false); err != nil {
				return err
			}
			if req.Duration < MinSnooze || req.Duration > MaxSnooze {
				return rejection(ErrTypeInvalid, fmt.Sprintf("duration: must be from %s to %s", MinSnooze, MaxSnooze))
			}
			return nil
		}}); err != nil {
		return fmt.Errorf("register update %s: %w", UpdateSnooze, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReassign, r.reassign,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req ReassignRequest) error {
			if err := r.validateEscalation(req.IncidentID, req.Actor, "", false); err != nil {
				return err
			}
			switch {
			case (req.PolicyID == "") == (len(req.UserIDs) == 0):
				return rejection(ErrTypeInvalid, "give either policy_id or user_ids")
			case len(req.UserIDs) > MaxUsers:
				return rejection(ErrTypeInvalid, fmt.Sprintf("user_ids: at most %d", MaxUsers))
			}
			return nil
		}}); err != nil {
		return fmt.Errorf("register update %s: %w", UpdateReassign, err)
	}
	return nil
}

// validateEscalation checks what every escalation update needs: the right
// incident, a valid actor, not resolved, and (for escalate) a policy.
func (r *incidentRun) validateEscalation(incidentID, actor, note string, needPolicy bool) error {
	if incidentID != r.inc.ID {
		return rejection(ErrTypeNotFound, fmt.Sprintf("incident %s is not open under this workflow", incidentID))
	}
	if err := incident.ValidateActor(actor, note); err != nil {
		return rejection(ErrTypeInvalid, err.Error())
	}
	if r.inc.Status == incident.StatusResolved {
		return rejection(ErrTypeConflict, "incident is resolved")
	}
	if r.esc.e == nil {
		return rejection(ErrTypeConflict, "this incident does not escalate")
	}
	if needPolicy && r.esc.e.Policy.Empty() {
		return rejection(ErrTypeConflict, "the incident has no escalation policy; reassign it first")
	}
	return nil
}

func (r *incidentRun) escalate(ctx workflow.Context, req EscalateRequest) (State, error) {
	x := r.esc
	x.e.SnoozedUntil = time.Time{}
	x.e.EscalateNow, x.wake = "escalate", true
	ev := x.event(ctx, incident.EventEscalated, "escalated to the next step", map[string]any{"note": req.Note})
	ev.Actor = req.Actor
	if err := r.recordEvent(ctx, ev); err != nil {
		return State{}, err
	}
	return r.state(ctx), nil
}

func (r *incidentRun) snooze(ctx workflow.Context, req SnoozeRequest) (State, error) {
	x := r.esc
	until := now(ctx).Add(req.Duration)
	x.e.SnoozedUntil = until
	x.wake = true
	ev := x.event(ctx, incident.EventSnoozed, fmt.Sprintf("paging snoozed for %s", req.Duration),
		map[string]any{"until": until.Format(time.RFC3339Nano)})
	ev.Actor = req.Actor
	if err := r.recordEvent(ctx, ev); err != nil {
		return State{}, err
	}
	return r.state(ctx), nil
}

func (r *incidentRun) reassign(ctx workflow.Context, req ReassignRequest) (State, error) {
	x := r.esc
	var snap oncall.Snapshot
	if req.PolicyID != "" {
		actx := workflow.WithActivityOptions(ctx, projectionOptions)
		if err := workflow.ExecuteActivity(actx, ActivityLoadPolicy, req.PolicyID).Get(ctx, &snap); err != nil {
			return State{}, err
		}
	} else {
		targets := make([]oncall.Target, len(req.UserIDs))
		for i, u := range req.UserIDs {
			targets[i] = oncall.Target{Type: oncall.TargetUser, ID: u}
		}
		snap = oncall.Snapshot{Name: "reassigned users", Steps: []oncall.Step{{Targets: targets}}}
	}
	snap.AckTimeout = x.e.Policy.AckTimeout
	x.e = &Escalation{Policy: snap, Step: -1, NextPageAt: now(ctx), Pages: x.e.Pages, PageCount: x.e.PageCount}
	x.wake = true
	ev := x.event(ctx, incident.EventReassigned, fmt.Sprintf("reassigned to %q version %d", snap.Name, snap.Version),
		map[string]any{"policy_id": snap.PolicyID, "policy_version": snap.Version, "user_ids": req.UserIDs})
	ev.Actor = req.Actor
	if err := r.recordEvent(ctx, ev); err != nil {
		return State{}, err
	}
	return r.state(ctx), nil
}
