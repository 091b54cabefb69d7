package workflows

import (
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
)

// errAlertNotDelivered is returned by openIncident when the incident's
// workflow started but its alert could not be signalled to it.
var errAlertNotDelivered = errors.New("incident started; its alert was not delivered")

// openIncident is how workflow code opens an incident (a missed heartbeat,
// a failed backup), as the API's opens do for a request: the incident's
// workflow is started under in.Incident.WorkflowID as a child that outlives
// the caller (ParentClosePolicy ABANDON), with the ID reuse policy and the
// search attributes of every new incident, and the alert is signalled to
// it. When that workflow is already running (an incident open under the
// same dedup key, or one just resolving), the start finds it and the alert
// joins it, or opens the next incident under the key.
//
// It uses a disconnected context: cancelling the caller (deleting a
// heartbeat monitor) must neither cancel the incident nor stop its start
// half way. It returns nil once the alert is delivered,
// errAlertNotDelivered (wrapped) when the workflow started but the signal
// failed, and another error when it could neither start nor reach it.
func openIncident(ctx workflow.Context, in contract.IncidentInput, alert contract.AlertSignal) error {
	wfID := in.Incident.WorkflowID
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	cctx := workflow.WithChildOptions(dctx, workflow.ChildWorkflowOptions{
		WorkflowID:            wfID,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: contract.IDReusePolicy,
		WorkflowTaskTimeout:   contract.WorkflowTaskTimeout,
		TypedSearchAttributes: contract.OpenSearchAttributes(in.Incident.Service, in.Incident.Severity),
	})
	child := workflow.ExecuteChildWorkflow(cctx, contract.IncidentWorkflow, in)
	startErr := child.GetChildWorkflowExecution().Get(dctx, nil)
	if startErr != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(startErr) {
		return fmt.Errorf("start %s: %w", wfID, startErr)
	}
	err := workflow.SignalExternalWorkflow(dctx, wfID, "", contract.SignalAlert, alert).Get(dctx, nil)
	switch {
	case err == nil:
		return nil
	case startErr != nil:
		// Neither started by us nor reached.
		return fmt.Errorf("join %s: %w", wfID, err)
	}
	return fmt.Errorf("signal %s: %w: %w", wfID, errAlertNotDelivered, err)
}
