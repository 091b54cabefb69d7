package workflows

import (
	"github.com/incident-server/incident-server/internal/contract"
	"go.temporal.io/sdk/workflow"
)

// Registry is the part of a Temporal worker (or test environment) that
// workflows are registered on.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every workflow of this package under its contract name.
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(IncidentWorkflow, workflow.RegisterOptions{Name: contract.IncidentWorkflow})
	r.RegisterWorkflowWithOptions(HeartbeatWorkflow, workflow.RegisterOptions{Name: contract.HeartbeatWorkflow})
	r.RegisterWorkflowWithOptions(BackupWorkflow, workflow.RegisterOptions{Name: contract.BackupWorkflow})
	r.RegisterWorkflowWithOptions(MaintenanceWorkflow, workflow.RegisterOptions{Name: contract.MaintenanceWorkflow})
	r.RegisterWorkflowWithOptions(RunbookWorkflow, workflow.RegisterOptions{Name: contract.RunbookWorkflow})
	r.RegisterWorkflowWithOptions(HandoffWorkflow, workflow.RegisterOptions{Name: contract.HandoffWorkflow})
}
