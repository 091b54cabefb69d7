package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
)

// Alert semantics:
//
//   - every alert of one dedup key (an Alertmanager group, an Events v2
//     dedup_key) joins the incident open under it; each alert is tracked by
//     fingerprint with first and last seen times and a count;
//   - a new fingerprint (or one firing again) is a timeline event; a repeat
//     only counts, so a storm of 10,000 alerts writes a handful of rows;
//   - resolve marks a fingerprint resolved; when every fingerprint has
//     resolved and the service resolves automatically, the incident
//     resolves. An Events v2 or webhook resolve resolves the incident
//     itself, as PagerDuty's does; acknowledge acknowledges it;
//   - signals are handled in batches: whatever arrived while one batch was
//     being recorded is the next batch, so bursts cost one flush each;
//   - triggers that reach a run after its incident resolved open the next
//     incident under the same dedup key (the run continues as new with it).

const maxAlertBatch = 1000

// alertBook holds a run's alerts in first-seen order.
type alertBook struct {
	byFingerprint map[string]*incident.AlertState
	order         []string
	dirty         map[string]bool
	autoResolve   bool
	// busy is set while a batch is being recorded; the run does not end then.
	busy bool
	// leftover holds signals that arrived after the incident resolved.
	leftover []contract.AlertSignal
}

func newAlertBook(states []incident.AlertState, autoResolve bool) *alertBook {
	b := &alertBook{byFingerprint: map[string]*incident.AlertState{}, dirty: map[string]bool{}, autoResolve: autoResolve}
	for i := range states {
		st := states[i]
		b.byFingerprint[st.Fingerprint] = &st
		b.order = append(b.order, st.Fingerprint)
	}
	return b
}

// list returns the alerts in first-seen order.
func (b *alertBook) list() []incident.AlertState {
	out := make([]incident.AlertState, 0, len(b.order))
	for _, fp := range b.order {
		out = append(out, *b.byFingerprint[fp])
	}
	return out
}

func (b *alertBook) allResolved() bool {
	for _, st := range b.byFingerprint {
		if st.Status != incident.AlertResolved {
			return false
		}
	}
	return len(b.byFingerprint) > 0
}

// startAlerts receives alert signals for the rest of the run.
func (r *incidentRun) startAlerts(ctx workflow.Context, in contract.IncidentInput) {
	r.alerts = newAlertBook(in.Alerts, in.AutoResolve)
	r.alertCh = workflow.GetSignalChannel(ctx, contract.SignalAlert)
	r.alertsCh = workflow.GetSignalChannel(ctx, contract.SignalAlerts)
	r.joinCh = workflow.GetSignalChannel(ctx, contract.SignalJoin)
	joins := in.PendingJoins
	pending := in.PendingAlerts
	workflow.Go(ctx, func(ctx workflow.Context) {
		// The incident's row must exist before its alerts and events.
		if err := workflow.Await(ctx, func() bool { return r.recorded }); err != nil {
			return
		}
		batch := pending
		for {
			if len(batch) == 0 && len(joins) == 0 {
				sel := workflow.NewSelector(ctx)
				sel.AddReceive(r.alertCh, func(c workflow.ReceiveChannel, _ bool) {
					var sig contract.AlertSignal
					c.Receive(ctx, &sig)
					batch = append(batch, sig)
				})
				sel.AddReceive(r.alertsCh, func(c workflow.ReceiveChannel, _ bool) {
					var sigs []contract.AlertSignal
					c.Receive(ctx, &sigs)
					batch = append(batch, sigs...)
				})
				// Requests joining by the dedup key are taken while the
				// incident is open; after it resolved they wait for the
				// next run.
				if r.inc.Status != incident.StatusResolved {
					sel.AddReceive(r.joinCh, func(c workflow.ReceiveChannel, _ bool) {
						var j contract.OpenRequest
						c.Receive(ctx, &j)
						joins = append(joins, j)
					})
				}
				sel.Select(ctx)
			}
			if len(joins) > 0 {
				r.alerts.busy = true
				for _, j := range joins {
					if err := r.join(ctx, j); err != nil {
						workflow.GetLogger(ctx).Error("join failed", "incident_id", r.inc.ID, "error", err)
					}
				}
				r.alerts.busy = false
				joins = nil
			}
			if len(batch) == 0 {
				continue
			}
			batch = r.receiveAlerts(batch, maxAlertBatch)
			r.alerts.busy = true
			err := r.applyAlerts(ctx, batch)
			r.alerts.busy = false
			if err != nil {
				workflow.GetLogger(ctx).Error("alert batch failed", "incident_id", r.inc.ID, "error", err)
			}
			batch = nil
		}
	})
}

// receiveAlerts appends the alerts already waiting on either channel, up
// to limit (0: no limit), without blocking.
func (r *incidentRun) receiveAlerts(batch []contract.AlertSignal, limit int) []contract.AlertSignal {
	for limit == 0 || len(batch) < limit {
		var sig contract.AlertSignal
		var sigs []contract.AlertSignal
		switch {
		case r.alertCh.ReceiveAsync(&sig):
			batch = append(batch, sig)
		case r.alertsCh.ReceiveAsync(&sigs):
			batch = append(batch, sigs...)
		default:
			return batch
		}
	}
	return batch
}

