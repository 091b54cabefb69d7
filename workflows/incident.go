package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// projectionOptions retry projection writes until Postgres takes them: an
// outage delays the record, it never loses an event. Only a write Postgres
// refuses for its data (fault.Invalid or fault.Internal) is not retried.
// A write takes milliseconds; the short timeout bounds how long an attempt
// held by a worker that died delays the incident.
var projectionOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: nonRetryable,
	},
}

// localProjectionOptions are projectionOptions for the same writes run as
// local activities. A local attempt that waits longer than the retry
// threshold for its next try continues in a later workflow task.
var localProjectionOptions = workflow.LocalActivityOptions{
	ScheduleToCloseTimeout: untilDone,
	StartToCloseTimeout:    10 * time.Second,
	RetryPolicy:            projectionOptions.RetryPolicy,
}

// untilDone is the ScheduleToCloseTimeout of local activities that retry
// until they succeed. A local activity has no unlimited one: left unset,
// it is its StartToCloseTimeout, and every attempt and retry together
// would give up after that (an update would fail, and its caller's retries
// get the failure back, after a ten-second Postgres outage).
const untilDone = 100 * 365 * 24 * time.Hour

// localWritesVersion marks runs that open in one workflow task and write
// the projection through local activities.
const (
	changeLocalWrites   = "local-writes"
	localWritesVersion1 = 1
)

// closeApartVersion marks runs that close (complete or continue as new) in
// a workflow task of their own, never in the task that answered an update.
// Temporal refuses a task that closes the run while new events wait (a
// signal, a child's completion): the whole task is discarded, and an
// update it answered is failed back to its caller (WorkflowNotReady), though
// the task's local activities have already written the projection. A
// resolve answered in a task that does not close the run cannot be undone
// so; the task that closes it, if refused, is retried with the new events.
const (
	changeCloseApart   = "close-apart"
	closeApartVersion1 = 1
)

// closeApart starts the run's closing in a new workflow task (see
// closeApartVersion): a timer of a millisecond, which is the cheapest
// command that ends the task.
func closeApart(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, changeCloseApart, workflow.DefaultVersion, closeApartVersion1) < closeApartVersion1 {
		return nil
	}
	return workflow.Sleep(ctx, time.Millisecond)
}

// nonRetryable are the fault codes an activity failure is final with: the
// same call can never succeed.
var nonRetryable = []string{string(fault.Invalid), string(fault.Internal)}

