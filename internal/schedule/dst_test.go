package schedule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/schedule"
)

// A daily turn hands off at the same local time of day on both sides of a
// transition, so the turn across it lasts 23 h or 25 h of real time.
func TestDailyHandoffKeepsLocalTimeAcrossDST(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, start, from, to string
		want                        []string
	}{
		{"Berlin spring forward", "Europe/Berlin", "2026-03-27T09:00", "2026-03-27T00:00", "2026-03-30T07:00", []string{
			"alice 2026-03-27T08:00Z/2026-03-28T08:00Z L1",
			"bob 2026-03-28T08:00Z/2026-03-29T07:00Z L1", // 23 h
			"alice 2026-03-29T07:00Z/2026-03-30T07:00Z L1",
		}},
		{"Berlin fall back", "Europe/Berlin", "2026-10-24T09:00", "2026-10-24T00:00", "2026-10-26T08:00", []string{
			"alice 2026-10-24T07:00Z/2026-10-25T08:00Z L1", // 25 h
			"bob 2026-10-25T08:00Z/2026-10-26T08:00Z L1",
		}},
		{"New York spring forward", "America/New_York", "2026-03-07T09:00", "2026-03-07T00:00", "2026-03-09T13:00", []string{
			"alice 2026-03-07T14:00Z/2026-03-08T13:00Z L1", // 23 h
			"bob 2026-03-08T13:00Z/2026-03-09T13:00Z L1",
		}},
		{"New York fall back", "America/New_York", "2026-10-31T09:00", "2026-10-31T00:00", "2026-11-02T14:00", []string{
			"alice 2026-10-31T13:00Z/2026-11-01T14:00Z L1", // 25 h
			"bob 2026-11-01T14:00Z/2026-11-02T14:00Z L1",
		}},
		{"Adelaide fall back (+10:30 to +09:30)", "Australia/Adelaide", "2026-04-04T09:00", "2026-04-03T00:00", "2026-04-05T23:30", []string{
			"alice 2026-04-03T22:30Z/2026-04-04T23:30Z L1", // 25 h
			"bob 2026-04-04T23:30Z/2026-04-05T23:30Z L1",
		}},
		{"Adelaide spring forward (+09:30 to +10:30)", "Australia/Adelaide", "2026-10-03T09:00", "2026-10-02T00:00", "2026-10-04T22:30", []string{
			"alice 2026-10-02T23:30Z/2026-10-03T22:30Z L1", // 23 h
			"bob 2026-10-03T22:30Z/2026-10-04T22:30Z L1",
		}},
		{"Kolkata +05:30, no DST", "Asia/Kolkata", "2026-03-28T09:00", "2026-03-28T00:00", "2026-03-30T03:30", []string{
			"alice 2026-03-28T03:30Z/2026-03-29T03:30Z L1",
			"bob 2026-03-29T03:30Z/2026-03-30T03:30Z L1",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := rotation(t, c.zone, c.start, schedule.Daily, "alice", "bob")
			require.Equal(t, c.want, shifts(t, s, c.from, c.to))
		})
	}
}

