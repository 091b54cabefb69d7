// Package schedule computes who is on call: the shifts of an on-call
// schedule's rotation layers and overrides, across time zones and daylight
// saving changes, and the iCalendar feed that shows them.
//
// Everything here is a pure function of its arguments: no clock reads, no
// randomness, no goroutines, no I/O beyond loading the schedule's time zone
// (time.LoadLocation), and output in a deterministic order. Workflow code may
// call it; so may activities and the API.
//
// # Model
//
// A Schedule has an IANA time zone and ordered layers. A Layer is a rotation:
// its members take turns of a fixed length (Turn) counted from Start, a local
// date-time in the schedule's zone; member i%len(Members) has turn i. The
// time of day of Start is the handoff time: there is no separate handoff
// field. Before Start the layer has nobody on call. Restrictions, when
// present, limit the layer to recurring weekly windows of local time (their
// union); outside them the layer has nobody on call, and the rotation still
// advances (a restricted turn is not postponed).
//
// Layering: at any instant the highest-numbered layer that has someone on
// call wins (PagerDuty's model); where no layer has anyone, nobody is on call
// and no shift is returned.
//
// Overrides put a user on call for [Start, End). With Replaces empty the
// override covers everyone: its user is on call for the whole stretch, gaps
// included. With Replaces naming a user it applies only while that user is the
// on-call person that the layers give; elsewhere the layers stand. Overrides of
// one schedule never overlap in time (ValidateOverride and Schedule.Validate
// reject it), so at most one applies at any instant.
//
// # Local time and daylight saving
//
// Every wall-clock position — Start, each handoff Start + k·Turn, each
// restriction edge — is counted in the zone's local wall-clock time with plain
// calendar arithmetic, as if the zone had no transitions. Daily, weekly and
// N-day turns therefore hand off at the same local time of day every day (a
// daily turn lasts 23 h or 25 h of real time across a transition), and a 12h
// turn started at 09:00 hands off at 09:00 and 21:00 local every day, so the
// night shift across spring-forward lasts 11 h and the one across fall-back
// 13 h. Hours-based and days-based turns follow the same rule: "24h" and
// "daily" are the same rotation.
//
// Which instant a wall-clock position takes effect at is fixed by one rule:
// the layer reads an effective local clock that is the running maximum of the
// wall clock — the latest local time the clock has shown so far. A position
// takes effect at the first instant the effective clock reaches it. So:
//
//   - A position inside a spring-forward gap (02:30 in Europe/Berlin on
//     2026-03-29, which does not exist) takes effect at the end of the gap,
//     the transition instant (03:00 CEST). This differs from time.Date, which
//     moves such a time forward by the gap's length (to 03:30 CEST). A turn
//     or restriction window that lies wholly inside the gap has no shift; a
//     window that opens before the gap and closes inside it closes at the
//     transition, so no shift covers time that does not exist. The rotation is not shifted: the next
//     turn belongs to the member the calendar says.
//   - A position inside the hour repeated after fall-back takes effect at its
//     first occurrence (02:30 CEST on 2026-10-25 in Europe/Berlin; time.Date
//     would pick the second, 02:30 CET). During the repeated hour the
//     effective clock stands still just before the wall-clock time at which
//     the clock went back, so nothing changes: the whole repeated hour
//     belongs to whoever and whichever window was in effect just before the
//     transition.
//
// The effective clock never runs backwards, so handoffs and window edges come
// in the order the calendar gives and no shift has negative or nonexistent
// length. Offsets that are not whole hours (Asia/Kolkata +05:30,
// Australia/Adelaide +09:30/+10:30, Australia/Lord_Howe's 30-minute DST) need
// nothing special.
//
// # Time zone data
//
// The package imports time/tzdata, so zones load in an image without
// /usr/share/zoneinfo (distroless). time.LoadLocation still prefers the
// system's zoneinfo when present; processes that must agree on shifts (a
// workflow replayed on another worker) should run with the same tz database,
// for example by setting ZONEINFO to the Go distribution's lib/time/zoneinfo.zip.
//
// # Limits
//
// Wall-clock positions have minute precision. At most MaxLayers layers,
// MaxMembers members per layer, MaxRestrictions restrictions per layer,
// MaxOverrides overrides per schedule, an override at most MaxOverrideLength
// long, a Shifts window at most MaxWindow long, and instants from 1970 up to
// (not including) 2200.
package schedule

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on a schedule and on one computation.
const (
	MaxLayers         = 10
	MaxMembers        = 100
	MaxRestrictions   = 50
	MaxOverrides      = 1000
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
	MaxIDLen          = 64
	// MaxOverrideLength is the longest override; a longer absence is a change
	// of the rotation.
	MaxOverrideLength = 31 * 24 * time.Hour
	// MaxWindow is the longest [from, to) that Shifts and friends compute.
	MaxWindow = 366 * 24 * time.Hour
	// MinTurn and MaxTurn bound a layer's turn.
	MinTurn = time.Hour
	MaxTurn = 365 * 24 * time.Hour
)

