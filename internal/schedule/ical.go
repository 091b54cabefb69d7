package schedule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const icalTime = "20060102T150405Z"

// ICal renders shifts as an RFC 5545 calendar (text/calendar) for Google
// Calendar, Outlook and the like to subscribe to: one VEVENT per shift,
// times in UTC, lines ending in CRLF and folded at 75 octets.
//
// name is the calendar's name; users maps user IDs to display names (an
// unknown ID shows as itself); stamp is the DTSTAMP of every event (the
// caller's clock: this package reads none). An event's UID is derived from
// uidDomain and the shift's schedule, user and start, so a re-fetched feed
// updates events instead of duplicating them; callers should therefore cut
// the window at instants that do not move with every request (say midnight
// UTC), or the first shift's start, and its UID, would change each time.
func ICal(name string, shifts []Shift, users map[string]string, uidDomain string, stamp time.Time) []byte {
	var b bytes.Buffer
	line := func(s string) { writeFolded(&b, s) }
	line("BEGIN:VCALENDAR")
	line("VERSION:2.0")
	line("PRODID:-//incident-server//on-call schedule//EN")
	line("CALSCALE:GREGORIAN")
	line("METHOD:PUBLISH")
	line("X-WR-CALNAME:" + escapeText(name))
	// Hints for subscribers on how often to fetch again.
	line("REFRESH-INTERVAL;VALUE=DURATION:PT1H")
	line("X-PUBLISHED-TTL:PT1H")
	dtstamp := stamp.UTC().Format(icalTime)
	for _, s := range shifts {
		who := users[s.UserID]
		if who == "" {
			who = s.UserID
		}
		line("BEGIN:VEVENT")
		line("UID:" + eventUID(s, uidDomain))
		line("DTSTAMP:" + dtstamp)
		line("DTSTART:" + s.Start.UTC().Format(icalTime))
		line("DTEND:" + s.End.UTC().Format(icalTime))
		line("SUMMARY:" + escapeText("On call: "+who+" ("+s.Source.label()+")"))
		line("DESCRIPTION:" + escapeText(describe(name, who, s)))
		// Being on call does not make anyone busy for meetings.
		line("TRANSP:TRANSPARENT")
		line("END:VEVENT")
	}
	line("END:VCALENDAR")
	return b.Bytes()
}

func (s Source) label() string {
	if s.Kind == SourceOverride {
		return "override"
	}
	return "layer " + strconv.Itoa(s.Layer)
}

func describe(schedule, who string, s Shift) string {
	var d strings.Builder
	if schedule != "" {
		d.WriteString("Schedule: " + schedule + "\n")
	}
	d.WriteString("On call: " + who + " (" + s.UserID + ")\n")
	switch {
	case s.Source.Kind == SourceOverride && s.Source.OverrideID != "":
		d.WriteString("Source: override " + s.Source.OverrideID)
	case s.Source.Kind == SourceOverride:
		d.WriteString("Source: override")
	case s.Source.LayerName != "":
		d.WriteString("Source: layer " + strconv.Itoa(s.Source.Layer) + " (" + s.Source.LayerName + ")")
	default:
		d.WriteString("Source: layer " + strconv.Itoa(s.Source.Layer))
	}
	return d.String()
}

// eventUID is stable for a schedule, user and start: an override that moves
// a shift's end keeps its UID, so the subscriber updates the event.
func eventUID(s Shift, domain string) string {
	h := sha256.Sum256([]byte(s.ScheduleID + "\x00" + s.UserID + "\x00" + s.Start.UTC().Format(time.RFC3339Nano)))
	uid := "shift-" + hex.EncodeToString(h[:16])
	if domain != "" {
		uid += "@" + domain
	}
	return uid
}

// escapeText escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon,
// comma and newline; other control characters are not allowed and are
// dropped.
func escapeText(s string) string {
	var b strings.Builder
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, r := range s {
		switch {
		case r == '\\' || r == ';' || r == ',':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n' || r == '\r':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		case r == utf8.RuneError:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// writeFolded writes a content line ending in CRLF, folded so that no line
// is longer than 75 octets (RFC 5545 3.1); a continuation line starts with
// one space, and a UTF-8 sequence is never split.
func writeFolded(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
