package directory

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/schedule"
)

// scheduleGenerationKey counts changes to schedules and their overrides,
// as generationKey does for users, policies and services. Schedules have a
// counter of their own because overrides change often (every swap of a
// shift) and nothing else cached depends on them; Forget retires both.
const scheduleGenerationKey = "schedule:generation"

func onCallKey(gen int64, scheduleID string) string {
	return "oncall:" + strconv.FormatInt(gen, 10) + ":" + scheduleID
}

// onCallLook is how far either side of an instant OnCall reads overrides:
// schedule.Compiled.OnCallAt looks at most 32 days either way for the ends
// of the shift it reports.
const onCallLook = 33 * 24 * time.Hour

// gapLook bounds how far ahead OnCall looks for the end of a gap in which
// nobody is on call.
const gapLook = 7 * 24 * time.Hour

// OnCall is who is on call in a schedule at an instant, and the stretch of
// time the answer holds for.
type OnCall struct {
	ScheduleID   string `json:"schedule_id"`
	ScheduleName string `json:"schedule_name"`
	TimeZone     string `json:"time_zone"`
	// Shift is the shift on call, with its source (a layer or an
	// override); nil when nobody is on call.
	Shift *schedule.Shift `json:"shift"`
	// From and Until bound the instants this answer holds for: the shift's
	// extent (cut 32 days either side), or, when nobody is on call, from
	// the instant asked to the next shift's start (at most 7 days on).
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
}

// holds reports whether the answer is the answer at instant at.
func (o OnCall) holds(at time.Time) bool { return !at.Before(o.From) && at.Before(o.Until) }

// OnCall returns who is on call in schedule id at instant at, through the
// cache: an entry holds one schedule's latest answer and serves every
// instant within its From and Until; it expires at Until, or after the
// configuration TTL if that is sooner, and is retired by any change to the
// schedule or its overrides (ForgetSchedules). On a miss the answer is
// computed from the schedule's Postgres rows (ComputeOnCall). The error is
// a fault.NotFound when the schedule does not exist.
func (d *Directory) OnCall(ctx context.Context, id string, at time.Time) (OnCall, error) {
	key := d.scheduleKey(ctx, func(gen int64) string { return onCallKey(gen, id) })
	if key != "" {
		var oc OnCall
		ok, _, err := d.cache.GetJSON(ctx, key, &oc)
		switch {
		case err != nil:
			d.log.WarnContext(ctx, "on-call cache read failed; reading postgres", "schedule_id", id, "error", err)
		case ok && oc.holds(at):
			return oc, nil
		}
	}
	oc, err := d.ComputeOnCall(ctx, id, at)
	if err != nil {
		return OnCall{}, err
	}
	// Answers about the past are asked once; an answer about now is asked
	// at every page until its shift ends.
	if ttl := min(d.policyTTL, time.Until(oc.Until)); key != "" && ttl > 0 {
		d.set(ctx, key, oc, ttl)
	}
	return oc, nil
}

// ComputeOnCall computes who is on call in schedule id at instant at from
// the schedule's rows in Postgres, bypassing the cache.
func (d *Directory) ComputeOnCall(ctx context.Context, id string, at time.Time) (OnCall, error) {
	at = at.UTC()
	sch, err := d.store.ScheduleIn(ctx, id, at.Add(-onCallLook), at.Add(onCallLook))
	if err != nil {
		return OnCall{}, err
	}
	c, err := schedule.Compile(sch)
	if err != nil {
		// The store holds only schedules that compiled when they were
		// written; one that no longer does (its zone gone from the tz
		// database) is an error to see, not a schedule with nobody on call.
		return OnCall{}, fmt.Errorf("compile schedule %s: %w", id, oncall.ScheduleError(err))
	}
	oc := OnCall{ScheduleID: id, ScheduleName: sch.Name, TimeZone: sch.TimeZone, From: at}
	if sh, ok := c.OnCallAt(at); ok {
		oc.Shift, oc.From, oc.Until = &sh, sh.Start, sh.End
		return oc, nil
	}
	oc.Until = at.Add(gapLook)
	shifts, err := c.Shifts(at, oc.Until)
	if err != nil {
		return OnCall{}, fmt.Errorf("shifts of schedule %s: %w", id, oncall.ScheduleError(err))
	}
	if len(shifts) > 0 {
		oc.Until = shifts[0].Start
	}
	return oc, nil
}

// scheduleKey names an entry under the current schedule generation, or
// returns "" when there is no cache or Redis cannot be read.
func (d *Directory) scheduleKey(ctx context.Context, name func(gen int64) string) string {
	if d.cache == nil {
		return ""
	}
	gen, err := d.cache.Counter(ctx, scheduleGenerationKey)
	if err != nil {
		d.log.WarnContext(ctx, "on-call cache unreachable; reading postgres", "error", err)
		return ""
	}
	return name(gen)
}

// ForgetSchedules retires every cached on-call answer after a schedule or
// an override changed. When Redis cannot be reached the entries expire on
// their own, at the end of their shift or after the configuration TTL.
func (d *Directory) ForgetSchedules(ctx context.Context) {
	if d.cache == nil {
		return
	}
	if _, err := d.cache.Incr(ctx, scheduleGenerationKey); err != nil {
		d.log.WarnContext(ctx, "schedule cache invalidation failed; entries expire on their own", "error", err)
	}
}
