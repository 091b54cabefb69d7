package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Local activities that must not give up (projection writes, lookups a
// page waits on) carry a ScheduleToCloseTimeout of their own: the SDK
// would otherwise bound all their retries by one StartToCloseTimeout.
func TestLocalActivitiesRetryUntilDone(t *testing.T) {
	for name, o := range map[string]workflow.LocalActivityOptions{
		"localProjectionOptions": localProjectionOptions,
		"resolveOptions":         resolveOptions,
	} {
		if o.ScheduleToCloseTimeout < 365*24*time.Hour {
			t.Errorf("%s: ScheduleToCloseTimeout %s; want retries for as long as an outage lasts", name, o.ScheduleToCloseTimeout)
		}
		if o.RetryPolicy == nil || o.RetryPolicy.MaximumAttempts != 0 {
			t.Errorf("%s: retry policy %+v; want unlimited attempts", name, o.RetryPolicy)
		}
	}
}
