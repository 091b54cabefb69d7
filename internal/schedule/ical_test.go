package schedule_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/schedule"
)

// property is one unfolded content line: NAME;PARAMS:VALUE.
type property struct{ name, params, value string }

// parseICal checks the RFC 5545 line rules (CRLF endings, at most 75 octets
// a line, folds that start with one space and never split a UTF-8 sequence)
// and returns the unfolded content lines.
func parseICal(t *testing.T, b []byte) []property {
	t.Helper()
	require.True(t, bytes.HasSuffix(b, []byte("\r\n")), "the last line ends in CRLF")
	physical := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
	var logical []string
	for _, l := range physical {
		require.NotContains(t, l, "\n", "bare LF")
		require.NotContains(t, l, "\r", "bare CR")
		require.LessOrEqual(t, len(l), 75, "line longer than 75 octets: %q", l)
		require.True(t, utf8.ValidString(l), "fold split a UTF-8 sequence: %q", l)
		if strings.HasPrefix(l, " ") {
			require.NotEmpty(t, logical, "a continuation line first")
			logical[len(logical)-1] += l[1:]
			continue
		}
		logical = append(logical, l)
	}
	var props []property
	for _, l := range logical {
		colon := strings.IndexByte(l, ':')
		require.Positive(t, colon, "no colon in %q", l)
		name, params, _ := strings.Cut(l[:colon], ";")
		props = append(props, property{name: name, params: params, value: l[colon+1:]})
	}
	return props
}

