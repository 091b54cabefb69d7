package schedule

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Internally instants are Unix nanoseconds, and wall-clock positions are
// nanoseconds since 1970-01-01T00:00 local time, counted as if the zone had
// no transitions (calendar arithmetic), so turn indexes and weekdays are a
// division away.
const (
	minuteNs = int64(time.Minute)
	dayNs    = 24 * 60 * minuteNs
	weekNs   = 7 * dayNs
	// mondayNs is 1970-01-05T00:00, a Monday: weeks are counted from it.
	mondayNs = 4 * dayNs
	// lookbackNs is how far before a window the walk over the zone's offsets
	// starts, so that the running maximum of the wall clock is known at the
	// window's start. UTC offsets lie within -12h and +14h, so the wall clock
	// at any instant more than 26 h earlier is behind the wall clock now.
	lookbackNs = 27 * int64(time.Hour)
	// onCallLookNs bounds how far either side of an instant OnCallAt looks
	// for the ends of the shift it reports.
	onCallLookNs = 32 * dayNs
)

// MaxHandoffs is the most handoffs NextHandoffs returns at once.
const MaxHandoffs = 100

// SourceKind says where a shift comes from.
type SourceKind string

// Sources of a shift.
const (
	SourceLayer    SourceKind = "layer"
	SourceOverride SourceKind = "override"
)

// Source is where a shift comes from: a layer (numbered from 1) or an
// override.
type Source struct {
	Kind       SourceKind `json:"kind"`
	Layer      int        `json:"layer,omitempty"`
	LayerName  string     `json:"layer_name,omitempty"`
	OverrideID string     `json:"override_id,omitempty"`
}

