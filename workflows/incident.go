package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/incident"
)

// projectionRetry retries projection writes until Postgres takes them: an
// outage delays the record, it never loses an event.
var projectionOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{ErrTypeInvalid},
	},
}

// IncidentWorkflow owns one incident from open to resolved. It is the only
// writer of the incident's lifecycle: every change arrives as an update, is
// validated against the current status before it reaches history, applied in
// the order the workflow accepts it, and projected to Postgres and Redis by
// activities. It returns the resolved incident.
func IncidentWorkflow(ctx workflow.Context, in IncidentInput) (incident.Incident, error) {
	r := &incidentRun{inc: in.Incident, duplicates: in.Duplicates, recorded: in.Continued, seq: in.Seq, sla: in.SLA}
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
	escalates := in.Continued && in.Escalation != nil ||
		!in.Continued && workflow.GetVersion(ctx, changeEscalation, workflow.DefaultVersion, escalationVersion1) >= escalationVersion1
	tracksSLA := !in.Continued && escalates &&
		workflow.GetVersion(ctx, changeSLA, workflow.DefaultVersion, slaVersion1) >= slaVersion1
	if err := r.upsertSearch(ctx); err != nil {
		return r.inc, err
	}
	if tracksSLA {
		if err := r.startSLA(ctx); err != nil {
			return r.inc, err
		}
		if err := r.upsertSLASearch(ctx); err != nil {
			return r.inc, err
		}
	}

	if !in.Continued {
		opened := incident.Event{
			ID:         "opened",
			IncidentID: r.inc.ID,
			Type:       incident.EventOpened,
			Message:    r.inc.Title,
			Data:       map[string]any{"severity": string(r.inc.Severity), "service": r.inc.Service},
			EventTime:  r.inc.CreatedAt,
		}
		if err := r.record(ctx, incident.Change{Incident: r.inc, Event: opened}); err != nil {
			return r.inc, err
		}
		r.recorded = true
	}

	stop := func() bool {
		return r.inc.Status == incident.StatusResolved || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}
	if escalates {
		if in.Escalation != nil {
			r.esc.e = in.Escalation
		} else if err := r.startEscalation(ctx); err != nil {
			return r.inc, err
		}
		if err := r.esc.run(ctx, stop); err != nil {
			return r.inc, err
		}
	} else if err := workflow.Await(ctx, stop); err != nil {
		return r.inc, err
	}
	// Let every accepted update and the alert batch in hand finish their
	// writes before the run closes or continues, so no event is lost.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && !r.alerts.busy }); err != nil {
		return r.inc, err
	}
	pending := r.drainAlerts()
	if r.inc.Status != incident.StatusResolved {
		return r.inc, workflow.NewContinueAsNewError(ctx, IncidentWorkflowName, IncidentInput{
			Incident:      r.inc,
			Continued:     true,
			Duplicates:    r.duplicates,
			Seq:           r.seq,
			Escalation:    r.esc.e,
			SLA:           r.sla,
			AutoResolve:   r.alerts.autoResolve,
			Alerts:        r.alerts.list(),
			PendingAlerts: pending,
		})
	}
	// Triggers that came after the resolution open the next incident under
	// the same dedup key.
	for i, sig := range pending {
		if sig.Action != AlertTrigger {
			continue
		}
		return r.inc, workflow.NewContinueAsNewError(ctx, IncidentWorkflowName, IncidentInput{
			Incident: incident.Incident{
				ID: sig.ID, WorkflowID: r.inc.WorkflowID, Title: sig.Title, Description: sig.Description,
				Service: r.inc.Service, Severity: sig.Severity, DedupKey: r.inc.DedupKey,
			},
			AutoResolve:   r.alerts.autoResolve,
			PendingAlerts: pending[i:],
		})
	}
	return r.inc, nil
}

// incidentRun is the state of one run. Only the workflow's own coroutines
// touch it, one at a time.
type incidentRun struct {
	inc        incident.Incident
	duplicates int
	recorded   bool
	pending    int
	seq        int64
	// esc drives paging; esc.e is nil until the policy is loaded, and stays
	// nil for runs recorded before escalation existed.
	esc *escalator
	// sla holds the deadlines; nil for runs recorded before SLAs existed.
	sla *SLAState
	// alerts tracks the incident's alerts, fed by alertCh.
	alerts   *alertBook
	alertCh  workflow.ReceiveChannel
	alertsCh workflow.ReceiveChannel
}

