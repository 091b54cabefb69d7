package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// Schedule targets. A step may target on-call schedules beside users: each
// is resolved when the step pages (not when the policy was snapshotted), by
// one local activity that asks who is on call at the page's workflow time,
// so an incident that escalates across a handoff pages the new on-call
// person. The answer is recorded in history (the local activity's marker)
// and on the page's timeline events (schedule, layer or override, shift),
// so the record says why each person was paged. A schedule with nobody on
// call, or that could not be read, is a no_one_on_call event (and a count
// in no_one_on_call_total), never a silent skip.

// changeScheduleTargets marks the first workflow code that pages schedule
// targets. Runs recorded before it never had one: a snapshot could not
// hold them.
const (
	changeScheduleTargets   = "schedule-targets"
	scheduleTargetsVersion1 = 1
)

// resolveOptions: the lookup is a cached read, usually a Redis hit. While
// Postgres and Redis cannot answer it is retried until they can, as a page
// is: an outage of the engine's own parts delays the page, never drops the
// schedule's person from it.
var resolveOptions = workflow.LocalActivityOptions{
	ScheduleToCloseTimeout: untilDone,
	StartToCloseTimeout:    10 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: nonRetryable,
	},
}

// onCallPage is what a step's schedule targets add to one page: the users
// on call, and for each the answer that put them on the page.
type onCallPage struct {
	users []string
	from  map[string]contract.OnCall
}

// resolveSchedules resolves the schedule targets of p's step at p's time
// and returns the users on call that seen does not hold yet (marking them
// seen), after recording a no_one_on_call event for each schedule that
// gave nobody.
func (x *escalator) resolveSchedules(ctx workflow.Context, p pageRef, seen map[string]bool) (onCallPage, error) {
	var ids []string
	if p.step < len(x.e.Policy.Steps) {
		for _, t := range x.e.Policy.Steps[p.step].Targets {
			if t.Type == oncall.TargetSchedule && !slices.Contains(ids, t.ID) {
				ids = append(ids, t.ID)
			}
		}
	}
	if len(ids) == 0 ||
		workflow.GetVersion(ctx, changeScheduleTargets, workflow.DefaultVersion, scheduleTargetsVersion1) < scheduleTargetsVersion1 {
		return onCallPage{}, nil
	}
	var answers []contract.OnCall
	lctx := workflow.WithLocalActivityOptions(ctx, resolveOptions)
	err := workflow.ExecuteLocalActivity(lctx, contract.ActivityResolveOnCall,
		contract.ResolveOnCallInput{ScheduleIDs: ids, At: p.at}).Get(ctx, &answers)
	if temporal.IsCanceledError(err) {
		return onCallPage{}, err
	}
	if err != nil {
		workflow.GetLogger(ctx).Error("resolve on-call schedules", "incident_id", x.r.inc.ID, "error", err)
		answers = make([]contract.OnCall, len(ids))
		for i, id := range ids {
			answers[i] = contract.OnCall{ScheduleID: id, Problem: "who is on call could not be read: " + err.Error()}
		}
	}
	out := onCallPage{from: map[string]contract.OnCall{}}
	for _, a := range answers {
		if a.UserID == "" {
			if err := x.r.recordEvent(ctx, x.noOneOnCall(ctx, p, a)); err != nil {
				return onCallPage{}, err
			}
			continue
		}
		if seen[a.UserID] {
			continue
		}
		seen[a.UserID] = true
		out.users = append(out.users, a.UserID)
		out.from[a.UserID] = a
	}
	return out, nil
}

// noOneOnCall is the event of a schedule that gave a page nobody.
func (x *escalator) noOneOnCall(ctx workflow.Context, p pageRef, a contract.OnCall) incident.Event {
	name := a.ScheduleID
	if a.ScheduleName != "" {
		name = fmt.Sprintf("%q (%s)", a.ScheduleName, a.ScheduleID)
	}
	why := "nobody is on call in schedule " + name
	if a.Problem != "" {
		why = "schedule " + name + ": " + a.Problem
	}
	data := map[string]any{
		"schedule_id": a.ScheduleID, "step": p.step + 1, "round": p.round, "page": p.no,
		"at": p.at.Format(time.RFC3339Nano), "reason": p.reason,
	}
	if a.ScheduleName != "" {
		data["schedule_name"] = a.ScheduleName
	}
	if a.Problem != "" {
		data["problem"] = a.Problem
	}
	ev := x.event(ctx, incident.EventNoOneOnCall, fmt.Sprintf("%s: step %d paged no one through it", why, p.step+1), data)
	ev.ID = fmt.Sprintf("%s/%d/%s", incident.EventNoOneOnCall, p.no, a.ScheduleID)
	return ev
}

// annotate adds to a delivery event of user the provenance of their page
// when a schedule put them on it: the schedule, the layer or override, and
// the shift.
func (o onCallPage) annotate(ev incident.Event, user string) incident.Event {
	a, ok := o.from[user]
	if !ok {
		return ev
	}
	ev.Data["schedule_id"] = a.ScheduleID
	ev.Data["source"] = a.Source
	ev.Data["shift_start"] = a.ShiftStart.Format(time.RFC3339Nano)
	ev.Data["shift_end"] = a.ShiftEnd.Format(time.RFC3339Nano)
	if a.ScheduleName != "" {
		ev.Data["schedule_name"] = a.ScheduleName
	}
	from := "an override"
	if a.OverrideID != "" {
		ev.Data["override_id"] = a.OverrideID
		from = "override " + a.OverrideID
	}
	if a.Layer > 0 {
		ev.Data["layer"] = a.Layer
		from = fmt.Sprintf("layer %d", a.Layer)
		if a.LayerName != "" {
			ev.Data["layer_name"] = a.LayerName
			from += fmt.Sprintf(" (%s)", a.LayerName)
		}
	}
	name := a.ScheduleID
	if a.ScheduleName != "" {
		name = fmt.Sprintf("%q", a.ScheduleName)
	}
	ev.Message += fmt.Sprintf("; on call in schedule %s from %s", name, from)
	return ev
}