// drainAlerts returns every signal received but not handled, for the next run.
func (r *incidentRun) drainAlerts() []contract.AlertSignal {
	out := r.receiveAlerts(r.alerts.leftover, 0)
	r.alerts.leftover = nil
	return out
}

// drainJoins returns the join signals received but not handled.
func (r *incidentRun) drainJoins() []contract.OpenRequest {
	var out []contract.OpenRequest
	for {
		var j contract.OpenRequest
		if !r.joinCh.ReceiveAsync(&j) {
			return out
		}
		out = append(out, j)
	}
}

func (r *incidentRun) applyAlerts(ctx workflow.Context, batch []contract.AlertSignal) error {
	b := r.alerts
	at := now(ctx)
	for i, sig := range batch {
		if r.inc.Status == incident.StatusResolved {
			b.leftover = append(b.leftover, batch[i:]...)
			break
		}
		st := b.byFingerprint[sig.Fingerprint]
		switch sig.Action {
		case incident.AlertTrigger:
			if st == nil {
				st = &incident.AlertState{Fingerprint: sig.Fingerprint, Title: sig.Title, Source: sig.Source, FirstSeen: at}
				b.byFingerprint[sig.Fingerprint] = st
				b.order = append(b.order, sig.Fingerprint)
			}
			refired := st.Status == incident.AlertResolved
			isNew := st.Count == 0
			st.Status, st.LastSeen = incident.AlertFiring, at
			st.Count++
			b.dirty[sig.Fingerprint] = true
			if isNew || refired {
				msg := "alert joined: " + sig.Title
				if refired {
					msg = "alert firing again: " + sig.Title
				}
				if err := r.recordAlertEvent(ctx, incident.EventAlert, sig, msg); err != nil {
					return err
				}
			}
		case incident.AlertResolve:
			if st != nil && st.Status != incident.AlertResolved {
				st.Status, st.LastSeen = incident.AlertResolved, at
				b.dirty[sig.Fingerprint] = true
				if err := r.recordAlertEvent(ctx, incident.EventAlertResolved, sig, "alert resolved: "+st.Title); err != nil {
					return err
				}
			}
			explicit := sig.Source.ResolvesIncident()
			if explicit || (b.autoResolve && b.allResolved()) {
				note := "every alert resolved"
				if explicit {
					note = "resolved by " + string(sig.Source)
				}
				if err := r.flushAlerts(ctx); err != nil {
					return err
				}
				if err := r.systemTransition(ctx, incident.ActionResolve, string(sig.Source), note); err != nil {
					return err
				}
			}
		case incident.AlertAcknowledge:
			if r.inc.Status == incident.StatusOpen {
				if err := r.systemTransition(ctx, incident.ActionAcknowledge, string(sig.Source), "acknowledged by "+string(sig.Source)); err != nil {
					return err
				}
			}
		}
	}
	return r.flushAlerts(ctx)
}

func (r *incidentRun) recordAlertEvent(ctx workflow.Context, typ incident.EventType, sig contract.AlertSignal, msg string) error {
	data := map[string]any{"fingerprint": sig.Fingerprint, "source": string(sig.Source), "url": sig.URL}
	if len(sig.Labels) > 0 {
		data["labels"] = sig.Labels
	}
	if len(sig.Details) > 0 {
		data["details"] = sig.Details
	}
	ev := r.esc.event(ctx, typ, msg, data)
	ev.ID = fmt.Sprintf("%s/%s", typ, sig.ID)
	ev.Actor = string(sig.Source)
	return r.recordEvent(ctx, ev)
}

// systemTransition applies an action an alert asked for, when the lifecycle
// allows it; otherwise it does nothing (a resolve for an incident already
// resolved, say). A resolve the resolve policy forbids is recorded as held.
func (r *incidentRun) systemTransition(ctx workflow.Context, action incident.Action, actor, note string) error {
	to, _ := action.Target()
	if incident.CanTransition(r.inc.Status, to) != nil {
		return nil
	}
	if to == incident.StatusResolved {
		if held, err := r.holdResolve(ctx, actor); held || err != nil {
			return err
		}
	}
	_, err := r.move(ctx, to, actor, incident.EventFor(to), note)
	return err
}

// flushAlerts writes the alerts changed since the last flush.
func (r *incidentRun) flushAlerts(ctx workflow.Context) error {
	b := r.alerts
	if len(b.dirty) == 0 {
		return nil
	}
	var changed []incident.AlertState
	for _, fp := range b.order {
		if b.dirty[fp] {
			changed = append(changed, *b.byFingerprint[fp])
		}
	}
	b.dirty = map[string]bool{}
	return r.project(ctx, contract.ActivityRecordAlerts, contract.RecordAlertsInput{IncidentID: r.inc.ID, Alerts: changed}).Get(ctx, nil)
}