// Shift is a stretch [Start, End) during which UserID is on call. Start and
// End are in UTC.
type Shift struct {
	ScheduleID string    `json:"schedule_id,omitempty"`
	UserID     string    `json:"user_id"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Source     Source    `json:"source"`
}

// Handoff is an instant at which the on-call person changes. An empty user
// ID (and a nil source) means nobody: on call from nobody is the start of
// coverage, to nobody a gap.
type Handoff struct {
	At         time.Time `json:"at"`
	FromUserID string    `json:"from_user_id,omitempty"`
	FromSource *Source   `json:"from_source,omitempty"`
	ToUserID   string    `json:"to_user_id,omitempty"`
	ToSource   *Source   `json:"to_source,omitempty"`
}

// Compiled is a validated schedule, ready for computation. It is immutable
// and safe for concurrent use; compile once where a schedule is asked many
// questions (Compile costs a time zone load and validation).
type Compiled struct {
	id        string
	loc       *time.Location
	layers    []layer
	overrides []override // by start; they never overlap
}

type layer struct {
	name    string
	members []string
	start   int64  // wall clock
	turn    int64  // wall-clock length of one turn
	windows []span // restriction windows within one week from Monday 00:00, sorted and disjoint; nil: always
}

type override struct {
	id, user, replaces string
	start, end         int64
}

type span struct{ start, end int64 }

// piece is an internal shift: instants [start, end).
type piece struct {
	start, end int64
	user       string
	src        Source
}

// segment is a stretch [a, b) of instants with one UTC offset. On [hold, b)
// the wall clock is instant+off; on [a, hold) the clock is repeating an hour
// it has already shown (after fall-back), and the effective clock stands just
// before held.
type segment struct {
	a, b, off  int64
	hold, held int64
}

// Compile validates s and prepares it for computation. Errors are
// *ValidationError.
func Compile(s Schedule) (*Compiled, error) {
	if err := s.validateHead(); err != nil {
		return nil, err
	}
	loc, err := loadZone(s.TimeZone)
	if err != nil {
		return nil, invalid("time_zone", "unknown time zone %q: use an IANA name like Europe/Berlin", s.TimeZone)
	}
	c := &Compiled{id: s.ID, loc: loc}
	for i, l := range s.Layers {
		turn, windows, verr := l.validate(fmt.Sprintf("layers[%d].", i))
		if verr != nil {
			return nil, verr
		}
		start := time.Date(l.Start.Year, l.Start.Month, l.Start.Day, l.Start.Hour, l.Start.Minute, 0, 0, time.UTC)
		c.layers = append(c.layers, layer{
			name:    l.Name,
			members: slices.Clone(l.Members),
			start:   start.UnixNano(),
			turn:    turn * minuteNs,
			windows: weekWindows(windows),
		})
	}
	if verr := validateOverrides(s.Overrides); verr != nil {
		return nil, verr
	}
	for _, o := range s.Overrides {
		c.overrides = append(c.overrides, override{
			id: o.ID, user: o.UserID, replaces: o.Replaces,
			start: o.Start.UnixNano(), end: o.End.UnixNano(),
		})
	}
	slices.SortStableFunc(c.overrides, func(a, b override) int { return cmpInt(a.start, b.start) })
	return c, nil
}

// weekWindows turns windows in minutes of the week (possibly running past
// the week's end) into sorted, disjoint spans within one week; nil when
// there are none or they cover the whole week.
func weekWindows(ws [][2]int) []span {
	if len(ws) == 0 {
		return nil
	}
	var spans []span
	for _, w := range ws {
		s, e := int64(w[0])*minuteNs, int64(w[1])*minuteNs
		if e > weekNs {
			spans = append(spans, span{0, e - weekNs})
			e = weekNs
		}
		spans = append(spans, span{s, e})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmpInt(a.start, b.start) })
	out := spans[:1]
	for _, s := range spans[1:] {
		if last := &out[len(out)-1]; s.start <= last.end {
			last.end = max(last.end, s.end)
			continue
		}
		out = append(out, s)
	}
	if len(out) == 1 && out[0].start == 0 && out[0].end >= weekNs {
		return nil
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// member returns who has turn k (k >= 0).
func (l *layer) member(k int64) string { return l.members[k%int64(len(l.members))] }

// at returns who the layer has on call when its effective clock reads w.
func (l *layer) at(w int64) (string, bool) {
	if w < l.start {
		return "", false
	}
	if l.windows != nil {
		o := floorMod(w-mondayNs, weekNs)
		i := sort.Search(len(l.windows), func(i int) bool { return l.windows[i].end > o })
		if i == len(l.windows) || l.windows[i].start > o {
			return "", false
		}
	}
	return l.member(floorDiv(w-l.start, l.turn)), true
}

// each calls f for the stretches of wall-clock time within [wa, wb) during
// which the layer has someone on call, split where the turn changes.
func (l *layer) each(wa, wb int64, f func(x, y int64, user string)) {
	wa = max(wa, l.start)
	if wa >= wb {
		return
	}
	if l.windows == nil {
		l.split(wa, wb, f)
		return
	}
	for ws := wa - floorMod(wa-mondayNs, weekNs); ws < wb; ws += weekNs {
		for _, w := range l.windows {
			if ws+w.start >= wb {
				break
			}
			if x, y := max(ws+w.start, wa), min(ws+w.end, wb); x < y {
				l.split(x, y, f)
			}
		}
	}
}

// split calls f for [x, y) cut at turn boundaries. The turn index comes from
// arithmetic, not from stepping through turns since Start.
func (l *layer) split(x, y int64, f func(x, y int64, user string)) {
	k := floorDiv(x-l.start, l.turn)
	for x < y {
		e := min(l.start+(k+1)*l.turn, y)
		f(x, e, l.member(k))
		x = e
		k++
	}
}

// segments walks the zone's offsets over [from, to), starting lookbackNs
// earlier to learn the running maximum of the wall clock.
func (c *Compiled) segments(from, to int64) []segment {
	var out []segment
	maxWall := int64(math.MinInt64)
	for t := from - lookbackNs; t < to; {
		tt := time.Unix(0, t).In(c.loc)
		_, offSec := tt.Zone()
		off := int64(offSec) * int64(time.Second)
		b := to
		if _, end := tt.ZoneBounds(); !end.IsZero() {
			if e := end.UnixNano(); e > t && e < to {
				b = e
			}
		}
		hold := t
		if maxWall > t+off {
			hold = min(b, maxWall-off)
		}
		if b > from {
			a := max(t, from)
			out = append(out, segment{a: a, b: b, off: off, hold: max(hold, a), held: maxWall})
		}
		maxWall = max(maxWall, b+off)
		t = b
	}
	return out
}

// layerPieces returns layer i's shifts over the segments, merged where the
// same user continues.
func (c *Compiled) layerPieces(i int, segs []segment) []piece {
	l := &c.layers[i]
	src := Source{Kind: SourceLayer, Layer: i + 1, LayerName: l.name}
	var out []piece
	emit := func(s, e int64, user string) {
		if s >= e {
			return
		}
		if n := len(out); n > 0 && out[n-1].end == s && out[n-1].user == user {
			out[n-1].end = e
			return
		}
		out = append(out, piece{start: s, end: e, user: user, src: src})
	}
	for _, sg := range segs {
		if sg.hold > sg.a {
			if u, ok := l.at(sg.held - 1); ok {
				emit(sg.a, sg.hold, u)
			}
		}
		if sg.hold < sg.b {
			off := sg.off
			l.each(sg.hold+off, sg.b+off, func(x, y int64, u string) { emit(x-off, y-off, u) })
		}
	}
	return out
}

// final computes the on-call shifts over [from, to): layers stacked, then
// overrides.
func (c *Compiled) final(from, to int64) []piece {
	if from >= to {
		return nil
	}
	segs := c.segments(from, to)
	layers := make([][]piece, len(c.layers))
	var bounds []int64
	for i := range c.layers {
		layers[i] = c.layerPieces(i, segs)
		for _, p := range layers[i] {
			bounds = append(bounds, p.start, p.end)
		}
	}
	var ovs []override
	for _, o := range c.overrides {
		if o.start < to && o.end > from {
			o.start, o.end = max(o.start, from), min(o.end, to)
			ovs = append(ovs, o)
			bounds = append(bounds, o.start, o.end)
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)

	next := make([]int, len(layers))
	oi := 0
	var out []piece
	for j := 0; j+1 < len(bounds); j++ {
		x, y := bounds[j], bounds[j+1]
		var cur piece
		for li := len(layers) - 1; li >= 0; li-- {
			ps := layers[li]
			for next[li] < len(ps) && ps[next[li]].end <= x {
				next[li]++
			}
			if next[li] < len(ps) && ps[next[li]].start <= x {
				cur = ps[next[li]]
				break
			}
		}
		for oi < len(ovs) && ovs[oi].end <= x {
			oi++
		}
		if oi < len(ovs) && ovs[oi].start <= x {
			if o := ovs[oi]; o.replaces == "" || o.replaces == cur.user {
				cur.user, cur.src = o.user, Source{Kind: SourceOverride, OverrideID: o.id}
			}
		}
		if cur.user == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].end == x && out[n-1].user == cur.user && out[n-1].src == cur.src {
			out[n-1].end = y
			continue
		}
		out = append(out, piece{start: x, end: y, user: cur.user, src: cur.src})
	}
	return out
}

func (c *Compiled) shifts(ps []piece) []Shift {
	out := make([]Shift, 0, len(ps))
	for _, p := range ps {
		out = append(out, c.shift(p))
	}
	return out
}

func (c *Compiled) shift(p piece) Shift {
	return Shift{
		ScheduleID: c.id, UserID: p.user,
		Start: time.Unix(0, p.start).UTC(), End: time.Unix(0, p.end).UTC(),
		Source: p.src,
	}
}

// window checks a computation window.
func window(from, to time.Time) (int64, int64, error) {
	switch {
	case from.Before(minTime) || from.After(maxTime):
		return 0, 0, invalid("from", "must be between %d and %d", minTime.Year(), maxTime.Year()-1)
	case to.Before(minTime) || to.After(maxTime):
		return 0, 0, invalid("to", "must be between %d and %d", minTime.Year(), maxTime.Year()-1)
	case to.Before(from):
		return 0, 0, invalid("to", "must not be before from")
	case to.Sub(from) > MaxWindow:
		return 0, 0, invalid("to", "must be at most %d days after from", MaxWindow/(24*time.Hour))
	}
	return from.UnixNano(), to.UnixNano(), nil
}

// Shifts returns the on-call shifts in [from, to), in order: layers stacked
// and overrides applied, contiguous time with the same user and source as
// one shift, cut at from and to. Where nobody is on call there is no shift.
func (c *Compiled) Shifts(from, to time.Time) ([]Shift, error) {
	f, t, err := window(from, to)
	if err != nil {
		return nil, err
	}
	return c.shifts(c.final(f, t)), nil
}

// LayerShifts returns the shifts of layer index (0-based, s.Layers[index])
// in [from, to) on its own: before layering and overrides.
func (c *Compiled) LayerShifts(index int, from, to time.Time) ([]Shift, error) {
	if index < 0 || index >= len(c.layers) {
		return nil, invalid("layer", "must be between 0 and %d", len(c.layers)-1)
	}
	f, t, err := window(from, to)
	if err != nil {
		return nil, err
	}
	if f >= t {
		return []Shift{}, nil
	}
	return c.shifts(c.layerPieces(index, c.segments(f, t))), nil
}

// UserShifts returns userID's shifts among Shifts(from, to).
func (c *Compiled) UserShifts(userID string, from, to time.Time) ([]Shift, error) {
	all, err := c.Shifts(from, to)
	if err != nil {
		return nil, err
	}
	out := []Shift{}
	for _, s := range all {
		if s.UserID == userID {
			out = append(out, s)
		}
	}
	return out, nil
}

// OnCallAt returns the shift on call at the instant, or false when nobody is
// (or at is outside the supported range). The shift's Start and End are its
// full extent as Shifts gives it, looking at most 32 days either side of at:
// a longer shift is reported cut there.
func (c *Compiled) OnCallAt(at time.Time) (Shift, bool) {
	if at.Before(minTime) || !at.Before(maxTime) {
		return Shift{}, false
	}
	t := at.UnixNano()
	lo, hi := minTime.UnixNano(), maxTime.UnixNano()
	for d := dayNs; ; d *= 2 {
		from, to := max(t-d, lo), min(t+d, hi)
		ps := c.final(from, to)
		i := sort.Search(len(ps), func(i int) bool { return ps[i].end > t })
		if i == len(ps) || ps[i].start > t {
			return Shift{}, false
		}
		p := ps[i]
		if ((p.start > from || from == lo) && (p.end < to || to == hi)) || d >= onCallLookNs {
			return c.shift(p), true
		}
	}
}

// NextHandoffs returns the next n instants after (strictly) at which the
// on-call person changes — to or from nobody included — looking up to
// MaxWindow ahead; fewer when the schedule changes less often. A change of
// source with the same user on call is no handoff.
func (c *Compiled) NextHandoffs(after time.Time, n int) ([]Handoff, error) {
	if n < 1 || n > MaxHandoffs {
		return nil, invalid("n", "must be between 1 and %d", MaxHandoffs)
	}
	if after.Before(minTime) || !after.Before(maxTime) {
		return nil, invalid("after", "must be between %d and %d", minTime.Year(), maxTime.Year()-1)
	}
	pos := after.UnixNano()
	horizon := min(pos+int64(MaxWindow), maxTime.UnixNano())
	out := []Handoff{}
	first := true
	var prev piece
	visit := func(x int64, p piece) {
		switch {
		case first:
			first = false
		case p.user != prev.user && len(out) < n:
			h := Handoff{At: time.Unix(0, x).UTC(), FromUserID: prev.user, ToUserID: p.user}
			if prev.user != "" {
				src := prev.src
				h.FromSource = &src
			}
			if p.user != "" {
				src := p.src
				h.ToSource = &src
			}
			out = append(out, h)
		}
		prev = p
	}
	for chunk := 2 * dayNs; pos < horizon && len(out) < n; chunk = min(2*chunk, 64*dayNs) {
		end := min(pos+chunk, horizon)
		cursor := pos
		for _, p := range c.final(pos, end) {
			if p.start > cursor {
				visit(cursor, piece{})
			}
			visit(p.start, p)
			cursor = p.end
		}
		if cursor < end {
			visit(cursor, piece{})
		}
		pos = end
	}
	return out, nil
}

// Shifts compiles s and returns its on-call shifts in [from, to); see
// Compiled.Shifts.
func Shifts(s Schedule, from, to time.Time) ([]Shift, error) {
	c, err := Compile(s)
	if err != nil {
		return nil, err
	}
	return c.Shifts(from, to)
}

// LayerShifts compiles s and returns one layer's own shifts; see
// Compiled.LayerShifts.
func LayerShifts(s Schedule, index int, from, to time.Time) ([]Shift, error) {
	c, err := Compile(s)
	if err != nil {
		return nil, err
	}
	return c.LayerShifts(index, from, to)
}

// UserShifts compiles s and returns one user's shifts; see
// Compiled.UserShifts.
func UserShifts(s Schedule, userID string, from, to time.Time) ([]Shift, error) {
	c, err := Compile(s)
	if err != nil {
		return nil, err
	}
	return c.UserShifts(userID, from, to)
}

// OnCallAt compiles s and returns who is on call at the instant; see
// Compiled.OnCallAt. An invalid schedule is an error, never "nobody".
func OnCallAt(s Schedule, at time.Time) (Shift, bool, error) {
	c, err := Compile(s)
	if err != nil {
		return Shift{}, false, err
	}
	sh, ok := c.OnCallAt(at)
	return sh, ok, nil
}

// NextHandoffs compiles s and returns its next n handoffs after the instant;
// see Compiled.NextHandoffs.
func NextHandoffs(s Schedule, after time.Time, n int) ([]Handoff, error) {
	c, err := Compile(s)
	if err != nil {
		return nil, err
	}
	return c.NextHandoffs(after, n)
}
