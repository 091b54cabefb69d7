package schedule_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/incident-server/incident-server/internal/schedule"
)

// Zones with every kind of transition: none, whole hours both ways, half
// hours (Lord Howe), two hours (Troll), at midnight (Santiago, Havana),
// several a year (Casablanca), and odd offsets (+05:45, +12:45, -03:30).
var fuzzZones = []string{
	"UTC", "Europe/Berlin", "America/New_York", "Australia/Adelaide", "Asia/Kolkata",
	"Australia/Lord_Howe", "Antarctica/Troll", "America/Santiago", "America/Havana",
	"Africa/Casablanca", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns",
}

var fuzzTurns = []schedule.Turn{"hourly", "daily", "weekly", "12h", "8h", "90m", "3d", "25h", "2d"}

var fuzzUsers = []string{"a", "b", "c", "d", "e"}

// bytesource turns fuzz input into choices; past its end every choice is 0.
type bytesource struct {
	b []byte
	i int
}

func (s *bytesource) byte() int {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return int(s.b[s.i-1])
}

func (s *bytesource) intn(n int) int {
	return (s.byte()<<16 | s.byte()<<8 | s.byte()) % n
}

func (s *bytesource) clock(allow24 bool) schedule.TimeOfDay {
	h := s.intn(24)
	m := [...]int{0, 0, 15, 30, 45, s.intn(60)}[s.intn(6)]
	if allow24 && s.intn(8) == 0 {
		return "24:00"
	}
	return schedule.TimeOfDay(fmt.Sprintf("%02d:%02d", h, m))
}

func (s *bytesource) day() schedule.Weekday {
	return [...]schedule.Weekday{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}[s.intn(7)]
}

// generate makes a valid schedule and a window of whole minutes, often
// around one of the zone's transitions.
func generate(data []byte) (schedule.Schedule, time.Time, time.Time) {
	src := &bytesource{b: data}
	zone := fuzzZones[src.intn(len(fuzzZones))]
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	anchor := time.Date(2020+src.intn(16), 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(src.intn(366*1440)) * time.Minute)
	if src.intn(3) != 0 {
		if _, end := anchor.In(loc).ZoneBounds(); !end.IsZero() && end.Sub(anchor) < 366*24*time.Hour {
			anchor = end
		}
	}
	from := anchor.Add(-time.Duration(src.intn(3*1440)) * time.Minute)
	if src.intn(4) == 0 { // start inside a repeated hour, or just after a gap
		from = anchor.Add(time.Duration(src.intn(150)) * time.Minute)
	}
	from = from.Truncate(time.Minute).UTC()
	to := from.Add(time.Duration(1+src.intn(4*1440)) * time.Minute)

	s := schedule.Schedule{ID: "sch_f", Name: "fuzz", TimeZone: zone}
	for n := 1 + src.intn(3); len(s.Layers) < n; {
		l := schedule.Layer{Name: "L" + strconv.Itoa(len(s.Layers)+1)}
		for m := 1 + src.intn(4); len(l.Members) < m; {
			l.Members = append(l.Members, fuzzUsers[src.intn(len(fuzzUsers))])
		}
		if src.intn(4) == 0 {
			l.Turn = schedule.Turn(fmt.Sprintf("%dm", 60+src.intn(4*1440)))
		} else {
			l.Turn = fuzzTurns[src.intn(len(fuzzTurns))]
		}
		// Start: years before the window, days before, or inside it.
		var back time.Duration
		switch src.intn(3) {
		case 0:
			back = time.Duration(src.intn(3650)) * 24 * time.Hour
		case 1:
			back = time.Duration(src.intn(30)) * 24 * time.Hour
		default:
			back = -time.Duration(src.intn(4*1440)) * time.Minute
		}
		st := from.Add(-back).In(loc)
		clock := src.clock(false)
		h, _ := strconv.Atoi(string(clock[:2]))
		mi, _ := strconv.Atoi(string(clock[3:]))
		l.Start = schedule.LocalDateTime{Year: st.Year(), Month: st.Month(), Day: st.Day(), Hour: h, Minute: mi}
		for r := src.intn(4); len(l.Restrictions) < r; {
			var res schedule.Restriction
			switch src.intn(3) {
			case 0: // daily window on some days
				mask := src.byte() & 0x7f
				for i, d := range [...]schedule.Weekday{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
					if mask&(1<<i) != 0 {
						res.Days = append(res.Days, d)
					}
				}
				res.Start, res.End = src.clock(false), src.clock(true)
			case 1: // every day, often across midnight
				res.Start, res.End = src.clock(false), src.clock(true)
			default:
				res.StartDay, res.Start, res.EndDay, res.End = src.day(), src.clock(false), src.day(), src.clock(true)
			}
			// A window must have a length: end may not meet start.
			if s, e := clockMinutes(res.Start), clockMinutes(res.End); res.StartDay == "" && s == e ||
				res.StartDay != "" && mod(dayIndex(res.EndDay)*1440+e-dayIndex(res.StartDay)*1440-s, 7*1440) == 0 {
				res.End = schedule.TimeOfDay(fmt.Sprintf("%02d:%02d", (s/60+1)%24, s%60))
			}
			l.Restrictions = append(l.Restrictions, res)
		}
		s.Layers = append(s.Layers, l)
	}
	for n := src.intn(4); n > 0; n-- {
		span := int(to.Sub(from) / time.Minute)
		o := schedule.Override{
			ID:     "o" + strconv.Itoa(n),
			UserID: fuzzUsers[src.intn(len(fuzzUsers))],
			Start:  from.Add(time.Duration(src.intn(span+2*1440)-1440) * time.Minute),
		}
		o.End = o.Start.Add(time.Duration(1+src.intn(2*1440)) * time.Minute)
		if src.intn(2) == 0 {
			o.Replaces = fuzzUsers[src.intn(len(fuzzUsers))]
		}
		if schedule.ValidateOverride(s.Overrides, o) == nil {
			s.Overrides = append(s.Overrides, o)
		}
	}
	return s, from, to
}

