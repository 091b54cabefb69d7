package incident

import "time"

// AlertAction is what an alert asks of its incident.
type AlertAction string

// The actions a monitoring system (or the engine itself) can ask for.
const (
	AlertTrigger     AlertAction = "trigger"
	AlertAcknowledge AlertAction = "acknowledge"
	AlertResolve     AlertAction = "resolve"
)

// Valid reports whether a is a known action.
func (a AlertAction) Valid() bool {
	return a == AlertTrigger || a == AlertAcknowledge || a == AlertResolve
}

// AlertSource names where an alert came from. It is the timeline's actor of
// what the alert does.
type AlertSource string

// The sources.
const (
	SourceAlertmanager AlertSource = "alertmanager"
	SourceEventsV2     AlertSource = "events_v2"
	SourceGeneric      AlertSource = "generic"
	// SourceHeartbeat is a heartbeat monitor's workflow: a missed ping
	// triggers, the next ping resolves.
	SourceHeartbeat AlertSource = "heartbeat"
	// SourceEngine is the engine reporting on itself: a failed backup,
	// incidents without a running workflow.
	SourceEngine AlertSource = "incident-server"
)

// ResolvesIncident reports whether a resolve from this source resolves the
// incident itself, as PagerDuty's Events API does. Alertmanager's does not:
// it resolves one alert of a group, and the incident resolves when every
// alert has (if its service resolves itself).
func (s AlertSource) ResolvesIncident() bool { return s != SourceAlertmanager }

// AlertStatus is where one alert (fingerprint) stands.
type AlertStatus string

// The statuses.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// Alert is one alert in normalized form, whatever format it arrived in
// (package ingest decodes them).
type Alert struct {
	Source AlertSource
	Action AlertAction
	// DedupKey groups alerts into one incident. It is at most MaxDedupKeyLen
	// characters. It is never empty, except on an Events API v2 trigger that
	// carried none: the API generates one then.
	DedupKey string `json:",omitempty"`
	// Fingerprint identifies one alert within its DedupKey group: the
	// Alertmanager fingerprint, and the DedupKey for the other formats.
	Fingerprint string
	// Title is one line of at most MaxTitleLen characters with no
	// surrounding white space. It is never empty on a trigger.
	Title string
	// Description is at most MaxDescriptionLen characters. When the Title
	// had to be shortened and the payload had no description of its own, it
	// holds the full text the Title was cut from.
	Description string
	// Severity is always one of Severities. On acknowledge and resolve it is
	// informational.
	Severity Severity
	// StartsAt and EndsAt are in UTC, and zero when the payload gave none.
	StartsAt time.Time `json:",omitzero"`
	EndsAt   time.Time `json:",omitzero"`
	// Labels are the Alertmanager labels, or the Events API v2 payload's
	// source, component, group and class. May be nil.
	Labels map[string]string `json:",omitempty"`
	// URL leads back to the alert in the monitoring system, if known.
	URL string `json:",omitempty"`
	// Details are the Alertmanager annotations, the Events API v2
	// custom_details, links, images, client and client_url, or the generic
	// format's details object: kept on the alert's timeline event. May be nil.
	Details map[string]any `json:",omitempty"`
}

// AlertState is one alert (fingerprint) of an incident as the incident's
// workflow tracks it and the projection stores it.
type AlertState struct {
	Fingerprint string      `json:"fingerprint"`
	Title       string      `json:"title"`
	Source      AlertSource `json:"source"`
	Status      AlertStatus `json:"status"`
	FirstSeen   time.Time   `json:"first_seen"`
	LastSeen    time.Time   `json:"last_seen"`
	Count       int         `json:"count"`
}
