package schedule_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/schedule"
)

// utc reads "2026-03-29T07:00" as an instant in UTC.
func utc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02T15:04", s)
	require.NoError(t, err)
	return v
}

func local(t testing.TB, s string) schedule.LocalDateTime {
	t.Helper()
	v, err := schedule.ParseLocalDateTime(s)
	require.NoError(t, err)
	return v
}

// rotation is a one-layer schedule.
func rotation(t testing.TB, zone, start string, turn schedule.Turn, members ...string) schedule.Schedule {
	t.Helper()
	return schedule.Schedule{
		ID: "sch_1", Name: "Primary", TimeZone: zone,
		Layers: []schedule.Layer{{Members: members, Start: local(t, start), Turn: turn}},
	}
}

// show writes shifts as "alice 2026-03-28T08:00Z/2026-03-29T07:00Z L1"
// (layer 1) or "… O:ovr_1" (override ovr_1), for tables that read like a
// calendar.
func show(shifts []schedule.Shift) []string {
	out := []string{}
	for _, s := range shifts {
		src := "L" + strconv.Itoa(s.Source.Layer)
		if s.Source.Kind == schedule.SourceOverride {
			src = "O:" + s.Source.OverrideID
		}
		out = append(out, s.UserID+" "+s.Start.UTC().Format("2006-01-02T15:04Z")+"/"+
			s.End.UTC().Format("2006-01-02T15:04Z")+" "+src)
	}
	return out
}

func shifts(t testing.TB, s schedule.Schedule, from, to string) []string {
	t.Helper()
	got, err := schedule.Shifts(s, utc(t, from), utc(t, to))
	require.NoError(t, err)
	return show(got)
}

func layerShifts(t testing.TB, s schedule.Schedule, layer int, from, to string) []string {
	t.Helper()
	got, err := schedule.LayerShifts(s, layer, utc(t, from), utc(t, to))
	require.NoError(t, err)
	return show(got)
}
