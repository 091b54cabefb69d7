package oncall

import (
	"errors"
	"time"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/schedule"
)

// Schedule is an on-call schedule as it is stored and served: the
// schedule package's Schedule (time zone and rotation layers) and when it
// was created and last changed. Its overrides are kept apart (Override),
// so a schedule body never carries them.
type Schedule struct {
	schedule.Schedule
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Normalize trims text and lower-cases keywords.
func (s *Schedule) Normalize() { s.Schedule.Normalize() }

// Validate checks the schedule's shape: its zone, layers and restrictions.
// Whether each member is a user is the store's to check. Overrides are
// refused here: they have routes of their own.
func (s Schedule) Validate() error {
	if len(s.Overrides) > 0 {
		return invalid("overrides", "are managed under /api/v1/schedules/{id}/overrides, not in the schedule's body")
	}
	return ScheduleError(s.Schedule.Validate())
}

// MemberIDs lists every user the schedule's layers name, each once, in
// layer order.
func (s Schedule) MemberIDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, l := range s.Layers {
		for _, m := range l.Members {
			if !seen[m] {
				seen[m] = true
				ids = append(ids, m)
			}
		}
	}
	return ids
}

// Override is one override of a schedule as stored and served: who covers,
// for when, for whom (schedule.Override), the schedule it belongs to, and
// who made it when.
type Override struct {
	schedule.Override
	ScheduleID string    `json:"schedule_id"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Normalize trims text and keeps the instants in UTC to the microsecond.
func (o *Override) Normalize() { o.Override.Normalize() }

// Validate checks the override on its own; whether it clashes with another
// of its schedule is the store's to check.
func (o Override) Validate() error { return ScheduleError(o.Override.Validate("")) }

// Limits of a handoff notice's lead time, in minutes.
const (
	MinNoticeMinutes = 1
	MaxNoticeMinutes = 24 * 60
)

// HandoffSubscription is a user's request to be told, on their push devices
// and webhooks, MinutesBefore minutes before each of their shifts in a
// schedule starts: a handoff notice.
type HandoffSubscription struct {
	ScheduleID    string    `json:"schedule_id"`
	UserID        string    `json:"user_id"`
	MinutesBefore int       `json:"minutes_before"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Validate checks the lead time.
func (n HandoffSubscription) Validate() error {
	if n.MinutesBefore < MinNoticeMinutes || n.MinutesBefore > MaxNoticeMinutes {
		return invalid("minutes_before", "must be from %d to %d", MinNoticeMinutes, MaxNoticeMinutes)
	}
	return nil
}

// Before is the lead time as a duration.
func (n HandoffSubscription) Before() time.Duration {
	return time.Duration(n.MinutesBefore) * time.Minute
}

// ScheduleError gives an error of the schedule package its fault code: a
// *schedule.ValidationError is fault.Invalid naming its field, a
// *schedule.ClashError is fault.Conflict naming the override it overlaps.
// Anything else, nil included, is returned as it is.
func ScheduleError(err error) error {
	if ve, ok := errors.AsType[*schedule.ValidationError](err); ok {
		return &fault.Error{Code: fault.Invalid, Field: ve.Field, Message: ve.Message, Err: err}
	}
	if ce, ok := errors.AsType[*schedule.ClashError](err); ok {
		return &fault.Error{Code: fault.Conflict, Message: "the override " + ce.Error(), Err: err}
	}
	return err
}
