package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// against the current workflow code. A change that would break running
// incidents fails here: put it behind workflow.GetVersion instead.
//
// The files are runs recorded by the end-to-end tests (RECORD_HISTORY=1
// go test ./internal/e2e, inside make test's environment). Keep old
// recordings when adding new ones:
//
//   - incident_lifecycle.json: open → acknowledge → mitigate → resolve,
//     recorded before escalation existed (no version marker);
//   - incident_lifecycle_v1.json: the same with escalation (a service
//     without a policy);
//   - incident_escalation_v1.json: a two-step policy paging both steps,
//     then acknowledge and resolve;
//   - incident_lifecycle_v2.json, incident_escalation_v2.json: the same two
//     runs with SLA deadlines (the "sla" version marker);
//   - incident_alerts_v2.json: an Alertmanager group of two alerts, re-sent,
//     then resolved, resolving the incident itself;
//   - incident_note_v2.json: opened and given a note (the "note" update)
//     through an API key, then resolved;
//   - incident_heartbeat_v2.json: opened by a missed heartbeat (a child of
//     the monitor's workflow, with its trigger alert) and resolved by the
//     next ping;
//   - heartbeat_v1.json: that monitor's workflow: pings, the missed
//     deadline, the incident started and signalled, the ping that resolves it;
//   - backup_v1.json, backup_failed_v1.json: a scheduled backup that
//     succeeded, and one whose dump failed and opened an incident;
//   - maintenance_v1.json: a maintenance run that found three orphaned
//     incidents, recorded them and opened an incident about them;
//   - incident_lifecycle_v3.json, incident_escalation_v3.json,
//     incident_alerts_v3.json, incident_note_v3.json,
//     incident_heartbeat_v3.json: the same runs opened in one workflow task
//     with the projection written by local activities ("local-writes"),
//     steps timed from their schedule ("step-schedule") and delivery IDs;
//   - heartbeat_v2.json: a monitor whose pings are writes, read from the
//     store at each deadline ("ping-check");
//   - incident_runbook_v4.json: an incident whose service starts a runbook
//     ("runbooks"): a checklist item done, a signed call, an approval, the
//     reports of each step, then resolve under the resolve policy;
//   - runbook_v1.json: that runbook's own workflow, a child of the incident;
//   - incident_runbook_waiting_v4.json: an incident whose runbook made its
//     call and waits at an approval, recorded mid-run (before a worker
//     restart).
//   - incident_schedule_v4.json: a policy whose step targets an on-call
//     schedule ("schedule-targets"): the rotation's person paged, an
//     override made, escalate pages the override's user, resolve;
//   - handoff_v1.json: a schedule's HandoffWorkflow: a subscription put
//     twice, an override that makes a handoff, the notice sent before it,
//     then cancelled as the schedule is deleted.
//   - incident_rules_v1.json: a user paged by notification rules
//     ("notification-rules"): push at once, an SMS after 2 s, a call after a
//     minute; the SMS reply acknowledges (an update with its channel), the
//     call's timer is cancelled, then resolve;
//   - incident_lifecycle_v5.json: the lifecycle run closing in a workflow
//     task of its own, after the one that answered the resolve
//     ("close-apart").
func TestReplayRecordedHistories(t *testing.T) {
	t.Parallel()
	for _, file := range []string{
		"testdata/incident_lifecycle.json",
		"testdata/incident_lifecycle_v1.json",
		"testdata/incident_escalation_v1.json",
		"testdata/incident_lifecycle_v2.json",
		"testdata/incident_escalation_v2.json",
		"testdata/incident_alerts_v2.json",
		"testdata/incident_note_v2.json",
		"testdata/incident_heartbeat_v2.json",
		"testdata/heartbeat_v1.json",
		"testdata/backup_v1.json",
		"testdata/backup_failed_v1.json",
		"testdata/maintenance_v1.json",
		"testdata/incident_lifecycle_v3.json",
		"testdata/incident_lifecycle_v5.json",
		"testdata/incident_escalation_v3.json",
		"testdata/incident_alerts_v3.json",
		"testdata/incident_note_v3.json",
		"testdata/incident_heartbeat_v3.json",
		"testdata/heartbeat_v2.json",
		"testdata/incident_runbook_v4.json",
		"testdata/runbook_v1.json",
		"testdata/incident_runbook_waiting_v4.json",
		"testdata/incident_schedule_v4.json",
		"testdata/handoff_v1.json",
		"testdata/incident_rules_v1.json",
	} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			r := worker.NewWorkflowReplayer()
			workflows.Register(r)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}
