package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/schedule"
	"github.com/incident-server/incident-server/internal/store"
)

func localTime(t *testing.T, s string) schedule.LocalDateTime {
	t.Helper()
	l, err := schedule.ParseLocalDateTime(s)
	require.NoError(t, err)
	return l
}

// weekly is a weekly rotation of members handing off on Mondays at 09:00
// Berlin time, with a weekend layer of weekend on top.
func weekly(t *testing.T, name string, members []string, weekend ...string) oncall.Schedule {
	t.Helper()
	sch := oncall.Schedule{Schedule: schedule.Schedule{Name: name, TimeZone: "Europe/Berlin", Layers: []schedule.Layer{
		{Name: "weekly", Members: members, Start: localTime(t, "2026-03-02T09:00"), Turn: schedule.Weekly},
	}}}
	if len(weekend) > 0 {
		sch.Layers = append(sch.Layers, schedule.Layer{Name: "weekend", Members: weekend,
			Start: localTime(t, "2026-03-06T18:00"), Turn: schedule.Weekly,
			Restrictions: []schedule.Restriction{{StartDay: schedule.Friday, Start: "18:00", EndDay: schedule.Monday, End: "09:00"}}})
	}
	sch.Normalize()
	return sch
}

func override(scheduleID, userID string, start, end time.Time) oncall.Override {
	o := oncall.Override{ScheduleID: scheduleID, Override: schedule.Override{UserID: userID, Start: start, End: end}}
	o.Normalize()
	return o
}

func TestScheduleRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	b := createUser(t, s, "Bob", "bob@example.com")
	c := createUser(t, s, "Cem", "cem@example.com")

	created, err := s.CreateSchedule(ctx, weekly(t, "platform", []string{a.ID, b.ID}, c.ID))
	require.NoError(t, err)
	require.Regexp(t, `^sch_[a-z2-7]{26}$`, created.ID)
	require.EqualValues(t, 1, created.Version)
	got, err := s.GetSchedule(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, created, got)
	require.Equal(t, "2026-03-06T18:00", got.Layers[1].Start.String())
	require.Equal(t, schedule.Monday, got.Layers[1].Restrictions[0].EndDay)

	other, err := s.CreateSchedule(ctx, weekly(t, "databases", []string{b.ID}))
	require.NoError(t, err)
	list, err := s.ListSchedules(ctx)
	require.NoError(t, err)
	require.Equal(t, []oncall.Schedule{other, created}, list, "ordered by name")

	upd := created
	upd.Name = "platform v2"
	upd.Layers = upd.Layers[:1]
	updated, err := s.UpdateSchedule(ctx, upd)
	require.NoError(t, err)
	require.EqualValues(t, 2, updated.Version)
	require.Equal(t, created.CreatedAt, updated.CreatedAt)

	// A member who is no user, and a zone that is none, write nothing.
	bad := weekly(t, "bad", []string{a.ID, "usr_nobody"})
	_, err = s.CreateSchedule(ctx, bad)
	requireValidation(t, err, "layers[0].members[1]")
	bad = weekly(t, "bad", []string{a.ID})
	bad.TimeZone = "Mars/Olympus"
	_, err = s.CreateSchedule(ctx, bad)
	requireValidation(t, err, "time_zone")
	upd.Layers = []schedule.Layer{{Members: []string{"usr_nobody"}, Start: localTime(t, "2026-03-02T09:00"), Turn: schedule.Daily}}
	_, err = s.UpdateSchedule(ctx, upd)
	requireValidation(t, err, "layers[0].members[0]")
	got, err = s.GetSchedule(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, updated, got, "a rejected update changes nothing")
	require.Equal(t, 2, countRows(t, s, `SELECT count(*) FROM schedules`))

	require.NoError(t, s.DeleteSchedule(ctx, other.ID))
	requireCode(t, fault.NotFound, s.DeleteSchedule(ctx, other.ID))
	_, err = s.GetSchedule(ctx, other.ID)
	requireCode(t, fault.NotFound, err)
}

// A policy can target a schedule that exists; a schedule a policy targets
// cannot be deleted.
func TestScheduleTargetedByPolicy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	sch, err := s.CreateSchedule(ctx, weekly(t, "primary", []string{a.ID}))
	require.NoError(t, err)

	p := policyFor("via schedule", a.ID)
	p.Steps[0].Targets = append(p.Steps[0].Targets, oncall.Target{Type: oncall.TargetSchedule, ID: "sch_nobody"})
	_, err = s.CreatePolicy(ctx, p)
	requireValidation(t, err, "steps[0].targets[1].id")
	require.ErrorContains(t, err, "no such schedule")

	p.Steps[0].Targets[1].ID = sch.ID
	pol, err := s.CreatePolicy(ctx, p)
	require.NoError(t, err)
	err = s.DeleteSchedule(ctx, sch.ID)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "schedule is a target of policy "+pol.ID)

	snap, err := s.EscalationFor(ctx, "nothing")
	require.NoError(t, err)
	require.True(t, snap.Empty())
	pol.Steps[0].Targets = pol.Steps[0].Targets[:1]
	_, err = s.UpdatePolicy(ctx, pol)
	require.NoError(t, err)
	require.NoError(t, s.DeleteSchedule(ctx, sch.ID))
}

