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
// testdata/incident_lifecycle.json is an open → acknowledge → mitigate →
// resolve run recorded by the end-to-end test (RECORD_HISTORY=1 go test
// ./internal/e2e -run TestIncidentLifecycle). Keep old recordings when
// adding new ones.
func TestReplayRecordedHistories(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"testdata/incident_lifecycle.json"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			r := worker.NewWorkflowReplayer()
			workflows.Register(r)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}