// oracle answers who is on call one instant at a time, from the documented
// rule and nothing of the package's arithmetic: the effective local clock is
// the running maximum of the wall clock read minute by minute.
type oracle struct {
	s     schedule.Schedule
	turns []time.Duration
}

func naive(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
}

func clockMinutes(c schedule.TimeOfDay) int {
	h, _ := strconv.Atoi(string(c[:2]))
	m, _ := strconv.Atoi(string(c[3:]))
	return h*60 + m
}

func dayIndex(d schedule.Weekday) int {
	for i, w := range []schedule.Weekday{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		if d == w {
			return i
		}
	}
	panic(d)
}

func mod(a, b int) int { return ((a % b) + b) % b }

// covers reports whether restriction r is open when the local clock reads w.
func covers(r schedule.Restriction, w time.Time) bool {
	const week = 7 * 1440
	mow := mod(int(w.Weekday())-1, 7)*1440 + w.Hour()*60 + w.Minute()
	start, end := clockMinutes(r.Start), clockMinutes(r.End)
	if r.StartDay != "" {
		s := dayIndex(r.StartDay)*1440 + start
		return mod(mow-s, week) < mod(dayIndex(r.EndDay)*1440+end-s, week)
	}
	length := end - start
	if length <= 0 {
		length += 1440
	}
	days := r.Days
	if len(days) == 0 {
		days = []schedule.Weekday{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	}
	for _, d := range days {
		if mod(mow-(dayIndex(d)*1440+start), week) < length {
			return true
		}
	}
	return false
}

func (o *oracle) layer(i int, w time.Time) string {
	l := o.s.Layers[i]
	start := time.Date(l.Start.Year, l.Start.Month, l.Start.Day, l.Start.Hour, l.Start.Minute, 0, 0, time.UTC)
	if w.Before(start) {
		return ""
	}
	if len(l.Restrictions) > 0 {
		open := false
		for _, r := range l.Restrictions {
			open = open || covers(r, w)
		}
		if !open {
			return ""
		}
	}
	k := int(w.Sub(start) / o.turns[i])
	return l.Members[k%len(l.Members)]
}

type who struct{ user, src string }

func (o *oracle) final(at time.Time, layers []string) who {
	var w who
	for i := len(layers) - 1; i >= 0; i-- {
		if layers[i] != "" {
			w = who{layers[i], "L" + strconv.Itoa(i+1)}
			break
		}
	}
	for _, ov := range o.s.Overrides {
		if !at.Before(ov.Start) && at.Before(ov.End) && (ov.Replaces == "" || ov.Replaces == w.user) {
			w = who{ov.UserID, "O:" + ov.ID}
		}
	}
	return w
}

func srcOf(s schedule.Shift) string {
	if s.Source.Kind == schedule.SourceOverride {
		return "O:" + s.Source.OverrideID
	}
	return "L" + strconv.Itoa(s.Source.Layer)
}

// checkShape checks shifts are non-empty, inside [from, to), in order,
// disjoint, and merged where the same user and source continue.
func checkShape(t *testing.T, what string, shs []schedule.Shift, from, to time.Time) {
	t.Helper()
	for i, s := range shs {
		switch {
		case !s.Start.Before(s.End):
			t.Fatalf("%s: shift %d is empty or reversed: %v", what, i, s)
		case s.Start.Before(from) || s.End.After(to):
			t.Fatalf("%s: shift %d outside the window: %v", what, i, s)
		case s.Start.Location() != time.UTC || s.End.Location() != time.UTC:
			t.Fatalf("%s: shift %d not in UTC: %v", what, i, s)
		case i > 0 && s.Start.Before(shs[i-1].End):
			t.Fatalf("%s: shifts %d and %d overlap: %v %v", what, i-1, i, shs[i-1], s)
		case i > 0 && s.Start.Equal(shs[i-1].End) && s.UserID == shs[i-1].UserID && s.Source == shs[i-1].Source:
			t.Fatalf("%s: shifts %d and %d should be one: %v %v", what, i-1, i, shs[i-1], s)
		}
	}
}

// cursor answers who a sorted shift list has on call at increasing instants.
type cursor struct {
	shs []schedule.Shift
	i   int
}

func (c *cursor) at(t time.Time) who {
	for c.i < len(c.shs) && !c.shs[c.i].End.After(t) {
		c.i++
	}
	if c.i < len(c.shs) && !c.shs[c.i].Start.After(t) {
		return who{c.shs[c.i].UserID, srcOf(c.shs[c.i])}
	}
	return who{}
}

func checkProperties(t *testing.T, data []byte) {
	s, from, to := generate(data)
	js, _ := json.Marshal(s)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nschedule %s\nwindow %s to %s", fmt.Sprintf(format, args...), js, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	c, err := schedule.Compile(s)
	if err != nil {
		fail("compile: %v", err)
	}
	loc, _ := time.LoadLocation(s.TimeZone)
	o := &oracle{s: s}
	layerCursors := make([]*cursor, len(s.Layers))
	for i, l := range s.Layers {
		d, _ := l.Turn.Duration()
		o.turns = append(o.turns, d)
		ls, err := c.LayerShifts(i, from, to)
		if err != nil {
			fail("layer %d: %v", i, err)
		}
		checkShape(t, fmt.Sprintf("layer %d", i), ls, from, to)
		layerCursors[i] = &cursor{shs: ls}
	}
	final, err := c.Shifts(from, to)
	if err != nil {
		fail("shifts: %v", err)
	}
	checkShape(t, "final", final, from, to)
	finalCursor := &cursor{shs: final}

	// Minute by minute: every boundary falls on a whole minute (zones,
	// window and overrides do), so this checks coverage exactly.
	var run time.Time
	var timeline []who
	layers := make([]string, len(s.Layers))
	for m := from.Add(-27 * time.Hour); m.Before(to); m = m.Add(time.Minute) {
		if w := naive(m.In(loc)); w.After(run) {
			run = w
		}
		if m.Before(from) {
			continue
		}
		for i := range s.Layers {
			layers[i] = o.layer(i, run)
			if got := layerCursors[i].at(m); got.user != layers[i] {
				fail("layer %d at %s (local %s, clock %s): got %q, want %q", i, m.Format(time.RFC3339), m.In(loc).Format(time.RFC3339), run.Format("2006-01-02T15:04"), got.user, layers[i])
			}
		}
		want := o.final(m, layers)
		if got := finalCursor.at(m); got != want {
			fail("final at %s (local %s): got %v, want %v", m.Format(time.RFC3339), m.In(loc).Format(time.RFC3339), got, want)
		}
		timeline = append(timeline, want)
	}

	// OnCallAt agrees with Shifts at each shift's first and last instant.
	for _, sh := range final {
		for _, at := range []time.Time{sh.Start, sh.End.Add(-time.Nanosecond)} {
			got, ok := c.OnCallAt(at)
			switch {
			case !ok || got.UserID != sh.UserID || got.Source != sh.Source:
				fail("OnCallAt(%s) = %v %v, Shifts has %v", at.Format(time.RFC3339Nano), got, ok, sh)
			case got.Start.After(sh.Start) || got.End.Before(sh.End),
				sh.Start.After(from) && !got.Start.Equal(sh.Start),
				sh.End.Before(to) && !got.End.Equal(sh.End):
				fail("OnCallAt(%s) spans %s to %s, Shifts has %v", at.Format(time.RFC3339Nano), got.Start, got.End, sh)
			}
		}
	}
	// and where nobody is on call.
	for k := 0; k < len(timeline); k += 97 {
		at := from.Add(time.Duration(k) * time.Minute)
		got, ok := c.OnCallAt(at)
		if ok != (timeline[k].user != "") || got.UserID != timeline[k].user {
			fail("OnCallAt(%s) = %v %v, want %v", at.Format(time.RFC3339), got, ok, timeline[k])
		}
	}

	// The window does not change the answer: two halves join into the whole.
	mid := from.Add(time.Duration(len(data)%len(timeline)) * time.Minute)
	a, _ := c.Shifts(from, mid)
	b, _ := c.Shifts(mid, to)
	if len(a) > 0 && len(b) > 0 && a[len(a)-1].End.Equal(b[0].Start) && a[len(a)-1].UserID == b[0].UserID && a[len(a)-1].Source == b[0].Source {
		a[len(a)-1].End = b[0].End
		b = b[1:]
	}
	if joined := append(a, b...); fmt.Sprint(joined) != fmt.Sprint(final) {
		fail("split at %s:\n%v\n%v", mid.Format(time.RFC3339), joined, final)
	}

	// NextHandoffs lists the changes of user the timeline shows.
	hs, err := c.NextHandoffs(from, 10)
	if err != nil {
		fail("handoffs: %v", err)
	}
	var want []string
	for k := 1; k < len(timeline); k++ {
		if timeline[k].user != timeline[k-1].user {
			want = append(want, fmt.Sprintf("%s %s->%s", from.Add(time.Duration(k)*time.Minute).Format(time.RFC3339), timeline[k-1].user, timeline[k].user))
		}
	}
	var got []string
	for _, h := range hs {
		if h.At.Before(to) {
			got = append(got, fmt.Sprintf("%s %s->%s", h.At.Format(time.RFC3339), h.FromUserID, h.ToUserID))
		}
	}
	if len(hs) < 10 && len(want) > len(got) || len(got) > len(want) || fmt.Sprint(got) != fmt.Sprint(want[:len(got)]) {
		fail("handoffs:\n got %v\nwant %v", got, want)
	}
}

// FuzzShifts checks, for generated schedules and windows, that per-layer
// and final shifts are well formed, cover exactly what the documented rule
// gives minute by minute, and agree with OnCallAt, NextHandoffs and a
// split window. Its seeds run in every go test.
func FuzzShifts(f *testing.F) {
	for i := range 150 {
		r := rand.New(rand.NewPCG(1, uint64(i)))
		b := make([]byte, 160)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(checkProperties)
}
