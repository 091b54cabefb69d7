package contract

import "time"

// HeartbeatInput starts a HeartbeatWorkflow run; a run that continues as new
// passes its state on in it.
type HeartbeatInput struct {
	MonitorID string
	ServiceID string
	Name      string
	// Interval is the longest wait for a ping before an incident opens.
	Interval time.Duration
	// Down is set while the incident of a missed heartbeat is open: the run
	// waits for the next ping, with no timer, and resolves it.
	Down bool
	// IncidentID is the incident opened for the current outage, while Down.
	IncidentID string
	// IncidentSeq counts the incidents this monitor's workflow has opened.
	// It starts again from zero if the workflow is ever started afresh, so
	// incident IDs do not rely on it.
	IncidentSeq int
	// DueAt is when the monitor goes down unless a ping arrives first,
	// carried across continue-as-new so that a new run does not extend the
	// wait; zero while down, and when the next wait starts a full Interval.
	DueAt time.Time
	// LastPing is the time of the last ping received, as the API stamped it;
	// zero before the first.
	LastPing time.Time
	// DownSince is when the incident of the current outage opened, while
	// Down: a ping after it ends the outage.
	DownSince time.Time `json:",omitzero"`
}

// HeartbeatStatus is what ActivityCheckHeartbeat returns: the monitor's
// last ping as the store holds it.
type HeartbeatStatus struct {
	// LastPing is zero before the first ping.
	LastPing time.Time `json:",omitzero"`
	// Deleted is set when the store no longer knows the monitor.
	Deleted bool `json:",omitempty"`
}

// HeartbeatPing is the argument of SignalPing.
type HeartbeatPing struct {
	// At is when the API received the ping.
	At time.Time
}