// Instants outside [minTime, maxTime) are refused; within them Unix
// nanoseconds fit in an int64 with room for the arithmetic.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Schedule is an on-call schedule: a time zone and ordered layers, and the
// overrides that apply to it.
type Schedule struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// TimeZone is an IANA name (Europe/Berlin); every local time in the
	// schedule is read in it.
	TimeZone string `json:"time_zone"`
	// Layers in order: a later layer wins where it has someone on call.
	Layers []Layer `json:"layers"`
	// Overrides may be nil where they are stored and served separately; the
	// computation takes those it is given.
	Overrides []Override `json:"overrides,omitempty"`
	Version   int64      `json:"version,omitempty"`
}

// Layer is one rotation.
type Layer struct {
	Name string `json:"name,omitempty"`
	// Members are user IDs in rotation order; a user may appear more than once.
	Members []string `json:"members"`
	// Start is when turn 0 begins, local time in the schedule's zone; its time
	// of day is the handoff time.
	Start LocalDateTime `json:"start"`
	// Turn is how long each member's turn is: "hourly", "daily", "weekly", a
	// Go duration of whole minutes ("12h", "90m"), or a number of days ("3d").
	Turn Turn `json:"turn"`
	// Restrictions limit the layer to their windows (their union); none means
	// always.
	Restrictions []Restriction `json:"restrictions,omitempty"`
}

// Turn is a rotation's turn length; see Layer.Turn.
type Turn string

// Named turns.
const (
	Hourly Turn = "hourly"
	Daily  Turn = "daily"
	Weekly Turn = "weekly"
)

const turnHelp = "must be hourly, daily, weekly, a duration like 12h, or a number of days like 3d"

// Duration returns the turn's length in wall-clock time.
func (t Turn) Duration() (time.Duration, error) {
	var d time.Duration
	switch s := string(t); {
	case t == Hourly:
		d = time.Hour
	case t == Daily:
		d = 24 * time.Hour
	case t == Weekly:
		d = 7 * 24 * time.Hour
	case strings.HasSuffix(s, "d") && len(s) > 1 && allDigits(s[:len(s)-1]):
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n > int(MaxTurn/(24*time.Hour)) {
			return 0, fmt.Errorf("must be at most %dd", MaxTurn/(24*time.Hour))
		}
		d = time.Duration(n) * 24 * time.Hour
	default:
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s", turnHelp)
		}
		d = v
	}
	switch {
	case d < MinTurn:
		return 0, fmt.Errorf("must be at least 1h")
	case d > MaxTurn:
		return 0, fmt.Errorf("must be at most %dd", MaxTurn/(24*time.Hour))
	case d%time.Minute != 0:
		return 0, fmt.Errorf("must be a whole number of minutes")
	}
	return d, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// LocalDateTime is a date and time of day without a zone, to the minute. It
// reads and writes JSON as "2026-03-02T09:00"; the zero value is "" (unset).
type LocalDateTime struct {
	Year   int
	Month  time.Month
	Day    int
	Hour   int
	Minute int
}

const localLayout = "2006-01-02T15:04"

// ParseLocalDateTime reads "2026-03-02T09:00".
func ParseLocalDateTime(s string) (LocalDateTime, error) {
	t, err := time.Parse(localLayout, s)
	if err != nil {
		return LocalDateTime{}, fmt.Errorf("local date-time %q: use the form 2026-03-02T09:00", s)
	}
	return LocalDateTime{t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()}, nil
}

// IsZero reports whether l is unset.
func (l LocalDateTime) IsZero() bool { return l == LocalDateTime{} }

// String writes "2026-03-02T09:00", or "" for the zero value.
func (l LocalDateTime) String() string {
	if l.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02dT%02d:%02d", l.Year, int(l.Month), l.Day, l.Hour, l.Minute)
}

// MarshalJSON writes l as a string.
func (l LocalDateTime) MarshalJSON() ([]byte, error) { return json.Marshal(l.String()) }

