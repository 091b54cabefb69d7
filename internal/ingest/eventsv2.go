package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/incident"
)

// MaxSummaryLen is the longest payload.summary the Events API v2 accepts,
// in characters. Titles are shorter (incident.MaxTitleLen); a longer summary
// is kept whole in the Description.
const MaxSummaryLen = 1024

// EventV2 is a decoded PagerDuty Events API v2 alert event.
type EventV2 struct {
	incident.Alert
	// RoutingKey names the integration the event was sent to. Events for one
	// dedup key only act on each other when they share a routing key.
	RoutingKey string
}

// pdEvent is the body of a POST to PagerDuty's /v2/enqueue.
type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload"`
	Images      []pdImage  `json:"images"`
	Links       []pdLink   `json:"links"`
	Client      string     `json:"client"`
	ClientURL   string     `json:"client_url"`
}

type pdPayload struct {
	Summary   string `json:"summary"`
	Source    string `json:"source"`
	Severity  string `json:"severity"`
	Timestamp string `json:"timestamp"`
	Component string `json:"component"`
	Group     string `json:"group"`
	Class     string `json:"class"`
	// CustomDetails is documented as an object, but senders also put strings
	// and arrays here and PagerDuty shows them, so any JSON value is kept.
	CustomDetails any `json:"custom_details"`
}

