// Package worker is the composition root of the Temporal worker: it
// registers the workflows and activities on the task queue and makes sure the
// namespace knows the search attributes the workflows write.
package worker

import (
	"context"
	"fmt"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/workflows"
)

// Options size a worker. Zero fields take the SDK's defaults.
type Options struct {
	MaxConcurrentWorkflowTasks   int
	MaxConcurrentActivities      int
	MaxConcurrentLocalActivities int
	WorkflowPollers              int
	ActivityPollers              int
}

// New returns a worker for taskQueue with every workflow and activity
// registered under its contract name. The caller starts and stops it.
func New(c client.Client, taskQueue string, opts Options, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		MaxConcurrentWorkflowTaskExecutionSize:  opts.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivityExecutionSize:      opts.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: opts.MaxConcurrentLocalActivities,
		MaxConcurrentWorkflowTaskPollers:        opts.WorkflowPollers,
		MaxConcurrentActivityTaskPollers:        opts.ActivityPollers,
	})
	workflows.Register(w)
	w.RegisterActivityWithOptions(acts.RecordChange, activity.RegisterOptions{Name: contract.ActivityRecordChange})
	w.RegisterActivityWithOptions(acts.RecordEvent, activity.RegisterOptions{Name: contract.ActivityRecordEvent})
	w.RegisterActivityWithOptions(acts.LoadEscalation, activity.RegisterOptions{Name: contract.ActivityLoadEscalation})
	w.RegisterActivityWithOptions(acts.LoadPolicy, activity.RegisterOptions{Name: contract.ActivityLoadPolicy})
	w.RegisterActivityWithOptions(acts.LoadSLA, activity.RegisterOptions{Name: contract.ActivityLoadSLA})
	w.RegisterActivityWithOptions(acts.LoadOpen, activity.RegisterOptions{Name: contract.ActivityLoadOpen})
	w.RegisterActivityWithOptions(acts.CheckHeartbeat, activity.RegisterOptions{Name: contract.ActivityCheckHeartbeat})
	w.RegisterActivityWithOptions(acts.RecordAlerts, activity.RegisterOptions{Name: contract.ActivityRecordAlerts})
	w.RegisterActivityWithOptions(acts.NotifyUser, activity.RegisterOptions{Name: contract.ActivityNotifyUser})
	w.RegisterActivityWithOptions(acts.NotifyContact, activity.RegisterOptions{Name: contract.ActivityNotifyContact})
	w.RegisterActivityWithOptions(acts.RunBackup, activity.RegisterOptions{Name: contract.ActivityRunBackup})
	w.RegisterActivityWithOptions(acts.RunMaintenance, activity.RegisterOptions{Name: contract.ActivityRunMaintenance})
	w.RegisterActivityWithOptions(acts.FindOrphans, activity.RegisterOptions{Name: contract.ActivityFindOrphans})
	w.RegisterActivityWithOptions(acts.LoadRunbookContext, activity.RegisterOptions{Name: contract.ActivityLoadRunbookContext})
	w.RegisterActivityWithOptions(acts.RunAction, activity.RegisterOptions{Name: contract.ActivityRunAction})
	w.RegisterActivityWithOptions(acts.ResolveOnCall, activity.RegisterOptions{Name: contract.ActivityResolveOnCall})
	w.RegisterActivityWithOptions(acts.PlanHandoffs, activity.RegisterOptions{Name: contract.ActivityPlanHandoffs})
	w.RegisterActivityWithOptions(acts.SendHandoffNotice, activity.RegisterOptions{Name: contract.ActivitySendHandoffNotice})
	return w
}

// EnsureSearchAttributes adds the workflows' search attributes that the
// namespace lacks. It is safe to call from every worker at start-up.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range contract.SearchAttributeTypes {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	}); err != nil {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		slices.Sort(names)
		return fmt.Errorf("add search attributes %v: %w", names, err)
	}
	return nil
}