// UnmarshalJSON reads "2026-03-02T09:00"; "" is the zero value.
func (l *LocalDateTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("local date-time: use a string like \"2026-03-02T09:00\"")
	}
	if s == "" {
		*l = LocalDateTime{}
		return nil
	}
	v, err := ParseLocalDateTime(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// valid reports whether l names a real calendar date and time of day.
func (l LocalDateTime) valid() bool {
	t := time.Date(l.Year, l.Month, l.Day, l.Hour, l.Minute, 0, 0, time.UTC)
	return t.Year() == l.Year && t.Month() == l.Month && t.Day() == l.Day &&
		t.Hour() == l.Hour && t.Minute() == l.Minute
}

// Weekday is a day of the week: "mon" … "sun".
type Weekday string

// Days of the week.
const (
	Monday    Weekday = "mon"
	Tuesday   Weekday = "tue"
	Wednesday Weekday = "wed"
	Thursday  Weekday = "thu"
	Friday    Weekday = "fri"
	Saturday  Weekday = "sat"
	Sunday    Weekday = "sun"
)

var weekdays = [...]Weekday{Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday}

// index returns 0 for Monday … 6 for Sunday, or -1.
func (d Weekday) index() int {
	for i, w := range weekdays {
		if d == w {
			return i
		}
	}
	return -1
}

// TimeOfDay is a local time of day "HH:MM", 00:00 to 23:59; a restriction's
// end may also be "24:00", the end of the day.
type TimeOfDay string

// minutes returns the minutes since midnight, or -1 when t is malformed.
func (t TimeOfDay) minutes(allow24 bool) int {
	s := string(t)
	if len(s) != 5 || s[2] != ':' || !allDigits(s[:2]) || !allDigits(s[3:]) {
		return -1
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	switch {
	case h == 24 && m == 0 && allow24:
		return 24 * 60
	case h > 23 || m > 59:
		return -1
	}
	return h*60 + m
}

// Restriction is a window of local time that recurs every week. It has one
// of two forms:
//
//   - Daily: Days (empty means every day), Start and End. The window opens at
//     Start on each listed day and closes at the next End: the same day when
//     End is later than Start, else the following day. Weekdays 09–17 is
//     {"days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"17:00"};
//     nights are {"start":"22:00","end":"06:00"}.
//   - Weekly: StartDay, Start, EndDay and End. One window from StartDay at
//     Start to the next EndDay at End: the weekend layer is
//     {"start_day":"fri","start":"18:00","end_day":"mon","end":"09:00"}.
//     With the same day, an earlier End wraps round the week.
type Restriction struct {
	Days     []Weekday `json:"days,omitempty"`
	StartDay Weekday   `json:"start_day,omitempty"`
	Start    TimeOfDay `json:"start"`
	EndDay   Weekday   `json:"end_day,omitempty"`
	End      TimeOfDay `json:"end"`
}

// Override puts UserID on call for [Start, End).
type Override struct {
	ID     string    `json:"id"`
	UserID string    `json:"user_id"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// Replaces names the user covered for: the override applies only while
	// that user is on call. Empty means everyone, gaps included.
	Replaces string `json:"replaces,omitempty"`
}

// ValidationError names the field that is wrong and why, in words for the
// person who sent it.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ClashError reports that an override overlaps an existing one.
type ClashError struct {
	// With is the existing override it overlaps.
	With Override
}

func (e *ClashError) Error() string {
	return fmt.Sprintf("overlaps override %s (user %s, %s to %s)", e.With.ID, e.With.UserID,
		e.With.Start.UTC().Format(time.RFC3339), e.With.End.UTC().Format(time.RFC3339))
}

// Normalize trims text, lower-cases keywords and stores override instants
// in UTC to the microsecond (what Postgres keeps).
func (s *Schedule) Normalize() {
	s.ID = strings.TrimSpace(s.ID)
	s.Name = strings.TrimSpace(s.Name)
	s.Description = strings.TrimSpace(s.Description)
	s.TimeZone = strings.TrimSpace(s.TimeZone)
	for i := range s.Layers {
		l := &s.Layers[i]
		l.Name = strings.TrimSpace(l.Name)
		for j := range l.Members {
			l.Members[j] = strings.TrimSpace(l.Members[j])
		}
		l.Turn = Turn(strings.ToLower(strings.TrimSpace(string(l.Turn))))
		for j := range l.Restrictions {
			r := &l.Restrictions[j]
			for k := range r.Days {
				r.Days[k] = normDay(r.Days[k])
			}
			r.StartDay, r.EndDay = normDay(r.StartDay), normDay(r.EndDay)
			r.Start = TimeOfDay(strings.TrimSpace(string(r.Start)))
			r.End = TimeOfDay(strings.TrimSpace(string(r.End)))
		}
	}
	for i := range s.Overrides {
		s.Overrides[i].Normalize()
	}
}

func normDay(d Weekday) Weekday { return Weekday(strings.ToLower(strings.TrimSpace(string(d)))) }

// Normalize trims text and stores the instants in UTC to the microsecond.
func (o *Override) Normalize() {
	o.ID = strings.TrimSpace(o.ID)
	o.UserID = strings.TrimSpace(o.UserID)
	o.Replaces = strings.TrimSpace(o.Replaces)
	o.Start = o.Start.UTC().Truncate(time.Microsecond)
	o.End = o.End.UTC().Truncate(time.Microsecond)
}

// Validate checks a schedule, its layers and its overrides, including that
// no two overrides overlap.
func (s Schedule) Validate() error {
	_, err := Compile(s)
	return err
}

// loadZone loads an IANA zone. "Local" is refused: it means whatever the
// machine is set to, so two machines would disagree.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > MaxNameLen {
		return nil, fmt.Errorf("unknown zone")
	}
	return time.LoadLocation(name)
}

func validateText(field, v string, required bool, maxLen int) *ValidationError {
	switch {
	case required && v == "":
		return invalid(field, "is required")
	case utf8.RuneCountInString(v) > maxLen:
		return invalid(field, "is longer than %d characters", maxLen)
	}
	return nil
}

func (s Schedule) validateHead() *ValidationError {
	if err := validateText("id", s.ID, false, MaxIDLen); err != nil {
		return err
	}
	if err := validateText("name", s.Name, true, MaxNameLen); err != nil {
		return err
	}
	if err := validateText("description", s.Description, false, MaxDescriptionLen); err != nil {
		return err
	}
	switch {
	case len(s.Layers) == 0:
		return invalid("layers", "needs at least one layer")
	case len(s.Layers) > MaxLayers:
		return invalid("layers", "holds more than %d layers", MaxLayers)
	case len(s.Overrides) > MaxOverrides:
		return invalid("overrides", "holds more than %d overrides", MaxOverrides)
	}
	return nil
}

// validate checks a layer and returns its turn in minutes and its
// restriction windows in minutes of the week from Monday 00:00 (each
// [start, end) with end possibly past the week's end).
func (l Layer) validate(prefix string) (turn int64, windows [][2]int, err *ValidationError) {
	if err := validateText(prefix+"name", l.Name, false, MaxNameLen); err != nil {
		return 0, nil, err
	}
	switch {
	case len(l.Members) == 0:
		return 0, nil, invalid(prefix+"members", "needs at least one user")
	case len(l.Members) > MaxMembers:
		return 0, nil, invalid(prefix+"members", "holds more than %d users", MaxMembers)
	}
	for i, m := range l.Members {
		if err := validateText(fmt.Sprintf("%smembers[%d]", prefix, i), m, true, MaxIDLen); err != nil {
			return 0, nil, err
		}
	}
	switch {
	case l.Start.IsZero():
		return 0, nil, invalid(prefix+"start", "is required (a local date-time like 2026-03-02T09:00)")
	case !l.Start.valid():
		return 0, nil, invalid(prefix+"start", "is not a real date and time")
	case l.Start.Year < minTime.Year() || l.Start.Year >= maxTime.Year():
		return 0, nil, invalid(prefix+"start", "must be between %d and %d", minTime.Year(), maxTime.Year()-1)
	}
	if l.Turn == "" {
		return 0, nil, invalid(prefix+"turn", "is required: %s", turnHelp)
	}
	d, terr := l.Turn.Duration()
	if terr != nil {
		return 0, nil, invalid(prefix+"turn", "%s", terr.Error())
	}
	if len(l.Restrictions) > MaxRestrictions {
		return 0, nil, invalid(prefix+"restrictions", "holds more than %d restrictions", MaxRestrictions)
	}
	for i, r := range l.Restrictions {
		w, err := r.validate(fmt.Sprintf("%srestrictions[%d].", prefix, i))
		if err != nil {
			return 0, nil, err
		}
		windows = append(windows, w...)
	}
	return int64(d / time.Minute), windows, nil
}

const dayMinutes, weekMinutes = 24 * 60, 7 * 24 * 60

// validate checks a restriction and returns its windows in minutes of the
// week from Monday 00:00.
func (r Restriction) validate(prefix string) ([][2]int, *ValidationError) {
	start := r.Start.minutes(false)
	if start < 0 {
		return nil, invalid(prefix+"start", "must be a time of day like 09:00")
	}
	end := r.End.minutes(true)
	if end < 0 {
		return nil, invalid(prefix+"end", "must be a time of day like 17:00 (or 24:00)")
	}
	if r.StartDay == "" && r.EndDay == "" {
		if end == start {
			return nil, invalid(prefix+"end", "must differ from start (a layer without restrictions is on all day)")
		}
		length := end - start
		if length <= 0 {
			length += dayMinutes
		}
		days := r.Days
		if len(days) == 0 {
			days = weekdays[:]
		}
		var out [][2]int
		seen := 0
		for i, d := range days {
			n := d.index()
			if n < 0 {
				return nil, invalid(fmt.Sprintf("%sdays[%d]", prefix, i), "must be one of mon, tue, wed, thu, fri, sat, sun")
			}
			if seen&(1<<n) != 0 {
				return nil, invalid(fmt.Sprintf("%sdays[%d]", prefix, i), "lists %s twice", d)
			}
			seen |= 1 << n
			s := n*dayMinutes + start
			out = append(out, [2]int{s, s + length})
		}
		return out, nil
	}
	switch {
	case len(r.Days) > 0:
		return nil, invalid(prefix+"days", "is for a daily window; a weekly window has start_day and end_day only")
	case r.StartDay.index() < 0:
		return nil, invalid(prefix+"start_day", "must be one of mon, tue, wed, thu, fri, sat, sun")
	case r.EndDay.index() < 0:
		return nil, invalid(prefix+"end_day", "must be one of mon, tue, wed, thu, fri, sat, sun")
	}
	s := r.StartDay.index()*dayMinutes + start
	e := r.EndDay.index()*dayMinutes + end
	length := ((e-s)%weekMinutes + weekMinutes) % weekMinutes
	if length == 0 {
		return nil, invalid(prefix+"end", "must differ from the start (a window that never closes is no restriction)")
	}
	return [][2]int{{s, s + length}}, nil
}

// Validate checks one override on its own; prefix is put before field names.
func (o Override) Validate(prefix string) error {
	if err := o.validate(prefix); err != nil {
		return err
	}
	return nil
}

func (o Override) validate(prefix string) *ValidationError {
	if err := validateText(prefix+"id", o.ID, false, MaxIDLen); err != nil {
		return err
	}
	if err := validateText(prefix+"user_id", o.UserID, true, MaxIDLen); err != nil {
		return err
	}
	if err := validateText(prefix+"replaces", o.Replaces, false, MaxIDLen); err != nil {
		return err
	}
	switch {
	case o.Replaces == o.UserID:
		return invalid(prefix+"replaces", "names the override's own user")
	case o.Start.IsZero():
		return invalid(prefix+"start", "is required (RFC 3339)")
	case o.End.IsZero():
		return invalid(prefix+"end", "is required (RFC 3339)")
	case !o.End.After(o.Start):
		return invalid(prefix+"end", "must be after start")
	case o.End.Sub(o.Start) > MaxOverrideLength:
		return invalid(prefix+"end", "an override lasts at most %d days", MaxOverrideLength/(24*time.Hour))
	case o.Start.Before(minTime) || !o.End.Before(maxTime):
		return invalid(prefix+"start", "must be between %d and %d", minTime.Year(), maxTime.Year()-1)
	}
	return nil
}

// ValidateOverride checks o on its own and against the schedule's existing
// overrides. Ranges are half-open: an override ending exactly when another
// starts does not clash. An existing override with o's ID is o's previous
// version and is skipped, so an edit does not clash with itself. A clash is a
// *ClashError naming the earliest-starting override o overlaps; anything else
// wrong is a *ValidationError.
func ValidateOverride(existing []Override, o Override) error {
	if err := o.validate(""); err != nil {
		return err
	}
	var clash *Override
	for i := range existing {
		e := &existing[i]
		if o.ID != "" && e.ID == o.ID {
			continue
		}
		if e.Start.Before(o.End) && o.Start.Before(e.End) && (clash == nil || e.Start.Before(clash.Start)) {
			clash = e
		}
	}
	if clash != nil {
		return &ClashError{With: *clash}
	}
	return nil
}

// validateOverrides checks each override and that none overlap.
func validateOverrides(os []Override) *ValidationError {
	order := make([]int, len(os))
	for i := range os {
		if err := os[i].validate(fmt.Sprintf("overrides[%d].", i)); err != nil {
			return err
		}
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return os[a].Start.Compare(os[b].Start) })
	for k := 1; k < len(order); k++ {
		prev, cur := os[order[k-1]], os[order[k]]
		if cur.Start.Before(prev.End) {
			return invalid(fmt.Sprintf("overrides[%d]", order[k]), "%s", (&ClashError{With: prev}).Error())
		}
	}
	return nil
}
