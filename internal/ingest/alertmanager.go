package ingest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// amMessage is the Alertmanager webhook payload, version 4. Fields we do not
// use (commonLabels, commonAnnotations, and Grafana's additions such as
// orgId, silenceURL, dashboardURL, values) are left to the decoder to skip.
type amMessage struct {
	Version         string            `json:"version"`
	GroupKey        string            `json:"groupKey"`
	TruncatedAlerts int               `json:"truncatedAlerts"`
	Status          string            `json:"status"`
	Receiver        string            `json:"receiver"`
	GroupLabels     map[string]string `json:"groupLabels"`
	ExternalURL     string            `json:"externalURL"`
	Alerts          []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Alertmanager alert statuses.
const (
	amFiring   = "firing"
	amResolved = "resolved"
)

// DecodeAlertmanager decodes an Alertmanager webhook notification (payload
// version 4, also as sent by Grafana). It is lenient, because we cannot
// change what Alertmanager sends: unknown fields are ignored, any version is
// accepted if the shape fits, and a timestamp that does not parse is left
// zero.
//
// Every alert of the batch shares one DedupKey, derived from the groupKey,
// so one Alertmanager group is one incident; each alert's Fingerprint tells
// the alerts within it apart. Severity comes from the "severity" label;
// without one MapSeverity knows it is DefaultSeverity.
//
// It returns an *fault.Error when body is not JSON, has no alerts array, or holds
// an alert with neither labels nor a fingerprint or with a status other than
// firing or resolved.
func DecodeAlertmanager(body []byte) (Batch, error) {
	var msg amMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return Batch{}, decodeError(err)
	}
	if msg.Alerts == nil {
		return Batch{}, fault.InvalidField("alerts", "is required")
	}
	dedupKey := amDedupKey(msg)
	alerts := make([]incident.Alert, 0, len(msg.Alerts))
	for i, a := range msg.Alerts {
		alert, err := amNormalize(a, msg.Status, dedupKey)
		if err != nil {
			err.Field = fmt.Sprintf("alerts[%d]%s", i, err.Field)
			return Batch{}, err
		}
		alerts = append(alerts, alert)
	}
	return Batch{
		GroupKey:    stripNUL(msg.GroupKey),
		Status:      stripNUL(msg.Status),
		Alerts:      alerts,
		ExternalURL: strings.TrimSpace(stripNUL(msg.ExternalURL)),
		Truncated:   max(msg.TruncatedAlerts, 0),
	}, nil
}

// amDedupKey is the groupKey, hashed when it is too long to store. A sender
// that omits the groupKey gets one built the way Alertmanager builds it,
// from the receiver and the group labels, so its notifications for one
// group still land on one incident.
func amDedupKey(msg amMessage) string {
	key := cleanKey(msg.GroupKey)
	if key == "" {
		key = cleanKey(msg.Receiver) + ":" + formatLabels(cleanLabels(msg.GroupLabels))
	}
	return fitKey(key)
}

// formatLabels writes labels the way Prometheus prints a label set:
// {a="1", b="2"}, sorted by name.
func formatLabels(labels map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// amNormalize turns one alert of a group into an Alert. A returned *fault.Error's
// Field is relative to the alert.
func amNormalize(a amAlert, groupStatus, dedupKey string) (incident.Alert, *fault.Error) {
	labels := cleanLabels(a.Labels)
	fingerprint := cleanKey(a.Fingerprint)
	if len(labels) == 0 && fingerprint == "" {
		return incident.Alert{}, fault.InvalidField("", "has neither labels nor a fingerprint")
	}
	if fingerprint == "" {
		fingerprint = labelsFingerprint(labels)
	}

	status := strings.ToLower(strings.TrimSpace(a.Status))
	if status == "" {
		status = strings.ToLower(strings.TrimSpace(groupStatus))
	}
	var action incident.AlertAction
	switch status {
	case amFiring:
		action = incident.AlertTrigger
	case amResolved:
		action = incident.AlertResolve
	default:
		return incident.Alert{}, fault.InvalidField(".status", `must be "firing" or "resolved"`)
	}

	annotations := a.Annotations
	name := oneLine(labels["alertname"])
	if instance := oneLine(labels["instance"]); name != "" && instance != "" {
		name += " on " + instance
	}
	description := annotations["description"]
	if strings.TrimSpace(stripNUL(description)) == "" {
		description = annotations["message"]
	}
	title, description := titleAndDescription(
		[]string{annotations["summary"], annotations["title"], name},
		"Alertmanager alert", description)

	severity, ok := MapSeverity(labels["severity"])
	if !ok {
		severity = DefaultSeverity
	}
	startsAt, _ := parseTime(a.StartsAt)
	endsAt, _ := parseTime(a.EndsAt)

	var details map[string]any
	if len(annotations) > 0 {
		details = make(map[string]any, len(annotations))
		for k, v := range cleanLabels(annotations) {
			details[k] = v
		}
	}
	return incident.Alert{
		Source:      incident.SourceAlertmanager,
		Action:      action,
		DedupKey:    dedupKey,
		Fingerprint: fitKey(fingerprint),
		Title:       title,
		Description: description,
		Severity:    severity,
		StartsAt:    startsAt,
		EndsAt:      endsAt,
		Labels:      labels,
		Details:     details,
		URL:         strings.TrimSpace(stripNUL(a.GeneratorURL)),
	}, nil
}

// labelsFingerprint identifies an alert by its label set, as Alertmanager's
// own fingerprint does, for senders that leave the fingerprint out. The
// separator cannot occur in decoded JSON text, which is valid UTF-8.
func labelsFingerprint(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteString(k)
		b.WriteByte(0xff)
		b.WriteString(labels[k])
		b.WriteByte(0xff)
	}
	return hashKey(b.String())
}