// A 12h turn started at 09:00 hands off at 09:00 and 21:00 local every day:
// the night across spring-forward lasts 11 h, across fall-back 13 h.
func TestTwelveHourTurnAcrossDST(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, zone, start, from, to string
		want                        []string
	}{
		{"Berlin spring forward", "Europe/Berlin", "2026-03-28T09:00", "2026-03-28T00:00", "2026-03-29T19:00", []string{
			"alice 2026-03-28T08:00Z/2026-03-28T20:00Z L1",
			"bob 2026-03-28T20:00Z/2026-03-29T07:00Z L1", // 11 h
			"alice 2026-03-29T07:00Z/2026-03-29T19:00Z L1",
		}},
		{"Berlin fall back", "Europe/Berlin", "2026-10-24T09:00", "2026-10-24T00:00", "2026-10-25T20:00", []string{
			"alice 2026-10-24T07:00Z/2026-10-24T19:00Z L1",
			"bob 2026-10-24T19:00Z/2026-10-25T08:00Z L1", // 13 h
			"alice 2026-10-25T08:00Z/2026-10-25T20:00Z L1",
		}},
		{"New York spring forward", "America/New_York", "2026-03-07T09:00", "2026-03-07T00:00", "2026-03-09T01:00", []string{
			"alice 2026-03-07T14:00Z/2026-03-08T02:00Z L1",
			"bob 2026-03-08T02:00Z/2026-03-08T13:00Z L1", // 11 h
			"alice 2026-03-08T13:00Z/2026-03-09T01:00Z L1",
		}},
		{"New York fall back", "America/New_York", "2026-10-31T09:00", "2026-10-31T00:00", "2026-11-02T02:00", []string{
			"alice 2026-10-31T13:00Z/2026-11-01T01:00Z L1",
			"bob 2026-11-01T01:00Z/2026-11-01T14:00Z L1", // 13 h
			"alice 2026-11-01T14:00Z/2026-11-02T02:00Z L1",
		}},
		{"Adelaide fall back", "Australia/Adelaide", "2026-04-04T09:00", "2026-04-03T00:00", "2026-04-05T11:30", []string{
			"alice 2026-04-03T22:30Z/2026-04-04T10:30Z L1",
			"bob 2026-04-04T10:30Z/2026-04-04T23:30Z L1", // 13 h
			"alice 2026-04-04T23:30Z/2026-04-05T11:30Z L1",
		}},
		{"Adelaide spring forward", "Australia/Adelaide", "2026-10-03T09:00", "2026-10-02T00:00", "2026-10-04T10:30", []string{
			"alice 2026-10-02T23:30Z/2026-10-03T11:30Z L1",
			"bob 2026-10-03T11:30Z/2026-10-03T22:30Z L1", // 11 h
			"alice 2026-10-03T22:30Z/2026-10-04T10:30Z L1",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := rotation(t, c.zone, c.start, "12h", "alice", "bob")
			require.Equal(t, c.want, shifts(t, s, c.from, c.to))
		})
	}
}

// A handoff time that does not exist (inside the spring-forward gap) takes
// effect at the end of the gap, the transition instant. time.Date would move
// it forward by the gap's length instead; this pins both.
func TestHandoffInSpringForwardGap(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	require.Equal(t, utc(t, "2026-03-29T01:30"), time.Date(2026, 3, 29, 2, 30, 0, 0, berlin).UTC(),
		"time.Date moves 02:30 to 03:30 CEST; the schedule does not use it")

	s := rotation(t, "Europe/Berlin", "2026-03-28T02:30", schedule.Daily, "alice", "bob")
	require.Equal(t, []string{
		"alice 2026-03-28T01:30Z/2026-03-29T01:00Z L1", // handoff at 03:00 CEST, the transition
		"bob 2026-03-29T01:00Z/2026-03-30T00:30Z L1",   // 02:30 CEST
	}, shifts(t, s, "2026-03-28T00:00", "2026-03-30T00:30"))

	ny := rotation(t, "America/New_York", "2026-03-07T02:30", schedule.Daily, "alice", "bob")
	require.Equal(t, []string{
		"alice 2026-03-07T07:30Z/2026-03-08T07:00Z L1",
		"bob 2026-03-08T07:00Z/2026-03-09T06:30Z L1",
	}, shifts(t, ny, "2026-03-07T00:00", "2026-03-09T06:30"))

	// A layer whose start does not exist starts at the transition.
	late := rotation(t, "Europe/Berlin", "2026-03-29T02:30", schedule.Daily, "alice", "bob")
	require.Equal(t, []string{"alice 2026-03-29T01:00Z/2026-03-30T00:30Z L1"},
		shifts(t, late, "2026-03-28T00:00", "2026-03-30T00:30"))
}