func (r *incidentRun) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) {
		return r.state(ctx), nil
	}); err != nil {
		return fmt.Errorf("register query %s: %w", QueryState, err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateOpen, r.open,
		workflow.UpdateHandlerOptions{Validator: r.validateOpen}); err != nil {
		return fmt.Errorf("register update %s: %w", UpdateOpen, err)
	}
	if err := r.registerEscalation(ctx); err != nil {
		return err
	}
	// Registering a handler adds nothing to the history, so runs recorded
	// before notes existed replay unchanged.
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateNote, r.note,
		workflow.UpdateHandlerOptions{Validator: r.validateNote}); err != nil {
		return fmt.Errorf("register update %s: %w", UpdateNote, err)
	}
	for _, u := range []struct {
		name   string
		action incident.Action
	}{
		{UpdateAcknowledge, incident.ActionAcknowledge},
		{UpdateMitigate, incident.ActionMitigate},
		{UpdateResolve, incident.ActionResolve},
	} {
		name, action := u.name, u.action
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, req TransitionRequest) (incident.Incident, error) {
				return r.transition(ctx, action, req)
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req TransitionRequest) error {
				return r.validateTransition(action, req)
			}},
		); err != nil {
			return fmt.Errorf("register update %s: %w", name, err)
		}
	}
	return nil
}

// state is a copy of the run's state, safe to hand out while the run goes on.
func (r *incidentRun) state(ctx workflow.Context) State {
	st := State{
		Incident:      r.inc,
		Duplicates:    r.duplicates,
		Recorded:      r.recorded,
		PendingWrites: r.pending,
		AsOf:          workflow.Now(ctx).UTC(),
	}
	if r.esc.e != nil {
		e := *r.esc.e
		e.Pages = append([]Page(nil), e.Pages...)
		st.Escalation = &e
	}
	st.SLA = r.slaView(workflow.Now(ctx))
	st.Alerts = r.alerts.list()
	return st
}

func (r *incidentRun) validateOpen(ctx workflow.Context, req OpenRequest) error {
	if req.IncidentID == "" {
		return rejection(ErrTypeInvalid, "incident ID is required")
	}
	if req.IncidentID != r.inc.ID && r.inc.Status == incident.StatusResolved {
		// The incident under this dedup key is closing; a new one can only
		// start once this run has ended.
		return rejection(ErrTypeRetry, "incident is resolving; retry to open a new one")
	}
	return nil
}

// open answers the request that started the run once the incident is in
// Postgres (so the caller can read it back at once), and records every other
// request as a duplicate alert joining the incident.
func (r *incidentRun) open(ctx workflow.Context, req OpenRequest) (OpenResult, error) {
	if req.IncidentID == r.inc.ID {
		if err := workflow.Await(ctx, func() bool { return r.recorded }); err != nil {
			return OpenResult{}, err
		}
		return OpenResult{Incident: r.inc, Created: true}, nil
	}
	// The joining event needs the incident's row to exist.
	if err := workflow.Await(ctx, func() bool { return r.recorded }); err != nil {
		return OpenResult{}, err
	}
	r.duplicates++
	ev := incident.Event{
		// Keyed by the joining request's own ID, so a retried write is stored once.
		ID:         "duplicate/" + req.IncidentID,
		IncidentID: r.inc.ID,
		Type:       incident.EventDuplicate,
		Actor:      req.Actor,
		Message:    "alert with the same dedup key joined the incident",
		Data:       map[string]any{"count": r.duplicates},
		EventTime:  now(ctx),
	}
	if err := r.recordEvent(ctx, ev); err != nil {
		return OpenResult{}, err
	}
	return OpenResult{Incident: r.inc, Created: false}, nil
}

func (r *incidentRun) validateTransition(action incident.Action, req TransitionRequest) error {
	if req.IncidentID != r.inc.ID {
		return rejection(ErrTypeNotFound, fmt.Sprintf("incident %s is not open under this workflow", req.IncidentID))
	}
	if err := incident.ValidateActor(req.Actor, req.Note); err != nil {
		return rejection(ErrTypeInvalid, err.Error())
	}
	to, _ := action.Target()
	if err := incident.CanTransition(r.inc.Status, to); err != nil {
		return rejection(ErrTypeConflict, err.Error())
	}
	return nil
}

