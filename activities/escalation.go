package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/ackcode"
	"github.com/incident-server/incident-server/internal/notify/email"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/notify/twilio"
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

// Delivery channels, as the ledger, events and metrics name them.
const (
	ChannelPush    = "push"
	ChannelWebhook = "webhook"
	ChannelLog     = "log"
	ChannelEmail   = "email"
	ChannelSMS     = "sms"
	ChannelVoice   = "voice"
	ChannelSlack   = "slack"
)

// NotifyUser pages one user: on every contact method they have, or, when
// in.Urgency is set and the user has notification rules of that urgency,
// on the rules due at once; the other rules are returned in Later for the
// workflow to send when they fall due (NotifyContact).
//
// Idempotency: each delivery is claimed in the notification ledger under
// (incident, step, round, page number, user, contact method, rule) before
// it is sent. A retried activity finds its earlier claims: a delivery
// already sent or failed is reported, not sent again; a claim left without
// an outcome (the process died between claiming and recording) is sent
// again, which is the one case that can page twice (and the delivery ID,
// the same on every attempt, lets the receiver drop it).
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
	var rules []oncall.NotificationRule
	if in.Urgency != "" {
		rs, err := a.Directory.NotificationRules(ctx, in.UserID)
		if err != nil && !fault.Is(err, fault.NotFound) {
			return res, toTemporal(fmt.Errorf("load notification rules of %s: %w", in.UserID, err))
		}
		rules = rs.For(oncall.Urgency(in.Urgency))
	}
	var transient []error
	if len(rules) == 0 {
		for _, cm := range user.ContactMethods {
			d, err := a.deliver(ctx, in, user, cm, 0)
			if err != nil {
				transient = append(transient, err)
				continue
			}
			res.Deliveries = append(res.Deliveries, d)
		}
	}
	for i, rule := range rules {
		if rule.Delay > 0 {
			res.Later = append(res.Later, contract.RuleStep{Rule: i + 1, ContactMethodID: rule.ContactMethodID, Delay: rule.Delay.D()})
			continue
		}
		d, err := a.deliverTo(ctx, in, user, rule.ContactMethodID, i+1)
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

// NotifyContact sends one notification rule's page: in.ContactMethodID
// under rule in.Rule, claimed once in the ledger as NotifyUser's
// deliveries are. A contact method or user deleted since the page is a
// failed delivery; a transient failure fails the activity, to be retried.
func (a *Activities) NotifyContact(ctx context.Context, in contract.NotifyInput) (contract.Delivery, error) {
	defer keepAlive(ctx)()
	user, err := a.Directory.User(ctx, in.UserID)
	if fault.Is(err, fault.NotFound) {
		return contract.Delivery{ContactMethodID: in.ContactMethodID, Rule: in.Rule, Channel: ChannelLog,
			Status: store.NotificationFailed, Detail: "no such user (deleted after the page)"}, nil
	}
	if err != nil {
		return contract.Delivery{}, toTemporal(fmt.Errorf("load user %s: %w", in.UserID, err))
	}
	return a.deliverTo(ctx, in, user, in.ContactMethodID, in.Rule)
}

// deliverTo delivers rule's page to the user's contact method cmID. A
// method that is gone is a failed delivery, not sent and not claimed.
func (a *Activities) deliverTo(ctx context.Context, in contract.NotifyInput, user oncall.User, cmID string, rule int) (contract.Delivery, error) {
	for _, cm := range user.ContactMethods {
		if cm.ID == cmID {
			return a.deliver(ctx, in, user, cm, rule)
		}
	}
	return contract.Delivery{ContactMethodID: cmID, Rule: rule, Channel: ChannelLog, Status: store.NotificationFailed,
		Detail: "the contact method was removed after the rule was set"}, nil
}

// channelOf is the channel a contact method is paged on.
func (a *Activities) channelOf(cm oncall.ContactMethod) string {
	switch cm.Type {
	case oncall.ContactPush:
		if a.Push == nil {
			return ChannelLog
		}
		return ChannelPush
	case oncall.ContactWebhook:
		return ChannelWebhook
	}
	return string(cm.Type)
}

// deliver sends one contact method its page once, under rule (0 for a page
// to every method at once). A returned error is transient: the claim stays
// open for the retry.
func (a *Activities) deliver(ctx context.Context, in contract.NotifyInput, user oncall.User, cm oncall.ContactMethod, rule int) (contract.Delivery, error) {
	channel := a.channelOf(cm)
	key := store.NotificationKey{IncidentID: in.IncidentID, Step: in.Step, Round: in.Round, Page: in.Page,
		UserID: in.UserID, ContactMethodID: cm.ID, Rule: rule}
	d := contract.Delivery{ContactMethodID: cm.ID, Channel: channel, DeliveryID: key.DeliveryID(), Rule: rule}
	prior, claimed, err := a.claim(ctx, key, channel)
	if err != nil {
		return d, fmt.Errorf("claim %s: %w", key, err)
	}
	if !claimed && prior.Status != store.NotificationClaimed {
		d.Status, d.Detail, d.Repeat = prior.Status, prior.Detail, true
		return d, nil
	}

	stopRenewing := a.renewClaim(ctx, key)
	detail, sendErr := a.send(ctx, channel, in, user, cm, d.DeliveryID)
	stopRenewing()
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

// claim claims key's delivery in the ledger, waiting while another attempt
// of the same activity (one that missed its heartbeat but is still alive)
// holds the claim and is sending: two attempts never send one page at
// once. The wait ends with the holder's page finished (this attempt then
// repeats its outcome) or its lease lapsed (this attempt takes over).
func (a *Activities) claim(ctx context.Context, key store.NotificationKey, channel string) (store.Notification, bool, error) {
	for {
		n, claimed, err := a.Store.ClaimNotification(ctx, key, channel)
		var held *store.ClaimHeldError
		if !errors.As(err, &held) {
			return n, claimed, err
		}
		// The reason shows in the log and as the pending activity's
		// heartbeat details.
		a.logger().InfoContext(ctx, "page held by an overlapping attempt; waiting",
			"key", key.String(), "wait", held.Wait, "attempt", attempt(ctx))
		activity.RecordHeartbeat(ctx, held.Error())
		t := time.NewTimer(held.Wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, false, fmt.Errorf("%w: %w", err, ctx.Err())
		case <-t.C:
		}
	}
}

// renewClaim keeps key's claim leased while its page is being sent, until
// the returned stop is called. A failed renewal is only logged: the send
// goes on, and at worst an overlapping attempt sends the page again, which
// the delivery ID lets the receiver drop.
func (a *Activities) renewClaim(ctx context.Context, key store.NotificationKey) (stop func()) {
	return every(ctx, store.ClaimLease/4, false, func() {
		if err := a.Store.RenewNotification(ctx, key); err != nil {
			a.logger().WarnContext(ctx, "renew a page's claim", "key", key.String(), "err", err)
		}
	})
}

// every calls f each period (and once at once with now) until ctx ends or
// the returned stop is called; stop returns once f no longer runs.
func every(ctx context.Context, period time.Duration, now bool, f func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(period)
		defer t.Stop()
		if now {
			f()
		}
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// notConfigured is the permanent failure of a page to a channel this
// server has no provider for: the method was added while it was, or the
// configuration changed since.
func notConfigured(channel, section string) error {
	return &push.Error{Op: channel, Permanent: true,
		Err: fmt.Errorf("%s is not configured on this server (%s)", channel, section)}
}

// page is a delivery as the channels render it, with its links.
func (a *Activities) page(in contract.NotifyInput, user oncall.User, deliveryID string) notify.Page {
	p := notify.Page{IncidentID: in.IncidentID, Title: in.Title, Service: in.Service, Severity: in.Severity,
		Step: in.Step + 1, Reason: in.Reason, IncidentURL: a.Links.Incident(in.IncidentID), DeliveryID: deliveryID}
	if a.Links.Signs() {
		due := in.DueAt
		if due.IsZero() {
			due = time.Now()
		}
		// A link that cannot be minted is left out: the page matters more.
		if link, exp, err := a.Links.Ack(in.IncidentID, user.ID, deliveryID, due); err == nil {
			p.AckURL, p.AckExpires = link, exp
		}
	}
	return p
}

// send performs one delivery and returns the provider's answer. The
// delivery ID goes with the message: in push data and as the collapse ID
// (APNs) and collapse key (FCM), so a device shows a resent page once; in
// the webhook body; as the email's Message-ID; in Twilio's idempotency
// header; in the Slack message's metadata. Push data and webhook bodies
// carry the one-click acknowledge link when links are configured.
func (a *Activities) send(ctx context.Context, channel string, in contract.NotifyInput, user oncall.User, cm oncall.ContactMethod, deliveryID string) (string, error) {
	page := a.page(in, user, deliveryID)
	title := fmt.Sprintf("[%s] %s", strings.ToUpper(string(in.Severity)), in.Service)
	message := in.Title
	data := map[string]any{
		"incident_id": in.IncidentID, "service": in.Service, "severity": string(in.Severity),
		"step": in.Step + 1, "round": in.Round, "reason": in.Reason, "delivery_id": deliveryID,
	}
	if !in.DueAt.IsZero() {
		data["due_at"] = in.DueAt.UTC().Format(time.RFC3339Nano)
	}
	if page.AckURL != "" {
		data["ack_url"] = page.AckURL
		data["ack_expires_at"] = page.AckExpires.UTC().Format(time.RFC3339)
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
	case ChannelEmail:
		if a.Email == nil {
			return "", notConfigured(channel, "notifications.email")
		}
		m := email.PageMessage(page)
		m.To = cm.Address
		if err := a.Email.Send(ctx, m); err != nil {
			return "", err
		}
		return "smtp server accepted the message " + m.MessageID, nil
	case ChannelSMS:
		if a.Twilio == nil {
			return "", notConfigured(channel, "notifications.twilio")
		}
		// The reply code is stored before the SMS goes out, so a reply that
		// comes back at once finds it.
		code := ackcode.Code(deliveryID)
		if err := a.Store.RecordReplyCode(ctx, store.ReplyCode{Number: cm.Address, Code: code,
			IncidentID: in.IncidentID, UserID: user.ID, DeliveryID: deliveryID}); err != nil {
			return "", fmt.Errorf("record reply code: %w", err)
		}
		r, err := a.Twilio.SendSMS(ctx, twilio.SMS{To: cm.Address, Body: twilio.PageSMS(page, code), IdempotencyKey: deliveryID})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("twilio took message %s (%s); reply code %s", r.SID, r.Status, strings.ToUpper(code)), nil
	case ChannelVoice:
		if a.Twilio == nil {
			return "", notConfigured(channel, "notifications.twilio")
		}
		due := in.DueAt
		if due.IsZero() {
			due = time.Now()
		}
		keypress, err := a.Links.Keypress(in.IncidentID, user.ID, deliveryID, due)
		if err != nil {
			return "", &push.Error{Op: channel, Permanent: true, Err: err}
		}
		r, err := a.Twilio.Call(ctx, twilio.VoiceCall{To: cm.Address, TwiML: twilio.PageTwiML(page, keypress), IdempotencyKey: deliveryID})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("twilio placed call %s (%s)", r.SID, r.Status), nil
	case ChannelSlack:
		if a.Slack == nil {
			return "", notConfigured(channel, "notifications.slack")
		}
		posted, err := a.Slack.PostMessage(ctx, cm.Address, slack.PageMessage(page))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("slack posted message %s in %s", posted.TS, posted.Channel), nil
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
	return every(ctx, time.Second, true, func() { activity.RecordHeartbeat(ctx) })
}