type pdImage struct {
	Src  string `json:"src"`
	Href string `json:"href"`
	Alt  string `json:"alt"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// pdSeverities maps the four Events API v2 severities onto ours. The API
// accepts these exact names and no others.
var pdSeverities = map[string]incident.Severity{
	"critical": incident.SeverityCritical,
	"error":    incident.SeverityHigh,
	"warning":  incident.SeverityMedium,
	"info":     incident.SeverityInfo,
}

// DecodeEventsV2 decodes and validates a PagerDuty Events API v2 alert event
// (the body of POST /v2/enqueue), so that tools built for PagerDuty can send
// to us unchanged.
//
// It returns an *fault.Error only when body is not a JSON object at all; answer
// that with EventsV2Unrecognized. Otherwise it returns every problem it
// finds, worded as PagerDuty words them; when there are any, the EventV2 is
// the zero value and the answer is EventsV2Invalid(problems). A valid event
// is answered with EventsV2Accepted.
//
// As in PagerDuty, a trigger needs payload.summary, payload.source and
// payload.severity; acknowledge and resolve need a dedup_key and ignore the
// payload's rules. A trigger without a dedup_key gets an empty DedupKey: the
// caller generates one and returns it in the response.
func DecodeEventsV2(body []byte) (EventV2, []string, error) {
	var ev pdEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return EventV2{}, []string{fmt.Sprintf("'%s' is invalid (%s)", te.Field, typeMismatch(te))}, nil
		}
		return EventV2{}, nil, decodeError(err)
	}

	var problems []string
	routingKey := cleanKey(ev.RoutingKey)
	if routingKey == "" {
		problems = append(problems, "'routing_key' is missing or blank")
	}
	action := incident.AlertAction(ev.EventAction)
	switch {
	case strings.TrimSpace(ev.EventAction) == "":
		problems = append(problems, "'event_action' is missing or blank")
	case !action.Valid():
		problems = append(problems, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	dedupKey := cleanKey(ev.DedupKey)
	switch {
	case dedupKey == "" && (action == incident.AlertAcknowledge || action == incident.AlertResolve):
		problems = append(problems, "'dedup_key' is missing or blank")
	case utf8.RuneCountInString(dedupKey) > incident.MaxDedupKeyLen:
		problems = append(problems, fmt.Sprintf("Length of 'dedup_key' is too long (must be at most %d characters)", incident.MaxDedupKeyLen))
	}

	var p pdPayload
	if ev.Payload != nil {
		p = *ev.Payload
	}
	severity, sevOK := pdSeverities[p.Severity]
	startsAt, timeOK := parseTime(p.Timestamp)
	if action == incident.AlertTrigger {
		problems = append(problems, validateTriggerPayload(p, sevOK, timeOK)...)
	}
	if len(problems) > 0 {
		return EventV2{}, problems, nil
	}
	if !sevOK {
		severity = DefaultSeverity
	}

	title, description := titleAndDescription([]string{p.Summary}, "", "")
	return EventV2{
		RoutingKey: routingKey,
		Alert: incident.Alert{
			Source:      incident.SourceEventsV2,
			Action:      action,
			DedupKey:    dedupKey,
			Fingerprint: dedupKey,
			Title:       title,
			Description: description,
			Severity:    severity,
			StartsAt:    startsAt,
			Labels:      pdLabels(p),
			Details:     pdDetails(ev, p),
			URL:         pdURL(ev),
		},
	}, nil, nil
}

// validateTriggerPayload checks the payload fields a trigger needs.
func validateTriggerPayload(p pdPayload, sevOK, timeOK bool) []string {
	var problems []string
	summary, _ := cleanTitle(p.Summary)
	switch {
	case summary == "":
		problems = append(problems, "'payload.summary' is missing or blank")
	case utf8.RuneCountInString(strings.TrimSpace(p.Summary)) > MaxSummaryLen:
		problems = append(problems, fmt.Sprintf("Length of 'payload.summary' is too long (must be at most %d characters)", MaxSummaryLen))
	}
	if strings.TrimSpace(p.Source) == "" {
		problems = append(problems, "'payload.source' is missing or blank")
	}
	switch {
	case strings.TrimSpace(p.Severity) == "":
		problems = append(problems, "'payload.severity' is missing or blank")
	case !sevOK:
		problems = append(problems, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
	}
	if !timeOK {
		problems = append(problems, "'payload.timestamp' is invalid (must be an ISO 8601 timestamp)")
	}
	return problems
}

// pdLabels keeps the payload's identifying fields that were given.
func pdLabels(p pdPayload) map[string]string {
	labels := map[string]string{}
	for k, v := range map[string]string{
		"source": p.Source, "component": p.Component, "group": p.Group, "class": p.Class,
	} {
		if v = strings.TrimSpace(stripNUL(v)); v != "" {
			labels[k] = v
		}
	}
	if len(labels) == 0 {
		return nil
	}
	return labels
}

// pdDetails keeps what a responder may want to see: custom_details as sent,
// links and images (those without their required href or src are dropped,
// not rejected, as PagerDuty has no use for them either), and the client.
func pdDetails(ev pdEvent, p pdPayload) map[string]any {
	details := map[string]any{}
	if p.CustomDetails != nil {
		details["custom_details"] = cleanValue(p.CustomDetails)
	}
	var links []any
	for _, l := range ev.Links {
		if href := strings.TrimSpace(stripNUL(l.Href)); href != "" {
			links = append(links, omitEmpty(map[string]any{"href": href, "text": stripNUL(l.Text)}))
		}
	}
	if links != nil {
		details["links"] = links
	}
	var images []any
	for _, im := range ev.Images {
		if src := strings.TrimSpace(stripNUL(im.Src)); src != "" {
			images = append(images, omitEmpty(map[string]any{
				"src": src, "href": strings.TrimSpace(stripNUL(im.Href)), "alt": stripNUL(im.Alt),
			}))
		}
	}
	if images != nil {
		details["images"] = images
	}
	if c := strings.TrimSpace(stripNUL(ev.Client)); c != "" {
		details["client"] = c
	}
	if u := strings.TrimSpace(stripNUL(ev.ClientURL)); u != "" {
		details["client_url"] = u
	}
	if len(details) == 0 {
		return nil
	}
	return details
}

func omitEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// pdURL is the first link, or else the monitoring client's URL: either
// leads a responder back to the source of the alert.
func pdURL(ev pdEvent) string {
	for _, l := range ev.Links {
		if href := strings.TrimSpace(stripNUL(l.Href)); href != "" {
			return href
		}
	}
	return strings.TrimSpace(stripNUL(ev.ClientURL))
}

// EventsV2Response is the body PagerDuty's enqueue endpoint answers with.
// Tools built for PagerDuty parse it, so the Events API v2 endpoint answers
// in this shape rather than with our usual error body.
type EventsV2Response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// EventsV2Accepted is the answer, with status 202, to an event that was
// taken. dedupKey is the key the event acts on, generated if it had none.
func EventsV2Accepted(dedupKey string) EventsV2Response {
	return EventsV2Response{Status: "success", Message: "Event processed", DedupKey: dedupKey}
}

// EventsV2Invalid is the answer, with status 400, to an event that
// DecodeEventsV2 found problems in.
func EventsV2Invalid(problems []string) EventsV2Response {
	return EventsV2Response{Status: "invalid event", Message: "Event object is invalid", Errors: problems}
}

// EventsV2Unrecognized is the answer, with status 400, to a body that is not
// a JSON object.
func EventsV2Unrecognized() EventsV2Response {
	return EventsV2Response{Status: "Unrecognized object", Message: "Event object format is unrecognized", Errors: []string{"JSON parse error"}}
}
