package workflows_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/schedule"
	"github.com/incident-server/incident-server/workflows"
)

// handoffDesk stands in for PlanHandoffs and SendHandoffNotice: it plans
// with the real schedule computation over an in-memory schedule and
// subscriptions, and records each notice sent and when.
type handoffDesk struct {
	mu      sync.Mutex
	now     func() time.Time
	sch     schedule.Schedule
	subs    map[string]int // user → minutes before
	deleted bool
	sent    []sentNotice
	plans   int
}

type sentNotice struct {
	user       string
	at         time.Time
	shiftStart time.Time
}

func (d *handoffDesk) PlanHandoffs(_ context.Context, in contract.PlanHandoffsInput) (contract.HandoffPlan, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.plans++
	if d.deleted {
		return contract.HandoffPlan{Deleted: true}, nil
	}
	plan := contract.HandoffPlan{Notices: []contract.HandoffNotice{}}
	if len(d.subs) == 0 {
		return plan, nil
	}
	hs, err := schedule.NextHandoffs(d.sch, in.At, 20)
	if err != nil {
		return plan, err
	}
	horizon, maxLead := in.At.Add(3*24*time.Hour), time.Duration(0)
	for _, m := range d.subs {
		maxLead = max(maxLead, time.Duration(m)*time.Minute)
	}
	for _, h := range hs {
		m, ok := d.subs[h.ToUserID]
		if h.At.After(horizon) || !ok {
			continue
		}
		plan.Notices = append(plan.Notices, contract.HandoffNotice{ScheduleID: d.sch.ID, UserID: h.ToUserID,
			ShiftStart: h.At, NoticeAt: h.At.Add(-time.Duration(m) * time.Minute)})
	}
	plan.ReplanAt = horizon.Add(-maxLead)
	return plan, nil
}

func (d *handoffDesk) SendHandoffNotice(_ context.Context, n contract.HandoffNotice) (contract.SendHandoffResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, sentNotice{user: n.UserID, at: d.now().UTC(), shiftStart: n.ShiftStart})
	return contract.SendHandoffResult{Deliveries: []contract.Delivery{{Channel: "push", Status: "sent"}}}, nil
}

func (d *handoffDesk) change(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f()
}

type handoffSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env  *testsuite.TestWorkflowEnvironment
	desk *handoffDesk
}

func TestHandoffWorkflow(t *testing.T) { suite.Run(t, new(handoffSuite)) }

// handoffStart is the test's start: Friday 2026-03-27, 00:00 UTC, two days
// before Europe/Berlin springs forward.
var handoffStart = time.Date(2026, 3, 27, 0, 0, 0, 0, time.UTC)

func (s *handoffSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(handoffStart)
	start, err := schedule.ParseLocalDateTime("2026-03-27T09:00")
	s.Require().NoError(err)
	s.desk = &handoffDesk{now: s.env.Now, subs: map[string]int{"alice": 60, "bob": 15},
		sch: schedule.Schedule{ID: "sch_1", Name: "primary", TimeZone: "Europe/Berlin", Layers: []schedule.Layer{
			{Members: []string{"alice", "bob"}, Start: start, Turn: schedule.Daily},
		}}}
	workflows.Register(s.env)
	s.env.RegisterActivityWithOptions(s.desk.PlanHandoffs, activity.RegisterOptions{Name: contract.ActivityPlanHandoffs})
	s.env.RegisterActivityWithOptions(s.desk.SendHandoffNotice, activity.RegisterOptions{Name: contract.ActivitySendHandoffNotice})
}

// replan sends the replan update after delay and keeps its answer.
func (s *handoffSuite) replan(delay time.Duration, out *updateResult) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(contract.UpdateReplan, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { out.rejected = err },
			OnComplete: func(v any, err error) { out.value, out.err = v, err },
		}, contract.ReplanRequest{ScheduleID: "sch_1", Reason: "test"})
	}, delay)
}

// deleteAfter deletes the schedule after d and tells the workflow, which
// then ends.
func (s *handoffSuite) deleteAfter(d time.Duration) *updateResult {
	var res updateResult
	s.env.RegisterDelayedCallback(func() { s.desk.change(func() { s.desk.deleted = true }) }, d)
	s.replan(d, &res)
	return &res
}

