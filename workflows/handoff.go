package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
)

// HandoffWorkflow sends the handoff notices of one on-call schedule: a
// user who subscribed is told MinutesBefore minutes before each of their
// shifts starts. It is not a polling loop: each round plans the notices
// due from now on (PlanHandoffs, a local activity that computes the
// schedule's next handoffs from its rows), sends those due now, and sleeps
// on a durable timer until the next one is due — or, with none planned,
// until the plan's horizon needs looking past, or, without subscriptions,
// until something changes. The API sends the replan update after every
// change to the schedule, its overrides or its subscriptions, which wakes
// it to plan again; it also plans afresh whenever its timer fires, so a
// change whose update was lost delays nothing already planned and is seen
// at the next wake.
//
// Each notice is sent once: the ledger claims it under (schedule, user,
// shift start, contact method) in SendHandoffNotice, and the run keeps the
// keys of the notices it sent whose shift has not started (carried across
// continue-as-new), so planning again does not even ask. A notice is owed
// from its due time until its shift starts; one that could not go out
// before (every worker down) is dropped, since its news is then stale.
//
// The run ends when the schedule no longer exists, or when cancelled (the
// API cancels it when the schedule is deleted). It continues as new when
// Temporal suggests it, once no replan update is waiting.
func HandoffWorkflow(ctx workflow.Context, in contract.HandoffInput) error {
	if in.ScheduleID == "" {
		return temporal.NewNonRetryableApplicationError("handoff workflow: a schedule ID is required", string(fault.Invalid), nil)
	}
	h := &handoffRun{scheduleID: in.ScheduleID, sent: map[string]time.Time{}}
	for _, k := range in.Sent {
		h.sent[k] = time.Time{}
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateReplan, h.replan,
		workflow.UpdateHandlerOptions{Validator: h.validateReplan}); err != nil {
		return fmt.Errorf("register update %s: %w", contract.UpdateReplan, err)
	}
	for {
		plan, err := h.makePlan(ctx)
		if err != nil {
			return err
		}
		if plan.Deleted {
			workflow.GetLogger(ctx).Info("schedule deleted; handoff notices end", "schedule_id", h.scheduleID)
			// A replan update that brought the news gets its answer first.
			return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		}
		if err := h.sendDue(ctx, plan); err != nil {
			return err
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Replan updates answered by this plan finish as this task
			// ends; one that arrives meanwhile wakes a new round instead.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || h.wake }); err != nil {
				return err
			}
			if !h.wake {
				return workflow.NewContinueAsNewError(ctx, contract.HandoffWorkflow, contract.HandoffInput{
					ScheduleID: h.scheduleID, Sent: h.sentKeys(),
				})
			}
			continue
		}
		wake := func() bool { return h.wake || workflow.GetInfo(ctx).GetContinueAsNewSuggested() }
		now := workflow.Now(ctx)
		next := h.nextWake(plan, now)
		switch {
		case next.IsZero():
			if err := workflow.Await(ctx, wake); err != nil {
				return err
			}
			continue
		case !next.After(now):
			continue
		}
		if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      next.Sub(now),
			TimerOptions: workflow.TimerOptions{Summary: "next handoff notice"},
		}, wake); err != nil {
			return err
		}
	}
}

// handoffRun is the state of one run.
type handoffRun struct {
	scheduleID string
	// sent maps the keys of notices sent to their shift's start; a key is
	// dropped once its shift has started (zero: carried over, dropped at
	// the first plan that no longer lists it).
	sent map[string]time.Time
	// wake is set by the replan update: plan again now.
	wake bool
	// started and finished count plans begun and completed; a replan
	// update waits for a plan begun after it arrived.
	started, finished int
	plan              contract.HandoffPlan
}

// handoffSendOptions are those of a page: a notice must not wait on a slow
// provider for long, and an outage is retried with backoff for a while.
var handoffSendOptions = notifyOptions

func (h *handoffRun) validateReplan(ctx workflow.Context, req contract.ReplanRequest) error {
	if req.ScheduleID != h.scheduleID {
		return rejection(fault.InvalidField("schedule_id", fmt.Sprintf("this workflow sends the notices of schedule %s", h.scheduleID)))
	}
	return nil
}

