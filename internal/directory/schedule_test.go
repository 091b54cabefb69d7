package directory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/schedule"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

func user(t testing.TB, st *store.Store, name string) string {
	t.Helper()
	u, err := st.CreateUser(t.Context(), oncall.User{Name: name, Email: name + "@example.com", TimeZone: "UTC", Role: oncall.RoleResponder})
	require.NoError(t, err)
	return u.ID
}

// rotation is a daily rotation of members in Berlin, handing off at 09:00,
// begun a week ago or starting at the given local time.
func rotation(t testing.TB, st *store.Store, start string, members ...string) oncall.Schedule {
	t.Helper()
	if start == "" {
		start = time.Now().Add(-7*24*time.Hour).Format("2006-01-02") + "T09:00"
	}
	l, err := schedule.ParseLocalDateTime(start)
	require.NoError(t, err)
	sch, err := st.CreateSchedule(t.Context(), oncall.Schedule{Schedule: schedule.Schedule{Name: "primary", TimeZone: "Europe/Berlin",
		Layers: []schedule.Layer{{Name: "daily", Members: members, Start: l, Turn: schedule.Daily}}}})
	require.NoError(t, err)
	return sch
}

func TestOnCallIsCachedUntilForgotten(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testenv.Store(t, testenv.Postgres(t))
	rdb, prefix := testenv.Redis(t)
	d := directory.New(st, cache.New(rdb, prefix, 0), time.Hour, 24*time.Hour, nil)
	ann, bob := user(t, st, "ann"), user(t, st, "bob")
	sch := rotation(t, st, "", ann)
	now := time.Now().UTC()

	oc, err := d.OnCall(ctx, sch.ID, now)
	require.NoError(t, err)
	require.NotNil(t, oc.Shift)
	require.Equal(t, ann, oc.Shift.UserID)
	require.Equal(t, schedule.Source{Kind: schedule.SourceLayer, Layer: 1, LayerName: "daily"}, oc.Shift.Source)
	require.Equal(t, "primary", oc.ScheduleName)
	require.False(t, now.Before(oc.From))
	require.True(t, now.Before(oc.Until))
	ttl, err := rdb.PTTL(ctx, prefix+"oncall:0:"+sch.ID).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, time.Duration(0), "cached until its shift ends, a day at most")
	require.LessOrEqual(t, ttl, 24*time.Hour)

	// Bob covers: until the change is announced, the cached answer stands,
	// for every instant of the shift it holds.
	o := oncall.Override{ScheduleID: sch.ID, Override: schedule.Override{UserID: bob, Start: now.Add(-time.Minute), End: now.Add(time.Hour)}}
	o.Normalize()
	ovr, err := st.CreateOverride(ctx, o)
	require.NoError(t, err)
	oc, err = d.OnCall(ctx, sch.ID, now.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, ann, oc.Shift.UserID, "served from the cache")

	d.ForgetSchedules(ctx)
	oc, err = d.OnCall(ctx, sch.ID, now.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, bob, oc.Shift.UserID)
	require.Equal(t, schedule.Source{Kind: schedule.SourceOverride, OverrideID: ovr.ID}, oc.Shift.Source)
	require.Equal(t, ovr.Start, oc.From)
	require.Equal(t, ovr.End, oc.Until)

	// An instant the cached answer does not cover is computed afresh.
	oc, err = d.OnCall(ctx, sch.ID, now.Add(2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, ann, oc.Shift.UserID)

	// Forget (a user, policy or service changed) retires them too.
	require.NoError(t, st.DeleteOverride(ctx, sch.ID, ovr.ID))
	d.Forget(ctx)
	oc, err = d.OnCall(ctx, sch.ID, now.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, ann, oc.Shift.UserID)

	_, err = d.OnCall(ctx, "sch_nobody", now)
	require.Equal(t, fault.NotFound, fault.CodeOf(err), "%v", err)
}

// Before a rotation starts nobody is on call: the answer says so, and
// until when.
func TestOnCallNobody(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testenv.Store(t, testenv.Postgres(t))
	d := directory.New(st, nil, 0, 0, nil)
	ann := user(t, st, "ann")
	begins := time.Now().Add(48 * time.Hour)
	sch := rotation(t, st, begins.Format("2006-01-02")+"T09:00", ann)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	y, m, day := begins.Date()
	want := time.Date(y, m, day, 9, 0, 0, 0, berlin).UTC()

	now := time.Now().UTC()
	oc, err := d.OnCall(ctx, sch.ID, now)
	require.NoError(t, err)
	require.Nil(t, oc.Shift)
	require.Equal(t, now, oc.From)
	require.Equal(t, want, oc.Until, "until the rotation's first shift")
}

// BenchmarkOnCall measures who-is-on-call for one schedule: a weekly
// rotation of six with a weekend layer and twenty overrides in the month
// around now. Uncached computes the answer from the schedule's Postgres
// rows (one query, then compile and compute); cached is a Redis hit (the
// generation counter, then the entry).
//
//	go test ./internal/directory -run '^$' -bench OnCall -benchtime 2000x
func BenchmarkOnCall(b *testing.B) {
	ctx := b.Context()
	st := testenv.Store(b, testenv.Postgres(b))
	rdb, prefix := testenv.Redis(b)
	d := directory.New(st, cache.New(rdb, prefix, 0), time.Hour, 24*time.Hour, nil)
	var members []string
	for i := range 6 {
		members = append(members, user(b, st, fmt.Sprintf("user%d", i)))
	}
	start, err := schedule.ParseLocalDateTime(time.Now().Add(-60*24*time.Hour).Format("2006-01-02") + "T09:00")
	require.NoError(b, err)
	sch, err := st.CreateSchedule(ctx, oncall.Schedule{Schedule: schedule.Schedule{Name: "platform", TimeZone: "Europe/Berlin",
		Layers: []schedule.Layer{
			{Name: "weekly", Members: members, Start: start, Turn: schedule.Weekly},
			{Name: "weekend", Members: members[3:], Start: start, Turn: schedule.Weekly,
				Restrictions: []schedule.Restriction{{StartDay: schedule.Friday, Start: "18:00", EndDay: schedule.Monday, End: "09:00"}}},
		}}})
	require.NoError(b, err)
	now := time.Now().UTC().Truncate(time.Hour)
	for i := range 20 {
		at := now.Add(time.Duration(i-10) * 36 * time.Hour)
		o := oncall.Override{ScheduleID: sch.ID, Override: schedule.Override{UserID: members[i%6], Start: at, End: at.Add(2 * time.Hour)}}
		o.Normalize()
		_, err := st.CreateOverride(ctx, o)
		require.NoError(b, err)
	}
	at := now.Add(30 * time.Minute)

	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.ComputeOnCall(ctx, sch.ID, at); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		if _, err := d.OnCall(ctx, sch.ID, at); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := d.OnCall(ctx, sch.ID, at); err != nil {
				b.Fatal(err)
			}
		}
	})
}
