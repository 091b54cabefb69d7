package schedule_test

import (
	"testing"
	"time"

	"github.com/incident-server/incident-server/internal/schedule"
)

// benchSchedule is a three-layer schedule of the usual shape: a weekly
// 24/7 base, a weekday daytime layer and a weekend layer, started in 2020,
// with a few overrides in March 2026.
func benchSchedule(b *testing.B) schedule.Schedule {
	return schedule.Schedule{ID: "sch_bench", Name: "Bench", TimeZone: "Europe/Berlin",
		Layers: []schedule.Layer{
			{Name: "base", Members: []string{"u1", "u2", "u3", "u4", "u5"}, Start: local(b, "2020-01-06T09:00"), Turn: schedule.Weekly},
			{Name: "day", Members: []string{"u6", "u7", "u8", "u9"}, Start: local(b, "2020-01-06T09:00"), Turn: schedule.Daily,
				Restrictions: []schedule.Restriction{{Days: []schedule.Weekday{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "17:00"}}},
			{Name: "weekend", Members: []string{"u10", "u11", "u12"}, Start: local(b, "2020-01-03T18:00"), Turn: schedule.Weekly,
				Restrictions: []schedule.Restriction{{StartDay: "fri", Start: "18:00", EndDay: "mon", End: "09:00"}}},
		},
		Overrides: []schedule.Override{
			{ID: "o1", UserID: "u2", Start: utc(b, "2026-03-03T10:00"), End: utc(b, "2026-03-03T14:00")},
			{ID: "o2", UserID: "u7", Start: utc(b, "2026-03-10T00:00"), End: utc(b, "2026-03-12T00:00"), Replaces: "u1"},
			{ID: "o3", UserID: "u11", Start: utc(b, "2026-03-21T06:00"), End: utc(b, "2026-03-21T12:00")},
			{ID: "o4", UserID: "u3", Start: utc(b, "2026-03-29T00:00"), End: utc(b, "2026-03-30T00:00"), Replaces: "u8"},
		},
	}
}

func BenchmarkShifts(b *testing.B) {
	s := benchSchedule(b)
	from, to := utc(b, "2026-03-01T00:00"), utc(b, "2026-04-01T00:00")
	b.Run("month", func(b *testing.B) {
		for b.Loop() {
			if _, err := schedule.Shifts(s, from, to); err != nil {
				b.Fatal(err)
			}
		}
	})
	c, err := schedule.Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("month compiled", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Shifts(from, to); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Started in 2020 and asked about 2030 costs what a month in 2026 does.
	b.Run("month in 2030 compiled", func(b *testing.B) {
		from, to := utc(b, "2030-03-01T00:00"), utc(b, "2030-04-01T00:00")
		for b.Loop() {
			if _, err := c.Shifts(from, to); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("year compiled", func(b *testing.B) {
		from, to := utc(b, "2026-01-01T00:00"), utc(b, "2027-01-01T00:00")
		for b.Loop() {
			if _, err := c.Shifts(from, to); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOnCallAt(b *testing.B) {
	s := benchSchedule(b)
	// Instants spread over March 2026, a prime number of minutes apart.
	base := utc(b, "2026-03-01T00:00")
	at := func(i int) time.Time { return base.Add(time.Duration(i*7919%44640) * time.Minute) }
	b.Run("schedule", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, _, err := schedule.OnCallAt(s, at(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	c, err := schedule.Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("compiled", func(b *testing.B) {
		i := 0
		for b.Loop() {
			c.OnCallAt(at(i))
			i++
		}
	})
	b.Run("compiled in 2030", func(b *testing.B) {
		base := utc(b, "2030-03-01T00:00")
		i := 0
		for b.Loop() {
			c.OnCallAt(base.Add(time.Duration(i*7919%44640) * time.Minute))
			i++
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	s := benchSchedule(b)
	for b.Loop() {
		if _, err := schedule.Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNextHandoffs(b *testing.B) {
	c, err := schedule.Compile(benchSchedule(b))
	if err != nil {
		b.Fatal(err)
	}
	after := utc(b, "2026-03-01T00:00")
	for b.Loop() {
		if _, err := c.NextHandoffs(after, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkICal(b *testing.B) {
	s := benchSchedule(b)
	shifts, err := schedule.Shifts(s, utc(b, "2026-03-01T00:00"), utc(b, "2026-04-01T00:00"))
	if err != nil {
		b.Fatal(err)
	}
	users := map[string]string{"u1": "Alice", "u2": "Bob"}
	stamp := utc(b, "2026-03-01T00:00")
	for b.Loop() {
		schedule.ICal("Bench", shifts, users, "example.com", stamp)
	}
}
