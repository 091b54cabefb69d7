package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// SLA semantics, in workflow time, from the moment the incident opened:
//
//   - response is met by the first move out of open (acknowledge, mitigate
//     or resolve); resolution is met by resolve;
//   - at WarningFraction of a target not yet met, an sla_warning event is
//     recorded and the current escalation step's targets are alerted;
//   - at the target itself, sla_breached is recorded (counted once in
//     sla_breaches_total) and the targets are alerted again;
//   - the targets are snapshotted at open, like the escalation policy.
//
// The deadlines are durable timers of the same loop that drives escalation,
// so they survive any restart and fire even if every worker was down in
// between (late, then, but never lost).

const (
	changeSLA   = "sla"
	slaVersion1 = 1
)

// startSLA loads the targets of the incident's service and severity and
// sets its deadlines, before the incident is first recorded.
func (r *incidentRun) startSLA(ctx workflow.Context) error {
	var targets oncall.SLA
	actx := workflow.WithActivityOptions(ctx, projectionOptions)
	if err := workflow.ExecuteActivity(actx, contract.ActivityLoadSLA,
		contract.LoadSLAInput{Service: r.inc.Service, Severity: r.inc.Severity}).Get(ctx, &targets); err != nil {
		return fmt.Errorf("load sla: %w", err)
	}
	r.setSLA(targets)
	return nil
}

// setSLA sets the incident's deadlines from its targets, counted from when
// it opened.
func (r *incidentRun) setSLA(targets oncall.SLA) {
	st := contract.SLAState{Targets: targets}
	opened := r.inc.CreatedAt
	set := func(d *contract.Deadline, target time.Duration) *time.Time {
		if target <= 0 {
			return nil
		}
		d.DueAt = opened.Add(target)
		if f := targets.WarningFraction; f > 0 && f < 1 {
			d.WarnAt = opened.Add(time.Duration(float64(target) * f)).Truncate(time.Microsecond)
		}
		due := d.DueAt
		return &due
	}
	r.inc.ResponseDueAt = set(&st.Response, targets.Response.D())
	r.inc.ResolutionDueAt = set(&st.Resolution, targets.Resolution.D())
	r.sla = &st
}

// slaDue returns the next SLA moment the loop must act on: the earliest
// warning or breach of a deadline not yet met or missed.
func (r *incidentRun) slaDue() due {
	if r.sla == nil || r.inc.Status == incident.StatusResolved {
		return due{}
	}
	var next due
	for _, d := range []struct {
		typ string
		dl  *contract.Deadline
	}{{contract.SLAResponse, &r.sla.Response}, {contract.SLAResolution, &r.sla.Resolution}} {
		if d.dl.DueAt.IsZero() || !d.dl.MetAt.IsZero() || d.dl.Breached {
			continue
		}
		if !d.dl.Warned && !d.dl.WarnAt.IsZero() {
			next = next.next(due{at: d.dl.WarnAt, action: actSLAWarn, slaType: d.typ})
		}
		next = next.next(due{at: d.dl.DueAt, action: actSLABreach, slaType: d.typ})
	}
	return next
}

// fireSLA records a warning or a breach and alerts the current targets.
func (r *incidentRun) fireSLA(ctx workflow.Context, d due) error {
	typ := d.slaType
	dl := &r.sla.Response
	target := r.sla.Targets.Response.D()
	if typ == contract.SLAResolution {
		dl, target = &r.sla.Resolution, r.sla.Targets.Resolution.D()
	}
	evType, msg, reason := incident.EventSLAWarning,
		fmt.Sprintf("%s target of %s is near (due %s)", typ, target, dl.DueAt.Format(time.RFC3339)), reasonSLAWarning
	if d.action == actSLABreach {
		dl.Breached = true
		evType, msg, reason = incident.EventSLABreached, fmt.Sprintf("%s target of %s missed", typ, target), reasonSLABreach
	} else {
		dl.Warned = true
	}
	ev := r.esc.event(ctx, evType, msg, map[string]any{
		"sla_type": typ, "severity": string(r.inc.Severity), "target": target.String(),
		"due_at": dl.DueAt.Format(time.RFC3339Nano), "source": r.sla.Targets.Source,
	})
	// One event per deadline and kind, whatever retries or replays happen.
	ev.ID = fmt.Sprintf("%s/%s", evType, typ)
	if err := r.recordEvent(ctx, ev); err != nil {
		return err
	}
	if err := r.upsertSLASearch(ctx); err != nil {
		return err
	}
	return r.esc.alert(ctx, reason)
}

// meetSLA marks the targets a transition to status meets.
func (r *incidentRun) meetSLA(ctx workflow.Context, from, to incident.Status, at time.Time) error {
	if r.sla == nil {
		return nil
	}
	changed := false
	if from == incident.StatusOpen && r.sla.Response.MetAt.IsZero() && !r.sla.Response.Breached {
		r.sla.Response.MetAt, changed = at, true
	}
	if to == incident.StatusResolved && r.sla.Resolution.MetAt.IsZero() && !r.sla.Resolution.Breached {
		r.sla.Resolution.MetAt, changed = at, true
	}
	if !changed {
		return nil
	}
	return r.upsertSLASearch(ctx)
}

// upsertSLASearch keeps SLADeadline at the next deadline still open, so the
// Web UI can list incidents at risk.
func (r *incidentRun) upsertSLASearch(ctx workflow.Context) error {
	if r.sla == nil {
		return nil
	}
	var next time.Time
	for _, d := range []contract.Deadline{r.sla.Response, r.sla.Resolution} {
		if !d.DueAt.IsZero() && d.MetAt.IsZero() && !d.Breached && (next.IsZero() || d.DueAt.Before(next)) {
			next = d.DueAt
		}
	}
	if next.IsZero() || r.inc.Status == incident.StatusResolved {
		return workflow.UpsertTypedSearchAttributes(ctx, contract.SearchSLADeadline.ValueUnset())
	}
	return workflow.UpsertTypedSearchAttributes(ctx, contract.SearchSLADeadline.ValueSet(next))
}

// slaView is a copy of the SLA state with each deadline's status filled in.
func (r *incidentRun) slaView(now time.Time) *contract.SLAState {
	if r.sla == nil {
		return nil
	}
	v := *r.sla
	for _, d := range []*contract.Deadline{&v.Response, &v.Resolution} {
		switch {
		case d.DueAt.IsZero():
			d.Status = contract.SLANone
		case !d.MetAt.IsZero():
			d.Status = contract.SLAMet
		case d.Breached || !now.Before(d.DueAt):
			d.Status = contract.SLABreached
		case d.Warned || (!d.WarnAt.IsZero() && !now.Before(d.WarnAt)):
			d.Status = contract.SLAAtRisk
		default:
			d.Status = contract.SLAPending
		}
	}
	return &v
}
