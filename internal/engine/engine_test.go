package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/engine"
	"github.com/incident-server/incident-server/internal/fault"
)

// Every refusal of Temporal that passes is Unavailable (the API's 503 with
// Retry-After), a validator's refusal keeps its code, and a workflow that
// has closed is a conflict.
func TestClassifyGivesEveryTemporalErrorItsCode(t *testing.T) {
	t.Parallel()
	rejected := func(code fault.Code, msg string) error {
		return temporal.NewApplicationErrorWithOptions(msg, string(code), temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	for _, tc := range []struct {
		name string
		err  error
		code fault.Code
		msg  string
	}{
		{"validator: invalid", rejected(fault.Invalid, "actor: is required"), fault.Invalid, "actor: is required"},
		{"validator: conflict", rejected(fault.Conflict, "incident is already acknowledged"), fault.Conflict, "incident is already acknowledged"},
		{"validator: not the run's incident", rejected(fault.NotFound, "incident inc_1 is not open under this workflow"), fault.NotFound, "incident inc_1 is not open under this workflow"},
		{"validator: closing, retry", rejected(fault.Unavailable, "incident is resolving; retry to open a new one"), fault.Unavailable, "incident is resolving; retry to open a new one"},
		{"application error of an unknown type", rejected("boom", "x"), fault.Internal, "internal error"},
		{"workflow closed", serviceerror.NewNotFound("workflow execution already completed"), fault.Conflict, "incident is no longer open"},
		{"frontend unavailable", serviceerror.NewUnavailable("connection refused"), fault.Unavailable, ""},
		{"resource exhausted (too many updates in flight)", serviceerror.NewResourceExhausted(0, "limit reached"), fault.Unavailable, ""},
		{"server deadline exceeded", serviceerror.NewDeadlineExceeded("deadline"), fault.Unavailable, ""},
		{"server cancelled", serviceerror.NewCanceled("canceled"), fault.Unavailable, ""},
		{"aborted", serviceerror.NewAborted("aborted"), fault.Unavailable, ""},
		{"workflow task in a failed state", serviceerror.NewWorkflowNotReady("Unable to perform workflow execution update due to Workflow Task in failed state."), fault.Unavailable, ""},
		{"namespace unavailable", serviceerror.NewNamespaceUnavailable("default"), fault.Unavailable, ""},
		{"client deadline", context.DeadlineExceeded, fault.Unavailable, ""},
		{"client cancelled", context.Canceled, fault.Unavailable, ""},
		{"wrapped", fmt.Errorf("open incident: %w", serviceerror.NewUnavailable("x")), fault.Unavailable, ""},
		{"update-with-start: the operation that failed decides",
			serviceerror.NewMultiOperationExecution("failed", []error{
				serviceerror.NewMultiOperationAborted("aborted because the update failed"),
				serviceerror.NewWorkflowNotReady("task failed"),
			}), fault.Unavailable, ""},
		{"anything else", errors.New("unexpected"), fault.Internal, "internal error"},
		{"invalid argument", serviceerror.NewInvalidArgument("bad"), fault.Internal, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := engine.Classify(tc.err)
			require.Equal(t, tc.code, fault.CodeOf(got), "%v", got)
			if tc.msg != "" {
				e, ok := fault.As(got)
				require.True(t, ok)
				require.Equal(t, tc.msg, e.Public())
			}
			require.ErrorIs(t, got, tc.err, "the cause stays for logs")
		})
	}
	require.NoError(t, engine.Classify(nil))
}
