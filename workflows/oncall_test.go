package workflows_test

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// onCallDesk stands in for the on-call lookup: who is on call in each
// schedule, as a function of the instant asked, and every instant asked.
type onCallDesk struct {
	mu    sync.Mutex
	asked []time.Duration // since the incident opened
	who   func(id string, at time.Time) contract.OnCall
	fail  error
}

func (d *onCallDesk) ResolveOnCall(_ context.Context, in contract.ResolveOnCallInput) ([]contract.OnCall, error) {
	d.mu.Lock()
	d.asked = append(d.asked, in.At.Sub(start))
	d.mu.Unlock()
	if d.fail != nil {
		return nil, d.fail
	}
	out := make([]contract.OnCall, len(in.ScheduleIDs))
	for i, id := range in.ScheduleIDs {
		out[i] = d.who(id, in.At)
		out[i].ScheduleID = id
	}
	return out, nil
}

func (s *incidentSuite) onCallDesk(who func(id string, at time.Time) contract.OnCall) *onCallDesk {
	d := &onCallDesk{who: who}
	s.env.RegisterActivityWithOptions(d.ResolveOnCall, activity.RegisterOptions{Name: contract.ActivityResolveOnCall})
	return d
}

func scheduleTarget(id string) oncall.Target {
	return oncall.Target{Type: oncall.TargetSchedule, ID: id}
}

func userTarget(id string) oncall.Target { return oncall.Target{Type: oncall.TargetUser, ID: id} }

// handoffAt3m is schedule sch_primary: alice on layer 1 until three minutes
// after the incident opens, then bob through an override.
func handoffAt3m(id string, at time.Time) contract.OnCall {
	if at.Before(start.Add(3 * time.Minute)) {
		return contract.OnCall{ScheduleName: "primary", UserID: "alice", Source: "layer", Layer: 1, LayerName: "weekly",
			ShiftStart: start.Add(-24 * time.Hour), ShiftEnd: start.Add(3 * time.Minute)}
	}
	return contract.OnCall{ScheduleName: "primary", UserID: "bob", Source: "override", OverrideID: "ovr_1",
		ShiftStart: start.Add(3 * time.Minute), ShiftEnd: start.Add(time.Hour)}
}

// deliveries lists the notified and notify_failed events.
func (s *incidentSuite) deliveries() []incident.Event {
	s.proj.mu.Lock()
	defer s.proj.mu.Unlock()
	var out []incident.Event
	for _, ev := range s.proj.events {
		if ev.Type == incident.EventNotified || ev.Type == incident.EventNotifyFailed {
			out = append(out, ev)
		}
	}
	return out
}