// A handoff time inside the hour repeated after fall-back takes effect at
// its first occurrence; time.Date picks the second in Europe/Berlin.
func TestHandoffInRepeatedHour(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	require.Equal(t, utc(t, "2026-10-25T01:30"), time.Date(2026, 10, 25, 2, 30, 0, 0, berlin).UTC(),
		"time.Date picks 02:30 CET, the second occurrence; the schedule does not use it")

	s := rotation(t, "Europe/Berlin", "2026-10-24T02:30", schedule.Daily, "alice", "bob")
	require.Equal(t, []string{
		"alice 2026-10-24T00:30Z/2026-10-25T00:30Z L1", // 02:30 CEST, first occurrence
		"bob 2026-10-25T00:30Z/2026-10-26T01:30Z L1",   // 25 h, the repeated hour included
	}, shifts(t, s, "2026-10-24T00:00", "2026-10-26T01:30"))
	// Asked from inside the repeated hour (02:00 CET), the handoff at the
	// first 02:30 has happened already.
	require.Equal(t, []string{"bob 2026-10-25T01:00Z/2026-10-25T02:00Z L1"},
		shifts(t, s, "2026-10-25T01:00", "2026-10-25T02:00"))

	ny := rotation(t, "America/New_York", "2026-10-31T01:30", schedule.Daily, "alice", "bob")
	require.Equal(t, []string{
		"alice 2026-10-31T05:30Z/2026-11-01T05:30Z L1", // 01:30 EDT
		"bob 2026-11-01T05:30Z/2026-11-02T06:30Z L1",
	}, shifts(t, ny, "2026-10-31T00:00", "2026-11-02T06:30"))
}

// Hourly turns follow the wall clock: the turn of the hour that does not
// exist has no shift (the rotation is not shifted: 03:00 belongs to whom the
// calendar says), and the turn whose hour repeats lasts two hours.
func TestHourlyTurnsAcrossDST(t *testing.T) {
	t.Parallel()
	spring := rotation(t, "Europe/Berlin", "2026-03-29T00:00", schedule.Hourly, "a", "b", "c")
	require.Equal(t, []string{
		"a 2026-03-28T23:00Z/2026-03-29T00:00Z L1", // 00:00 CET
		"b 2026-03-29T00:00Z/2026-03-29T01:00Z L1", // 01:00 CET; c's 02:00 does not exist
		"a 2026-03-29T01:00Z/2026-03-29T02:00Z L1", // 03:00 CEST
		"b 2026-03-29T02:00Z/2026-03-29T03:00Z L1",
	}, shifts(t, spring, "2026-03-28T23:00", "2026-03-29T03:00"))

	autumn := rotation(t, "Europe/Berlin", "2026-10-25T00:00", schedule.Hourly, "a", "b", "c")
	require.Equal(t, []string{
		"a 2026-10-24T22:00Z/2026-10-24T23:00Z L1", // 00:00 CEST
		"b 2026-10-24T23:00Z/2026-10-25T00:00Z L1",
		"c 2026-10-25T00:00Z/2026-10-25T02:00Z L1", // 02:00 CEST to 03:00 CET
		"a 2026-10-25T02:00Z/2026-10-25T03:00Z L1",
	}, shifts(t, autumn, "2026-10-24T22:00", "2026-10-25T03:00"))
	// A window that opens inside the repeated hour (02:30 CET) still knows
	// the clock has been past it.
	require.Equal(t, []string{
		"c 2026-10-25T01:30Z/2026-10-25T02:00Z L1",
		"a 2026-10-25T02:00Z/2026-10-25T02:30Z L1",
	}, shifts(t, autumn, "2026-10-25T01:30", "2026-10-25T02:30"))

	// Lord Howe Island moves its clocks by 30 minutes.
	howe := rotation(t, "Australia/Lord_Howe", "2026-10-04T00:00", schedule.Hourly, "a", "b", "c")
	require.Equal(t, []string{
		"a 2026-10-03T13:30Z/2026-10-03T14:30Z L1", // 00:00 +10:30
		"b 2026-10-03T14:30Z/2026-10-03T15:30Z L1",
		"c 2026-10-03T15:30Z/2026-10-03T16:00Z L1", // 02:00 jumps to 02:30 +11
		"a 2026-10-03T16:00Z/2026-10-03T17:00Z L1",
	}, shifts(t, howe, "2026-10-03T13:30", "2026-10-03T17:00"))
}

