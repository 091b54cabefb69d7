// Package auth decides who is calling and what they may do: user tokens
// (JWT, HS256), the three roles, and the per-credential rate limit kept in
// Redis. API keys and integration keys are stored by package store; this
// package only names the roles they carry.
package auth

import (
	"fmt"
	"strings"
)

// Role is what a credential may do. Each role may do everything the roles
// below it may.
type Role string

const (
	// Viewer reads incidents, timelines and configuration.
	Viewer Role = "viewer"
	// Responder also opens incidents and acts on them: acknowledge,
	// mitigate, resolve, escalate, snooze, reassign, notes, maintenance
	// windows.
	Responder Role = "responder"
	// Admin also changes configuration: users, services, escalation and SLA
	// policies, integration keys, API keys and heartbeat monitors.
	Admin Role = "admin"
)

// Roles lists every role, weakest first.
var Roles = []Role{Viewer, Responder, Admin}

func (r Role) rank() int {
	for i, known := range Roles {
		if r == known {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a credential with role r may do what needs role
// need. An unknown role allows nothing.
func (r Role) Allows(need Role) bool {
	return r.rank() > 0 && r.rank() >= need.rank()
}

// ParseRole reads a role name, ignoring case and surrounding space.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("role %q: must be one of viewer, responder, admin", s)
	}
	return r, nil
}

// Kind says which sort of credential authenticated a request.
type Kind string

const (
	KindUser    Kind = "user"    // a JWT user token
	KindAPIKey  Kind = "api_key" // an API key made by an admin
	KindSession Kind = "session" // a web console session (its cookie)
)

// Principal is the authenticated caller of a request.
type Principal struct {
	Kind Kind
	// Subject is the token's or session's user, or the API key's ID.
	Subject string
	// Name is the API key's name; empty for user tokens and sessions.
	Name string
	Role Role
	// SessionID is the console session's ID; empty for other kinds.
	SessionID string
}

// CredentialID names the credential itself, as the audit trail records
// it: the user of a token, an API key's ID, a session's ID.
func (p Principal) CredentialID() string {
	if p.Kind == KindSession {
		return p.SessionID
	}
	return p.Subject
}

// Actor is how the timeline names the caller: the user's subject as it
// stands, and an API key as "api-key:<name>".
func (p Principal) Actor() string {
	if p.Kind == KindAPIKey {
		return "api-key:" + p.Name
	}
	return p.Subject
}

// ActsFor reports whether the caller is user userID: a user token or a
// console session whose subject is userID. An API key acts for no user.
func (p Principal) ActsFor(userID string) bool {
	return (p.Kind == KindUser || p.Kind == KindSession) && userID != "" && p.Subject == userID
}

// RateKey is the bucket the caller's requests are counted in. A user's
// console session shares the bucket of the user's tokens: one person, one
// budget.
func (p Principal) RateKey() string {
	if p.Kind == KindSession {
		return string(KindUser) + ":" + p.Subject
	}
	return string(p.Kind) + ":" + p.Subject
}
