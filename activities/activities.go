// Package activities holds every side effect of the incident workflows:
// projection writes to Postgres and Redis, and pages through every channel. Each
// activity runs at least once, so each is idempotent under the key its
// comment names.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/live"
	"github.com/incident-server/incident-server/internal/metrics"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/email"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/notify/twilio"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/store"
)

// Activities holds the dependencies the activities share.
type Activities struct {
	// Store is the Postgres projection; required.
	Store *store.Store
	// Directory reads users and escalation snapshots through the cache;
	// required.
	Directory *directory.Directory
	// Cache is the Redis write-through cache; nil disables it.
	Cache *cache.Cache
	// Logger for cache failures, which never fail an activity, and for the
	// log sink that stands in for Gorush when none is configured. Default: discarded.
	Logger *slog.Logger
	// Push sends push notifications through Gorush; nil sends them to the log sink.
	Push *push.Gorush
	// Webhook posts webhook notifications; required when users have webhooks.
	Webhook *push.Webhook
	// Email, Twilio and Slack send email, SMS and voice, and Slack pages;
	// nil for a channel that is not configured, whose deliveries then fail
	// with a detail that says so.
	Email  *email.Sender
	Twilio *twilio.Client
	Slack  *slack.Client
	// Links builds the incident and acknowledge links pages carry and the
	// keypress URL of voice pages; nil leaves them out (voice pages then
	// fail: nobody could answer them).
	Links *notify.Links
	// Metrics counts deliveries; nil counts nothing.
	Metrics *metrics.Registry
	// Temporal describes incident workflows for FindOrphans; required by it.
	Temporal client.Client
	// Backup configures RunBackup; required by it.
	Backup BackupOptions
	// Live publishes a notice of each projection write for the web
	// console's live views; nil publishes nothing.
	Live *live.Publisher
	// AuditRetention is how long RunMaintenance keeps audit events when
	// its input names no retention of its own; zero keeps them.
	AuditRetention time.Duration
	// Actions configures RunAction; its Client is required by it.
	Actions ActionOptions
}

// RecordChange writes a new incident version, the event that explains it and
// the events that follow it (Change.Also), in one Postgres transaction,
// then through to Redis.
//
// Idempotent: the row only moves to a newer version and the event is keyed by
// (incident, event ID). Postgres errors are retried until it is back, except
// for data it rejects as invalid. A Redis failure (the cache, the live
// notice) is logged and dropped: Redis is never the source of truth.
func (a *Activities) RecordChange(ctx context.Context, c incident.Change) error {
	inserted, err := a.Store.ApplyTransition(ctx, c.Incident, c.Event, c.Also...)
	if err != nil {
		return toTemporal(fmt.Errorf("record %s of %s: %w", c.Event.Type, c.Incident.ID, err))
	}
	if inserted {
		a.count(c.Incident, c.Event)
	}
	if a.Cache != nil {
		if err := a.Cache.SetIncident(ctx, c.Incident); err != nil {
			a.logger().WarnContext(ctx, "cache write-through failed", "incident_id", c.Incident.ID, "error", err)
			// A stale entry would outlive this change: drop it if we can.
			_ = a.Cache.DeleteIncident(ctx, c.Incident.ID)
		}
	}
	seq := c.Event.Seq
	for _, ev := range c.Also {
		seq = max(seq, ev.Seq)
	}
	a.publish(ctx, live.Notice{IncidentID: c.Incident.ID, Kind: live.KindChange, Seq: seq, Type: string(c.Event.Type)})
	return nil
}

// publish tells the web console's live views about a write that Postgres
// committed. Best effort: a notice lost costs a live view a delay (it
// catches up at the next notice, or polls while Redis is down), never data.
func (a *Activities) publish(ctx context.Context, n live.Notice) {
	if a.Live == nil {
		return
	}
	if err := a.Live.Publish(ctx, n); err != nil {
		a.logger().WarnContext(ctx, "live notice not published", "incident_id", n.IncidentID, "error", err)
	}
}

// RecordEvent appends a timeline event that changes no state. Idempotent by
// (incident, event ID); retried while the incident's row does not exist yet.
func (a *Activities) RecordEvent(ctx context.Context, ev incident.Event) error {
	inserted, err := a.Store.AppendEvent(ctx, ev)
	if err != nil {
		return toTemporal(fmt.Errorf("record %s of %s: %w", ev.Type, ev.IncidentID, err))
	}
	if inserted && ev.Type == incident.EventSLABreached {
		sev, _ := ev.Data["severity"].(string)
		typ, _ := ev.Data["sla_type"].(string)
		a.Metrics.SLABreached(sev, typ)
	}
	if inserted && ev.Type == incident.EventNoOneOnCall {
		a.Metrics.NoOneOnCall()
	}
	a.publish(ctx, live.Notice{IncidentID: ev.IncidentID, Kind: live.KindEvent, Seq: ev.Seq, Type: string(ev.Type)})
	return nil
}

// count turns a change recorded for the first time into metrics.
func (a *Activities) count(inc incident.Incident, ev incident.Event) {
	sev := string(inc.Severity)
	switch ev.Type {
	case incident.EventOpened:
		a.Metrics.IncidentOpened(sev, inc.Service)
	case incident.EventAcknowledged:
		if inc.AcknowledgedAt != nil {
			a.Metrics.Responded(sev, inc.AcknowledgedAt.Sub(inc.CreatedAt))
		}
	case incident.EventResolved:
		if inc.ResolvedAt != nil {
			a.Metrics.Resolved(sev, inc.ResolvedAt.Sub(inc.CreatedAt))
		}
	}
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// toTemporal is where the activities' errors become Temporal's: an error
// whose fault code says no retry can fix it (invalid input, data the
// database refused, a conflict) becomes a non-retryable application error
// of that code; every other error (the database down, a row that is not
// there yet, a provider timing out) is retried by the activity's policy.
func toTemporal(err error) error {
	code := fault.CodeOf(err)
	switch code {
	case fault.Invalid, fault.Internal, fault.Conflict:
		return temporal.NewNonRetryableApplicationError(err.Error(), string(code), err)
	}
	return err
}

// RecordAlerts upserts an incident's alerts, one row per fingerprint.
// Idempotent: the rows hold the workflow's absolute values.
func (a *Activities) RecordAlerts(ctx context.Context, in contract.RecordAlertsInput) error {
	if err := a.Store.UpsertAlerts(ctx, in.IncidentID, in.Alerts); err != nil {
		return toTemporal(fmt.Errorf("record alerts of %s: %w", in.IncidentID, err))
	}
	a.publish(ctx, live.Notice{IncidentID: in.IncidentID, Kind: live.KindAlerts, Type: "alerts"})
	return nil
}

// CheckHeartbeat reads a heartbeat monitor's last ping for its workflow,
// which reads it at each deadline: pings are writes, not signals.
// Read-only.
func (a *Activities) CheckHeartbeat(ctx context.Context, monitorID string) (contract.HeartbeatStatus, error) {
	last, exists, err := a.Store.HeartbeatLastPing(ctx, monitorID)
	if err != nil {
		return contract.HeartbeatStatus{}, toTemporal(err)
	}
	st := contract.HeartbeatStatus{Deleted: !exists}
	if last != nil {
		st.LastPing = *last
	}
	return st, nil
}