// IncidentWorkflow owns one incident from open to resolved. It is the only
// writer of the incident's lifecycle: every change arrives as an update, is
// validated against the current status before it reaches history, applied in
// the order the workflow accepts it, and projected to Postgres and Redis by
// activities. It returns the resolved incident.
func IncidentWorkflow(ctx workflow.Context, in contract.IncidentInput) (incident.Incident, error) {
	r := &incidentRun{inc: in.Incident, duplicates: in.Duplicates, recorded: in.Continued, seq: in.Seq, sla: in.SLA,
		requestKey: in.RequestKey, joined: map[string]bool{}}
	r.esc = &escalator{r: r}
	if !in.Continued {
		at := now(ctx)
		r.inc.Status = incident.StatusOpen
		r.inc.CreatedAt = at
		r.inc.UpdatedAt = at
		r.inc.Version = 1
	}
	if err := r.register(ctx); err != nil {
		return r.inc, err
	}
	r.startAlerts(ctx, in)
	r.restoreRunbooks(ctx, in)
	escalates := in.Continued && in.Escalation != nil ||
		!in.Continued && workflow.GetVersion(ctx, changeEscalation, workflow.DefaultVersion, escalationVersion1) >= escalationVersion1
	tracksSLA := !in.Continued && escalates &&
		workflow.GetVersion(ctx, changeSLA, workflow.DefaultVersion, slaVersion1) >= slaVersion1
	r.localWrites = workflow.GetVersion(ctx, changeLocalWrites, workflow.DefaultVersion, localWritesVersion1) >= localWritesVersion1
	if err := r.upsertSearch(ctx); err != nil {
		return r.inc, err
	}
	switch {
	case in.Continued:
	case tracksSLA && r.localWrites:
		// One workflow task: the loads and the first record run as local
		// activities, so the open is answered when this task completes.
		if err := r.openLocally(ctx); err != nil {
			return r.inc, err
		}
	default:
		if tracksSLA {
			if err := r.startSLA(ctx); err != nil {
				return r.inc, err
			}
			if err := r.upsertSLASearch(ctx); err != nil {
				return r.inc, err
			}
		}
		if err := r.record(ctx, incident.Change{Incident: r.inc, Event: r.openedEvent()}); err != nil {
			return r.inc, err
		}
		r.recorded = true
		if escalates {
			if err := r.startEscalation(ctx); err != nil {
				return r.inc, err
			}
		}
	}

	stop := func() bool {
		return r.inc.Status == incident.StatusResolved || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}
	if escalates {
		if in.Escalation != nil {
			r.esc.e = in.Escalation
		}
		if err := r.esc.run(ctx, stop); err != nil {
			return r.inc, err
		}
	} else if err := workflow.Await(ctx, stop); err != nil {
		return r.inc, err
	}
	if err := r.settleRunbooks(ctx); err != nil {
		return r.inc, err
	}
	if err := closeApart(ctx); err != nil {
		return r.inc, err
	}
	// Let every accepted update, the alert batch and runbook reports in
	// hand and the notification rule steps being sent finish their writes
	// before the run closes or continues, so no event is lost.
	if err := workflow.Await(ctx, func() bool {
		return workflow.AllHandlersFinished(ctx) && !r.alerts.busy && !r.runbooksBusy() && r.esc.rulesIdle()
	}); err != nil {
		return r.inc, err
	}
	pending := r.drainAlerts()
	joins := r.drainJoins()
	if r.inc.Status != incident.StatusResolved {
		return r.inc, workflow.NewContinueAsNewError(ctx, contract.IncidentWorkflow, contract.IncidentInput{
			Incident:      r.inc,
			Continued:     true,
			Duplicates:    r.duplicates,
			Seq:           r.seq,
			Escalation:    r.esc.e,
			SLA:           r.sla,
			AutoResolve:   r.alerts.autoResolve,
			Alerts:        r.alerts.list(),
			PendingAlerts: pending,
			PendingJoins:  joins,
			RequestKey:    r.requestKey,
			Runbooks:      r.carryRunbooks(),
		})
	}
	// Triggers that came after the resolution open the next incident under
	// the same dedup key.
	for i, sig := range pending {
		if sig.Action != incident.AlertTrigger {
			continue
		}
		return r.inc, workflow.NewContinueAsNewError(ctx, contract.IncidentWorkflow, contract.IncidentInput{
			Incident: incident.Incident{
				ID: sig.ID, WorkflowID: r.inc.WorkflowID, Title: sig.Title, Description: sig.Description,
				Service: r.inc.Service, Severity: sig.Severity, DedupKey: r.inc.DedupKey,
			},
			AutoResolve:   r.alerts.autoResolve,
			PendingAlerts: pending[i:],
			PendingJoins:  joins,
		})
	}
	return r.inc, nil
}

// incidentRun is the state of one run. Only the workflow's own coroutines
// touch it, one at a time.
type incidentRun struct {
	inc        incident.Incident
	duplicates int
	// requestKey is the key of the keyed open that started the incident.
	requestKey string
	// joined holds the requests this run recorded as joining the incident,
	// so a request that arrives twice (a retried join) counts once.
	joined map[string]bool
	// localWrites runs the projection's writes and the open's loads as
	// local activities: inside the workflow task, with no round trip
	// through Temporal's matching. False for runs recorded before.
	localWrites bool
	recorded    bool
	pending     int
	seq         int64
	// esc drives paging; esc.e is nil until the policy is loaded, and stays
	// nil for runs recorded before escalation existed.
	esc *escalator
	// sla holds the deadlines; nil for runs recorded before SLAs existed.
	sla *contract.SLAState
	// alerts tracks the incident's alerts, fed by alertCh.
	alerts   *alertBook
	alertCh  workflow.ReceiveChannel
	alertsCh workflow.ReceiveChannel
	// joinCh takes requests joining the open incident by its dedup key.
	joinCh workflow.ReceiveChannel
	// runbooks tracks the runbooks started on the incident; nil before any.
	runbooks *runbookDesk
}

