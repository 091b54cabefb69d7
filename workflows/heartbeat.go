package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// HeartbeatWorkflow watches one heartbeat monitor. A ping is a write to
// Postgres (the monitor's last ping), not a workflow task: while the
// monitor is up the workflow sleeps until its deadline (the last ping it
// knows of plus Interval), then reads the last ping from the store; a ping
// since moves the deadline on and it sleeps again. When the deadline has
// truly passed it opens a critical incident for the service, as a child
// IncidentWorkflow that outlives it. While that incident is open it checks
// the store once per Interval for a ping after the outage began, which
// resolves the incident; the API also signals the first ping after an
// overdue one, so a monitor that comes back resolves at once.
//
// A missed deadline is detected when it passes (on a healthy worker, within
// a second), or, while Postgres is down, as soon as it answers again.
//
// The run ends when cancelled (the monitor was deleted) or when the store
// no longer knows the monitor; the open incident, if any, is left for a
// person to resolve. It continues as new when Temporal suggests it,
// carrying Down, the incident, the pending deadline and the counters.
//
// Runs recorded before pings were writes (no step-check marker) wait for
// ping signals only, with no timer while down.
func HeartbeatWorkflow(ctx workflow.Context, in contract.HeartbeatInput) error {
	if in.MonitorID == "" || in.ServiceID == "" || in.Interval <= 0 {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("heartbeat monitor %q of service %q: monitor, service and a positive interval are required", in.MonitorID, in.ServiceID),
			string(fault.Invalid), nil)
	}
	h := &heartbeat{in: in, pings: workflow.GetSignalChannel(ctx, contract.SignalPing)}
	for {
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Pings are only ever read here, in the main loop: once the
			// channel is drained and the last one acted on, nothing is lost.
			if h.drain() {
				if h.in.Down {
					h.resolve(ctx)
				}
				h.in.DueAt = time.Time{}
			}
			return workflow.NewContinueAsNewError(ctx, contract.HeartbeatWorkflow, h.in)
		}
		pinged, missed, err := h.wait(ctx)
		if errors.Is(err, errMonitorDeleted) {
			return nil
		}
		if err != nil {
			return err // cancelled: the monitor was deleted
		}
		switch {
		case pinged && h.in.Down:
			h.resolve(ctx)
		case missed:
			h.open(ctx)
		}
	}
}

// heartbeat is the state of one run.
type heartbeat struct {
	in    contract.HeartbeatInput
	pings workflow.ReceiveChannel
}

// changePingCheck marks runs that read pings from the store at their
// deadlines (pings are writes, not signals).
const (
	changePingCheck   = "ping-check"
	pingCheckVersion1 = 1
)

// errMonitorDeleted ends a run whose monitor the store no longer knows.
var errMonitorDeleted = errors.New("heartbeat monitor deleted")

// checksStore reports whether this run reads pings from the store.
func (h *heartbeat) checksStore(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, changePingCheck, workflow.DefaultVersion, pingCheckVersion1) >= pingCheckVersion1
}

// lastPing reads the monitor's last ping from the store, retrying while
// Postgres is down.
func (h *heartbeat) lastPing(ctx workflow.Context) (time.Time, error) {
	var st contract.HeartbeatStatus
	lctx := workflow.WithLocalActivityOptions(ctx, localProjectionOptions)
	if err := workflow.ExecuteLocalActivity(lctx, contract.ActivityCheckHeartbeat, h.in.MonitorID).Get(ctx, &st); err != nil {
		return time.Time{}, fmt.Errorf("read last ping of %s: %w", h.in.MonitorID, err)
	}
	if st.Deleted {
		return time.Time{}, errMonitorDeleted
	}
	if st.LastPing.After(h.in.LastPing) {
		h.in.LastPing = st.LastPing
	}
	return st.LastPing, nil
}

// wait blocks until a ping arrives (pinged), the monitor is up and its
// interval passes without one (missed), or Temporal suggests continuing as
// new (neither). A ping that arrives in the same workflow task as the
// deadline counts: the monitor is not down.
func (h *heartbeat) wait(ctx workflow.Context) (pinged, missed bool, err error) {
	wake := func() bool { return h.pings.Len() > 0 || workflow.GetInfo(ctx).GetContinueAsNewSuggested() }
	if h.in.Down {
		if !h.checksStore(ctx) {
			// No timer while down: the incident is open, only a ping changes that.
			if err := workflow.Await(ctx, wake); err != nil {
				return false, false, err
			}
			return h.drain(), false, nil
		}
		// Once an interval, look for a ping since the outage began.
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      h.in.Interval,
			TimerOptions: workflow.TimerOptions{Summary: "heartbeat back?"},
		}, wake)
		if err != nil || ok {
			return ok && h.drain(), false, err
		}
		last, err := h.lastPing(ctx)
		if err != nil {
			return false, false, err
		}
		if !last.After(h.in.DownSince) {
			return false, false, nil
		}
		// Back: the next deadline counts from that ping.
		h.in.DueAt = last.Add(h.in.Interval)
		return true, false, nil
	}
	now := workflow.Now(ctx)
	if h.in.DueAt.IsZero() {
		h.in.DueAt = now.Add(h.in.Interval)
	}
	if !h.in.DueAt.After(now) {
		// Carried over from a previous run and already past.
		h.in.DueAt = time.Time{}
		return false, true, nil
	}
	ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      h.in.DueAt.Sub(now),
		TimerOptions: workflow.TimerOptions{Summary: "heartbeat due"},
	}, wake)
	if err != nil {
		return false, false, err
	}
	if !ok {
		if h.checksStore(ctx) {
			// Pings are writes: one since the last the run knew of moves
			// the deadline on.
			last, err := h.lastPing(ctx)
			if err != nil {
				return false, false, err
			}
			if due := last.Add(h.in.Interval); due.After(workflow.Now(ctx)) {
				h.in.DueAt = due
				return false, false, nil
			}
		}
		h.in.DueAt = time.Time{}
		return false, true, nil
	}
	pinged = h.drain()
	if pinged {
		h.in.DueAt = time.Time{} // the next wait starts a full interval from now
	}
	return pinged, false, nil
}

