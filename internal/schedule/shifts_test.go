package schedule_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/schedule"
)

func TestWeeklyRotation(t *testing.T) {
	t.Parallel()
	s := rotation(t, "Europe/Berlin", "2026-03-02T09:00", schedule.Weekly, "alice", "bob", "carol")
	require.Equal(t, []string{
		"alice 2026-03-02T08:00Z/2026-03-09T08:00Z L1",
		"bob 2026-03-09T08:00Z/2026-03-16T08:00Z L1",
		"carol 2026-03-16T08:00Z/2026-03-23T08:00Z L1",
		"alice 2026-03-23T08:00Z/2026-03-30T07:00Z L1", // 167 h: the week with spring-forward
		"bob 2026-03-30T07:00Z/2026-04-06T07:00Z L1",
	}, shifts(t, s, "2026-03-01T00:00", "2026-04-06T07:00"))
}

func TestCustomDayTurn(t *testing.T) {
	t.Parallel()
	s := rotation(t, "America/New_York", "2026-03-05T18:00", "3d", "alice", "bob")
	require.Equal(t, []string{
		"alice 2026-03-05T23:00Z/2026-03-08T22:00Z L1", // 71 h: 18:00 EST to 18:00 EDT
		"bob 2026-03-08T22:00Z/2026-03-11T22:00Z L1",
	}, shifts(t, s, "2026-03-05T00:00", "2026-03-11T22:00"))
}

// Nights 22:00-06:00 on weekdays in a +05:30 zone, with a midnight handoff
// that cuts every night in two.
func TestRestrictionAcrossMidnight(t *testing.T) {
	t.Parallel()
	s := rotation(t, "Asia/Kolkata", "2026-03-02T00:00", schedule.Daily, "alice", "bob")
	s.Layers[0].Restrictions = []schedule.Restriction{{
		Days: []schedule.Weekday{"mon", "tue", "wed", "thu", "fri"}, Start: "22:00", End: "06:00",
	}}
	require.Equal(t, []string{
		"alice 2026-03-02T16:30Z/2026-03-02T18:30Z L1", // Mon 22:00-24:00 IST, Monday is alice's
		"bob 2026-03-02T18:30Z/2026-03-03T00:30Z L1",   // Tue 00:00-06:00
		"bob 2026-03-03T16:30Z/2026-03-03T18:30Z L1",
		"alice 2026-03-03T18:30Z/2026-03-04T00:30Z L1",
		"alice 2026-03-04T16:30Z/2026-03-04T18:30Z L1",
		"bob 2026-03-04T18:30Z/2026-03-05T00:30Z L1",
		"bob 2026-03-05T16:30Z/2026-03-05T18:30Z L1",
		"alice 2026-03-05T18:30Z/2026-03-06T00:30Z L1",
		"alice 2026-03-06T16:30Z/2026-03-06T18:30Z L1", // Fri night ends Sat 06:00
		"bob 2026-03-06T18:30Z/2026-03-07T00:30Z L1",
	}, shifts(t, s, "2026-03-01T18:30", "2026-03-08T18:30"))
}

// A weekend layer Fri 18:00 to Mon 09:00 crosses the week's end (and, here,
// New York's spring-forward Sunday).
func TestRestrictionAcrossWeekBoundary(t *testing.T) {
	t.Parallel()
	s := rotation(t, "America/New_York", "2026-03-06T18:00", schedule.Weekly, "alice", "bob")
	s.Layers[0].Restrictions = []schedule.Restriction{{StartDay: "fri", Start: "18:00", EndDay: "mon", End: "09:00"}}
	require.Equal(t, []string{
		"alice 2026-03-06T23:00Z/2026-03-09T13:00Z L1", // 62 h
		"bob 2026-03-13T22:00Z/2026-03-16T13:00Z L1",   // 63 h
	}, shifts(t, s, "2026-03-01T00:00", "2026-03-17T00:00"))
}

