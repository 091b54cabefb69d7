package activities_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/runbook"
)

// runAction runs RunAction once for a one-step runbook calling action, with
// actions configured by opts, and returns its result or its failure.
func runAction(t *testing.T, opts activities.ActionOptions, action runbook.Action) (contract.ActionResult, *temporal.ApplicationError) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	acts := &activities.Activities{Actions: opts}
	env.RegisterActivity(acts.RunAction)
	rb := runbook.Runbook{ID: "rb_1", Name: "r", Steps: []runbook.Step{{Name: "call", Kind: runbook.KindAction, Action: &action}}}
	rb.Normalize()
	val, err := env.ExecuteActivity(acts.RunAction, contract.ActionInput{IncidentID: "inc_1", Run: 1, Step: 1, Runbook: rb})
	if err != nil {
		appErr, ok := errors.AsType[*temporal.ApplicationError](err)
		require.True(t, ok, "want an application error, got %v", err)
		require.Equal(t, contract.ActionFailed, appErr.Type())
		var res contract.ActionResult
		require.NoError(t, appErr.Details(&res))
		return res, appErr
	}
	var res contract.ActionResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

func client(t *testing.T, allowPrivate bool) *outbound.Client {
	t.Helper()
	c, err := outbound.NewClient(outbound.Options{AllowPrivate: allowPrivate, MaxRedirects: -1})
	require.NoError(t, err)
	return c
}

func TestRunActionSaysWhetherToTryAgain(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/refused":
			w.WriteHeader(http.StatusForbidden)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("answer"))
	}))
	t.Cleanup(srv.Close)
	open := activities.ActionOptions{Client: client(t, true)}

	res, failure := runAction(t, open, runbook.Action{URL: srv.URL + "/ok"})
	require.Nil(t, failure)
	require.Equal(t, contract.ActionResult{Status: http.StatusOK, Excerpt: "answer", Attempt: 1}, res)

	cases := []struct {
		name   string
		opts   activities.ActionOptions
		action runbook.Action
		status int
		final  bool
		says   string
	}{
		{"5xx", open, runbook.Action{URL: srv.URL + "/busy"}, http.StatusServiceUnavailable, false, "answer"},
		{"4xx", open, runbook.Action{URL: srv.URL + "/refused"}, http.StatusForbidden, true, "answer"},
		{"a redirect is not followed", open, runbook.Action{URL: srv.URL + "/moved"}, http.StatusFound, true, ""},
		{"no answer in time", open, runbook.Action{URL: srv.URL + "/slow", Timeout: oncall.Duration(100 * time.Millisecond)}, 0, false, "no answer within 100ms"},
		{"a refused destination", activities.ActionOptions{Client: client(t, false)}, runbook.Action{URL: srv.URL + "/ok"}, 0, true, "loopback"},
		{"an unknown secret", open, runbook.Action{URL: srv.URL + "/ok", Headers: map[string]string{"Authorization": `{{secret "nope"}}`}}, 0, true, `"nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res, failure := runAction(t, c.opts, c.action)
			require.NotNil(t, failure)
			require.Equal(t, c.final, failure.NonRetryable())
			require.Equal(t, c.status, res.Status)
			require.Contains(t, res.Excerpt, c.says)
			require.NotContains(t, res.Excerpt, "/ok", "the URL's path may be a credential: it is not repeated")
		})
	}
}