func (r *incidentRun) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (contract.State, error) {
		return r.state(ctx), nil
	}); err != nil {
		return fmt.Errorf("register query %s: %w", contract.QueryState, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateOpen, r.open,
		workflow.UpdateHandlerOptions{Validator: r.validateOpen}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateOpen, err)
	}
	if err := r.registerEscalation(ctx); err != nil {
		return err
	}
	if err := r.registerRunbooks(ctx); err != nil {
		return err
	}
	// Registering a handler adds nothing to the history, so runs recorded
	// before notes existed replay unchanged.
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateNote, r.note,
		workflow.UpdateHandlerOptions{Validator: r.validateNote}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateNote, err)
	}
	for _, u := range []struct {
		name   string
		action incident.Action
	}{
		{contract.UpdateAcknowledge, incident.ActionAcknowledge},
		{contract.UpdateMitigate, incident.ActionMitigate},
		{contract.UpdateResolve, incident.ActionResolve},
	} {
		name, action := u.name, u.action
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, req contract.TransitionRequest) (incident.Incident, error) {
				return r.transition(ctx, action, req)
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req contract.TransitionRequest) error {
				return r.validateTransition(action, req)
			}},
		); err != nil {
			return fmt.Errorf("register update %s: %w", name, err)
		}
	}
	return nil
}

// state is a copy of the run's state, safe to hand out while the run goes on.
func (r *incidentRun) state(ctx workflow.Context) contract.State {
	st := contract.State{
		Incident:      r.inc,
		Duplicates:    r.duplicates,
		Recorded:      r.recorded,
		PendingWrites: r.pending,
		AsOf:          workflow.Now(ctx).UTC(),
	}
	if r.esc.e != nil {
		e := *r.esc.e
		e.Pages = append([]contract.Page(nil), e.Pages...)
		e.Rules = append([]contract.PendingRule(nil), e.Rules...)
		st.Escalation = &e
	}
	st.SLA = r.slaView(workflow.Now(ctx))
	st.Alerts = r.alerts.list()
	st.Runbooks = r.runbookViews()
	return st
}

func (r *incidentRun) validateOpen(ctx workflow.Context, req contract.OpenRequest) error {
	if err := req.Validate(); err != nil {
		return rejection(err)
	}
	if !r.opener(req) && r.inc.Status == incident.StatusResolved {
		// The incident under this dedup key is closing; a new one can only
		// start once this run has ended.
		return rejection(fault.New(fault.Unavailable, "incident is resolving; retry to open a new one"))
	}
	return nil
}

// opener reports whether req is the request that started the run, or a
// retry of it: a keyed request whose first attempt started the workflow but
// whose update was lost comes back with a new proposed incident ID and the
// same key.
func (r *incidentRun) opener(req contract.OpenRequest) bool {
	return req.IncidentID == r.inc.ID || (req.RequestKey != "" && req.RequestKey == r.requestKey)
}

// open answers the request that started the run once the incident is in
// Postgres (so the caller can read it back at once), and records every other
// request as a duplicate alert joining the incident.
func (r *incidentRun) open(ctx workflow.Context, req contract.OpenRequest) (contract.OpenResult, error) {
	if r.opener(req) {
		if err := workflow.Await(ctx, func() bool { return r.recorded }); err != nil {
			return contract.OpenResult{}, err
		}
		return contract.OpenResult{Incident: r.inc, Created: true}, nil
	}
	// The joining event needs the incident's row to exist.
	if err := workflow.Await(ctx, func() bool { return r.recorded }); err != nil {
		return contract.OpenResult{}, err
	}
	if err := r.join(ctx, req); err != nil {
		return contract.OpenResult{}, err
	}
	return contract.OpenResult{Incident: r.inc, Created: false}, nil
}

