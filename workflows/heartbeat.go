package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/incident"
)

// Names of the heartbeat contract. Like those in contract.go they are
// recorded in histories: add new names, never rename these.
const (
	// HeartbeatWorkflowName is the workflow type of a heartbeat monitor.
	HeartbeatWorkflowName = "HeartbeatWorkflow"
	// SignalPing delivers one ping (a HeartbeatPing) to a monitor's workflow.
	SignalPing = "ping"
	// HeartbeatSource is the alert source of heartbeat incidents: the
	// timeline's actor, and the incident's resolver when a ping comes back.
	HeartbeatSource = "heartbeat"
)

// HeartbeatWorkflowID is the workflow ID of a heartbeat monitor: one
// workflow per monitor, so a ping finds it, or starts it, by monitor ID.
func HeartbeatWorkflowID(monitorID string) string { return "heartbeat/" + monitorID }

// HeartbeatDedupKey is the dedup key of a monitor's incidents. With the
// service it gives the incident's workflow ID (DedupWorkflowID).
func HeartbeatDedupKey(monitorID string) string { return "heartbeat/" + monitorID }

// HeartbeatInput starts a HeartbeatWorkflow run; a run that continues as new
// passes its state on in it.
type HeartbeatInput struct {
	MonitorID string
	ServiceID string
	Name      string
	// Interval is the longest wait for a ping before an incident opens.
	Interval time.Duration
	// Down is set while the incident of a missed heartbeat is open: the run
	// waits for the next ping, with no timer, and resolves it.
	Down bool
	// IncidentID is the incident opened for the current outage, while Down.
	IncidentID string
	// IncidentSeq counts the incidents this monitor's workflow has opened.
	// It starts again from zero if the workflow is ever started afresh, so
	// incident IDs do not rely on it.
	IncidentSeq int
	// DueAt is when the monitor goes down unless a ping arrives first,
	// carried across continue-as-new so that a new run does not extend the
	// wait; zero while down, and when the next wait starts a full Interval.
	DueAt time.Time
	// LastPing is the time of the last ping received, as the API stamped it;
	// zero before the first.
	LastPing time.Time
}

// HeartbeatPing is the argument of SignalPing.
type HeartbeatPing struct {
	// At is when the API received the ping.
	At time.Time
}

// HeartbeatWorkflow watches one heartbeat monitor. While the monitor is up
// it waits up to Interval for a ping; every ping starts the wait again, so
// the only timer is the one pending deadline. When a deadline passes with no
// ping it opens a critical incident for the service, as a child
// IncidentWorkflow that outlives it, and then waits, with no timer, for the
// next ping, which resolves that incident.
//
// The run ends only when cancelled (the monitor was deleted); the open
// incident, if any, is left for a person to resolve. It continues as new
// when Temporal suggests it, carrying Down, the incident, the pending
// deadline and the counters.
func HeartbeatWorkflow(ctx workflow.Context, in HeartbeatInput) error {
	if in.MonitorID == "" || in.ServiceID == "" || in.Interval <= 0 {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("heartbeat monitor %q of service %q: monitor, service and a positive interval are required", in.MonitorID, in.ServiceID),
			ErrTypeInvalid, nil)
	}
	h := &heartbeat{in: in, pings: workflow.GetSignalChannel(ctx, SignalPing)}
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
			return workflow.NewContinueAsNewError(ctx, HeartbeatWorkflowName, h.in)
		}
		pinged, missed, err := h.wait(ctx)
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
	in    HeartbeatInput
	pings workflow.ReceiveChannel
}

