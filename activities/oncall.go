package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/schedule"
	"github.com/incident-server/incident-server/internal/store"
)

// ResolveOnCall returns who is on call in each schedule at in.At (the page's
// workflow time), in the order given, through the directory's cache. A
// schedule that no longer exists, or that cannot be computed, is answered
// with its Problem rather than an error, so one bad schedule never holds up
// a page to the others; a database that cannot answer fails the activity,
// to be retried. Read-only.
func (a *Activities) ResolveOnCall(ctx context.Context, in contract.ResolveOnCallInput) ([]contract.OnCall, error) {
	out := make([]contract.OnCall, 0, len(in.ScheduleIDs))
	for _, id := range in.ScheduleIDs {
		oc, err := a.Directory.OnCall(ctx, id, in.At)
		switch {
		case fault.Is(err, fault.NotFound):
			out = append(out, contract.OnCall{ScheduleID: id, Problem: "schedule not found (deleted after the policy was snapshotted)"})
			continue
		case fault.Is(err, fault.Unavailable):
			return nil, fmt.Errorf("who is on call in %s: %w", id, err)
		case err != nil:
			a.logger().ErrorContext(ctx, "resolve on-call schedule", "schedule_id", id, "error", err)
			out = append(out, contract.OnCall{ScheduleID: id, Problem: "schedule could not be computed: " + publicMessage(err)})
			continue
		}
		r := contract.OnCall{ScheduleID: id, ScheduleName: oc.ScheduleName}
		if sh := oc.Shift; sh != nil {
			r.UserID, r.ShiftStart, r.ShiftEnd = sh.UserID, sh.Start, sh.End
			r.Source, r.Layer, r.LayerName, r.OverrideID = string(sh.Source.Kind), sh.Source.Layer, sh.Source.LayerName, sh.Source.OverrideID
		}
		out = append(out, r)
	}
	return out, nil
}

func publicMessage(err error) string {
	if e, ok := fault.As(err); ok {
		return e.Public()
	}
	return "internal error"
}

// handoffHorizon is how far ahead PlanHandoffs looks for shifts to notice.
// A HandoffWorkflow with nothing to send wakes once per horizon (less the
// longest lead time) to look further.
const handoffHorizon = 8 * 24 * time.Hour

// PlanHandoffs returns the handoff notices of schedule in.ScheduleID for the
// shifts that start after in.At and within the planning horizon, soonest
// first: one per handoff to a user who subscribed, due MinutesBefore ahead
// of it. A schedule without subscriptions has an empty plan and no
// ReplanAt: its workflow waits for a change. Read-only.
func (a *Activities) PlanHandoffs(ctx context.Context, in contract.PlanHandoffsInput) (contract.HandoffPlan, error) {
	at := in.At.UTC()
	subs, err := a.Store.ListHandoffSubscriptions(ctx, in.ScheduleID)
	if err != nil {
		return contract.HandoffPlan{}, toTemporal(err)
	}
	sch, err := a.Store.ScheduleIn(ctx, in.ScheduleID, at.Add(-time.Hour), at.Add(handoffHorizon))
	if fault.Is(err, fault.NotFound) {
		return contract.HandoffPlan{Deleted: true}, nil
	}
	if err != nil {
		return contract.HandoffPlan{}, toTemporal(err)
	}
	plan := contract.HandoffPlan{Notices: []contract.HandoffNotice{}}
	if len(subs) == 0 {
		return plan, nil
	}
	lead := map[string]time.Duration{}
	var maxLead time.Duration
	for _, s := range subs {
		lead[s.UserID] = s.Before()
		maxLead = max(maxLead, s.Before())
	}
	c, err := schedule.Compile(sch)
	if err != nil {
		return contract.HandoffPlan{}, toTemporal(fmt.Errorf("compile schedule %s: %w", in.ScheduleID, oncall.ScheduleError(err)))
	}
	handoffs, err := c.NextHandoffs(at, schedule.MaxHandoffs)
	if err != nil {
		return contract.HandoffPlan{}, toTemporal(fmt.Errorf("handoffs of schedule %s: %w", in.ScheduleID, oncall.ScheduleError(err)))
	}
	horizon := at.Add(handoffHorizon)
	if n := len(handoffs); n == schedule.MaxHandoffs && handoffs[n-1].At.Before(horizon) {
		// A busy schedule: the plan reaches as far as the handoffs it got.
		horizon = handoffs[n-1].At
	}
	for i, h := range handoffs {
		if h.At.After(horizon) {
			break
		}
		l, ok := lead[h.ToUserID]
		if !ok || h.ToUserID == "" {
			continue
		}
		n := contract.HandoffNotice{
			ScheduleID: sch.ID, ScheduleName: sch.Name, TimeZone: sch.TimeZone,
			UserID: h.ToUserID, FromUserID: h.FromUserID, NoticeAt: h.At.Add(-l), ShiftStart: h.At,
		}
		if i+1 < len(handoffs) && !handoffs[i+1].At.After(horizon) {
			n.ShiftEnd = handoffs[i+1].At
		}
		if src := h.ToSource; src != nil {
			n.Source, n.Layer, n.OverrideID = string(src.Kind), src.Layer, src.OverrideID
		}
		plan.Notices = append(plan.Notices, n)
	}
	// Shifts starting after the horizon are planned at the latest one lead
	// time before the horizon, so none of their notices comes too late.
	plan.ReplanAt = latestOf(horizon.Add(-maxLead), at.Add(time.Minute))
	return plan, nil
}

func latestOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// SendHandoffNotice tells n.UserID that their shift starts at
// n.ShiftStart, on every push device and webhook they have (other contact
// methods are not used for notices).
//
// Idempotency: each delivery is claimed in the handoff ledger under
// (schedule, user, shift start, contact method) before it is sent, as
// NotifyUser does for pages; a retry, or the same notice planned again
// after a change to the schedule, finds the claim and does not send twice.
// A user deleted since the plan was made is reported as a failed delivery,
// not an error. A transient failure of any method fails the activity after
// the others were tried, so the retry sends only what is still owed.
func (a *Activities) SendHandoffNotice(ctx context.Context, n contract.HandoffNotice) (contract.SendHandoffResult, error) {
	defer keepAlive(ctx)()
	var res contract.SendHandoffResult
	user, err := a.Directory.User(ctx, n.UserID)
	if fault.Is(err, fault.NotFound) {
		res.Deliveries = append(res.Deliveries, contract.Delivery{Channel: ChannelLog, Status: store.NotificationFailed,
			Detail: "no such user (deleted after the notice was planned)"})
		return res, nil
	}
	if err != nil {
		return res, toTemporal(fmt.Errorf("load user %s: %w", n.UserID, err))
	}
	var transient []error
	for _, cm := range user.ContactMethods {
		if cm.Type != oncall.ContactPush && cm.Type != oncall.ContactWebhook {
			continue
		}
		d, err := a.deliverHandoff(ctx, n, user, cm)
		if err != nil {
			transient = append(transient, err)
			continue
		}
		res.Deliveries = append(res.Deliveries, d)
	}
	if len(transient) > 0 {
		return res, fmt.Errorf("handoff notice to %s: %w", n.UserID, errors.Join(transient...))
	}
	return res, nil
}

// deliverHandoff sends one contact method its notice once. A returned
// error is transient: the claim stays open for the retry.
func (a *Activities) deliverHandoff(ctx context.Context, n contract.HandoffNotice, user oncall.User, cm oncall.ContactMethod) (contract.Delivery, error) {
	channel := ChannelWebhook
	if cm.Type == oncall.ContactPush {
		channel = ChannelPush
		if a.Push == nil {
			channel = ChannelLog
		}
	}
	key := store.HandoffKey{ScheduleID: n.ScheduleID, UserID: n.UserID, ShiftStart: n.ShiftStart, ContactMethodID: cm.ID}
	d := contract.Delivery{ContactMethodID: cm.ID, Channel: channel, DeliveryID: key.DeliveryID()}
	prior, claimed, err := a.Store.ClaimHandoff(ctx, key, channel)
	if err != nil {
		return d, fmt.Errorf("claim %s: %w", key, err)
	}
	if !claimed && prior.Status != store.NotificationClaimed {
		d.Status, d.Detail, d.Repeat = prior.Status, prior.Detail, true
		return d, nil
	}
	detail, sendErr := a.sendHandoff(ctx, channel, n, user, cm, d.DeliveryID)
	status := store.NotificationSent
	switch {
	case sendErr == nil:
	case push.IsPermanent(sendErr):
		status, detail = store.NotificationFailed, sendErr.Error()
	default:
		return d, fmt.Errorf("%s %s: %w", channel, cm.ID, sendErr)
	}
	if err := a.Store.FinishHandoff(ctx, key, status, detail); err != nil {
		return d, fmt.Errorf("finish %s: %w", key, err)
	}
	a.Metrics.HandoffNotified(channel, status)
	d.Status, d.Detail = status, detail
	return d, nil
}

