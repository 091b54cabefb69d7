package oncall_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/schedule"
)

// A schedule body reads and writes the schedule package's fields at the
// top level, beside the timestamps; its errors carry fault codes naming
// the field.
func TestScheduleBodyAndErrors(t *testing.T) {
	t.Parallel()
	var sch oncall.Schedule
	require.NoError(t, json.Unmarshal([]byte(`{"name":" primary ","time_zone":"Europe/Berlin",
		"layers":[{"members":["usr_a","usr_b"],"start":"2026-03-02T09:00","turn":" Weekly "}]}`), &sch))
	sch.Normalize()
	require.NoError(t, sch.Validate())
	require.Equal(t, "primary", sch.Name)
	require.Equal(t, schedule.Weekly, sch.Layers[0].Turn)
	require.Equal(t, []string{"usr_a", "usr_b"}, sch.MemberIDs())
	out, err := json.Marshal(sch)
	require.NoError(t, err)
	require.Contains(t, string(out), `"start":"2026-03-02T09:00"`)
	require.Contains(t, string(out), `"created_at":`)
	require.NotContains(t, string(out), `"overrides"`)

	sch.Layers[0].Turn = "fortnightly"
	err = sch.Validate()
	require.Equal(t, fault.Invalid, fault.CodeOf(err))
	e, _ := fault.As(err)
	require.Equal(t, "layers[0].turn", e.Field)

	sch.Layers[0].Turn = schedule.Weekly
	sch.Overrides = []schedule.Override{{UserID: "usr_a", Start: time.Now(), End: time.Now().Add(time.Hour)}}
	e, _ = fault.As(sch.Validate())
	require.Equal(t, "overrides", e.Field, "overrides have routes of their own")

	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clash := schedule.ValidateOverride([]schedule.Override{{ID: "ovr_1", UserID: "usr_a", Start: at, End: at.Add(time.Hour)}},
		schedule.Override{UserID: "usr_b", Start: at.Add(30 * time.Minute), End: at.Add(2 * time.Hour)})
	err = oncall.ScheduleError(clash)
	require.Equal(t, fault.Conflict, fault.CodeOf(err))
	e, _ = fault.As(err)
	require.Equal(t, "the override overlaps override ovr_1 (user usr_a, 2026-03-02T09:00:00Z to 2026-03-02T10:00:00Z)", e.Public())
	require.NoError(t, oncall.ScheduleError(nil))
}

func TestPolicyTargetsSchedules(t *testing.T) {
	t.Parallel()
	p := oncall.Policy{Name: "p", Steps: []oncall.Step{
		{Targets: []oncall.Target{{Type: "Schedule", ID: " sch_1 "}, {Type: oncall.TargetUser, ID: "usr_a"}}},
		{Targets: []oncall.Target{{Type: oncall.TargetSchedule, ID: "sch_1"}, {Type: oncall.TargetSchedule, ID: "sch_2"}}},
	}}
	p.Normalize()
	require.NoError(t, p.Validate())
	require.Equal(t, []string{"sch_1", "sch_2"}, p.ScheduleIDs())
	require.Equal(t, []string{"usr_a"}, p.UserIDs())
	p.Steps[0].Targets[0].Type = "team"
	e, _ := fault.As(p.Validate())
	require.Equal(t, "steps[0].targets[0].type", e.Field)
	require.Equal(t, "must be user or schedule", e.Message)
}

func TestHandoffSubscriptionLeadTime(t *testing.T) {
	t.Parallel()
	for minutes, ok := range map[int]bool{0: false, 1: true, 15: true, 1440: true, 1441: false, -5: false} {
		err := oncall.HandoffSubscription{MinutesBefore: minutes}.Validate()
		require.Equal(t, ok, err == nil, "%d minutes: %v", minutes, err)
	}
	require.Equal(t, 15*time.Minute, oncall.HandoffSubscription{MinutesBefore: 15}.Before())
}