// join records a request with the incident's dedup key as a duplicate
// joining it: through the open update, or the join signal the API sends
// when the incident is already open. The event is keyed by the joining
// request (its key, when it has one, which its retries share), so a
// retried write or request is stored once.
func (r *incidentRun) join(ctx workflow.Context, req contract.OpenRequest) error {
	joiner := req.IncidentID
	if req.RequestKey != "" {
		joiner = req.RequestKey
	}
	if r.joined[joiner] {
		return nil
	}
	r.joined[joiner] = true
	r.duplicates++
	return r.recordEvent(ctx, incident.Event{
		ID:         "duplicate/" + joiner,
		IncidentID: r.inc.ID,
		Type:       incident.EventDuplicate,
		Actor:      req.Actor,
		Message:    "alert with the same dedup key joined the incident",
		Data:       map[string]any{"count": r.duplicates},
		EventTime:  now(ctx),
	})
}

func (r *incidentRun) validateTransition(action incident.Action, req contract.TransitionRequest) error {
	if err := r.checkTarget(req.IncidentID); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return rejection(err)
	}
	to, _ := action.Target()
	if err := incident.CanTransition(r.inc.Status, to); err != nil {
		return rejection(err)
	}
	if action == incident.ActionResolve {
		return r.checkResolvePolicy()
	}
	return nil
}

// checkTarget refuses a command meant for another incident than the run's:
// one that held this dedup workflow ID before.
func (r *incidentRun) checkTarget(incidentID string) error {
	if incidentID != r.inc.ID {
		return rejection(fault.Newf(fault.NotFound, "incident %s is not open under this workflow", incidentID))
	}
	return nil
}

func (r *incidentRun) validateNote(ctx workflow.Context, req contract.NoteRequest) error {
	if err := r.checkTarget(req.IncidentID); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return rejection(err)
	}
	return nil
}

// note records a responder's note as a timeline event and answers with it.
func (r *incidentRun) note(ctx workflow.Context, req contract.NoteRequest) (incident.Event, error) {
	ev := incident.Event{
		IncidentID: r.inc.ID,
		Type:       incident.EventNote,
		Actor:      req.Actor,
		Message:    req.Note,
		EventTime:  now(ctx),
	}
	// recordEvent numbers the event before it yields, so this is the
	// sequence and ID it will give it.
	ev.Seq = r.seq + 1
	ev.ID = fmt.Sprintf("%s/%d", ev.Type, ev.Seq)
	if err := r.recordEvent(ctx, ev); err != nil {
		return incident.Event{}, err
	}
	return ev, nil
}

// transition applies an accepted action; see move.
func (r *incidentRun) transition(ctx workflow.Context, action incident.Action, req contract.TransitionRequest) (incident.Incident, error) {
	to, _ := action.Target()
	extra := map[string]any{}
	if req.Channel != "" {
		// Acknowledged from an SMS, a call, Slack or a link: the timeline
		// says so.
		extra["channel"] = req.Channel
	}
	if info := workflow.GetCurrentUpdateInfo(ctx); info != nil && contract.KeyedCommand(info.ID) {
		// Sent with an Idempotency-Key: the event names the request, so
		// the API can tell its retries (which get this answer back) from
		// other requests the new status forbids.
		extra[contract.EventRequestKey] = info.ID
	}
	return r.moveWith(ctx, to, req.Actor, incident.EventFor(to), req.Note, extra)
}

// move is the one path of every status change, a responder's or the
// engine's own: it applies the change at once, so that the next update is
// validated against the new status, settles the SLA and the escalation,
// updates the search attributes and records the new version with its event
// (evType, message), then waits for the projection.
func (r *incidentRun) move(ctx workflow.Context, to incident.Status, actor string, evType incident.EventType, message string) (incident.Incident, error) {
	return r.moveWith(ctx, to, actor, evType, message, nil)
}

