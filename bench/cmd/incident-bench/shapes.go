package main

// The request bodies the scenarios send and the answers they read that
// have no home beside the code that uses them. Like every type here that
// mirrors the API, they are checked against api/openapi.yaml by
// TestShapesMatchTheOpenAPIDocument.

// command is the body of acknowledge and resolve.
type command struct {
	Actor string `json:"actor,omitempty"`
}

// slaPolicy is the body of POST /api/v1/sla-policies.
type slaPolicy struct {
	Severity        string  `json:"severity"`
	Service         string  `json:"service"`
	Response        string  `json:"response"`
	Resolution      string  `json:"resolution"`
	WarningFraction float64 `json:"warning_fraction"`
}

// benchSLA holds a service's incidents of severity to targets long enough
// that no run breaches them: a breach would page, and pages are measured.
func benchSLA(severity, service string) slaPolicy {
	return slaPolicy{Severity: severity, Service: service, Response: "168h", Resolution: "720h", WarningFraction: 0.75}
}

// keyRequest is the body of POST /api/v1/services/{id}/integration-keys.
type keyRequest struct {
	Name string `json:"name"`
}

// createdKey is the part of that answer the scenarios read.
type createdKey struct {
	Key string `json:"key"`
}

// monitorRequest is the body of POST /api/v1/heartbeat-monitors.
type monitorRequest struct {
	ServiceID string `json:"service_id"`
	Name      string `json:"name"`
	Interval  string `json:"interval"`
}

// created is the ID of what a POST created.
type created struct {
	ID string `json:"id"`
}

// incidentList is one page of GET /api/v1/incidents.
type incidentList struct {
	Incidents  []incident `json:"incidents"`
	NextCursor string     `json:"next_cursor"`
}

// notificationList is GET /api/v1/incidents/{id}/notifications.
type notificationList struct {
	Notifications []notification `json:"notifications"`
}

// timeline is GET /api/v1/incidents/{id}/timeline, cut down to what the
// scale scenario reads.
type timeline struct {
	Events []struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	} `json:"events"`
}

// notReady is the part of a 503 from /health/ready that names each
// dependency's state.
type notReady struct {
	Checks map[string]string `json:"checks"`
}

// errorBody is the API's one error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