// handoffText is the notice's title and message: when the shift starts in
// the schedule's zone, and who hands over (from, "" for nobody).
func handoffText(n contract.HandoffNotice, from string) (title, message string) {
	name := n.ScheduleName
	if name == "" {
		name = n.ScheduleID
	}
	start := n.ShiftStart.UTC()
	if loc, err := time.LoadLocation(n.TimeZone); err == nil && n.TimeZone != "" {
		start = start.In(loc)
	}
	title = fmt.Sprintf("On call from %s: %s", start.Format("15:04 MST"), name)
	message = fmt.Sprintf("Your on-call shift in %s starts at %s", name, start.Format("Mon 2 Jan 15:04 MST"))
	if from != "" {
		message += ", taking over from " + from
	}
	return title, message + "."
}

// sendHandoff performs one notice delivery and returns the provider's
// answer.
func (a *Activities) sendHandoff(ctx context.Context, channel string, n contract.HandoffNotice, user oncall.User, cm oncall.ContactMethod, deliveryID string) (string, error) {
	from := n.FromUserID
	if from != "" {
		if u, err := a.Directory.User(ctx, from); err == nil {
			from = u.Name
		}
	}
	title, message := handoffText(n, from)
	data := map[string]any{
		"type": "oncall.handoff", "schedule_id": n.ScheduleID, "shift_start": n.ShiftStart.UTC().Format(time.RFC3339),
		"source": n.Source, "delivery_id": deliveryID,
	}
	if n.Layer > 0 {
		data["layer"] = n.Layer
	}
	if n.OverrideID != "" {
		data["override_id"] = n.OverrideID
	}
	if !n.ShiftEnd.IsZero() {
		data["shift_end"] = n.ShiftEnd.UTC().Format(time.RFC3339)
	}
	switch channel {
	case ChannelLog:
		a.logger().InfoContext(ctx, "handoff notice (log sink: no Gorush configured)",
			"schedule_id", n.ScheduleID, "user_id", user.ID, "contact_method_id", cm.ID, "title", title, "message", message)
		return "logged: no Gorush URL configured", nil
	case ChannelPush:
		res, err := a.Push.Send(ctx, push.Notification{
			ID: deliveryID, Tokens: []string{cm.Token}, Platform: cm.Platform.GorushCode(),
			Title: title, Message: message, Priority: "normal", Data: data,
			CollapseID: deliveryID, Android: &push.AndroidConfig{CollapseKey: deliveryID},
		})
		if err != nil {
			return "", err
		}
		if failed := res.Failed(); len(failed) > 0 {
			return "", &push.Error{Op: "gorush push", Status: 200, Body: failed[0].Error, Permanent: true}
		}
		if res.Counts == 0 {
			return "", &push.Error{Op: "gorush push", Status: 200, Permanent: true,
				Body: fmt.Sprintf("gorush took no push: is platform %s enabled there?", cm.Platform)}
		}
		return fmt.Sprintf("gorush accepted %d push(es)", res.Counts), nil
	default:
		var body any = map[string]any{"type": "oncall.handoff", "title": title, "message": message, "data": data,
			"user": map[string]string{"id": user.ID, "name": user.Name}}
		if cm.Format == oncall.WebhookSlack {
			body = push.SlackBody(title + ": " + message)
		}
		status, err := a.Webhook.Post(ctx, cm.URL, body)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("webhook answered %d", status), nil
	}
}
