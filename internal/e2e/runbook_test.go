package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/runbook"
	"github.com/incident-server/incident-server/internal/testenv"
)

const actionSecret = "runbook-actions-signing-secret-0123456789"

// actionReceiver is a loopback endpoint for runbook actions that checks
// every call's signature as a real receiver would (outbound.Verify).
type actionReceiver struct {
	mu    sync.Mutex
	calls []actionCall
	url   string
}

type actionCall struct {
	path, key, auth string
	signature       error
	body            map[string]any
}

func newActionReceiver(t *testing.T) *actionReceiver {
	t.Helper()
	rc := &actionReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := actionCall{path: r.URL.Path, key: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization"),
			signature: outbound.Verify([]byte(actionSecret), r.Header.Get(outbound.SignatureHeader), raw, time.Now(), 5*time.Minute)}
		_ = json.Unmarshal(raw, &c.body)
		rc.mu.Lock()
		rc.calls = append(rc.calls, c)
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"promoted"}`))
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

func (rc *actionReceiver) got() []actionCall {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.calls)
}

// runbookConfig lets actions reach the loopback receiver the way an
// operator lets them reach an internal host: through outbound.allow, with
// private addresses refused otherwise; signs them; and holds the secret
// their header names.
func runbookConfig(c *config.Config) {
	no := false
	c.Outbound.AllowPrivate = &no
	c.Outbound.Allow = []string{"127.0.0.1/32"}
	c.Outbound.SigningSecret = actionSecret
	c.Runbooks.Secrets = map[string]string{"deploy_token": "tok-123"}
}

// live reads an incident with its workflow's live state.
func live(t *testing.T, s *stack, id string) incidentBody {
	t.Helper()
	r := do(t, http.MethodGet, s.url+"/api/v1/incidents/"+id, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var got incidentBody
	r.json(t, &got)
	return got
}

// awaitStep waits until step (from 1) of run (from 1) of the incident's
// runbooks shows one of statuses under live.runbooks, and returns the run.
func awaitStep(t *testing.T, s *stack, id string, run, step int, statuses ...string) contract.RunbookRun {
	t.Helper()
	var last contract.RunbookRun
	require.Eventually(t, func() bool {
		got := live(t, s, id)
		if got.Live == nil || len(got.Live.Runbooks) < run {
			return false
		}
		last = got.Live.Runbooks[run-1]
		return slices.Contains(statuses, last.Steps[step-1].Status)
	}, 30*time.Second, 20*time.Millisecond, "run %d step %d never reached %v: %+v", run, step, statuses, last)
	return last
}

// failoverRunbook is the three steps of docs/runbooks.md: a checklist item, a signed
// call and an approval.
func failoverRunbook(service, receiverURL string) map[string]any {
	return map[string]any{
		"name": "Database failover", "service_id": service,
		"steps": []map[string]any{
			{"name": "Check replica lag", "kind": "manual", "required": true,
				"instructions": "Open the *replication* dashboard; lag must be under 5 s."},
			{"name": "Promote the replica", "kind": "action", "action": map[string]any{
				"url":     receiverURL + "/promote",
				"headers": map[string]string{"Authorization": `Bearer {{secret "deploy_token"}}`},
				"body":    map[string]any{"incident": "{{.Incident.ID}}", "service": "{{.Incident.Service}}"},
			}},
			{"name": "Approve the cut-over", "kind": "approval", "required": true, "approval": map[string]any{"role": "responder"}},
		},
	}
}

func TestARunbookRunsWithItsIncident(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, runbookConfig)
	ctx := context.Background()
	recv := newActionReceiver(t)
	service, _, _ := pagingService(t, s, time.Hour, time.Hour)
	var svc map[string]any
	do(t, http.MethodGet, s.url+"/api/v1/services/"+service, nil).json(t, &svc)
	svc["require_runbook_steps"] = true
	r := do(t, http.MethodPut, s.url+"/api/v1/services/"+service, svc)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	rbID := create(t, s.url, "/api/v1/runbooks", failoverRunbook(service, recv.url))

	// A literal address the outbound policy refuses is refused when saved.
	bad := failoverRunbook(service, "http://169.254.169.254")
	r = do(t, http.MethodPost, s.url+"/api/v1/runbooks", bad)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "steps[1].action.url")

	// The runbook starts with the incident.
	inc := openIncident(t, s, service)
	base := s.url + "/api/v1/incidents/" + inc.ID
	run := awaitStep(t, s, inc.ID, 1, 1, runbook.StepRunning)
	require.Equal(t, rbID, run.RunbookID)
	require.Equal(t, contract.RunbookWorkflowID(inc.ID, 1), run.WorkflowID)
	require.Equal(t, "Open the *replication* dashboard; lag must be under 5 s.", run.Steps[0].Instructions)
	require.Equal(t, []string{runbook.StepRunning, runbook.StepPending, runbook.StepPending}, stepStatuses(run))

	alice := []string{"Authorization", "Bearer " + testenv.TokenFor(t, "alice", auth.Responder)}
	bob := []string{"Authorization", "Bearer " + testenv.TokenFor(t, "bob", auth.Responder)}
	viewer := []string{"Authorization", "Bearer " + testenv.TokenFor(t, "vic", auth.Viewer)}

	// The service requires the required steps done before resolve.
	r = do(t, http.MethodPost, base+"/resolve", map[string]string{}, alice...)
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	require.Equal(t, string(fault.Conflict), r.errorCode(t))
	require.Contains(t, string(r.body), `step 1 \"Check replica lag\"`)
	require.Contains(t, string(r.body), `step 3 \"Approve the cut-over\"`)

	// A checklist item is marked done by a responder …
	r = do(t, http.MethodPost, base+"/runbooks/1/steps/1/complete", map[string]string{"note": "lag 0.4 s"}, alice...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	// … the action is called, signed, with the secret from the configuration …
	run = awaitStep(t, s, inc.ID, 1, 3, runbook.StepWaitingApproval)
	calls := recv.got()
	require.Len(t, calls, 1)
	require.NoError(t, calls[0].signature, "the receiver verifies the signature")
	require.Equal(t, "/promote", calls[0].path)
	require.Equal(t, "Bearer tok-123", calls[0].auth)
	require.Equal(t, contract.RunbookActionKey(inc.ID, 1, 2), calls[0].key)
	require.Equal(t, map[string]any{"incident": inc.ID, "service": service}, calls[0].body)
	require.Equal(t, http.StatusOK, run.Steps[1].HTTPStatus)
	require.Equal(t, `{"status":"promoted"}`, run.Steps[1].Output)

	// … the Web UI can list incidents waiting on an approval …
	require.Eventually(t, func() bool {
		resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("RunbookWaiting = true AND IncidentService = '%s' AND WorkflowType = '%s'", service, contract.IncidentWorkflow)})
		return err == nil && len(resp.Executions) == 1 && resp.Executions[0].Execution.WorkflowId == inc.WorkflowID
	}, 30*time.Second, 100*time.Millisecond)

	// … a viewer may not approve, a responder may.
	r = do(t, http.MethodPost, base+"/runbooks/1/steps/3/approve", map[string]string{}, viewer...)
	require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	r = do(t, http.MethodPost, base+"/runbooks/1/steps/2/approve", map[string]string{}, bob...)
	require.Equal(t, http.StatusConflict, r.status, "step 2 is not an approval: %s", r.body)
	r = do(t, http.MethodPost, base+"/runbooks/1/steps/3/approve", map[string]string{"note": "replica healthy"}, bob...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var answered contract.RunbookRun
	r.json(t, &answered)
	require.Equal(t, runbook.StepDone, answered.Steps[2].Status)

	run = awaitStep(t, s, inc.ID, 1, 3, runbook.StepDone)
	require.Eventually(t, func() bool { return live(t, s, inc.ID).Live.Runbooks[0].Status == runbook.RunDone }, 30*time.Second, 20*time.Millisecond)
	run = live(t, s, inc.ID).Live.Runbooks[0]
	require.Equal(t, []string{runbook.StepDone, runbook.StepDone, runbook.StepDone}, stepStatuses(run))
	require.Equal(t, "alice", run.Steps[0].Actor)
	require.Equal(t, "lag 0.4 s", run.Steps[0].Note)
	require.Equal(t, "bob", run.Steps[2].Actor)

	// The run's own history is a child of the incident's in Temporal.
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)
	require.Equal(t, inc.WorkflowID, desc.WorkflowExecutionInfo.ParentExecution.WorkflowId)
	require.Equal(t, contract.RunbookWorkflow, desc.WorkflowExecutionInfo.Type.Name)

	// The required steps are done: the incident resolves.
	r = do(t, http.MethodPost, base+"/resolve", map[string]string{"note": "failed over"}, alice...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(ctx, inc.WorkflowID, "").Get(ctx, &final))

	// The timeline tells it all, in order.
	var tl timelineBody
	do(t, http.MethodGet, base+"/timeline", nil).json(t, &tl)
	var got []string
	for _, ev := range tl.Events {
		switch ev.Type {
		case incident.EventRunbookStarted, incident.EventRunbookFinished:
			got = append(got, string(ev.Type))
		case incident.EventRunbookStep:
			got = append(got, fmt.Sprintf("%s %v %s %s", ev.Type, ev.Data["step"], ev.Data["step_status"], ev.Actor))
		}
	}
	require.Equal(t, []string{
		"runbook_started",
		"runbook_step 1 running ", "runbook_step 1 done alice",
		"runbook_step 2 running ", "runbook_step 2 done ",
		"runbook_step 3 waiting_approval ", "runbook_step 3 done bob",
		"runbook_finished",
	}, got)

	replayAndRecord(t, s, inc.WorkflowID, "incident_runbook_v4.json")
	replayAndRecord(t, s, run.WorkflowID, "runbook_v1.json")
}

