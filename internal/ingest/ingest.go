// Package ingest turns the payloads monitoring systems send — Prometheus
// Alertmanager webhooks, PagerDuty Events API v2 events and our own generic
// format — into one normalized Alert. It does no I/O: callers hand it a
// request body and act on what comes back.
//
// Every Alert a decoder returns without error satisfies the same contract:
// Action is valid, Severity is one of incident.Severities, Title and
// Description fit incident's limits, DedupKey fits incident.MaxDedupKeyLen,
// and no text holds a NUL character (Postgres text and jsonb reject it).
package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// DefaultSeverity is given to an alert whose payload names no severity, or
// one MapSeverity does not know. An alert we cannot rank should still page
// someone, but calling it critical would overstate every alert that merely
// lacks the label.
const DefaultSeverity = incident.SeverityHigh

// Batch is one Alertmanager notification: the alerts of one group.
type Batch struct {
	// GroupKey is the groupKey as sent; each Alert's DedupKey is derived
	// from it.
	GroupKey string
	// Status is the group's status, "firing" or "resolved".
	Status      string
	Alerts      []incident.Alert
	ExternalURL string
	// Truncated counts alerts Alertmanager left out of this notification
	// because of the receiver's max_alerts.
	Truncated int
}

// severityAliases maps the severity names monitoring tools use, lower-cased,
// onto ours. It covers our own names, the Events API v2 names, syslog-style
// levels and P1–P5 priorities.
var severityAliases = map[string]incident.Severity{
	"critical": incident.SeverityCritical, "crit": incident.SeverityCritical,
	"p1": incident.SeverityCritical, "page": incident.SeverityCritical,
	"emergency": incident.SeverityCritical, "fatal": incident.SeverityCritical,

	"high": incident.SeverityHigh, "error": incident.SeverityHigh,
	"err": incident.SeverityHigh, "p2": incident.SeverityHigh,
	"major": incident.SeverityHigh,

	"warning": incident.SeverityMedium, "warn": incident.SeverityMedium,
	"medium": incident.SeverityMedium, "p3": incident.SeverityMedium,
	"minor": incident.SeverityMedium,

	"low": incident.SeverityLow, "p4": incident.SeverityLow,

	"info": incident.SeverityInfo, "informational": incident.SeverityInfo,
	"p5": incident.SeverityInfo, "none": incident.SeverityInfo,
	"debug": incident.SeverityInfo,
}

// MapSeverity maps a severity name from any supported format onto ours,
// ignoring case and surrounding white space. It reports false for a name it
// does not know; callers decide whether that is an error or DefaultSeverity.
func MapSeverity(s string) (incident.Severity, bool) {
	sev, ok := severityAliases[strings.ToLower(strings.TrimSpace(s))]
	return sev, ok
}

// ellipsis marks text that was shortened to fit a limit.
const ellipsis = "…"

// truncate shortens s to at most limit runes, ending it with an ellipsis
// when anything was cut. It reports whether it cut.
func truncate(s string, limit int) (string, bool) {
	if utf8.RuneCountInString(s) <= limit {
		return s, false
	}
	n := 0
	for i := range s {
		if n == limit-1 {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + ellipsis, true
		}
		n++
	}
	return s, false // unreachable: s has more than limit runes
}

// oneLine turns s into a single line: control characters become spaces and
// runs of white space collapse, so a templated multi-line summary still
// reads well as a title or a push notification.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// cleanTitle makes s a title: one line, within incident.MaxTitleLen. It
// reports whether the title was shortened.
func cleanTitle(s string) (string, bool) {
	return truncate(oneLine(s), incident.MaxTitleLen)
}

// cleanDescription trims s and fits it within incident.MaxDescriptionLen.
// Line breaks are kept: descriptions are often multi-line.
func cleanDescription(s string) string {
	d, _ := truncate(strings.TrimSpace(stripNUL(s)), incident.MaxDescriptionLen)
	return d
}

// titleAndDescription picks the title from the first candidate that is not
// blank, falling back to fallback. When the title had to be shortened and
// description is empty, the full text moves to the description instead.
func titleAndDescription(candidates []string, fallback, description string) (string, string) {
	description = cleanDescription(description)
	for _, c := range candidates {
		title, cut := cleanTitle(c)
		if title == "" {
			continue
		}
		if cut && description == "" {
			description = cleanDescription(c)
		}
		return title, description
	}
	return fallback, description
}

// cleanKey readies a dedup key or fingerprint: no NUL, no surrounding white
// space.
func cleanKey(s string) string { return strings.TrimSpace(stripNUL(s)) }

func stripNUL(s string) string {
	if !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// cleanMap strips NUL from m's keys and, through clean, its values. When two
// keys become equal, the one that was already clean wins, then the first in
// sorted order, so the result does not depend on map iteration order.
func cleanMap[V any](m map[string]V, clean func(V) V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	var dirty []string
	for k, v := range m {
		if strings.ContainsRune(k, 0) {
			dirty = append(dirty, k)
			continue
		}
		out[k] = clean(v)
	}
	slices.Sort(dirty)
	for _, k := range dirty {
		ck := stripNUL(k)
		if _, taken := out[ck]; !taken {
			out[ck] = clean(m[k])
		}
	}
	return out
}

func cleanLabels(m map[string]string) map[string]string { return cleanMap(m, stripNUL) }

// cleanValue strips NUL from every string and object key in a decoded JSON
// value.
func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return stripNUL(v)
	case map[string]any:
		return cleanMap(v, cleanValue)
	case []any:
		for i := range v {
			v[i] = cleanValue(v[i])
		}
		return v
	}
	return v
}

// hashKey is a stable stand-in for a key too long to store.
func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fitKey keeps key if it fits incident.MaxDedupKeyLen and hashes it
// otherwise, so the same long key always lands on the same incident.
func fitKey(key string) string {
	if utf8.RuneCountInString(key) <= incident.MaxDedupKeyLen {
		return key
	}
	return hashKey(key)
}

// Layouts parseTime accepts: RFC 3339, and the ISO 8601 form without a colon
// in the offset that PagerDuty's own examples use (2015-07-17T08:42:58.315+0000).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"}

// parseTime parses a payload timestamp into UTC. An empty string is the
// zero time.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// decodeError describes why body did not decode into the expected shape.
func decodeError(err error) *fault.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fault.InvalidField("body", "must be a JSON object")
		}
		return fault.InvalidField(te.Field, typeMismatch(te))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fault.InvalidField("body", "is not valid JSON: "+se.Error())
	}
	return fault.InvalidField("body", "is not valid JSON")
}

// typeMismatch says what a JSON value was and what was expected instead.
func typeMismatch(te *json.UnmarshalTypeError) string {
	return fmt.Sprintf("expected %s, got %s", jsonKind(te.Type), te.Value)
}

// jsonKind names the JSON value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another type"
}