// unescape reverses RFC 5545 TEXT escaping, failing on escapes it does not
// allow and on unescaped separators.
func unescape(t *testing.T, v string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			require.Less(t, i+1, len(v), "dangling backslash in %q", v)
			i++
			switch v[i] {
			case 'n', 'N':
				b.WriteByte('\n')
			case '\\', ';', ',':
				b.WriteByte(v[i])
			default:
				t.Fatalf("bad escape \\%c in %q", v[i], v)
			}
		case ';', ',':
			t.Fatalf("unescaped %c in %q", c, v)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

type event map[string]string

func events(t *testing.T, props []property) (cal map[string]string, evs []event) {
	t.Helper()
	cal = map[string]string{}
	var cur event
	for _, p := range props {
		switch {
		case p.name == "BEGIN" && p.value == "VEVENT":
			cur = event{}
		case p.name == "END" && p.value == "VEVENT":
			evs = append(evs, cur)
			cur = nil
		case cur != nil:
			cur[p.name] = p.value
		case p.name != "BEGIN" && p.name != "END":
			cal[p.name] = p.value
		}
	}
	require.Equal(t, property{name: "BEGIN", value: "VCALENDAR"}, props[0])
	require.Equal(t, property{name: "END", value: "VCALENDAR"}, props[len(props)-1])
	return cal, evs
}

func TestICal(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Zoë Ångström-Øverås 日本語 ", 6)
	shifts := []schedule.Shift{
		{ScheduleID: "sch_1", UserID: "alice", Start: utc(t, "2026-03-02T08:00"), End: utc(t, "2026-03-03T08:00"),
			Source: schedule.Source{Kind: schedule.SourceLayer, Layer: 2, LayerName: "Day; weekdays, 09–17"}},
		{ScheduleID: "sch_1", UserID: "bob", Start: utc(t, "2026-03-03T08:00"), End: utc(t, "2026-03-03T10:00"),
			Source: schedule.Source{Kind: schedule.SourceOverride, OverrideID: "ovr_1"}},
		{ScheduleID: "sch_1", UserID: "usr_unknown", Start: utc(t, "2026-03-03T10:00"), End: utc(t, "2026-03-04T08:00"),
			Source: schedule.Source{Kind: schedule.SourceLayer, Layer: 1}},
	}
	users := map[string]string{"alice": "Alice", "bob": long + "\\ ; , \n end"}
	name := "Primary, EU; back\\end\nsecond line"
	out := schedule.ICal(name, shifts, users, "oncall.example.com", utc(t, "2026-03-01T12:34"))

	cal, evs := events(t, parseICal(t, out))
	require.Equal(t, "2.0", cal["VERSION"])
	require.Equal(t, "-//incident-server//on-call schedule//EN", cal["PRODID"])
	require.Equal(t, "GREGORIAN", cal["CALSCALE"])
	require.Equal(t, "PUBLISH", cal["METHOD"])
	require.Equal(t, name, unescape(t, cal["X-WR-CALNAME"]))
	require.Len(t, evs, 3)

	require.Equal(t, "20260301T123400Z", evs[0]["DTSTAMP"])
	require.Equal(t, "20260302T080000Z", evs[0]["DTSTART"])
	require.Equal(t, "20260303T080000Z", evs[0]["DTEND"])
	require.Equal(t, "On call: Alice (layer 2)", unescape(t, evs[0]["SUMMARY"]))
	require.Equal(t, "Schedule: "+name+"\nOn call: Alice (alice)\nSource: layer 2 (Day; weekdays, 09–17)", unescape(t, evs[0]["DESCRIPTION"]))
	require.Equal(t, "On call: "+long+"\\ ; , \n end (override)", unescape(t, evs[1]["SUMMARY"]))
	require.Contains(t, unescape(t, evs[1]["DESCRIPTION"]), "Source: override ovr_1")
	require.Equal(t, "On call: usr_unknown (layer 1)", unescape(t, evs[2]["SUMMARY"]))
	for _, e := range evs {
		require.True(t, strings.HasSuffix(e["UID"], "@oncall.example.com"), e["UID"])
	}
	require.Len(t, map[string]bool{evs[0]["UID"]: true, evs[1]["UID"]: true, evs[2]["UID"]: true}, 3)

	// Fetching again later, with a shift cut shorter by a new override, keeps
	// every UID: calendars update the events instead of adding copies.
	shifts[0].End = utc(t, "2026-03-02T20:00")
	_, again := events(t, parseICal(t, schedule.ICal(name, shifts, users, "oncall.example.com", utc(t, "2026-03-02T00:00"))))
	for i := range evs {
		require.Equal(t, evs[i]["UID"], again[i]["UID"])
	}
	require.Equal(t, "20260302T200000Z", again[0]["DTEND"])
	// Another schedule with the same user and start is another event.
	other := shifts[0]
	other.ScheduleID = "sch_2"
	_, evs2 := events(t, parseICal(t, schedule.ICal(name, []schedule.Shift{other}, users, "oncall.example.com", utc(t, "2026-03-02T00:00"))))
	require.NotEqual(t, evs[0]["UID"], evs2[0]["UID"])
}

// The exact bytes of a small feed, to pin the format.
func TestICalExact(t *testing.T) {
	t.Parallel()
	out := schedule.ICal("Ops", []schedule.Shift{{ScheduleID: "sch_1", UserID: "alice",
		Start: utc(t, "2026-03-02T08:00"), End: utc(t, "2026-03-03T08:00"),
		Source: schedule.Source{Kind: schedule.SourceLayer, Layer: 1}}},
		map[string]string{"alice": "Alice"}, "example.com", utc(t, "2026-03-01T00:00"))
	_, evs := events(t, parseICal(t, out))
	want := "BEGIN:VCALENDAR\r\n" +
		"VERSION:2.0\r\n" +
		"PRODID:-//incident-server//on-call schedule//EN\r\n" +
		"CALSCALE:GREGORIAN\r\n" +
		"METHOD:PUBLISH\r\n" +
		"X-WR-CALNAME:Ops\r\n" +
		"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" +
		"X-PUBLISHED-TTL:PT1H\r\n" +
		"BEGIN:VEVENT\r\n" +
		"UID:" + evs[0]["UID"] + "\r\n" +
		"DTSTAMP:20260301T000000Z\r\n" +
		"DTSTART:20260302T080000Z\r\n" +
		"DTEND:20260303T080000Z\r\n" +
		"SUMMARY:On call: Alice (layer 1)\r\n" +
		"DESCRIPTION:Schedule: Ops\\nOn call: Alice (alice)\\nSource: layer 1\r\n" +
		"TRANSP:TRANSPARENT\r\n" +
		"END:VEVENT\r\n" +
		"END:VCALENDAR\r\n"
	require.Equal(t, want, string(out))
	require.Regexp(t, `^shift-[0-9a-f]{32}@example\.com$`, evs[0]["UID"])
}

// Folding counts octets, not characters, and never splits a character.
func TestICalFolding(t *testing.T) {
	t.Parallel()
	for n := 60; n < 80; n++ {
		for _, filler := range []string{"a", "é", "日", "😀"} {
			name := strings.Repeat(filler, n)
			props := parseICal(t, schedule.ICal(name, nil, nil, "", utc(t, "2026-03-01T00:00")))
			cal, _ := events(t, props)
			require.Equal(t, name, unescape(t, cal["X-WR-CALNAME"]))
		}
	}
}
