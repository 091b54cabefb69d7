package contract

import "time"

// HandoffWorkflow sends the handoff notices of one on-call schedule: it
// sleeps on a durable timer until the next notice is due, sends it, and
// plans again. One runs per schedule, under HandoffWorkflowID.
const HandoffWorkflow = "HandoffWorkflow"

// UpdateReplan tells a HandoffWorkflow that its schedule, its overrides or
// its notice requests changed, so it plans again before its timer fires.
// Argument ReplanRequest, answer HandoffPlan (the plan it sleeps on now).
const UpdateReplan = "replan"

// Activities of on-call schedules.
const (
	// ActivityResolveOnCall returns who is on call in each of some
	// schedules at one instant, with where it comes from
	// (ResolveOnCallInput, []OnCall). IncidentWorkflow runs it as a local
	// activity when a page targets schedules. Read-only.
	ActivityResolveOnCall = "ResolveOnCall"
	// ActivityPlanHandoffs returns the handoff notices of a schedule due
	// from an instant on (PlanHandoffsInput, HandoffPlan); a local
	// activity of HandoffWorkflow. Read-only.
	ActivityPlanHandoffs = "PlanHandoffs"
	// ActivitySendHandoffNotice tells one user their shift is about to
	// start, on each push device and webhook, each delivery claimed once in
	// the handoff ledger (HandoffNotice, SendHandoffResult).
	ActivitySendHandoffNotice = "SendHandoffNotice"
)

// HandoffWorkflowID is the workflow ID of a schedule's HandoffWorkflow.
func HandoffWorkflowID(scheduleID string) string { return "handoffs/" + scheduleID }

// ResolveOnCallInput is the argument of ActivityResolveOnCall.
type ResolveOnCallInput struct {
	// ScheduleIDs are the schedules to resolve, in the page's target order.
	ScheduleIDs []string
	// At is the instant of the page, in workflow time.
	At time.Time
}

// OnCall is who is on call in one schedule at one instant, and why: the
// answer is recorded in the workflow's history and on the page's timeline
// events, so "why was Bob paged at 03:07" is answered from the record.
type OnCall struct {
	ScheduleID   string `json:"schedule_id"`
	ScheduleName string `json:"schedule_name,omitempty"`
	// UserID is "" when nobody is on call, or the schedule could not be
	// read (Problem says why).
	UserID string `json:"user_id,omitempty"`
	// Source is "layer" or "override"; Layer numbers the layer from 1
	// (LayerName its name, if any), OverrideID names the override.
	Source     string `json:"source,omitempty"`
	Layer      int    `json:"layer,omitempty"`
	LayerName  string `json:"layer_name,omitempty"`
	OverrideID string `json:"override_id,omitempty"`
	// ShiftStart and ShiftEnd bound the shift the user is on call in.
	ShiftStart time.Time `json:"shift_start,omitzero"`
	ShiftEnd   time.Time `json:"shift_end,omitzero"`
	// Problem is set when the schedule could not be asked: "schedule not
	// found" (deleted after the policy was snapshotted), or why it could
	// not be read.
	Problem string `json:"problem,omitempty"`
}

// HandoffInput starts a HandoffWorkflow run; a run that continues as new
// passes its state on in it.
type HandoffInput struct {
	ScheduleID string
	// Sent are the keys (HandoffNotice.Key) of notices already sent whose
	// shift has not started yet, so that a plan made again does not send
	// them twice.
	Sent []string `json:",omitempty"`
}

// ReplanRequest is the argument of UpdateReplan.
type ReplanRequest struct {
	ScheduleID string
	// Reason says what changed, for the workflow's log: "schedule
	// updated", "override created", ….
	Reason string `json:",omitempty"`
}

// PlanHandoffsInput is the argument of ActivityPlanHandoffs.
type PlanHandoffsInput struct {
	ScheduleID string
	// At is the workflow's now: notices of shifts starting after it are
	// planned.
	At time.Time
}

// HandoffPlan is what ActivityPlanHandoffs returns: the notices of the
// shifts that start after the planning instant and within the plan's
// horizon, soonest first.
type HandoffPlan struct {
	// Deleted is set when the schedule no longer exists: the workflow ends.
	Deleted bool `json:"deleted,omitempty"`
	// Notices are due at their NoticeAt, soonest first.
	Notices []HandoffNotice `json:"notices"`
	// ReplanAt is when the workflow must plan again if nothing changes:
	// shifts starting after the horizon have notices not in this plan.
	ReplanAt time.Time `json:"replan_at"`
}

// HandoffNotice is one notice: tell UserID, at NoticeAt, that their shift
// in the schedule starts at ShiftStart.
type HandoffNotice struct {
	ScheduleID   string    `json:"schedule_id"`
	ScheduleName string    `json:"schedule_name,omitempty"`
	TimeZone     string    `json:"time_zone,omitempty"`
	UserID       string    `json:"user_id"`
	NoticeAt     time.Time `json:"notice_at"`
	ShiftStart   time.Time `json:"shift_start"`
	// ShiftEnd is when the shift the handoff starts ends, as far as the
	// plan looked; zero when it runs past the plan's horizon.
	ShiftEnd time.Time `json:"shift_end,omitzero"`
	// FromUserID is who hands over ("" from nobody).
	FromUserID string `json:"from_user_id,omitempty"`
	// Source, Layer and OverrideID say where the shift comes from, as in
	// OnCall.
	Source     string `json:"source,omitempty"`
	Layer      int    `json:"layer,omitempty"`
	OverrideID string `json:"override_id,omitempty"`
}

// Key identifies the notice in the ledger and in HandoffInput.Sent: the
// schedule, the user and the shift's start. A plan made again after a
// change finds the same key for the same shift and does not send twice.
func (n HandoffNotice) Key() string {
	return n.ScheduleID + "/" + n.UserID + "/" + n.ShiftStart.UTC().Format(time.RFC3339)
}

// SendHandoffResult is what ActivitySendHandoffNotice returns: the outcome
// of each contact method (Delivery.Repeat when the ledger already held it).
type SendHandoffResult struct {
	Deliveries []Delivery
}