func (r *incidentRun) validateNote(ctx workflow.Context, req NoteRequest) error {
	if req.IncidentID != r.inc.ID {
		return rejection(ErrTypeNotFound, fmt.Sprintf("incident %s is not open under this workflow", req.IncidentID))
	}
	if strings.TrimSpace(req.Note) == "" {
		return rejection(ErrTypeInvalid, "note: is required")
	}
	if err := incident.ValidateActor(req.Actor, req.Note); err != nil {
		return rejection(ErrTypeInvalid, err.Error())
	}
	return nil
}

// note records a responder's note as a timeline event and answers with it.
func (r *incidentRun) note(ctx workflow.Context, req NoteRequest) (incident.Event, error) {
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

// transition applies an accepted action at once, so that the next update is
// validated against the new status, then waits for the projection.
func (r *incidentRun) transition(ctx workflow.Context, action incident.Action, req TransitionRequest) (incident.Incident, error) {
	to, _ := action.Target()
	at := now(ctx)
	from := r.inc.Status
	r.inc.Status = to
	r.inc.UpdatedAt = at
	r.inc.Version++
	switch to {
	case incident.StatusAcknowledged:
		r.inc.AcknowledgedAt, r.inc.AcknowledgedBy = &at, req.Actor
	case incident.StatusMitigated:
		r.inc.MitigatedAt = &at
	case incident.StatusResolved:
		r.inc.ResolvedAt, r.inc.ResolvedBy = &at, req.Actor
	}
	if err := r.meetSLA(ctx, from, to, at); err != nil {
		return r.inc, err
	}
	if e := r.esc.e; e != nil {
		e.AckExpiresAt = time.Time{}
		if to == incident.StatusAcknowledged && e.Policy.AckTimeout > 0 {
			e.AckExpiresAt = at.Add(e.Policy.AckTimeout.D())
		}
		r.esc.wake = true
	}
	snapshot := r.inc
	ev := incident.Event{
		ID:         fmt.Sprintf("v%d/%s", snapshot.Version, incident.EventFor(to)),
		IncidentID: snapshot.ID,
		Type:       incident.EventFor(to),
		Actor:      req.Actor,
		Message:    req.Note,
		Data:       map[string]any{"from": string(from), "to": string(to)},
		EventTime:  at,
	}
	if err := r.upsertSearch(ctx); err != nil {
		return snapshot, err
	}
	if err := r.record(ctx, incident.Change{Incident: snapshot, Event: ev}); err != nil {
		return snapshot, err
	}
	return snapshot, nil
}

func (r *incidentRun) record(ctx workflow.Context, c incident.Change) error {
	r.seq++
	c.Event.Seq = r.seq
	r.pending++
	defer func() { r.pending-- }()
	ctx = workflow.WithActivityOptions(ctx, projectionOptions)
	if err := workflow.ExecuteActivity(ctx, ActivityRecordChange, c).Get(ctx, nil); err != nil {
		return fmt.Errorf("record %s: %w", c.Event.Type, err)
	}
	return nil
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
	ctx = workflow.WithActivityOptions(ctx, projectionOptions)
	if err := workflow.ExecuteActivity(ctx, ActivityRecordEvent, ev).Get(ctx, nil); err != nil {
		return fmt.Errorf("record %s: %w", ev.Type, err)
	}
	return nil
}

func (r *incidentRun) upsertSearch(ctx workflow.Context) error {
	return workflow.UpsertTypedSearchAttributes(ctx,
		SearchStatus.ValueSet(string(r.inc.Status)),
		SearchSeverity.ValueSet(string(r.inc.Severity)),
		SearchService.ValueSet(r.inc.Service),
	)
}

// now is the workflow's clock at the precision Postgres keeps, so the
// incident the API returns equals the one it reads back later.
func now(ctx workflow.Context) time.Time {
	return workflow.Now(ctx).UTC().Truncate(time.Microsecond)
}

func rejection(errType, msg string) error {
	return temporal.NewApplicationErrorWithOptions(msg, errType, temporal.ApplicationErrorOptions{NonRetryable: true})
}