// A schedule target is resolved when its step pages: an incident that
// escalates across a handoff pages the new on-call person, and each page's
// event names the schedule and the layer or override that put them there.
func (s *incidentSuite) TestScheduleTargetsResolveAtPageTime() {
	desk := s.onCallDesk(handoffAt3m)
	s.proj.policy = oncall.Snapshot{PolicyID: "pol_s", Version: 1, Name: "via schedule", Steps: []oncall.Step{
		{Delay: oncall.Duration(5 * time.Minute), Targets: []oncall.Target{scheduleTarget("sch_primary")}},
		{Delay: oncall.Duration(5 * time.Minute), Targets: []oncall.Target{userTarget("carol"), scheduleTarget("sch_primary")}},
	}}
	var res updateResult
	s.sendUpdate(8*time.Minute, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Require().NoError(res.err)

	s.Equal([]time.Duration{0, 5 * time.Minute}, desk.asked, "asked at each page's workflow time")
	// Step 2's targets are paged concurrently, so their order is not fixed.
	s.ElementsMatch([]string{"alice@0s", "carol@5m0s", "bob@5m0s"}, s.who())
	evs := s.deliveries()
	s.Require().Len(evs, 3)
	if evs[1].Data["user_id"] == "bob" {
		evs[1], evs[2] = evs[2], evs[1]
	}
	s.Equal(map[string]any{
		"step": 1, "round": 0, "user_id": "alice", "channel": "push", "contact_method_id": "cm_alice", "detail": "",
		"due_at": start.Format(time.RFC3339Nano), "schedule_id": "sch_primary", "schedule_name": "primary",
		"source": "layer", "layer": 1, "layer_name": "weekly",
		"shift_start": start.Add(-24 * time.Hour).Format(time.RFC3339Nano), "shift_end": start.Add(3 * time.Minute).Format(time.RFC3339Nano),
	}, evs[0].Data)
	s.Equal(`paged alice (step 1) via push; on call in schedule "primary" from layer 1 (weekly)`, evs[0].Message)
	s.Equal("carol", evs[1].Data["user_id"])
	s.NotContains(evs[1].Data, "schedule_id", "carol was paged as a user")
	s.Equal("bob", evs[2].Data["user_id"])
	s.Equal("override", evs[2].Data["source"])
	s.Equal("ovr_1", evs[2].Data["override_id"])
	s.NotContains(evs[2].Data, "layer")
	s.Equal(`paged bob (step 2) via push; on call in schedule "primary" from override ovr_1`, evs[2].Message)
	s.NotContains(s.proj.eventTypes(), incident.EventNoOneOnCall)
}

// A schedule with nobody on call is a recorded event, not a silent skip;
// the step's other targets are paged, and a user on call in two of them,
// or targeted too, is paged once.
func (s *incidentSuite) TestNobodyOnCallIsRecorded() {
	s.onCallDesk(func(id string, at time.Time) contract.OnCall {
		switch id {
		case "sch_empty":
			return contract.OnCall{ScheduleName: "nights"}
		case "sch_gone":
			return contract.OnCall{Problem: "schedule not found (deleted after the policy was snapshotted)"}
		}
		return contract.OnCall{ScheduleName: id, UserID: "alice", Source: "layer", Layer: 2}
	})
	s.proj.policy = oncall.Snapshot{PolicyID: "pol_s", Version: 1, Name: "mixed", Steps: []oncall.Step{{Targets: []oncall.Target{
		scheduleTarget("sch_empty"), userTarget("alice"), scheduleTarget("sch_a"), scheduleTarget("sch_b"), scheduleTarget("sch_gone"),
	}}}}
	var res updateResult
	s.sendUpdate(time.Minute, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Require().NoError(res.err)
	s.Equal([]string{"alice@0s"}, s.who(), "alice is paged once")
	s.NotContains(s.deliveries()[0].Data, "schedule_id", "she was a named target first")

	var nobody []incident.Event
	for _, ev := range s.proj.events {
		if ev.Type == incident.EventNoOneOnCall {
			nobody = append(nobody, ev)
		}
	}
	s.Require().Len(nobody, 2)
	s.Equal("no_one_on_call/1/sch_empty", nobody[0].ID)
	s.Equal(`nobody is on call in schedule "nights" (sch_empty): step 1 paged no one through it`, nobody[0].Message)
	s.Equal(map[string]any{"schedule_id": "sch_empty", "schedule_name": "nights", "step": 1, "round": 0, "page": 1,
		"at": start.Format(time.RFC3339Nano), "reason": "escalation"}, nobody[0].Data)
	s.Equal("schedule sch_gone: schedule not found (deleted after the policy was snapshotted): step 1 paged no one through it", nobody[1].Message)
	s.Equal("schedule not found (deleted after the policy was snapshotted)", nobody[1].Data["problem"])
}

// When who is on call cannot be read at all, the page goes on without the
// schedule and the timeline says why.
func (s *incidentSuite) TestUnreadableScheduleIsRecorded() {
	desk := s.onCallDesk(nil)
	desk.fail = temporal.NewNonRetryableApplicationError("schedules table missing", string(fault.Internal), nil)
	s.proj.policy = oncall.Snapshot{PolicyID: "pol_s", Version: 1, Name: "p", Steps: []oncall.Step{{Targets: []oncall.Target{
		scheduleTarget("sch_primary"), userTarget("carol"),
	}}}}
	var res updateResult
	s.sendUpdate(time.Minute, contract.UpdateResolve, req("carol"), &res)
	s.run()
	s.Equal([]string{"carol@0s"}, s.who())
	var nobody *incident.Event
	for i, ev := range s.proj.events {
		if ev.Type == incident.EventNoOneOnCall {
			nobody = &s.proj.events[i]
		}
	}
	s.Require().NotNil(nobody)
	s.Contains(nobody.Data["problem"], "who is on call could not be read")
	s.Contains(nobody.Data["problem"], "schedules table missing")
}
