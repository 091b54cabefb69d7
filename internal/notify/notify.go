// Package notify describes one page as every channel renders it: the
// incident it is about, where to open it, how to acknowledge it and the
// delivery it belongs to. Its subpackages speak to the channels' providers
// (email over SMTP, Twilio for SMS and voice, Slack) and decode what they
// send back; ackcode holds the reply codes and signed acknowledge links that
// make a page answerable from where it lands.
//
// A send reports failure as a *push.Error, like the push and webhook
// clients: Permanent when sending the same request again cannot succeed (a
// refused address, a 4xx or an SMTP 5xx), not when the provider may answer
// later (5xx, 429, SMTP 4xx, timeouts, connection errors).
package notify

import (
	"strconv"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/incident"
)

// Page is one delivery of a page, as the channels render it.
type Page struct {
	// IncidentID names the incident ("inc_…").
	IncidentID string
	// Title is the incident's title.
	Title    string
	Service  string
	Severity incident.Severity
	// Step is the escalation step as people count it: 1 for the first.
	Step int
	// Reason says why the user is paged: "escalation", "escalate",
	// "snooze_ended", "ack_timeout"; empty for a plain page.
	Reason string
	// IncidentURL opens the incident in the console. Empty leaves the link
	// out.
	IncidentURL string
	// AckURL is the signed one-click acknowledge link (see package ackcode);
	// AckExpires is when it stops working. Empty leaves the link out.
	AckURL     string
	AckExpires time.Time
	// DeliveryID is the delivery's ledger key. Every channel carries it in
	// the message (Message-ID, Slack metadata, Twilio's idempotency header),
	// so a provider or a device can drop a duplicate of a retried send.
	DeliveryID string
}

// Summary is the page's one-line headline, the email subject and the
// start of every other rendering:
//
//	[CRITICAL] checkout: p99 above 2s (inc_42)
//
// Parts that are empty are left out with their punctuation.
func (p Page) Summary() string {
	var b strings.Builder
	if p.Severity != "" {
		b.WriteString("[" + strings.ToUpper(string(p.Severity)) + "] ")
	}
	if p.Service != "" {
		b.WriteString(p.Service)
		if p.Title != "" {
			b.WriteString(": ")
		}
	}
	b.WriteString(p.Title)
	if p.IncidentID != "" {
		b.WriteString(" (" + p.IncidentID + ")")
	}
	return OneLine(b.String())
}

// StepText describes the escalation step and the reason, "escalation step
// 2 (ack_timeout)", or "" when Step is not set.
func (p Page) StepText() string {
	if p.Step <= 0 {
		return ""
	}
	s := "escalation step " + strconv.Itoa(p.Step)
	if p.Reason != "" {
		s += " (" + p.Reason + ")"
	}
	return s
}

// OneLine returns s with line breaks and other control characters replaced
// by spaces, for text that must stay on one line: titles come from alerts,
// and a line break in one could forge an email header or push an SMS reply
// instruction out of sight.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