// wait blocks until a ping arrives (pinged), the monitor is up and its
// interval passes without one (missed), or Temporal suggests continuing as
// new (neither). A ping that arrives in the same workflow task as the
// deadline counts: the monitor is not down.
func (h *heartbeat) wait(ctx workflow.Context) (pinged, missed bool, err error) {
	wake := func() bool { return h.pings.Len() > 0 || workflow.GetInfo(ctx).GetContinueAsNewSuggested() }
	if h.in.Down {
		// No timer while down: the incident is open, only a ping changes that.
		if err := workflow.Await(ctx, wake); err != nil {
			return false, false, err
		}
		return h.drain(), false, nil
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
		var p HeartbeatPing
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
	return DedupWorkflowID(h.in.ServiceID, HeartbeatDedupKey(h.in.MonitorID))
}

// open opens the incident of a missed heartbeat and marks the monitor down.
// It waits for the incident's workflow to start, not to finish: the
// incident lives on its own (ParentClosePolicy ABANDON) and outlives this
// run and its continue-as-new. If the monitor's incident workflow is still
// running (it is closing after a resolution, or an alert opened it under the
// same dedup key), the trigger alert below is signalled to it instead: it
// joins the open incident or, on one just resolved, opens the next incident
// under this ID. If the start fails otherwise, the monitor stays up and the
// next interval tries again.
func (h *heartbeat) open(ctx workflow.Context) {
	log := workflow.GetLogger(ctx)
	at := workflow.Now(ctx).UTC()
	// Workflow time makes the ID deterministic on replay and unique per
	// outage even if the monitor's workflow is started afresh; monitor IDs
	// are hb_ and lowercase base32, so the ID is [a-z0-9_], 42 characters.
	incidentID := "inc_hb_" + strings.TrimPrefix(h.in.MonitorID, "hb_") + "_" + strconv.FormatInt(at.UnixMilli(), 36)
	wfID := h.incidentWorkflowID()
	seq := h.in.IncidentSeq + 1
	last := "never"
	if !h.in.LastPing.IsZero() {
		last = h.in.LastPing.UTC().Format(time.RFC3339)
	}
	title := "heartbeat missed: " + h.in.Name
	desc := fmt.Sprintf("No ping from heartbeat monitor %s (%s) within %s. Last ping: %s. Outage %d of this monitor.",
		h.in.Name, h.in.MonitorID, h.in.Interval, last, seq)

	// Disconnected: deleting the monitor cancels this workflow, and that
	// must neither cancel the incident nor interrupt its start half way.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	cctx := workflow.WithChildOptions(dctx, workflow.ChildWorkflowOptions{
		WorkflowID:            wfID,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchStatus.ValueSet(string(incident.StatusOpen)),
			SearchSeverity.ValueSet(string(incident.SeverityCritical)),
			SearchService.ValueSet(h.in.ServiceID),
		),
	})
	child := workflow.ExecuteChildWorkflow(cctx, IncidentWorkflowName, IncidentInput{
		Incident: incident.Incident{
			ID: incidentID, WorkflowID: wfID, Title: title, Description: desc,
			Service: h.in.ServiceID, Severity: incident.SeverityCritical, DedupKey: HeartbeatDedupKey(h.in.MonitorID),
		},
		AutoResolve: false,
	})
	err := child.GetChildWorkflowExecution().Get(dctx, nil)
	if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		log.Error("open heartbeat incident", "monitor_id", h.in.MonitorID, "workflow_id", wfID, "error", err)
		return
	}
	// The trigger puts the heartbeat on the incident's alert list and
	// timeline; as a trigger its ID is also the incident ID it proposes.
	trigger := AlertSignal{
		ID: incidentID, Source: HeartbeatSource, Action: AlertTrigger, Fingerprint: HeartbeatDedupKey(h.in.MonitorID),
		Title: title, Description: desc, Severity: incident.SeverityCritical,
	}
	if serr := workflow.SignalExternalWorkflow(dctx, wfID, "", SignalAlert, trigger).Get(dctx, nil); serr != nil {
		if err != nil {
			// Neither started nor reached: try again next interval.
			log.Error("join heartbeat incident", "monitor_id", h.in.MonitorID, "workflow_id", wfID, "error", serr)
			return
		}
		log.Warn("signal heartbeat alert", "monitor_id", h.in.MonitorID, "workflow_id", wfID, "error", serr)
	}
	h.in.Down, h.in.IncidentID, h.in.IncidentSeq = true, incidentID, seq
	log.Info("heartbeat missed", "monitor_id", h.in.MonitorID, "incident_id", incidentID, "workflow_id", wfID)
}

// resolve resolves the open incident after a ping and marks the monitor up.
// The resolve is an alert from a source other than Alertmanager, so it
// resolves the incident itself. An incident whose workflow has already
// closed (a person resolved it) needs nothing.
func (h *heartbeat) resolve(ctx workflow.Context) {
	wfID := h.incidentWorkflowID()
	resolve := AlertSignal{
		ID: h.in.IncidentID + "_up", Source: HeartbeatSource, Action: AlertResolve, Fingerprint: HeartbeatDedupKey(h.in.MonitorID),
		Title: "heartbeat received: " + h.in.Name,
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	err := workflow.SignalExternalWorkflow(dctx, wfID, "", SignalAlert, resolve).Get(dctx, nil)
	var gone *temporal.UnknownExternalWorkflowExecutionError
	if err != nil && !errors.As(err, &gone) {
		workflow.GetLogger(ctx).Error("resolve heartbeat incident", "monitor_id", h.in.MonitorID,
			"incident_id", h.in.IncidentID, "workflow_id", wfID, "error", err)
	}
	workflow.GetLogger(ctx).Info("heartbeat back", "monitor_id", h.in.MonitorID, "incident_id", h.in.IncidentID)
	h.in.Down, h.in.IncidentID = false, ""
}