// A restricted daytime layer (weekdays 09-17) over a 24/7 base layer.
func TestLayering(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{ID: "sch_1", Name: "Ops", TimeZone: "Europe/Berlin", Layers: []schedule.Layer{
		{Name: "base", Members: []string{"alice", "bob"}, Start: local(t, "2026-03-02T09:00"), Turn: schedule.Weekly},
		{Name: "day", Members: []string{"carol", "dave"}, Start: local(t, "2026-03-02T09:00"), Turn: schedule.Daily,
			Restrictions: []schedule.Restriction{{Days: []schedule.Weekday{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00"}}},
	}}
	// Before both layers start nobody is on call: no shift.
	require.Equal(t, []string{
		"carol 2026-03-02T08:00Z/2026-03-02T16:00Z L2",
		"alice 2026-03-02T16:00Z/2026-03-03T08:00Z L1",
		"dave 2026-03-03T08:00Z/2026-03-03T16:00Z L2",
		"alice 2026-03-03T16:00Z/2026-03-03T23:00Z L1",
	}, shifts(t, s, "2026-03-01T23:00", "2026-03-03T23:00"))
	// The weekend is the base layer's; the daily rotation turns through it
	// (Saturday was dave's turn, Sunday carol's), so Monday is dave's.
	require.Equal(t, []string{
		"alice 2026-03-06T00:00Z/2026-03-06T08:00Z L1",
		"carol 2026-03-06T08:00Z/2026-03-06T16:00Z L2",
		"alice 2026-03-06T16:00Z/2026-03-09T08:00Z L1",
		"dave 2026-03-09T08:00Z/2026-03-09T16:00Z L2",
		"bob 2026-03-09T16:00Z/2026-03-09T20:00Z L1",
	}, shifts(t, s, "2026-03-06T00:00", "2026-03-09T20:00"))

	got, err := schedule.Shifts(s, utc(t, "2026-03-02T10:00"), utc(t, "2026-03-02T11:00"))
	require.NoError(t, err)
	require.Equal(t, schedule.Source{Kind: schedule.SourceLayer, Layer: 2, LayerName: "day"}, got[0].Source)
	require.Equal(t, "sch_1", got[0].ScheduleID)

	// The layers on their own, before stacking.
	require.Equal(t, []string{"alice 2026-03-02T08:00Z/2026-03-03T08:00Z L1"},
		layerShifts(t, s, 0, "2026-03-02T00:00", "2026-03-03T08:00"))
	require.Equal(t, []string{"carol 2026-03-02T08:00Z/2026-03-02T16:00Z L2", "dave 2026-03-03T08:00Z/2026-03-03T16:00Z L2"},
		layerShifts(t, s, 1, "2026-03-02T00:00", "2026-03-04T00:00"))
	_, err = schedule.LayerShifts(s, 2, utc(t, "2026-03-02T00:00"), utc(t, "2026-03-03T00:00"))
	var verr *schedule.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "layer", verr.Field)
}

func withOverrides(s schedule.Schedule, os ...schedule.Override) schedule.Schedule {
	s.Overrides = os
	return s
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	// alice on call 2026-03-02 08:00Z to 03-03 08:00Z, bob the next day.
	base := rotation(t, "Europe/Berlin", "2026-03-02T09:00", schedule.Daily, "alice", "bob")
	ov := func(id, user, start, end, replaces string) schedule.Override {
		return schedule.Override{ID: id, UserID: user, Start: utc(t, start), End: utc(t, end), Replaces: replaces}
	}
	cases := []struct {
		name string
		s    schedule.Schedule
		want []string
	}{
		{"cuts a shift in three", withOverrides(base, ov("ovr_1", "carol", "2026-03-02T12:00", "2026-03-02T14:00", "")), []string{
			"alice 2026-03-02T08:00Z/2026-03-02T12:00Z L1",
			"carol 2026-03-02T12:00Z/2026-03-02T14:00Z O:ovr_1",
			"alice 2026-03-02T14:00Z/2026-03-03T08:00Z L1",
			"bob 2026-03-03T08:00Z/2026-03-04T08:00Z L1",
		}},
		{"ends exactly at a handoff", withOverrides(base, ov("ovr_1", "carol", "2026-03-02T20:00", "2026-03-03T08:00", "")), []string{
			"alice 2026-03-02T08:00Z/2026-03-02T20:00Z L1",
			"carol 2026-03-02T20:00Z/2026-03-03T08:00Z O:ovr_1",
			"bob 2026-03-03T08:00Z/2026-03-04T08:00Z L1",
		}},
		{"replacing a named user applies only during that user's shift", withOverrides(base, ov("ovr_1", "carol", "2026-03-02T20:00", "2026-03-03T12:00", "alice")), []string{
			"alice 2026-03-02T08:00Z/2026-03-02T20:00Z L1",
			"carol 2026-03-02T20:00Z/2026-03-03T08:00Z O:ovr_1",
			"bob 2026-03-03T08:00Z/2026-03-04T08:00Z L1",
		}},
		{"replacing someone not on call changes nothing", withOverrides(base, ov("ovr_1", "carol", "2026-03-02T20:00", "2026-03-03T12:00", "dave")), []string{
			"alice 2026-03-02T08:00Z/2026-03-03T08:00Z L1",
			"bob 2026-03-03T08:00Z/2026-03-04T08:00Z L1",
		}},
		{"back-to-back overrides of one user stay apart", withOverrides(base,
			ov("ovr_1", "carol", "2026-03-02T10:00", "2026-03-02T11:00", ""),
			ov("ovr_2", "carol", "2026-03-02T11:00", "2026-03-02T12:00", "")), []string{
			"alice 2026-03-02T08:00Z/2026-03-02T10:00Z L1",
			"carol 2026-03-02T10:00Z/2026-03-02T11:00Z O:ovr_1",
			"carol 2026-03-02T11:00Z/2026-03-02T12:00Z O:ovr_2",
			"alice 2026-03-02T12:00Z/2026-03-03T08:00Z L1",
			"bob 2026-03-03T08:00Z/2026-03-04T08:00Z L1",
		}},
		{"an override for everyone covers time before the layer starts", withOverrides(base, ov("ovr_1", "carol", "2026-03-02T06:00", "2026-03-02T09:00", "")), []string{
			"carol 2026-03-02T06:00Z/2026-03-02T09:00Z O:ovr_1",
			"alice 2026-03-02T09:00Z/2026-03-03T08:00Z L1",
			"bob 2026-03-03T08:00Z/2026-03-04T08:00Z L1",
		}},
		{"an override of the user on call by that user merges nothing", withOverrides(base, ov("ovr_1", "alice", "2026-03-02T10:00", "2026-03-02T11:00", "")), []string{
			"alice 2026-03-02T08:00Z/2026-03-02T10:00Z L1",
			"alice 2026-03-02T10:00Z/2026-03-02T11:00Z O:ovr_1",
			"alice 2026-03-02T11:00Z/2026-03-03T08:00Z L1",
			"bob 2026-03-03T08:00Z/2026-03-04T08:00Z L1",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, shifts(t, c.s, "2026-03-02T00:00", "2026-03-04T08:00"))
		})
	}
}

// An override replacing a lower layer's user has no effect while a higher
// layer has someone else on call; one for everyone fills a restricted gap.
func TestOverridesOverLayers(t *testing.T) {
	t.Parallel()
	s := schedule.Schedule{Name: "Ops", TimeZone: "UTC", Layers: []schedule.Layer{
		{Members: []string{"alice"}, Start: local(t, "2026-03-02T00:00"), Turn: schedule.Weekly,
			Restrictions: []schedule.Restriction{{Start: "00:00", End: "12:00"}}},
		{Members: []string{"carol"}, Start: local(t, "2026-03-02T00:00"), Turn: schedule.Weekly,
			Restrictions: []schedule.Restriction{{Start: "06:00", End: "08:00"}}},
	}, Overrides: []schedule.Override{
		{ID: "o1", UserID: "dave", Start: utc(t, "2026-03-02T05:00"), End: utc(t, "2026-03-02T07:00"), Replaces: "alice"},
		{ID: "o2", UserID: "erin", Start: utc(t, "2026-03-02T11:00"), End: utc(t, "2026-03-02T14:00")},
	}}
	require.Equal(t, []string{
		"alice 2026-03-02T00:00Z/2026-03-02T05:00Z L1",
		"dave 2026-03-02T05:00Z/2026-03-02T06:00Z O:o1",
		"carol 2026-03-02T06:00Z/2026-03-02T08:00Z L2",
		"alice 2026-03-02T08:00Z/2026-03-02T11:00Z L1",
		"erin 2026-03-02T11:00Z/2026-03-02T14:00Z O:o2",
	}, shifts(t, s, "2026-03-02T00:00", "2026-03-02T20:00"))
}

// A rotation started years ago is computed by arithmetic: the turn in 2030
// of a daily rotation started in 2020 is the number of calendar days
// between them, whatever the transitions in between.
func TestFarFutureTurn(t *testing.T) {
	t.Parallel()
	members := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10"}
	s := rotation(t, "Europe/Berlin", "2020-01-06T09:00", schedule.Daily, members...)
	days := int(time.Date(2030, 6, 3, 0, 0, 0, 0, time.UTC).Sub(time.Date(2020, 1, 6, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	want := members[days%len(members)]
	next := members[(days+1)%len(members)]
	require.Equal(t, []string{
		want + " 2030-06-03T07:00Z/2030-06-04T07:00Z L1",
		next + " 2030-06-04T07:00Z/2030-06-04T08:00Z L1",
	}, shifts(t, s, "2030-06-03T07:00", "2030-06-04T08:00"))

	// Before the start nobody is on call.
	require.Empty(t, shifts(t, s, "2019-12-01T00:00", "2020-01-06T08:00"))
	require.Equal(t, []string{"m0 2020-01-06T08:00Z/2020-01-06T09:00Z L1"}, shifts(t, s, "2019-12-01T00:00", "2020-01-06T09:00"))
}

// One member's turns run together into one shift.
func TestSingleMemberMerges(t *testing.T) {
	t.Parallel()
	s := rotation(t, "Europe/Berlin", "2026-03-01T09:00", schedule.Hourly, "alice")
	require.Equal(t, []string{"alice 2026-03-27T00:00Z/2026-04-02T00:00Z L1"},
		shifts(t, s, "2026-03-27T00:00", "2026-04-02T00:00"))
}

func TestWindowLimits(t *testing.T) {
	t.Parallel()
	s := rotation(t, "UTC", "2026-01-01T00:00", schedule.Daily, "alice")
	var verr *schedule.ValidationError
	_, err := schedule.Shifts(s, utc(t, "2026-01-01T00:00"), utc(t, "2027-01-03T00:00"))
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "to: must be at most 366 days after from", err.Error())
	_, err = schedule.Shifts(s, utc(t, "2026-01-02T00:00"), utc(t, "2026-01-01T00:00"))
	require.ErrorAs(t, err, &verr)
	_, err = schedule.Shifts(s, utc(t, "1960-01-01T00:00"), utc(t, "1960-01-02T00:00"))
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "from", verr.Field)
	got, err := schedule.Shifts(s, utc(t, "2026-01-01T00:00"), utc(t, "2027-01-02T00:00"))
	require.NoError(t, err)
	require.Len(t, got, 1)
	got, err = schedule.Shifts(s, utc(t, "2026-01-01T00:00"), utc(t, "2026-01-01T00:00"))
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Empty(t, got)

	bad := s
	bad.TimeZone = "Mars/Olympus"
	_, err = schedule.Shifts(bad, utc(t, "2026-01-01T00:00"), utc(t, "2026-01-02T00:00"))
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "time_zone", verr.Field)
}

func TestOnCallAt(t *testing.T) {
	t.Parallel()
	s := rotation(t, "Europe/Berlin", "2026-03-02T09:00", schedule.Weekly, "alice", "bob")
	s.Layers[0].Restrictions = []schedule.Restriction{{StartDay: "mon", Start: "09:00", EndDay: "sat", End: "09:00"}}
	s.Overrides = []schedule.Override{{ID: "o1", UserID: "carol", Start: utc(t, "2026-03-10T10:00"), End: utc(t, "2026-03-10T11:00")}}

	got, ok, err := schedule.OnCallAt(s, utc(t, "2026-03-04T12:00"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "alice", got.UserID)
	require.Equal(t, utc(t, "2026-03-02T08:00"), got.Start, "the whole shift, not the window looked at")
	require.Equal(t, utc(t, "2026-03-07T08:00"), got.End)
	require.Equal(t, schedule.Source{Kind: schedule.SourceLayer, Layer: 1}, got.Source)

	got, ok, err = schedule.OnCallAt(s, utc(t, "2026-03-10T10:30"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, schedule.Shift{ScheduleID: "sch_1", UserID: "carol", Start: utc(t, "2026-03-10T10:00"),
		End: utc(t, "2026-03-10T11:00"), Source: schedule.Source{Kind: schedule.SourceOverride, OverrideID: "o1"}}, got)

	// The end is exclusive; the weekend has nobody.
	_, ok, err = schedule.OnCallAt(s, utc(t, "2026-03-07T08:00"))
	require.NoError(t, err)
	require.False(t, ok)
	got, ok, _ = schedule.OnCallAt(s, utc(t, "2026-03-07T08:00").Add(-time.Nanosecond))
	require.True(t, ok)
	require.Equal(t, "alice", got.UserID)

	// An invalid schedule is an error, never "nobody is on call".
	s.Layers[0].Members = nil
	_, _, err = schedule.OnCallAt(s, utc(t, "2026-03-04T12:00"))
	var verr *schedule.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "layers[0].members", verr.Field)
}

func TestUserShifts(t *testing.T) {
	t.Parallel()
	s := rotation(t, "UTC", "2026-03-02T00:00", schedule.Daily, "alice", "bob")
	s.Overrides = []schedule.Override{{ID: "o1", UserID: "bob", Start: utc(t, "2026-03-02T06:00"), End: utc(t, "2026-03-02T07:00")}}
	got, err := schedule.UserShifts(s, "bob", utc(t, "2026-03-02T00:00"), utc(t, "2026-03-05T00:00"))
	require.NoError(t, err)
	require.Equal(t, []string{
		"bob 2026-03-02T06:00Z/2026-03-02T07:00Z O:o1",
		"bob 2026-03-03T00:00Z/2026-03-04T00:00Z L1",
	}, show(got))
	got, err = schedule.UserShifts(s, "nobody", utc(t, "2026-03-02T00:00"), utc(t, "2026-03-05T00:00"))
	require.NoError(t, err)
	require.Empty(t, got)
}

func showHandoffs(hs []schedule.Handoff) []string {
	out := []string{}
	for _, h := range hs {
		src := func(s *schedule.Source) string {
			switch {
			case s == nil:
				return "-"
			case s.Kind == schedule.SourceOverride:
				return "O:" + s.OverrideID
			}
			return fmt.Sprintf("L%d", s.Layer)
		}
		from, to := h.FromUserID, h.ToUserID
		if from == "" {
			from = "nobody"
		}
		if to == "" {
			to = "nobody"
		}
		out = append(out, fmt.Sprintf("%s %s(%s)->%s(%s)", h.At.Format("2006-01-02T15:04Z"), from, src(h.FromSource), to, src(h.ToSource)))
	}
	return out
}

func TestNextHandoffs(t *testing.T) {
	t.Parallel()
	s := rotation(t, "Europe/Berlin", "2026-03-02T09:00", schedule.Daily, "alice", "bob")
	s.Overrides = []schedule.Override{{ID: "o1", UserID: "carol", Start: utc(t, "2026-03-02T20:00"), End: utc(t, "2026-03-03T08:00")}}

	hs, err := schedule.NextHandoffs(s, utc(t, "2026-03-02T00:00"), 4)
	require.NoError(t, err)
	require.Equal(t, []string{
		"2026-03-02T08:00Z nobody(-)->alice(L1)",
		"2026-03-02T20:00Z alice(L1)->carol(O:o1)",
		"2026-03-03T08:00Z carol(O:o1)->bob(L1)", // the override ends at the handoff
		"2026-03-04T08:00Z bob(L1)->alice(L1)",
	}, showHandoffs(hs))

	// Strictly after: a workflow woken at a handoff asks for the next one.
	hs, err = schedule.NextHandoffs(s, utc(t, "2026-03-02T20:00"), 1)
	require.NoError(t, err)
	require.Equal(t, []string{"2026-03-03T08:00Z carol(O:o1)->bob(L1)"}, showHandoffs(hs))

	// Across spring-forward, handoffs stay at 09:00 local.
	hs, err = schedule.NextHandoffs(s, utc(t, "2026-03-27T00:00"), 3)
	require.NoError(t, err)
	require.Equal(t, []string{
		"2026-03-27T08:00Z alice(L1)->bob(L1)",
		"2026-03-28T08:00Z bob(L1)->alice(L1)",
		"2026-03-29T07:00Z alice(L1)->bob(L1)",
	}, showHandoffs(hs))

	// A same-user change of source is no handoff; a gap is one.
	gap := rotation(t, "UTC", "2026-03-02T00:00", schedule.Weekly, "alice")
	gap.Layers[0].Restrictions = []schedule.Restriction{{Start: "09:00", End: "17:00"}}
	gap.Overrides = []schedule.Override{{ID: "o1", UserID: "alice", Start: utc(t, "2026-03-02T16:00"), End: utc(t, "2026-03-02T18:00")}}
	hs, err = schedule.NextHandoffs(gap, utc(t, "2026-03-02T10:00"), 3)
	require.NoError(t, err)
	require.Equal(t, []string{
		"2026-03-02T18:00Z alice(O:o1)->nobody(-)",
		"2026-03-03T09:00Z nobody(-)->alice(L1)",
		"2026-03-03T17:00Z alice(L1)->nobody(-)",
	}, showHandoffs(hs))

	// One member around the clock never hands off: the answer is empty
	// after a year's search.
	solo := rotation(t, "UTC", "2026-03-02T00:00", schedule.Daily, "alice")
	hs, err = schedule.NextHandoffs(solo, utc(t, "2026-03-03T00:00"), 1)
	require.NoError(t, err)
	require.Empty(t, hs)

	_, err = schedule.NextHandoffs(s, utc(t, "2026-03-03T00:00"), 0)
	var verr *schedule.ValidationError
	require.True(t, errors.As(err, &verr))
}
