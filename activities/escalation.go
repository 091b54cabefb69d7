package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/store"
	"go.temporal.io/sdk/activity"
)

// LoadEscalation returns the escalation snapshot of a service: its policy
// now and its acknowledgement timeout. A service that is unknown or has no
// policy gets an empty snapshot (its incidents page nobody).
//
// A service in a maintenance window gets a snapshot that pages nobody and
// names the window's reason.
func (a *Activities) LoadEscalation(ctx context.Context, service string) (oncall.Snapshot, error) {
	w, inMaintenance, err := a.Store.MaintenanceAt(ctx, service, time.Now())
	if err != nil {
		return oncall.Snapshot{}, toTemporal(fmt.Errorf("load maintenance of %s: %w", service, err))
	}
	if inMaintenance {
		return oncall.Snapshot{Maintenance: fmt.Sprintf("%s (until %s)", w.Reason, w.EndsAt.Format(time.RFC3339))}, nil
	}
	snap, err := a.Directory.Escalation(ctx, service)
	if err != nil {
		return oncall.Snapshot{}, toTemporal(fmt.Errorf("load escalation of %s: %w", service, err))
	}
	return snap, nil
}

// LoadOpen returns what a new incident starts with: the SLA targets of its
// service and severity and the service's escalation snapshot, as LoadSLA
// and LoadEscalation do, and the service's runbooks for the severity with
// its resolve policy, in one call. Read-only, so safe to repeat.
func (a *Activities) LoadOpen(ctx context.Context, in contract.LoadOpenInput) (contract.OpenPlan, error) {
	sla, err := a.LoadSLA(ctx, contract.LoadSLAInput{Service: in.Service, Severity: in.Severity})
	if err != nil {
		return contract.OpenPlan{}, err
	}
	snap, err := a.LoadEscalation(ctx, in.Service)
	if err != nil {
		return contract.OpenPlan{}, err
	}
	rbs, requireSteps, err := a.Store.RunbooksFor(ctx, in.Service, in.Severity)
	if err != nil {
		return contract.OpenPlan{}, toTemporal(fmt.Errorf("load runbooks of %s/%s: %w", in.Service, in.Severity, err))
	}
	return contract.OpenPlan{SLA: sla, Escalation: snap, Runbooks: rbs, RequireRunbookSteps: requireSteps}, nil
}

// LoadSLA returns the SLA targets of a service and severity: the
// service's policy, the default policy or the built-in targets.
func (a *Activities) LoadSLA(ctx context.Context, in contract.LoadSLAInput) (oncall.SLA, error) {
	sla, err := a.Store.SLAFor(ctx, in.Service, in.Severity)
	if err != nil {
		return oncall.SLA{}, toTemporal(fmt.Errorf("load sla of %s/%s: %w", in.Service, in.Severity, err))
	}
	return sla, nil
}

// LoadPolicy returns the snapshot of one policy. An unknown policy is a
// non-retryable invalid error.
func (a *Activities) LoadPolicy(ctx context.Context, policyID string) (oncall.Snapshot, error) {
	p, err := a.Store.GetPolicy(ctx, policyID)
	if fault.Is(err, fault.NotFound) {
		return oncall.Snapshot{}, toTemporal(fault.InvalidField("policy_id", "no such policy "+policyID))
	}
	if err != nil {
		return oncall.Snapshot{}, toTemporal(fmt.Errorf("load policy %s: %w", policyID, err))
	}
	return oncall.SnapshotOf(p, 0), nil
}

// Delivery channels.
const (
	ChannelPush    = "push"
	ChannelWebhook = "webhook"
	ChannelLog     = "log"
)

// NotifyUser pages one user on every contact method they have.
//
// Idempotency: each delivery is claimed in the notification ledger under
// (incident, step, round, page number, user, contact method) before it is sent.
// A retried activity finds its earlier claims: a delivery already sent or
// failed is reported, not sent again; a claim left without an outcome (the
// process died between claiming and recording) is sent again, which is the
// one case that can page twice.
//
// Failures: a provider's permanent refusal (4xx) is recorded as failed and
// does not stop the other contact methods. A transient failure (5xx,
// timeout) of any method fails the activity after the others were tried,
// so the retry sends only what is still owed.
//
// It heartbeats while it runs (the workflow gives it a short heartbeat
// timeout), so an attempt held by a worker that died is retried within
// seconds.
func (a *Activities) NotifyUser(ctx context.Context, in contract.NotifyInput) (contract.NotifyResult, error) {
	defer keepAlive(ctx)()
	res := contract.NotifyResult{UserID: in.UserID}
	user, err := a.Directory.User(ctx, in.UserID)
	if fault.Is(err, fault.NotFound) {
		res.Deliveries = append(res.Deliveries, contract.Delivery{Channel: ChannelLog, Status: store.NotificationFailed,
			Detail: "no such user (deleted after the policy was snapshotted)"})
		return res, nil
	}
	if err != nil {
		return res, toTemporal(fmt.Errorf("load user %s: %w", in.UserID, err))
	}
	var transient []error
	for _, cm := range user.ContactMethods {
		d, err := a.deliver(ctx, in, user, cm)
		if err != nil {
			transient = append(transient, err)
			continue
		}
		res.Deliveries = append(res.Deliveries, d)
	}
	if len(transient) > 0 {
		return res, fmt.Errorf("page %s: %w", in.UserID, errors.Join(transient...))
	}
	return res, nil
}

