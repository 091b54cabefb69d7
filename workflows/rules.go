package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// Notification rules, in workflow time:
//
//   - A page to a user applies the user's rules of the incident's urgency
//     (NotifyInput.Urgency): NotifyUser sends the rules due at once and
//     returns the others with their delays (NotifyResult.Later). A user
//     without rules gets every contact method at once, as before rules.
//   - The later rules of one paged user wait in one coroutine of the
//     incident's workflow, on durable timers counted from the page: no
//     workflow of their own (a page costs no more than its timers and
//     activities), and the main loop never waits on them, so the next
//     escalation step pages on time.
//   - Each rule step is its own delivery: one NotifyContact activity
//     (retried with backoff, as every page), claimed once in the ledger
//     under its rule number, its outcome a timeline event.
//   - Acknowledge, mitigate and resolve stop every chain at once, and so do
//     snooze and reassign, which page again when they take effect: pending
//     timers are cancelled and the steps not sent are recorded in one
//     event. A step whose activity has started finishes and records its
//     outcome; the run waits for it before it closes or continues as new.
//   - Steps still pending when the run continues as new are carried in
//     Escalation.Rules and resumed at their time by the next run.

// notificationRulesVersion marks the runs whose pages apply notification
// rules. Runs recorded before it page every contact method at once.
const (
	changeNotificationRules   = "notification-rules"
	notificationRulesVersion1 = 1
)

// ruleChains are the coroutines of one run's rule chains.
type ruleChains struct {
	// root is the run's context, which chains are started under.
	root workflow.Context
	// ctx is the chains' context; stop cancels it and starts a new one.
	ctx    workflow.Context
	cancel workflow.CancelFunc
	// inFlight counts rule steps whose activity has started and whose
	// outcome is not recorded yet.
	inFlight int
}

// urgency is the urgency whose rules the run's pages apply, "" for runs
// recorded before notification rules.
func (x *escalator) urgency(ctx workflow.Context) string {
	if workflow.GetVersion(ctx, changeNotificationRules, workflow.DefaultVersion, notificationRulesVersion1) < notificationRulesVersion1 {
		return ""
	}
	return string(oncall.UrgencyOf(x.r.inc.Severity))
}

// chainsOf returns the run's rule chains, set up under root on first use.
func (x *escalator) chainsOf(root workflow.Context) *ruleChains {
	if x.chains == nil {
		x.chains = &ruleChains{root: root}
	}
	if x.chains.ctx == nil {
		x.chains.ctx, x.chains.cancel = workflow.WithCancel(x.chains.root)
	}
	return x.chains
}

// rulesIdle reports whether no rule step is being sent: the run may close.
func (x *escalator) rulesIdle() bool { return x.chains == nil || x.chains.inFlight == 0 }

// scheduleRules starts the chain of a paged user's later rules: in was the
// page's NotifyUser input, pagedAt when it was sent.
func (x *escalator) scheduleRules(ctx workflow.Context, in contract.NotifyInput, pagedAt time.Time, later []contract.RuleStep) {
	if len(later) == 0 {
		return
	}
	steps := make([]contract.PendingRule, len(later))
	for i, st := range later {
		step := in
		step.ContactMethodID, step.Rule = st.ContactMethodID, st.Rule
		steps[i] = contract.PendingRule{Input: step, PagedAt: pagedAt, FireAt: pagedAt.Add(st.Delay)}
	}
	x.e.Rules = append(x.e.Rules, steps...)
	x.startChain(ctx, steps)
}

// resumeRules starts the chains of the steps a previous run left pending,
// one per page and user, in their order.
func (x *escalator) resumeRules(ctx workflow.Context) {
	if x.e == nil || len(x.e.Rules) == 0 {
		return
	}
	type chainKey struct {
		page int
		user string
	}
	var order []chainKey
	chains := map[chainKey][]contract.PendingRule{}
	for _, st := range x.e.Rules {
		k := chainKey{st.Input.Page, st.Input.UserID}
		if _, ok := chains[k]; !ok {
			order = append(order, k)
		}
		chains[k] = append(chains[k], st)
	}
	for _, k := range order {
		x.startChain(ctx, chains[k])
	}
}

