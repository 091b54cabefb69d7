package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/incident-server/incident-server/internal/contract"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// ScheduleOptions describes the scheduled operations. Cron expressions are
// in UTC.
type ScheduleOptions struct {
	TaskQueue string
	// BackupCron "" turns the backup schedule off, for deployments that back
	// up another way (the Kubernetes base runs a pg_dump CronJob).
	BackupCron      string
	Backup          contract.BackupInput
	MaintenanceCron string
	Maintenance     contract.MaintenanceInput
	// CatchupWindow is how late a run missed while Temporal was unavailable
	// may still start. Default 1h.
	CatchupWindow time.Duration
}

// Schedule is one schedule SyncSchedules manages.
type Schedule struct {
	ID       string
	Cron     string
	Workflow string
	Arg      any
}

// Schedules lists the schedules of opts that are on: those with a cron
// expression.
func (opts ScheduleOptions) Schedules() []Schedule {
	var on []Schedule
	for _, s := range opts.all() {
		if s.Cron != "" {
			on = append(on, s)
		}
	}
	return on
}

// all lists every schedule SyncSchedules manages, on or off.
func (opts ScheduleOptions) all() []Schedule {
	return []Schedule{
		{ID: contract.BackupScheduleID, Cron: opts.BackupCron, Workflow: contract.BackupWorkflow, Arg: opts.Backup},
		{ID: contract.MaintenanceScheduleID, Cron: opts.MaintenanceCron, Workflow: contract.MaintenanceWorkflow, Arg: opts.Maintenance},
	}
}

// SyncSchedules creates the scheduled operations' Temporal Schedules, or
// brings existing ones up to date with opts. It is idempotent and safe to
// run from every worker at once. A schedule's state is left alone: one
// paused in the Web UI stays paused.
//
// A schedule that is off (no cron expression) is deleted if it exists, so
// turning one off in the configuration stops its runs at the next worker
// start or `schedules sync`; a run in progress finishes.
//
// Runs never overlap (SKIP: a run due while the previous one is still
// running is dropped), and a run missed while Temporal was down starts late
// only within the catch-up window.
func SyncSchedules(ctx context.Context, c client.Client, opts ScheduleOptions) error {
	catchup := opts.CatchupWindow
	if catchup <= 0 {
		catchup = time.Hour
	}
	for _, s := range opts.all() {
		if s.Cron == "" {
			err := c.ScheduleClient().GetHandle(ctx, s.ID).Delete(ctx)
			var missing *serviceerror.NotFound
			if err != nil && !errors.As(err, &missing) {
				return fmt.Errorf("delete schedule %s: %w", s.ID, err)
			}
			continue
		}
		spec := client.ScheduleSpec{CronExpressions: []string{s.Cron}}
		action := &client.ScheduleWorkflowAction{
			ID:                  s.ID,
			Workflow:            s.Workflow,
			Args:                []any{s.Arg},
			TaskQueue:           opts.TaskQueue,
			WorkflowTaskTimeout: contract.WorkflowTaskTimeout,
		}
		_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:            s.ID,
			Spec:          spec,
			Action:        action,
			Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			CatchupWindow: catchup,
			Note:          "managed by incident-server: `incident-server schedules sync` and worker start-up rewrite its spec, action and policies",
		})
		if err == nil {
			continue
		}
		if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			return fmt.Errorf("create schedule %s: %w", s.ID, err)
		}
		err = c.ScheduleClient().GetHandle(ctx, s.ID).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				sched := in.Description.Schedule
				sched.Spec = &spec
				sched.Action = action
				sched.Policy = &client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: catchup}
				return &client.ScheduleUpdate{Schedule: &sched}, nil
			},
		})
		if err != nil {
			return fmt.Errorf("update schedule %s: %w", s.ID, err)
		}
	}
	return nil
}
