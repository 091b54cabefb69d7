package e2e_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/runbook"
)

// scheduleSel finds a schedule's panel on the on-call page.
func scheduleSel(id string) string { return `[data-schedule="` + id + `"]` }

// onCallNow asks the API who is on call in a schedule now, and from where.
func onCallNow(t *testing.T, s *stack, scheduleID string) (userID, source string) {
	t.Helper()
	var oc struct {
		OnCall *struct {
			UserID string `json:"user_id"`
			Source struct {
				Kind string `json:"kind"`
			} `json:"source"`
		} `json:"on_call"`
	}
	r := do(t, http.MethodGet, s.url+"/api/v1/schedules/"+scheduleID+"/on-call", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(t, &oc)
	require.NotNil(t, oc.OnCall, "somebody is on call")
	return oc.OnCall.UserID, oc.OnCall.Source.Kind
}

type overrideList struct {
	Overrides []struct {
		ID        string `json:"id"`
		UserID    string `json:"user_id"`
		CreatedBy string `json:"created_by"`
		Start     string `json:"start"`
		End       string `json:"end"`
	} `json:"overrides"`
}

// The on-call page shows who is on call in a schedule and the week's
// shifts with their sources. A responder, signed in as their user, covers
// with an override made in the browser: the page and the API then name
// them, from the override, and their own shifts list it. Another responder
// sees no button to delete it, a viewer no button at all; its maker
// deletes it again and the rotation's person is back.
func TestConsoleOnCallPageAndOverrides(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	carol, dan, erin := pushUser(t, s, "Carol"), pushUser(t, s, "Dan"), pushUser(t, s, "Erin")
	sch := create(t, s.url, "/api/v1/schedules", map[string]any{
		"name": "payments primary", "time_zone": "Europe/Berlin", "layers": []map[string]any{
			{"name": "weekly", "members": []string{carol, erin}, "start": "2026-01-05T09:00", "turn": "weekly"},
		}})
	first, src := onCallNow(t, s, sch)
	require.Equal(t, "layer", src)
	firstName := map[string]string{carol: "Carol", erin: "Erin"}[first]
	panel := scheduleSel(sch)

	b := newBrowser(t)
	tb := b.tab(t)
	tb.signIn(s, dan, auth.Responder)
	tb.do(chromedp.Click(`#nav a[data-nav="on-call"]`))
	tb.waitFor(`location.pathname === '/console/on-call' && document.querySelector('` + panel + ` .on-call-name')`)
	require.Equal(t, "page", tb.attr(`#nav a[data-nav="on-call"]`, "aria-current"))
	require.Equal(t, firstName, tb.text(panel+` .on-call-name`))
	require.Equal(t, "Layer 1 (weekly)", tb.text(panel+` .now .badge`))
	require.Regexp(t, `^in \d`, tb.text(panel+` .now .countdown`), "the shift's end counts down")
	var rows int
	tb.eval(`document.querySelectorAll('`+panel+` .week tbody tr[data-source="layer"]').length`, &rows)
	require.GreaterOrEqual(t, rows, 1, "the coming week's shifts")
	require.Equal(t, "You have no shifts in the coming week.", tb.text(`#my-shifts p`))

	// Dan covers from now until the shift ends: the form's defaults.
	tb.do(chromedp.Click(panel + ` .add-override`))
	tb.waitFor(`document.querySelector('` + panel + ` form .create-override')`)
	var choices []string
	tb.eval(`[...document.querySelectorAll('`+panel+` .override-user option')].map(o => o.value)`, &choices)
	require.Equal(t, []string{dan}, choices, "a responder overrides for themselves only")
	tb.requireFits(375)
	tb.do(chromedp.EmulateViewport(1280, 900))
	tb.do(chromedp.Click(panel + ` .create-override`))
	tb.waitFor(`document.querySelector('` + panel + ` .on-call-name').textContent === 'Dan'`)
	require.Equal(t, "Override", tb.text(panel+` .now .badge`))
	tb.waitFor(`document.querySelector('#my-shift-list tbody tr[data-source="override"]')`)
	require.Contains(t, tb.text(`#my-shift-list tbody tr`), "payments primary")

	got, src := onCallNow(t, s, sch)
	require.Equal(t, dan, got, "the API answers the override too")
	require.Equal(t, "override", src)
	var ovs overrideList
	do(t, http.MethodGet, s.url+"/api/v1/schedules/"+sch+"/overrides", nil).json(t, &ovs)
	require.Len(t, ovs.Overrides, 1)
	require.Equal(t, dan, ovs.Overrides[0].UserID)
	require.Equal(t, dan, ovs.Overrides[0].CreatedBy, "made by the signed-in user")
	ovr := ovs.Overrides[0].ID

	t.Run("another responder may not delete it", func(t *testing.T) {
		other := b.tab(t)
		other.signIn(s, erin, auth.Responder)
		other.do(chromedp.Navigate(s.url + "/console/on-call"))
		other.waitFor(`document.querySelector('` + panel + ` tr[data-override="` + ovr + `"]')`)
		var buttons struct {
			Add    bool `json:"add"`
			Delete bool `json:"delete"`
		}
		other.eval(`({add: !!document.querySelector('`+panel+` .add-override'), delete: !!document.querySelector('`+panel+` .delete-override')})`, &buttons)
		require.True(t, buttons.Add, "a responder who is a user may make their own")
		require.False(t, buttons.Delete, "but not delete Dan's")
	})

	t.Run("a viewer sees no buttons", func(t *testing.T) {
		viewer := b.tab(t)
		viewer.signIn(s, "vic", auth.Viewer)
		viewer.do(chromedp.Navigate(s.url + "/console/on-call"))
		viewer.waitFor(`document.querySelector('` + panel + ` .on-call-name') && document.querySelector('` + panel + ` tr[data-override]')`)
		require.Equal(t, "Dan", viewer.text(panel+` .on-call-name`))
		var buttons int
		viewer.eval(`document.querySelectorAll('#schedules button').length`, &buttons)
		require.Zero(t, buttons, "no override buttons for a viewer")
		require.Contains(t, viewer.text(`#my-shifts`), "not a user's ID")
	})

	// Dan deletes it, confirming: the rotation's person is on call again.
	tb.do(chromedp.Click(panel + ` tr[data-override="` + ovr + `"] .delete-override`))
	tb.waitFor(`document.activeElement && document.activeElement.classList.contains('confirm-delete')`)
	tb.do(chromedp.Click(panel + ` .confirm-delete`))
	tb.waitFor(`document.querySelector('` + panel + ` .on-call-name').textContent === ` + jsString(firstName) +
		` && !document.querySelector('` + panel + ` tr[data-override]')`)
	got, src = onCallNow(t, s, sch)
	require.Equal(t, first, got)
	require.Equal(t, "layer", src)
	do(t, http.MethodGet, s.url+"/api/v1/schedules/"+sch+"/overrides", nil).json(t, &ovs)
	require.Empty(t, ovs.Overrides)
}

// The runbooks panel: a responder starts a runbook from the library on the
// incident page, sees its steps, marks its checklist step done, approves
// its gate and skips its last step there, and the run advances step by
// step, as the API confirms; a viewer sees the steps and no buttons.
func TestConsoleRunbooksPanel(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	service, _, _ := pagingService(t, s, time.Hour, time.Hour)
	rb := create(t, s.url, "/api/v1/runbooks", map[string]any{
		"name": "Drain a node",
		"steps": []map[string]any{
			{"name": "Cordon the node", "kind": "manual", "required": true, "instructions": "kubectl cordon the node the alert names."},
			{"name": "Approve the drain", "kind": "approval", "approval": map[string]any{"role": "responder"}},
			{"name": "Tell the customer team", "kind": "manual"},
		}})
	inc := openIncident(t, s, service)
	runbooks := `#runbooks`
	step := func(n int) string {
		return runbooks + ` article.run[data-run="1"] li[data-step="` + strconv.Itoa(n) + `"]`
	}

	b := newBrowser(t)
	tb := b.tab(t)
	tb.signIn(s, "dana", auth.Responder)
	tb.do(chromedp.Navigate(s.url + "/console/incidents/" + inc.ID))
	tb.waitFor(`document.getElementById('no-runbooks') && document.querySelector('#start-runbook option[value="` + rb + `"]')`)

	tb.do(chromedp.SetValue(`#start-runbook`, rb), chromedp.Click(`#start-runbook-button`))
	tb.waitFor(`document.querySelector('` + step(1) + `[data-status="running"] .step-complete')`)
	require.Contains(t, tb.text(runbooks+` article.run h3`), "Drain a node")
	require.Equal(t, "kubectl cordon the node the alert names.", tb.text(step(1)+` .step-instructions`))
	require.Equal(t, "required", tb.text(step(1)+` .step-required`))
	var skip bool
	tb.eval(`!!document.querySelector('`+step(1)+` .step-skip')`, &skip)
	require.False(t, skip, "a required step cannot be skipped")
	run := awaitStep(t, s, inc.ID, 1, 1, runbook.StepRunning)
	require.Equal(t, rb, run.RunbookID)
	require.Equal(t, "dana", run.StartedBy)

	tb.do(chromedp.SendKeys(step(1)+` input[data-keep]`, "cordoned node-7"), chromedp.Click(step(1)+` .step-complete`))
	tb.waitFor(`document.querySelector('` + step(2) + `[data-status="waiting_approval"] .step-approve')`)
	run = awaitStep(t, s, inc.ID, 1, 1, runbook.StepDone)
	require.Equal(t, "dana", run.Steps[0].Actor)
	require.Equal(t, "cordoned node-7", run.Steps[0].Note)
	require.Equal(t, "cordoned node-7", tb.text(step(1)+` .step-note .note-text`))

	t.Run("a viewer sees the steps and no buttons", func(t *testing.T) {
		viewer := b.tab(t)
		viewer.signIn(s, "vic", auth.Viewer)
		viewer.do(chromedp.Navigate(s.url + "/console/incidents/" + inc.ID))
		viewer.waitFor(`document.querySelector('` + step(2) + `[data-status="waiting_approval"]')`)
		var buttons int
		viewer.eval(`document.querySelectorAll('#runbooks button, #runbooks select').length`, &buttons)
		require.Zero(t, buttons)
		require.Contains(t, viewer.text(step(2)), "needs the responder role")
	})

	// A rejection must say why; the page asks before sending it.
	tb.do(chromedp.Click(step(2) + ` .step-reject`))
	tb.waitFor(`document.querySelector('#runbooks .form-status.error:not([hidden])')`)
	require.Contains(t, tb.text(`#runbooks .form-status.error`), "Say why")
	require.Equal(t, runbook.StepWaitingApproval, awaitStep(t, s, inc.ID, 1, 2, runbook.StepWaitingApproval).Steps[1].Status)

	tb.do(chromedp.Click(step(2) + ` .step-approve`))
	tb.waitFor(`document.querySelector('` + step(3) + `[data-status="running"] .step-skip')`)
	run = awaitStep(t, s, inc.ID, 1, 2, runbook.StepDone)
	require.Equal(t, "dana", run.Steps[1].Actor)

	tb.do(chromedp.Click(step(3) + ` .step-skip`))
	tb.waitFor(`document.querySelector('#runbooks article.run[data-run="1"][data-status="done"]')`)
	require.Equal(t, "skipped", tb.text(step(3)+` .step-status`))
	require.Eventually(t, func() bool { return live(t, s, inc.ID).Live.Runbooks[0].Status == runbook.RunDone }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{runbook.StepDone, runbook.StepDone, runbook.StepSkipped}, stepStatuses(live(t, s, inc.ID).Live.Runbooks[0]))
	tb.waitFor(`document.querySelector('#timeline li[data-type="runbook_finished"]')`)
	var left int
	tb.eval(`document.querySelectorAll('#runbooks .step-actions').length`, &left)
	require.Zero(t, left, "a finished run has nothing left to do")
}