// drain takes every ping received and reports whether there was one.
func (h *heartbeat) drain() bool {
	got := false
	for {
		var p contract.HeartbeatPing
		if !h.pings.ReceiveAsync(&p) {
			return got
		}
		got = true
		if p.At.After(h.in.LastPing) {
			h.in.LastPing = p.At
		}
	}
}

// incidentWorkflowID is the workflow ID of the monitor's incidents: the
// dedup workflow ID of its service and dedup key, so that an alert sent
// with the same key joins the heartbeat's incident rather than opening a
// second one.
func (h *heartbeat) incidentWorkflowID() string {
	return contract.DedupWorkflowID(h.in.ServiceID, contract.HeartbeatDedupKey(h.in.MonitorID))
}

// open opens the critical incident of a missed heartbeat (openIncident)
// and marks the monitor down. If the incident's workflow could neither be
// started nor reached, the monitor stays up and the next interval tries
// again.
func (h *heartbeat) open(ctx workflow.Context) {
	log := workflow.GetLogger(ctx)
	at := workflow.Now(ctx).UTC()
	incidentID := contract.HeartbeatIncidentID(h.in.MonitorID, at)
	wfID := h.incidentWorkflowID()
	seq := h.in.IncidentSeq + 1
	last := "never"
	if !h.in.LastPing.IsZero() {
		last = h.in.LastPing.UTC().Format(time.RFC3339)
	}
	alert := incident.Alert{
		Source: incident.SourceHeartbeat, Action: incident.AlertTrigger,
		DedupKey: contract.HeartbeatDedupKey(h.in.MonitorID), Fingerprint: contract.HeartbeatDedupKey(h.in.MonitorID),
		Title: "heartbeat missed: " + h.in.Name, Severity: incident.SeverityCritical,
		Description: fmt.Sprintf("No ping from heartbeat monitor %s (%s) within %s. Last ping: %s. Outage %d of this monitor.",
			h.in.Name, h.in.MonitorID, h.in.Interval, last, seq),
	}
	// The trigger puts the heartbeat on the incident's alert list and
	// timeline; as a trigger its ID is also the incident ID it proposes.
	err := openIncident(ctx, contract.NewIncidentInput(incidentID, wfID, h.in.ServiceID, alert, false),
		contract.AlertSignal{ID: incidentID, Alert: alert})
	switch {
	case errors.Is(err, errAlertNotDelivered):
		log.Warn("signal heartbeat alert", "monitor_id", h.in.MonitorID, "workflow_id", wfID, "error", err)
	case err != nil:
		log.Error("open heartbeat incident", "monitor_id", h.in.MonitorID, "workflow_id", wfID, "error", err)
		return
	}
	h.in.Down, h.in.IncidentID, h.in.IncidentSeq, h.in.DownSince = true, incidentID, seq, at
	log.Info("heartbeat missed", "monitor_id", h.in.MonitorID, "incident_id", incidentID, "workflow_id", wfID)
}

// resolve resolves the open incident after a ping and marks the monitor up.
// The resolve is an alert from a source other than Alertmanager, so it
// resolves the incident itself. An incident whose workflow has already
// closed (a person resolved it) needs nothing.
func (h *heartbeat) resolve(ctx workflow.Context) {
	wfID := h.incidentWorkflowID()
	resolve := contract.AlertSignal{ID: h.in.IncidentID + "_up", Alert: incident.Alert{
		Source: incident.SourceHeartbeat, Action: incident.AlertResolve, Fingerprint: contract.HeartbeatDedupKey(h.in.MonitorID),
		Title: "heartbeat received: " + h.in.Name,
	}}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	err := workflow.SignalExternalWorkflow(dctx, wfID, "", contract.SignalAlert, resolve).Get(dctx, nil)
	var gone *temporal.UnknownExternalWorkflowExecutionError
	if err != nil && !errors.As(err, &gone) {
		workflow.GetLogger(ctx).Error("resolve heartbeat incident", "monitor_id", h.in.MonitorID,
			"incident_id", h.in.IncidentID, "workflow_id", wfID, "error", err)
	}
	workflow.GetLogger(ctx).Info("heartbeat back", "monitor_id", h.in.MonitorID, "incident_id", h.in.IncidentID)
	h.in.Down, h.in.IncidentID = false, ""
}