// Restrictions read the local wall clock; on transition nights a window
// covers only the real instants it can, never time that does not exist.
func TestRestrictionOnTransitionNights(t *testing.T) {
	t.Parallel()
	restricted := func(zone string, r schedule.Restriction) schedule.Schedule {
		s := rotation(t, zone, "2026-01-05T00:00", schedule.Weekly, "alice")
		s.Layers[0].Restrictions = []schedule.Restriction{r}
		return s
	}
	cases := []struct {
		name, zone  string
		r           schedule.Restriction
		from, to    string
		want        []string
		realMinutes []int
	}{
		{"01:30-02:30 on spring-forward night", "Europe/Berlin",
			schedule.Restriction{Start: "01:30", End: "02:30"}, "2026-03-28T00:00", "2026-03-30T12:00", []string{
				"alice 2026-03-28T00:30Z/2026-03-28T01:30Z L1",
				"alice 2026-03-29T00:30Z/2026-03-29T01:00Z L1", // 01:30 to 02:00 CET, then the clock jumps past 02:30
				"alice 2026-03-29T23:30Z/2026-03-30T00:30Z L1",
			}, []int{60, 30, 60}},
		{"window wholly inside the gap", "Europe/Berlin",
			schedule.Restriction{Start: "02:15", End: "02:45"}, "2026-03-28T00:00", "2026-03-31T00:00", []string{
				"alice 2026-03-28T01:15Z/2026-03-28T01:45Z L1",
				"alice 2026-03-30T00:15Z/2026-03-30T00:45Z L1",
			}, []int{30, 30}},
		{"01:30-02:30 on fall-back night: first occurrence only", "Europe/Berlin",
			schedule.Restriction{Start: "01:30", End: "02:30"}, "2026-10-23T12:00", "2026-10-26T12:00", []string{
				"alice 2026-10-23T23:30Z/2026-10-24T00:30Z L1",
				"alice 2026-10-24T23:30Z/2026-10-25T00:30Z L1", // 01:30-02:30 CEST
				"alice 2026-10-26T00:30Z/2026-10-26T01:30Z L1",
			}, []int{60, 60, 60}},
		{"window ending at 03:00 keeps the repeated hour", "Europe/Berlin",
			schedule.Restriction{Start: "01:30", End: "03:00"}, "2026-10-24T12:00", "2026-10-25T12:00", []string{
				"alice 2026-10-24T23:30Z/2026-10-25T02:00Z L1", // 01:30 CEST to 03:00 CET
			}, []int{150}},
		{"night 22:00-06:00 across spring forward", "Europe/Berlin",
			schedule.Restriction{Days: []schedule.Weekday{"sat"}, Start: "22:00", End: "06:00"}, "2026-03-28T00:00", "2026-03-30T00:00", []string{
				"alice 2026-03-28T21:00Z/2026-03-29T04:00Z L1",
			}, []int{7 * 60}},
		{"night 22:00-06:00 across fall back", "Europe/Berlin",
			schedule.Restriction{Days: []schedule.Weekday{"sat"}, Start: "22:00", End: "06:00"}, "2026-10-24T00:00", "2026-10-26T00:00", []string{
				"alice 2026-10-24T20:00Z/2026-10-25T05:00Z L1",
			}, []int{9 * 60}},
		{"01:00-03:00 on New York's spring-forward night", "America/New_York",
			schedule.Restriction{Days: []schedule.Weekday{"sun"}, Start: "01:00", End: "03:00"}, "2026-03-08T00:00", "2026-03-09T00:00", []string{
				"alice 2026-03-08T06:00Z/2026-03-08T07:00Z L1",
			}, []int{60}},
		{"02:00-03:00 on Lord Howe's 30-minute spring forward", "Australia/Lord_Howe",
			schedule.Restriction{Days: []schedule.Weekday{"sun"}, Start: "02:00", End: "03:00"}, "2026-10-03T00:00", "2026-10-05T00:00", []string{
				"alice 2026-10-03T15:30Z/2026-10-03T16:00Z L1", // 02:00 jumps to 02:30
			}, []int{30}},
		{"09:00-17:00 in Adelaide's +09:30", "Australia/Adelaide",
			schedule.Restriction{Days: []schedule.Weekday{"mon"}, Start: "09:00", End: "17:00"}, "2026-05-31T12:00", "2026-06-01T12:00", []string{
				"alice 2026-05-31T23:30Z/2026-06-01T07:30Z L1",
			}, []int{8 * 60}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := restricted(c.zone, c.r)
			got, err := schedule.Shifts(s, utc(t, c.from), utc(t, c.to))
			require.NoError(t, err)
			require.Equal(t, c.want, show(got))
			var minutes []int
			for _, sh := range got {
				minutes = append(minutes, int(sh.End.Sub(sh.Start)/time.Minute))
			}
			require.Equal(t, c.realMinutes, minutes)
		})
	}
}