func TestOverridesClashAndWindows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	b := createUser(t, s, "Bob", "bob@example.com")
	sch, err := s.CreateSchedule(ctx, weekly(t, "primary", []string{a.ID}))
	require.NoError(t, err)
	t0 := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

	first, err := s.CreateOverride(ctx, override(sch.ID, b.ID, t0, t0.Add(4*time.Hour)))
	require.NoError(t, err)
	require.Regexp(t, `^ovr_[a-z2-7]{26}$`, first.ID)

	// Overlapping is a conflict naming the clash; touching is not.
	_, err = s.CreateOverride(ctx, override(sch.ID, a.ID, t0.Add(3*time.Hour), t0.Add(5*time.Hour)))
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "overlaps override "+first.ID)
	e, _ := fault.As(err)
	require.Contains(t, e.Public(), first.ID, "the answer names the clash")
	second, err := s.CreateOverride(ctx, override(sch.ID, a.ID, t0.Add(4*time.Hour), t0.Add(5*time.Hour)))
	require.NoError(t, err)

	_, err = s.CreateOverride(ctx, override(sch.ID, "usr_nobody", t0.Add(-time.Hour), t0))
	requireValidation(t, err, "user_id")
	o := override(sch.ID, a.ID, t0.Add(-time.Hour), t0)
	o.Replaces = "usr_nobody"
	_, err = s.CreateOverride(ctx, o)
	requireValidation(t, err, "replaces")
	_, err = s.CreateOverride(ctx, override("sch_nobody", a.ID, t0.Add(-time.Hour), t0))
	requireCode(t, fault.NotFound, err)
	_, err = s.CreateOverride(ctx, override(sch.ID, a.ID, t0, t0))
	requireValidation(t, err, "end")

	list, err := s.ListOverrides(ctx, sch.ID, t0.Add(4*time.Hour), t0.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, []oncall.Override{second}, list, "the window is half-open: the first ended as it began")
	_, err = s.ListOverrides(ctx, "sch_nobody", t0, t0.Add(time.Hour))
	requireCode(t, fault.NotFound, err)

	// What a computation reads: the schedule and the overrides in its window.
	in, err := s.ScheduleIn(ctx, sch.ID, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, sch.ID, in.ID)
	require.Equal(t, []schedule.Override{first.Override}, in.Overrides)
	shifts, err := schedule.Shifts(in, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, shifts, 1)
	require.Equal(t, b.ID, shifts[0].UserID)
	require.Equal(t, first.ID, shifts[0].Source.OverrideID)
	_, err = s.ScheduleIn(ctx, "sch_nobody", t0, t0)
	requireCode(t, fault.NotFound, err)

	schs, err := s.SchedulesOfUser(ctx, b.ID, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, schs, 1, "bob is in no rotation, but has an override in the window")
	schs, err = s.SchedulesOfUser(ctx, b.ID, t0.Add(30*24*time.Hour), t0.Add(31*24*time.Hour))
	require.NoError(t, err)
	require.Empty(t, schs)

	got, err := s.GetOverride(ctx, sch.ID, first.ID)
	require.NoError(t, err)
	require.Equal(t, first, got)
	require.NoError(t, s.DeleteOverride(ctx, sch.ID, first.ID))
	requireCode(t, fault.NotFound, s.DeleteOverride(ctx, sch.ID, first.ID))
}

// A user on a rotation, or with an override still to come, cannot be
// deleted; their past overrides go with them.
func TestDeleteUserOnASchedule(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	b := createUser(t, s, "Bob", "bob@example.com")
	sch, err := s.CreateSchedule(ctx, weekly(t, "primary", []string{a.ID, b.ID}))
	require.NoError(t, err)

	err = s.DeleteUser(ctx, b.ID)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "member of a rotation of schedule "+sch.ID)

	sch.Layers[0].Members = []string{a.ID}
	_, err = s.UpdateSchedule(ctx, sch)
	require.NoError(t, err)
	now := time.Now().UTC()
	_, err = s.CreateOverride(ctx, override(sch.ID, b.ID, now.Add(-48*time.Hour), now.Add(-47*time.Hour)))
	require.NoError(t, err)
	coming, err := s.CreateOverride(ctx, override(sch.ID, b.ID, now.Add(time.Hour), now.Add(2*time.Hour)))
	require.NoError(t, err)
	err = s.DeleteUser(ctx, b.ID)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "has an override in schedule "+sch.ID)

	require.NoError(t, s.DeleteOverride(ctx, sch.ID, coming.ID))
	require.NoError(t, s.DeleteUser(ctx, b.ID))
	require.Equal(t, 0, countRows(t, s, `SELECT count(*) FROM schedule_overrides`), "the past override went with bob")
}

