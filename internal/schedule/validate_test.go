package schedule_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/schedule"
)

func validSchedule(t *testing.T) schedule.Schedule {
	return schedule.Schedule{
		Name: "Primary", TimeZone: "Europe/Berlin",
		Layers: []schedule.Layer{
			{Members: []string{"alice", "bob"}, Start: local(t, "2026-03-02T09:00"), Turn: schedule.Weekly},
			{Members: []string{"carol"}, Start: local(t, "2026-03-02T09:00"), Turn: "12h",
				Restrictions: []schedule.Restriction{{Days: []schedule.Weekday{"mon"}, Start: "09:00", End: "17:00"}}},
		},
		Overrides: []schedule.Override{
			{ID: "o1", UserID: "dave", Start: utc(t, "2026-03-03T10:00"), End: utc(t, "2026-03-03T12:00")},
			{ID: "o2", UserID: "dave", Start: utc(t, "2026-03-03T12:00"), End: utc(t, "2026-03-03T14:00")},
		},
	}
}

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		edit    func(*schedule.Schedule)
		field   string
		message string
	}{
		{"valid", func(*schedule.Schedule) {}, "", ""},
		{"no name", func(s *schedule.Schedule) { s.Name = "" }, "name", "is required"},
		{"long name", func(s *schedule.Schedule) { s.Name = strings.Repeat("x", 201) }, "name", ""},
		{"unknown zone", func(s *schedule.Schedule) { s.TimeZone = "Europe/Atlantis" }, "time_zone",
			`unknown time zone "Europe/Atlantis": use an IANA name like Europe/Berlin`},
		{"no zone", func(s *schedule.Schedule) { s.TimeZone = "" }, "time_zone", ""},
		{"machine-local zone", func(s *schedule.Schedule) { s.TimeZone = "Local" }, "time_zone", ""},
		{"UTC", func(s *schedule.Schedule) { s.TimeZone = "UTC" }, "", ""},
		{"no layers", func(s *schedule.Schedule) { s.Layers = nil }, "layers", "needs at least one layer"},
		{"eleven layers", func(s *schedule.Schedule) {
			for len(s.Layers) < 11 {
				s.Layers = append(s.Layers, s.Layers[0])
			}
		}, "layers", "holds more than 10 layers"},
		{"empty members", func(s *schedule.Schedule) { s.Layers[1].Members = nil }, "layers[1].members", "needs at least one user"},
		{"blank member", func(s *schedule.Schedule) { s.Layers[0].Members[1] = "" }, "layers[0].members[1]", "is required"},
		{"101 members", func(s *schedule.Schedule) {
			for i := 0; i < 101; i++ {
				s.Layers[0].Members = append(s.Layers[0].Members, fmt.Sprint("u", i))
			}
		}, "layers[0].members", "holds more than 100 users"},
		{"repeated member", func(s *schedule.Schedule) { s.Layers[0].Members = []string{"a", "b", "a", "c"} }, "", ""},
		{"no start", func(s *schedule.Schedule) { s.Layers[0].Start = schedule.LocalDateTime{} }, "layers[0].start", ""},
		{"impossible start", func(s *schedule.Schedule) {
			s.Layers[0].Start = schedule.LocalDateTime{Year: 2026, Month: 2, Day: 30, Hour: 9}
		}, "layers[0].start", "is not a real date and time"},
		{"start in 1969", func(s *schedule.Schedule) { s.Layers[0].Start = local(t, "1969-12-31T09:00") }, "layers[0].start", ""},
		{"bad turn", func(s *schedule.Schedule) { s.Layers[1].Turn = "fortnightly" }, "layers[1].turn",
			"must be hourly, daily, weekly, a duration like 12h, or a number of days like 3d"},
		{"no turn", func(s *schedule.Schedule) { s.Layers[1].Turn = "" }, "layers[1].turn", ""},
		{"turn too short", func(s *schedule.Schedule) { s.Layers[1].Turn = "30m" }, "layers[1].turn", "must be at least 1h"},
		{"turn not whole minutes", func(s *schedule.Schedule) { s.Layers[1].Turn = "1h30s" }, "layers[1].turn", "must be a whole number of minutes"},
		{"zero days", func(s *schedule.Schedule) { s.Layers[1].Turn = "0d" }, "layers[1].turn", "must be at least 1h"},
		{"too many days", func(s *schedule.Schedule) { s.Layers[1].Turn = "400d" }, "layers[1].turn", "must be at most 365d"},
		{"negative duration", func(s *schedule.Schedule) { s.Layers[1].Turn = "-12h" }, "layers[1].turn", "must be at least 1h"},
		{"3d", func(s *schedule.Schedule) { s.Layers[1].Turn = "3d" }, "", ""},
		{"90m", func(s *schedule.Schedule) { s.Layers[1].Turn = "90m" }, "", ""},
		{"restriction end equals start", func(s *schedule.Schedule) { s.Layers[1].Restrictions[0].End = "09:00" },
			"layers[1].restrictions[0].end", "must differ from start (a layer without restrictions is on all day)"},
		{"restriction bad time", func(s *schedule.Schedule) { s.Layers[1].Restrictions[0].Start = "9:00" }, "layers[1].restrictions[0].start", ""},
		{"restriction 24:00 start", func(s *schedule.Schedule) { s.Layers[1].Restrictions[0].Start = "24:00" }, "layers[1].restrictions[0].start", ""},
		{"restriction 24:00 end", func(s *schedule.Schedule) { s.Layers[1].Restrictions[0].End = "24:00" }, "", ""},
		{"restriction bad day", func(s *schedule.Schedule) { s.Layers[1].Restrictions[0].Days = []schedule.Weekday{"mon", "funday"} },
			"layers[1].restrictions[0].days[1]", "must be one of mon, tue, wed, thu, fri, sat, sun"},
		{"restriction day twice", func(s *schedule.Schedule) { s.Layers[1].Restrictions[0].Days = []schedule.Weekday{"mon", "mon"} },
			"layers[1].restrictions[0].days[1]", "lists mon twice"},
		{"weekly window", func(s *schedule.Schedule) {
			s.Layers[1].Restrictions = []schedule.Restriction{{StartDay: "fri", Start: "18:00", EndDay: "mon", End: "09:00"}}
		}, "", ""},
		{"weekly window wrapping the whole week", func(s *schedule.Schedule) {
			s.Layers[1].Restrictions = []schedule.Restriction{{StartDay: "mon", Start: "17:00", EndDay: "mon", End: "09:00"}}
		}, "", ""},
		{"weekly window of no length", func(s *schedule.Schedule) {
			s.Layers[1].Restrictions = []schedule.Restriction{{StartDay: "mon", Start: "09:00", EndDay: "mon", End: "09:00"}}
		}, "layers[1].restrictions[0].end", ""},
		{"weekly window without end day", func(s *schedule.Schedule) {
			s.Layers[1].Restrictions = []schedule.Restriction{{StartDay: "fri", Start: "18:00", End: "09:00"}}
		}, "layers[1].restrictions[0].end_day", ""},
		{"weekly window with days", func(s *schedule.Schedule) {
			s.Layers[1].Restrictions = []schedule.Restriction{{Days: []schedule.Weekday{"mon"}, StartDay: "fri", Start: "18:00", EndDay: "mon", End: "09:00"}}
		}, "layers[1].restrictions[0].days", ""},
		{"51 restrictions", func(s *schedule.Schedule) {
			for len(s.Layers[1].Restrictions) < 51 {
				s.Layers[1].Restrictions = append(s.Layers[1].Restrictions, s.Layers[1].Restrictions[0])
			}
		}, "layers[1].restrictions", "holds more than 50 restrictions"},
		{"override ends before it starts", func(s *schedule.Schedule) { s.Overrides[1].End = s.Overrides[1].Start.Add(-time.Hour) },
			"overrides[1].end", "must be after start"},
		{"override without user", func(s *schedule.Schedule) { s.Overrides[0].UserID = "" }, "overrides[0].user_id", "is required"},
		{"overlapping overrides", func(s *schedule.Schedule) { s.Overrides[1].Start = s.Overrides[1].Start.Add(-time.Minute) },
			"overrides[1]", "overlaps override o1 (user dave, 2026-03-03T10:00:00Z to 2026-03-03T12:00:00Z)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := validSchedule(t)
			c.edit(&s)
			err := s.Validate()
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			var verr *schedule.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Equal(t, c.field, verr.Field, err.Error())
			if c.message != "" {
				require.Equal(t, c.message, verr.Message)
			}
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	s := validSchedule(t)
	s.Layers[1].Turn = "fortnightly"
	require.EqualError(t, s.Validate(),
		"layers[1].turn: must be hourly, daily, weekly, a duration like 12h, or a number of days like 3d")
}

func TestValidateOverride(t *testing.T) {
	t.Parallel()
	existing := []schedule.Override{
		{ID: "o2", UserID: "bob", Start: utc(t, "2026-03-03T12:00"), End: utc(t, "2026-03-03T14:00")},
		{ID: "o1", UserID: "alice", Start: utc(t, "2026-03-03T10:00"), End: utc(t, "2026-03-03T12:00")},
	}
	o := func(id, start, end string) schedule.Override {
		return schedule.Override{ID: id, UserID: "carol", Start: utc(t, start), End: utc(t, end)}
	}
	// Half-open ranges: touching is no clash.
	require.NoError(t, schedule.ValidateOverride(existing, o("", "2026-03-03T14:00", "2026-03-03T15:00")))
	require.NoError(t, schedule.ValidateOverride(existing, o("", "2026-03-03T08:00", "2026-03-03T10:00")))

	// A clash names the earliest-starting override it overlaps.
	err := schedule.ValidateOverride(existing, o("", "2026-03-03T11:00", "2026-03-03T13:00"))
	var clash *schedule.ClashError
	require.ErrorAs(t, err, &clash)
	require.Equal(t, "o1", clash.With.ID)
	require.EqualError(t, err, "overlaps override o1 (user alice, 2026-03-03T10:00:00Z to 2026-03-03T12:00:00Z)")
	err = schedule.ValidateOverride(existing, o("", "2026-03-03T13:59", "2026-03-03T20:00"))
	require.ErrorAs(t, err, &clash)
	require.Equal(t, "o2", clash.With.ID)

	// Editing an override does not clash with its own previous version.
	require.NoError(t, schedule.ValidateOverride(existing, o("o1", "2026-03-03T09:00", "2026-03-03T11:00")))

	var verr *schedule.ValidationError
	for name, bad := range map[string]schedule.Override{
		"end":      o("", "2026-03-03T15:00", "2026-03-03T15:00"),
		"end ":     o("", "2026-03-01T00:00", "2026-04-01T00:01"),
		"replaces": {UserID: "carol", Replaces: "carol", Start: utc(t, "2026-03-03T15:00"), End: utc(t, "2026-03-03T16:00")},
		"user_id":  {Start: utc(t, "2026-03-03T15:00"), End: utc(t, "2026-03-03T16:00")},
		"start":    {UserID: "carol", End: utc(t, "2026-03-03T16:00")},
	} {
		err := schedule.ValidateOverride(existing, bad)
		require.ErrorAs(t, err, &verr, name)
		require.Equal(t, strings.TrimSpace(name), verr.Field)
	}
	// 31 days is the longest override.
	require.NoError(t, schedule.ValidateOverride(nil, o("", "2026-03-01T00:00", "2026-04-01T00:00")))
}

// The JSON shapes the API accepts and returns.
func TestJSON(t *testing.T) {
	t.Parallel()
	in := `{
	  "id": "sch_1", "name": "Primary", "time_zone": "Europe/Berlin", "version": 3,
	  "layers": [
	    {"name": "base", "members": ["alice", "bob"], "start": "2026-03-02T09:00", "turn": "weekly"},
	    {"members": ["carol"], "start": "2026-03-02T09:00", "turn": "12h", "restrictions": [
	      {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"},
	      {"start": "22:00", "end": "06:00"},
	      {"start_day": "fri", "start": "18:00", "end_day": "mon", "end": "09:00"}
	    ]}
	  ],
	  "overrides": [{"id": "o1", "user_id": "dave", "start": "2026-03-03T10:00:00Z", "end": "2026-03-03T12:00:00Z", "replaces": "alice"}]
	}`
	var s schedule.Schedule
	require.NoError(t, json.Unmarshal([]byte(in), &s))
	require.NoError(t, s.Validate())
	require.Equal(t, schedule.LocalDateTime{Year: 2026, Month: 3, Day: 2, Hour: 9}, s.Layers[0].Start)
	require.Equal(t, schedule.Restriction{StartDay: "fri", Start: "18:00", EndDay: "mon", End: "09:00"}, s.Layers[1].Restrictions[2])
	require.Equal(t, "alice", s.Overrides[0].Replaces)

	out, err := json.Marshal(s)
	require.NoError(t, err)
	var back schedule.Schedule
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, s, back)
	require.Contains(t, string(out), `"start":"2026-03-02T09:00"`)
	require.Contains(t, string(out), `"time_zone":"Europe/Berlin"`)

	var l schedule.LocalDateTime
	err = json.Unmarshal([]byte(`"2026-03-02 09:00"`), &l)
	require.EqualError(t, err, `local date-time "2026-03-02 09:00": use the form 2026-03-02T09:00`)
	require.Error(t, json.Unmarshal([]byte(`"2026-02-30T09:00"`), &l))
	require.Error(t, json.Unmarshal([]byte(`12`), &l))

	sh := schedule.Shift{ScheduleID: "sch_1", UserID: "alice", Start: utc(t, "2026-03-02T08:00"), End: utc(t, "2026-03-03T08:00"),
		Source: schedule.Source{Kind: schedule.SourceLayer, Layer: 2, LayerName: "day"}}
	out, err = json.Marshal(sh)
	require.NoError(t, err)
	require.JSONEq(t, `{"schedule_id":"sch_1","user_id":"alice","start":"2026-03-02T08:00:00Z","end":"2026-03-03T08:00:00Z",
		"source":{"kind":"layer","layer":2,"layer_name":"day"}}`, string(out))
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	s := schedule.Schedule{Name: " Primary ", TimeZone: " Europe/Berlin ", Layers: []schedule.Layer{{
		Members: []string{" alice "}, Start: local(t, "2026-03-02T09:00"), Turn: " Daily ",
		Restrictions: []schedule.Restriction{{Days: []schedule.Weekday{" MON "}, Start: " 09:00", End: "17:00 "}},
	}}, Overrides: []schedule.Override{{UserID: " bob ", Start: time.Date(2026, 3, 3, 10, 0, 0, 1500, berlin), End: time.Date(2026, 3, 3, 11, 0, 0, 0, berlin)}}}
	s.Normalize()
	require.NoError(t, s.Validate())
	require.Equal(t, "Primary", s.Name)
	require.Equal(t, schedule.Daily, s.Layers[0].Turn)
	require.Equal(t, schedule.Monday, s.Layers[0].Restrictions[0].Days[0])
	require.Equal(t, "bob", s.Overrides[0].UserID)
	require.Equal(t, time.Date(2026, 3, 3, 9, 0, 0, 1000, time.UTC), s.Overrides[0].Start)
}