// startChain sends steps one after the other, each at its time, until the
// chains are stopped.
func (x *escalator) startChain(ctx workflow.Context, steps []contract.PendingRule) {
	ch := x.chainsOf(ctx)
	workflow.Go(ch.ctx, func(ctx workflow.Context) {
		for _, st := range steps {
			if d := st.FireAt.Sub(now(ctx)); d > 0 {
				if err := workflow.Sleep(ctx, d); err != nil {
					return // stopped
				}
			}
			if ctx.Err() != nil {
				return
			}
			x.sendRule(ctx, st)
		}
	})
}

// sendRule sends one rule step and records its outcome. Once started, the
// step is no longer pending: stopping the chains does not cancel it, so
// its outcome always reaches the timeline.
func (x *escalator) sendRule(ctx workflow.Context, st contract.PendingRule) {
	for i, p := range x.e.Rules {
		if p.Input.Page == st.Input.Page && p.Input.UserID == st.Input.UserID && p.Input.Rule == st.Input.Rule {
			x.e.Rules = append(x.e.Rules[:i:i], x.e.Rules[i+1:]...)
			break
		}
	}
	ch := x.chains
	ch.inFlight++
	defer func() { ch.inFlight-- }()
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	in := st.Input
	var d contract.Delivery
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, notifyOptions), contract.ActivityNotifyContact, in).Get(ctx, &d)
	if err != nil {
		d = contract.Delivery{ContactMethodID: in.ContactMethodID, Rule: in.Rule, Status: "failed", Detail: err.Error()}
	}
	for i := len(x.e.Pages) - 1; i >= 0; i-- {
		if p := &x.e.Pages[i]; p.No == in.Page && p.UserID == in.UserID {
			if d.Status == "sent" {
				p.Delivered++
			} else {
				p.Failed++
			}
			break
		}
	}
	page := contract.Page{No: in.Page, Step: in.Step, Round: in.Round, UserID: in.UserID, At: st.PagedAt}
	if err := x.r.recordEvent(ctx, x.deliveryEvent(ctx, page, in.DueAt, d)); err != nil {
		// Only a write Postgres refuses for its data ends up here (others
		// are retried until they succeed); the ledger still holds the
		// delivery.
		workflow.GetLogger(ctx).Error("record a notification rule's delivery", "incident_id", x.r.inc.ID,
			"user_id", in.UserID, "rule", in.Rule, "error", err)
	}
}

// stopRules stops every chain and returns the steps it kept from being
// sent. It yields nothing: no step starts after it returns.
func (x *escalator) stopRules() []contract.PendingRule {
	if x.e == nil {
		return nil
	}
	stopped := x.e.Rules
	x.e.Rules = nil
	if x.chains != nil && x.chains.ctx != nil {
		x.chains.cancel()
		x.chains.ctx, x.chains.cancel = nil, nil
	}
	return stopped
}

// recordStopped records the steps a stop kept from being sent, and why.
func (x *escalator) recordStopped(ctx workflow.Context, stopped []contract.PendingRule, why string) error {
	if len(stopped) == 0 {
		return nil
	}
	steps := make([]map[string]any, len(stopped))
	for i, st := range stopped {
		steps[i] = map[string]any{"user_id": st.Input.UserID, "contact_method_id": st.Input.ContactMethodID,
			"rule": st.Input.Rule, "page": st.Input.Page, "due_at": st.FireAt.Format(time.RFC3339Nano)}
	}
	return x.r.recordEvent(ctx, x.event(ctx, incident.EventRulesStopped,
		fmt.Sprintf("notification rules stopped (%s): %d step(s) not sent", why, len(stopped)),
		map[string]any{"reason": why, "steps": steps}))
}
