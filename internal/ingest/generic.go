package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// genericFields are the fields of the generic format. It is our own format,
// so anything else is a mistake worth reporting rather than ignoring.
var genericFields = []string{"action", "dedup_key", "details", "severity", "summary"}

// DecodeGeneric decodes our own generic alert format:
//
//	{"summary": "...", "details": {...} or "...", "dedup_key": "...",
//	 "action": "trigger" | "resolve", "severity": "..."}
//
// Field names are matched exactly and unknown fields are an error. action
// defaults to trigger. severity is optional (DefaultSeverity) and may be any
// name MapSeverity knows, such as ours or the Events API v2 ones. details, an
// object, becomes Details; as a string it becomes the Description.
//
// A trigger needs a summary. Without a dedup_key it gets one derived from the
// summary, so a script that repeats the same alert does not open an incident
// each time. A resolve needs a dedup_key. Every problem is an *fault.Error.
func DecodeGeneric(body []byte) (incident.Alert, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return incident.Alert{}, decodeError(err)
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(genericFields, name) {
			return incident.Alert{}, fault.InvalidField(stripNUL(name), "is not a known field; expected one of "+strings.Join(genericFields, ", "))
		}
	}

	var g struct{ summary, dedupKey, action, severity string }
	for name, dst := range map[string]*string{
		"summary": &g.summary, "dedup_key": &g.dedupKey, "action": &g.action, "severity": &g.severity,
	} {
		if err := decodeString(fields[name], dst); err != nil {
			return incident.Alert{}, fault.InvalidField(name, err.Error())
		}
	}

	action := incident.AlertTrigger
	switch a := strings.ToLower(strings.TrimSpace(g.action)); a {
	case "", string(incident.AlertTrigger):
	case string(incident.AlertResolve):
		action = incident.AlertResolve
	default:
		return incident.Alert{}, fault.InvalidField("action", `must be "trigger" or "resolve"`)
	}

	severity := DefaultSeverity
	if strings.TrimSpace(g.severity) != "" {
		s, ok := MapSeverity(g.severity)
		if !ok {
			return incident.Alert{}, fault.InvalidField("severity", "must be one of critical, high, medium, low, info (or critical, error, warning, info)")
		}
		severity = s
	}

	var details map[string]any
	var description string
	if raw := fields["details"]; !isNull(raw) {
		var v any
		_ = json.Unmarshal(raw, &v) // raw is one value of a body that decoded
		switch v := v.(type) {
		case map[string]any:
			details = cleanMap(v, cleanValue)
		case string:
			description = v
		default:
			return incident.Alert{}, fault.InvalidField("details", "must be an object or a string")
		}
	}

	title, description := titleAndDescription([]string{g.summary}, "", description)
	if action == incident.AlertTrigger && title == "" {
		return incident.Alert{}, fault.InvalidField("summary", "is required")
	}

	dedupKey := cleanKey(g.dedupKey)
	switch {
	case utf8.RuneCountInString(dedupKey) > incident.MaxDedupKeyLen:
		return incident.Alert{}, fault.InvalidField("dedup_key", fmt.Sprintf("is longer than %d characters", incident.MaxDedupKeyLen))
	case dedupKey == "" && action == incident.AlertResolve:
		return incident.Alert{}, fault.InvalidField("dedup_key", "is required to resolve")
	case dedupKey == "":
		// The whole summary, not the possibly shortened title, so two long
		// summaries that differ only past the cut stay apart.
		dedupKey = "generic:" + hashKey(oneLine(g.summary))
	}

	return incident.Alert{
		Source:      incident.SourceGeneric,
		Action:      action,
		DedupKey:    dedupKey,
		Fingerprint: dedupKey,
		Title:       title,
		Description: description,
		Severity:    severity,
		Details:     details,
	}, nil
}

// decodeString decodes a JSON string into dst; an absent field or null
// leaves dst empty.
func decodeString(raw json.RawMessage, dst *string) error {
	if isNull(raw) {
		return nil
	}
	if raw[0] != '"' {
		return errors.New("must be a string")
	}
	return json.Unmarshal(raw, dst)
}

// isNull reports whether a field was absent or JSON null. A RawMessage from
// a successful decode has no surrounding white space.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}