func stepStatuses(r contract.RunbookRun) []string {
	out := make([]string, len(r.Steps))
	for i, st := range r.Steps {
		out[i] = st.Status
	}
	return out
}

// A worker that stops while a runbook waits, and a new one that replays
// the histories from the start, change nothing: the call made before is
// not made again, no event is recorded twice, and the run goes on.
func TestARunbookSurvivesAWorkerRestart(t *testing.T) {
	t.Parallel()
	var first sdkworker.Worker
	var acts *activities.Activities
	s := newStackWith(t, runbookConfig, func(w sdkworker.Worker, a *activities.Activities) { first, acts = w, a })
	recv := newActionReceiver(t)
	service := "restart-" + randomID()
	create(t, s.url, "/api/v1/services", map[string]any{"id": service})
	create(t, s.url, "/api/v1/runbooks", map[string]any{
		"name": "promote and confirm", "service_id": service,
		"steps": []map[string]any{
			{"name": "promote", "kind": "action", "action": map[string]any{"url": recv.url + "/promote"}},
			{"name": "go ahead?", "kind": "approval"},
			{"name": "announce", "kind": "action", "action": map[string]any{"url": recv.url + "/announce"}},
		},
	})
	inc := openIncident(t, s, service)
	awaitStep(t, s, inc.ID, 1, 2, runbook.StepWaitingApproval)
	// live.runbooks moves before the timeline's write lands: wait for it.
	var timelineBefore []string
	require.Eventually(t, func() bool {
		timelineBefore = eventKeys(t, s, inc.ID)
		return len(timelineBefore) > 0 && strings.HasSuffix(timelineBefore[len(timelineBefore)-1], "waiting_approval")
	}, 30*time.Second, 20*time.Millisecond)
	replayAndRecord(t, s, inc.WorkflowID, "incident_runbook_waiting_v4.json")

	// The worker goes away; the next one knows nothing of these workflows
	// and replays them.
	first.Stop()
	sdkworker.PurgeStickyWorkflowCache()
	next := s.app.NewWorker(acts)
	require.NoError(t, next.Start())
	t.Cleanup(next.Stop)

	r := do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/runbooks/1/steps/2/approve", map[string]string{})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Eventually(t, func() bool { return live(t, s, inc.ID).Live.Runbooks[0].Status == runbook.RunDone }, 30*time.Second, 20*time.Millisecond)

	var paths []string
	for _, c := range recv.got() {
		paths = append(paths, c.path)
	}
	require.Equal(t, []string{"/promote", "/announce"}, paths, "each call made once")
	after := eventKeys(t, s, inc.ID)
	require.Equal(t, timelineBefore, after[:len(timelineBefore)], "the record before the restart is unchanged")
	require.Len(t, after, len(timelineBefore)+4, "approved, announce running and done, finished")
}

// eventKeys lists an incident's timeline as "seq type", with a runbook
// step's status, in order.
func eventKeys(t *testing.T, s *stack, id string) []string {
	t.Helper()
	var tl timelineBody
	do(t, http.MethodGet, s.url+"/api/v1/incidents/"+id+"/timeline", nil).json(t, &tl)
	out := make([]string, len(tl.Events))
	for i, ev := range tl.Events {
		out[i] = fmt.Sprintf("%d %s", ev.Seq, ev.Type)
		if st, ok := ev.Data["step_status"]; ok {
			out[i] += fmt.Sprintf(" %v", st)
		}
	}
	return out
}