func (s *handoffSuite) run() {
	s.env.ExecuteWorkflow(contract.HandoffWorkflow, contract.HandoffInput{ScheduleID: "sch_1"})
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Notices go out exactly their lead time before each shift starts, on a
// durable timer: with the handoff at 09:00 Berlin time, an hour earlier in
// UTC once the clocks have sprung forward.
func (s *handoffSuite) TestNoticesAreSentTheirLeadTimeBeforeEachShift() {
	done := s.deleteAfter(4 * 24 * time.Hour)
	s.run()
	s.Require().NoError(done.err)
	s.Equal([]sentNotice{
		{"alice", utc("2026-03-27T07:00:00Z"), utc("2026-03-27T08:00:00Z")},
		{"bob", utc("2026-03-28T07:45:00Z"), utc("2026-03-28T08:00:00Z")},
		{"alice", utc("2026-03-29T06:00:00Z"), utc("2026-03-29T07:00:00Z")},
		{"bob", utc("2026-03-30T06:45:00Z"), utc("2026-03-30T07:00:00Z")},
	}, s.desk.sent)
	// One plan per wake, none between: no polling.
	s.Equal(6, s.desk.plans, "the first plan, one per notice, and the one that found the schedule deleted")
}

// A change arrives as the replan update while the workflow sleeps: it plans
// again at once, answers with the new plan, and keeps the notices it has
// sent from going out twice.
func (s *handoffSuite) TestAReplanMidTimerReschedulesAndNeverResends() {
	// At 01:00 carol covers 03:00–05:00 and asks for 30 minutes' notice;
	// alice's subscription grows to 90 minutes, so her notice at 07:00
	// moves to 06:30.
	var carol, again updateResult
	s.env.RegisterDelayedCallback(func() {
		s.desk.change(func() {
			s.desk.sch.Overrides = []schedule.Override{{ID: "ovr_1", UserID: "carol",
				Start: utc("2026-03-27T03:00:00Z"), End: utc("2026-03-27T05:00:00Z")}}
			s.desk.subs["carol"] = 30
			s.desk.subs["alice"] = 90
		})
	}, time.Hour)
	s.replan(time.Hour, &carol)
	// After alice's notice and before her shift, another replan: nothing is
	// sent again.
	s.replan(7*time.Hour+15*time.Minute, &again)
	done := s.deleteAfter(12 * time.Hour)
	s.run()
	s.Require().NoError(carol.err)
	s.Require().NoError(again.err)
	s.Require().NoError(done.err)

	plan := carol.value.(contract.HandoffPlan)
	s.Require().NotEmpty(plan.Notices)
	s.Equal("carol", plan.Notices[0].UserID, "the answer is the plan made after the change")
	s.Equal(utc("2026-03-27T02:30:00Z"), plan.Notices[0].NoticeAt)
	s.Equal([]sentNotice{
		{"carol", utc("2026-03-27T02:30:00Z"), utc("2026-03-27T03:00:00Z")},
		{"alice", utc("2026-03-27T06:30:00Z"), utc("2026-03-27T08:00:00Z")},
	}, s.desk.sent)
}

// A subscription made after its notice was due, but before the shift
// starts, is told at once; a shift already started is not announced.
func (s *handoffSuite) TestALateSubscriptionIsToldAtOnce() {
	s.desk.subs = map[string]int{}
	var sub updateResult
	s.env.RegisterDelayedCallback(func() { s.desk.change(func() { s.desk.subs["alice"] = 120 }) }, 7*time.Hour+20*time.Minute)
	s.replan(7*time.Hour+20*time.Minute, &sub)
	done := s.deleteAfter(9 * time.Hour)
	s.run()
	s.Require().NoError(sub.err)
	s.Require().NoError(done.err)
	s.Equal([]sentNotice{{"alice", utc("2026-03-27T07:20:00Z"), utc("2026-03-27T08:00:00Z")}}, s.desk.sent)
}

func (s *handoffSuite) TestAReplanForAnotherScheduleIsRejected() {
	var wrong updateResult
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(contract.UpdateReplan, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { wrong.rejected = err },
			OnComplete: func(v any, err error) { wrong.value, wrong.err = v, err },
		}, contract.ReplanRequest{ScheduleID: "sch_2"})
	}, time.Minute)
	done := s.deleteAfter(time.Hour)
	s.run()
	s.Require().NoError(done.err)
	s.Require().Error(wrong.rejected)
	s.Contains(wrong.rejected.Error(), "schedule_id")
}