func TestCalendarFeedTokensRotate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	sch, err := s.CreateSchedule(ctx, weekly(t, "primary", []string{a.ID}))
	require.NoError(t, err)

	feed, token, err := s.CreateCalendarFeed(ctx, store.CalendarFeed{ScheduleID: sch.ID, CreatedBy: "alice"})
	require.NoError(t, err)
	require.Regexp(t, `^cal_[a-z2-7]{26}\.[a-z2-7]{52}$`, token)
	got, err := s.AuthenticateCalendarFeed(ctx, token)
	require.NoError(t, err)
	require.Equal(t, feed, got)

	// A new feed for the schedule replaces the old one: its URL stops working.
	_, rotated, err := s.CreateCalendarFeed(ctx, store.CalendarFeed{ScheduleID: sch.ID})
	require.NoError(t, err)
	_, err = s.AuthenticateCalendarFeed(ctx, token)
	requireCode(t, fault.NotFound, err)
	_, err = s.AuthenticateCalendarFeed(ctx, rotated)
	require.NoError(t, err)
	wrongSecret := rotated[:len(rotated)-1] + "a"
	if wrongSecret == rotated {
		wrongSecret = rotated[:len(rotated)-1] + "b"
	}
	for _, bad := range []string{"", "cal_x", wrongSecret, token + "x"} {
		_, err = s.AuthenticateCalendarFeed(ctx, bad)
		requireCode(t, fault.NotFound, err, bad)
	}

	userFeed, userToken, err := s.CreateCalendarFeed(ctx, store.CalendarFeed{UserID: a.ID})
	require.NoError(t, err)
	got, err = s.AuthenticateCalendarFeed(ctx, userToken)
	require.NoError(t, err)
	require.Equal(t, userFeed, got)
	require.Equal(t, a.ID, got.UserID)
	_, _, err = s.CreateCalendarFeed(ctx, store.CalendarFeed{UserID: "usr_nobody"})
	requireCode(t, fault.NotFound, err)

	require.NoError(t, s.DeleteCalendarFeed(ctx, sch.ID, ""))
	_, err = s.AuthenticateCalendarFeed(ctx, rotated)
	requireCode(t, fault.NotFound, err)
	requireCode(t, fault.NotFound, s.DeleteCalendarFeed(ctx, sch.ID, ""))
	require.NoError(t, s.DeleteCalendarFeed(ctx, "", a.ID))
}

func TestHandoffSubscriptionsAndLedger(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	sch, err := s.CreateSchedule(ctx, weekly(t, "primary", []string{a.ID}))
	require.NoError(t, err)

	sub, created, err := s.PutHandoffSubscription(ctx, oncall.HandoffSubscription{ScheduleID: sch.ID, UserID: a.ID, MinutesBefore: 15})
	require.NoError(t, err)
	require.True(t, created)
	sub, created, err = s.PutHandoffSubscription(ctx, oncall.HandoffSubscription{ScheduleID: sch.ID, UserID: a.ID, MinutesBefore: 30})
	require.NoError(t, err)
	require.False(t, created, "the second put changes the first")
	require.Equal(t, 30, sub.MinutesBefore)
	subs, err := s.ListHandoffSubscriptions(ctx, sch.ID)
	require.NoError(t, err)
	require.Equal(t, []oncall.HandoffSubscription{sub}, subs)

	_, _, err = s.PutHandoffSubscription(ctx, oncall.HandoffSubscription{ScheduleID: sch.ID, UserID: "usr_nobody", MinutesBefore: 5})
	requireValidation(t, err, "user_id")
	_, _, err = s.PutHandoffSubscription(ctx, oncall.HandoffSubscription{ScheduleID: "sch_nobody", UserID: a.ID, MinutesBefore: 5})
	requireCode(t, fault.NotFound, err)
	_, _, err = s.PutHandoffSubscription(ctx, oncall.HandoffSubscription{ScheduleID: sch.ID, UserID: a.ID, MinutesBefore: 0})
	requireValidation(t, err, "minutes_before")

	key := store.HandoffKey{ScheduleID: sch.ID, UserID: a.ID, ShiftStart: time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC), ContactMethodID: "cm_1"}
	d, claimed, err := s.ClaimHandoff(ctx, key, "push")
	require.NoError(t, err)
	require.True(t, claimed)
	require.Equal(t, store.NotificationClaimed, d.Status)
	require.NoError(t, s.FinishHandoff(ctx, key, store.NotificationSent, "gorush accepted 1 push(es)"))
	d, claimed, err = s.ClaimHandoff(ctx, key, "push")
	require.NoError(t, err)
	require.False(t, claimed, "a notice is claimed once")
	require.Equal(t, store.NotificationSent, d.Status)
	require.Equal(t, 2, d.Attempts)
	ds, err := s.ListHandoffDeliveries(ctx, sch.ID, key.ShiftStart, key.ShiftStart.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, key, ds[0].Key)

	require.NoError(t, s.DeleteHandoffSubscription(ctx, sch.ID, a.ID))
	requireCode(t, fault.NotFound, s.DeleteHandoffSubscription(ctx, sch.ID, a.ID))
}
