package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/workflows"
)

// opsActivities stands in for the operations' activities and records
// what the workflows asked of them.
type opsActivities struct {
	mu          sync.Mutex
	backupErr   error
	backupCalls int
	orphans     []contract.Orphan
	maintenance []contract.MaintenanceInput
	events      []incident.Event
}

func (o *opsActivities) RunBackup(context.Context) (contract.BackupResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.backupCalls++
	if o.backupErr != nil {
		return contract.BackupResult{}, o.backupErr
	}
	return contract.BackupResult{File: "/backups/incidents_x.dump", SizeBytes: 4096}, nil
}

func (o *opsActivities) RunMaintenance(_ context.Context, in contract.MaintenanceInput) (contract.MaintenanceResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.maintenance = append(o.maintenance, in)
	return contract.MaintenanceResult{VacuumedTables: 12, PurgedEvents: 40, PurgedNotifications: 3}, nil
}

func (o *opsActivities) FindOrphans(context.Context, contract.FindOrphansInput) ([]contract.Orphan, error) {
	return o.orphans, nil
}

func (o *opsActivities) RecordEvent(_ context.Context, ev incident.Event) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, ev)
	return nil
}

func newOpsEnv(t *testing.T, acts *opsActivities) (*testsuite.TestWorkflowEnvironment, *incidentBook) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.SetDetachedChildWait(false)
	book := &incidentBook{stayOpen: true}
	env.RegisterWorkflowWithOptions(workflows.BackupWorkflow, workflow.RegisterOptions{Name: contract.BackupWorkflow})
	env.RegisterWorkflowWithOptions(workflows.MaintenanceWorkflow, workflow.RegisterOptions{Name: contract.MaintenanceWorkflow})
	env.RegisterWorkflowWithOptions(book.workflow, workflow.RegisterOptions{Name: contract.IncidentWorkflow})
	env.RegisterActivityWithOptions(acts.RunBackup, activity.RegisterOptions{Name: contract.ActivityRunBackup})
	env.RegisterActivityWithOptions(acts.RunMaintenance, activity.RegisterOptions{Name: contract.ActivityRunMaintenance})
	env.RegisterActivityWithOptions(acts.FindOrphans, activity.RegisterOptions{Name: contract.ActivityFindOrphans})
	env.RegisterActivityWithOptions(acts.RecordEvent, activity.RegisterOptions{Name: contract.ActivityRecordEvent})
	return env, book
}

func TestBackupWorkflowReturnsTheDumpAndOpensNothing(t *testing.T) {
	acts := &opsActivities{}
	env, book := newOpsEnv(t, acts)
	env.ExecuteWorkflow(contract.BackupWorkflow, contract.BackupInput{})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res contract.BackupResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, "/backups/incidents_x.dump", res.File)
	require.Equal(t, 1, acts.backupCalls)
	require.Empty(t, book.opened)
}

func TestBackupWorkflowOpensAnIncidentAfterEveryAttemptFailed(t *testing.T) {
	acts := &opsActivities{backupErr: errors.New("pg_dump: connection refused")}
	env, book := newOpsEnv(t, acts)
	env.ExecuteWorkflow(contract.BackupWorkflow, contract.BackupInput{Timeout: time.Minute})
	require.True(t, env.IsWorkflowCompleted())
	require.ErrorContains(t, env.GetWorkflowError(), "connection refused")
	require.Equal(t, 3, acts.backupCalls)
	// Three attempts, minutes apart, before anyone is paged. (The test
	// environment does not grow the interval as a server does.)
	require.GreaterOrEqual(t, env.Now().Sub(start), 2*time.Minute)

	require.Len(t, book.opened, 1)
	o := book.opened[0]
	require.Equal(t, contract.OpsWorkflowID("backup"), o.workflowID)
	require.Equal(t, contract.OpsService, o.in.Incident.Service)
	require.Equal(t, incident.SeverityHigh, o.in.Incident.Severity)
	require.Equal(t, "database backup failed", o.in.Incident.Title)
	require.Contains(t, o.in.Incident.Description, "pg_dump: connection refused")
}

func TestMaintenanceWorkflowReportsOrphansOnTheirTimelinesAndInOneIncident(t *testing.T) {
	acts := &opsActivities{orphans: []contract.Orphan{
		{IncidentID: "inc_a", WorkflowID: "incident/inc_a", Service: "checkout", Reason: "workflow not found"},
		{IncidentID: "inc_b", WorkflowID: "incident/inc_b", Service: "search", Reason: "workflow terminated"},
	}}
	env, book := newOpsEnv(t, acts)
	env.ExecuteWorkflow(contract.MaintenanceWorkflow, contract.MaintenanceInput{Retention: 90 * 24 * time.Hour})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var rep contract.MaintenanceReport
	require.NoError(t, env.GetWorkflowResult(&rep))
	require.EqualValues(t, 40, rep.PurgedEvents)
	require.Len(t, rep.Orphans, 2)
	require.Equal(t, []contract.MaintenanceInput{{Retention: 90 * 24 * time.Hour}}, acts.maintenance)

	require.Len(t, acts.events, 2)
	for _, ev := range acts.events {
		require.Equal(t, incident.EventWorkflowMissing, ev.Type)
		require.Equal(t, string(incident.SourceEngine), ev.Actor)
		require.Equal(t, start, ev.EventTime)
		require.NotEmpty(t, ev.ID)
	}
	require.ElementsMatch(t, []string{"inc_a", "inc_b"}, []string{acts.events[0].IncidentID, acts.events[1].IncidentID})

	require.Len(t, book.opened, 1)
	o := book.opened[0]
	require.Equal(t, contract.OpsWorkflowID("reconcile"), o.workflowID)
	require.Equal(t, "2 active incident(s) without a running workflow", o.in.Incident.Title)
	require.Contains(t, o.in.Incident.Description, "inc_a (checkout, workflow incident/inc_a): workflow not found")
	require.Contains(t, o.in.Incident.Description, "inc_b (search, workflow incident/inc_b): workflow terminated")
}

func TestMaintenanceWorkflowWithNothingOrphanedOpensNothing(t *testing.T) {
	acts := &opsActivities{}
	env, book := newOpsEnv(t, acts)
	env.ExecuteWorkflow(contract.MaintenanceWorkflow, contract.MaintenanceInput{Retention: time.Hour})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Empty(t, acts.events)
	require.Empty(t, book.opened)
}