// deliver sends one contact method its page once. A returned error is
// transient: the claim stays open for the retry.
func (a *Activities) deliver(ctx context.Context, in contract.NotifyInput, user oncall.User, cm oncall.ContactMethod) (contract.Delivery, error) {
	channel := ChannelWebhook
	if cm.Type == oncall.ContactPush {
		channel = ChannelPush
		if a.Push == nil {
			channel = ChannelLog
		}
	}
	key := store.NotificationKey{IncidentID: in.IncidentID, Step: in.Step, Round: in.Round, Page: in.Page,
		UserID: in.UserID, ContactMethodID: cm.ID}
	d := contract.Delivery{ContactMethodID: cm.ID, Channel: channel, DeliveryID: key.DeliveryID()}
	prior, claimed, err := a.Store.ClaimNotification(ctx, key, channel)
	if err != nil {
		return d, fmt.Errorf("claim %s: %w", key, err)
	}
	if !claimed && prior.Status != store.NotificationClaimed {
		d.Status, d.Detail, d.Repeat = prior.Status, prior.Detail, true
		return d, nil
	}

	detail, sendErr := a.send(ctx, channel, in, user, cm, d.DeliveryID)
	status := store.NotificationSent
	switch {
	case sendErr == nil:
	case push.IsPermanent(sendErr):
		status, detail = store.NotificationFailed, sendErr.Error()
	case attempt(ctx) >= MaxProviderAttempts:
		status, detail = store.NotificationFailed, fmt.Sprintf("gave up after %d attempts: %v", attempt(ctx), sendErr)
	default:
		a.Metrics.Notified(channel, "retry")
		return d, fmt.Errorf("%s %s: %w", channel, cm.ID, sendErr)
	}
	if err := a.Store.FinishNotification(ctx, key, status, detail); err != nil {
		return d, fmt.Errorf("finish %s: %w", key, err)
	}
	a.Metrics.Notified(channel, status)
	d.Status, d.Detail = status, detail
	return d, nil
}

// send performs one delivery and returns the provider's answer. The
// delivery ID goes with the message: in push data and as the collapse ID
// (APNs) and collapse key (FCM), so a device shows a resent page once, and
// in the webhook body.
func (a *Activities) send(ctx context.Context, channel string, in contract.NotifyInput, user oncall.User, cm oncall.ContactMethod, deliveryID string) (string, error) {
	title := fmt.Sprintf("[%s] %s", strings.ToUpper(string(in.Severity)), in.Service)
	message := in.Title
	data := map[string]any{
		"incident_id": in.IncidentID, "service": in.Service, "severity": string(in.Severity),
		"step": in.Step + 1, "round": in.Round, "reason": in.Reason, "delivery_id": deliveryID,
	}
	if !in.DueAt.IsZero() {
		data["due_at"] = in.DueAt.UTC().Format(time.RFC3339Nano)
	}
	switch channel {
	case ChannelLog:
		a.logger().InfoContext(ctx, "page (log sink: no Gorush configured)",
			"incident_id", in.IncidentID, "user_id", user.ID, "user", user.Name, "contact_method_id", cm.ID,
			"platform", string(cm.Platform), "title", title, "message", message, "escalation_step", in.Step+1, "round", in.Round)
		return "logged: no Gorush URL configured", nil
	case ChannelPush:
		res, err := a.Push.Send(ctx, push.Notification{
			ID:         deliveryID,
			Tokens:     []string{cm.Token},
			Platform:   cm.Platform.GorushCode(),
			Title:      title,
			Message:    message,
			Priority:   "high",
			Data:       data,
			CollapseID: deliveryID,
			Android:    &push.AndroidConfig{CollapseKey: deliveryID},
		})
		if err != nil {
			return "", err
		}
		if failed := res.Failed(); len(failed) > 0 {
			return "", &push.Error{Op: "gorush push", Status: 200, Body: failed[0].Error, Permanent: true}
		}
		if res.Counts == 0 {
			// Gorush drops a push for a platform it has not enabled, and says so only this way.
			return "", &push.Error{Op: "gorush push", Status: 200, Permanent: true,
				Body: fmt.Sprintf("gorush took no push: is platform %s enabled there?", cm.Platform)}
		}
		return fmt.Sprintf("gorush accepted %d push(es)", res.Counts), nil
	default:
		var body any = map[string]any{"type": "incident.page", "title": title, "message": message, "data": data,
			"user": map[string]string{"id": user.ID, "name": user.Name}}
		if cm.Format == oncall.WebhookSlack {
			body = push.SlackBody(fmt.Sprintf("%s %s (incident %s, step %d)", title, message, in.IncidentID, in.Step+1))
		}
		status, err := a.Webhook.Post(ctx, cm.URL, body)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("webhook answered %d", status), nil
	}
}

// MaxProviderAttempts is how often NotifyUser tries a provider that fails
// transiently (5xx, timeouts) before it records the delivery as failed and
// escalation goes on. The activity itself is retried without limit: a
// failure of the engine's own parts (Postgres down) delays a page, never
// drops it.
const MaxProviderAttempts = 6

// attempt is the activity's attempt number, from 1.
func attempt(ctx context.Context) int {
	if !activity.IsActivity(ctx) {
		return 1
	}
	return int(activity.GetInfo(ctx).Attempt)
}

// keepAlive heartbeats the activity every second until the returned stop
// is called, also while a send blocks on a slow provider. The SDK sends at
// most one heartbeat per 80 % of the heartbeat timeout.
func keepAlive(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			activity.RecordHeartbeat(ctx)
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}