// moveWith is move with extra entries for the event's data.
func (r *incidentRun) moveWith(ctx workflow.Context, to incident.Status, actor string, evType incident.EventType, message string,
	extra map[string]any) (incident.Incident, error) {
	at := now(ctx)
	from := r.inc.Status
	r.inc.Move(to, actor, at)
	if err := r.meetSLA(ctx, from, to, at); err != nil {
		return r.inc, err
	}
	var stopped []contract.PendingRule
	if e := r.esc.e; e != nil {
		e.AckExpiresAt = time.Time{}
		if to == incident.StatusAcknowledged && e.Policy.AckTimeout > 0 {
			e.AckExpiresAt = at.Add(e.Policy.AckTimeout.D())
		}
		r.esc.wake = true
		if to != incident.StatusOpen {
			stopped = r.esc.stopRules()
		}
	}
	snapshot := r.inc
	ev := incident.Event{
		ID:         fmt.Sprintf("v%d/%s", snapshot.Version, evType),
		IncidentID: snapshot.ID,
		Type:       evType,
		Actor:      actor,
		Message:    message,
		Data:       map[string]any{"from": string(from), "to": string(to)},
		EventTime:  at,
	}
	for k, v := range extra {
		ev.Data[k] = v
	}
	if err := r.upsertSearch(ctx); err != nil {
		return snapshot, err
	}
	if err := r.record(ctx, incident.Change{Incident: snapshot, Event: ev}); err != nil {
		return snapshot, err
	}
	if err := r.esc.recordStopped(ctx, stopped, string(to)); err != nil {
		return snapshot, err
	}
	return snapshot, nil
}

func (r *incidentRun) record(ctx workflow.Context, c incident.Change) error {
	r.seq++
	c.Event.Seq = r.seq
	for i := range c.Also {
		r.seq++
		c.Also[i].Seq = r.seq
		if c.Also[i].ID == "" {
			c.Also[i].ID = fmt.Sprintf("%s/%d", c.Also[i].Type, c.Also[i].Seq)
		}
	}
	r.pending++
	defer func() { r.pending-- }()
	if err := r.project(ctx, contract.ActivityRecordChange, c).Get(ctx, nil); err != nil {
		return fmt.Errorf("record %s: %w", c.Event.Type, err)
	}
	return nil
}

// project runs a projection activity: local, inside the workflow task,
// when the run writes locally; a regular activity otherwise. Both retry
// until Postgres takes the write.
func (r *incidentRun) project(ctx workflow.Context, activity string, arg any) workflow.Future {
	if r.localWrites {
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, localProjectionOptions), activity, arg)
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, projectionOptions), activity, arg)
}

// openedEvent is the first event of a new incident. It names the keyed
// request that opened it, if one did (contract.EventRequestKey), so
// that the API answers that request's retries as the opener, not as
// requests joining the incident.
func (r *incidentRun) openedEvent() incident.Event {
	data := map[string]any{"severity": string(r.inc.Severity), "service": r.inc.Service}
	if r.requestKey != "" {
		data[contract.EventRequestKey] = r.requestKey
	}
	return incident.Event{
		ID:         "opened",
		IncidentID: r.inc.ID,
		Type:       incident.EventOpened,
		Message:    r.inc.Title,
		Data:       data,
		EventTime:  r.inc.CreatedAt,
	}
}

func (r *incidentRun) recordEvent(ctx workflow.Context, ev incident.Event) error {
	r.seq++
	ev.Seq = r.seq
	if ev.ID == "" {
		// Unique within the incident: the sequence never repeats.
		ev.ID = fmt.Sprintf("%s/%d", ev.Type, ev.Seq)
	}
	r.pending++
	defer func() { r.pending-- }()
	if err := r.project(ctx, contract.ActivityRecordEvent, ev).Get(ctx, nil); err != nil {
		return fmt.Errorf("record %s: %w", ev.Type, err)
	}
	return nil
}

func (r *incidentRun) upsertSearch(ctx workflow.Context) error {
	return workflow.UpsertTypedSearchAttributes(ctx,
		contract.SearchStatus.ValueSet(string(r.inc.Status)),
		contract.SearchSeverity.ValueSet(string(r.inc.Severity)),
		contract.SearchService.ValueSet(r.inc.Service),
	)
}

// now is the workflow's clock at the precision Postgres keeps, so the
// incident the API returns equals the one it reads back later.
func now(ctx workflow.Context) time.Time {
	return workflow.Now(ctx).UTC().Truncate(time.Microsecond)
}

// rejection is how an update validator refuses a request: an application
// error whose type is the fault code, which the API maps to its status.
func rejection(err error) error {
	code, msg := fault.CodeOf(err), err.Error()
	if e, ok := fault.As(err); ok {
		msg = e.Public()
	}
	return temporal.NewApplicationErrorWithOptions(msg, string(code), temporal.ApplicationErrorOptions{NonRetryable: true})
}