// replan wakes the loop and answers with the first plan begun after the
// update arrived, so the caller knows the change is taken into account.
func (h *handoffRun) replan(ctx workflow.Context, req contract.ReplanRequest) (contract.HandoffPlan, error) {
	workflow.GetLogger(ctx).Info("replan handoff notices", "schedule_id", h.scheduleID, "reason", req.Reason)
	h.wake = true
	want := h.started + 1
	if err := workflow.Await(ctx, func() bool { return h.finished >= want }); err != nil {
		return contract.HandoffPlan{}, err
	}
	return h.plan, nil
}

// makePlan plans the notices due from now on, retrying while Postgres is
// down, and forgets sent notices whose shift has started.
func (h *handoffRun) makePlan(ctx workflow.Context) (contract.HandoffPlan, error) {
	h.wake = false
	h.started++
	var plan contract.HandoffPlan
	lctx := workflow.WithLocalActivityOptions(ctx, localProjectionOptions)
	if err := workflow.ExecuteLocalActivity(lctx, contract.ActivityPlanHandoffs,
		contract.PlanHandoffsInput{ScheduleID: h.scheduleID, At: workflow.Now(ctx)}).Get(ctx, &plan); err != nil {
		return contract.HandoffPlan{}, fmt.Errorf("plan handoff notices of %s: %w", h.scheduleID, err)
	}
	h.plan = plan
	h.finished = h.started
	listed := map[string]bool{}
	for _, n := range plan.Notices {
		listed[n.Key()] = true
	}
	now := workflow.Now(ctx)
	for _, k := range workflow.DeterministicKeys(h.sent) {
		if start := h.sent[k]; (start.IsZero() && !listed[k]) || (!start.IsZero() && !start.After(now)) {
			delete(h.sent, k)
		}
	}
	return plan, nil
}

// sendDue sends, in parallel, every planned notice that is due and not yet
// sent. A notice whose activity failed for good is logged and not tried
// again: the ledger says how far it got.
func (h *handoffRun) sendDue(ctx workflow.Context, plan contract.HandoffPlan) error {
	now := workflow.Now(ctx)
	actx := workflow.WithActivityOptions(ctx, handoffSendOptions)
	var due []contract.HandoffNotice
	var futures []workflow.Future
	for _, n := range plan.Notices {
		if _, done := h.sent[n.Key()]; done || n.NoticeAt.After(now) || !n.ShiftStart.After(now) {
			continue
		}
		due = append(due, n)
		futures = append(futures, workflow.ExecuteActivity(actx, contract.ActivitySendHandoffNotice, n))
	}
	log := workflow.GetLogger(ctx)
	for i, f := range futures {
		n := due[i]
		var res contract.SendHandoffResult
		err := f.Get(ctx, &res)
		if temporal.IsCanceledError(err) {
			return err
		}
		if err != nil {
			log.Error("send handoff notice", "schedule_id", n.ScheduleID, "user_id", n.UserID, "shift_start", n.ShiftStart, "error", err)
		} else {
			log.Info("handoff notice sent", "schedule_id", n.ScheduleID, "user_id", n.UserID, "shift_start", n.ShiftStart,
				"deliveries", len(res.Deliveries))
		}
		h.sent[n.Key()] = n.ShiftStart
	}
	return nil
}

// nextWake is when the next planned notice not yet sent is due, else when
// the plan must be made again; zero when nothing is planned and nothing
// will be until a change (no subscriptions).
// A notice that fell due while the round ran is due now: the loop plans
// again at once.
func (h *handoffRun) nextWake(plan contract.HandoffPlan, now time.Time) time.Time {
	next := plan.ReplanAt
	for _, n := range plan.Notices {
		if _, done := h.sent[n.Key()]; done || !n.ShiftStart.After(now) {
			continue
		}
		if next.IsZero() || n.NoticeAt.Before(next) {
			next = n.NoticeAt
		}
	}
	return next
}

// sentKeys are the keys to carry across continue-as-new, sorted.
func (h *handoffRun) sentKeys() []string {
	keys := make([]string, 0, len(h.sent))
	for k := range h.sent {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
