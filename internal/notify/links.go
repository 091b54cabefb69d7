package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/notify/ackcode"
)

// Paths of the links a page carries, under Links.PublicURL.
const (
	// AckPath is followed by an acknowledge link's token: a GET shows a
	// confirmation page, a POST acknowledges.
	AckPath = "/ack/"
	// KeypressPath takes the keypress of a voice page from Twilio, with
	// the call's token in the query parameter "token".
	KeypressPath = "/api/v1/inbound/twilio/voice"
	// SMSPath takes the SMS replies Twilio forwards.
	SMSPath = "/api/v1/inbound/twilio/sms"
	// SlackPath takes the interactions of Slack's buttons.
	SlackPath = "/api/v1/inbound/slack/interactions"
)

// keypressNonce starts the nonce of a voice page's keypress token, so that
// a keypress token is never taken for an acknowledge link, nor the other
// way round.
const keypressNonce = "voice-"

// DefaultAckTTL is how long an acknowledge link works when Links.TTL is
// not set.
const DefaultAckTTL = 24 * time.Hour

// ErrNoLinks is returned for a link asked of Links that cannot sign one.
var ErrNoLinks = errors.New("acknowledge links are not configured (notifications.public_url and notifications.ack_link_secret)")

// Links builds the URLs a page carries and checks the tokens they come
// back with. The zero value (and nil) builds none.
type Links struct {
	// PublicURL is where the outside world reaches the API
	// ("https://incidents.example.com"): links and Twilio's callbacks start
	// with it.
	PublicURL string
	// IncidentURL opens an incident, "{id}" standing for its ID
	// ("https://console.example.com/incidents/{id}"). Empty: PublicURL +
	// "/api/v1/incidents/{id}".
	IncidentURL string
	// Secret signs acknowledge links and keypress tokens (at least
	// ackcode.MinSecretLen bytes). Nil: pages carry no links, and voice
	// pages cannot be acknowledged by keypress.
	Secret []byte
	// TTL is how long a link works after its page was due: DefaultAckTTL
	// when not positive.
	TTL time.Duration
}

func (l *Links) base() string {
	if l == nil {
		return ""
	}
	return strings.TrimRight(l.PublicURL, "/")
}

// Signs reports whether l can sign links.
func (l *Links) Signs() bool {
	return l != nil && l.PublicURL != "" && len(l.Secret) >= ackcode.MinSecretLen
}

func (l *Links) ttl() time.Duration {
	if l.TTL <= 0 {
		return DefaultAckTTL
	}
	return l.TTL
}

// Incident returns the URL that opens an incident, or "" when neither
// IncidentURL nor PublicURL is set.
func (l *Links) Incident(id string) string {
	if l == nil {
		return ""
	}
	if l.IncidentURL != "" {
		return strings.ReplaceAll(l.IncidentURL, "{id}", url.PathEscape(id))
	}
	if l.PublicURL == "" {
		return ""
	}
	return l.base() + "/api/v1/incidents/" + url.PathEscape(id)
}

// Ack returns the one-click acknowledge link of a delivery and when it
// stops working: TTL after due, the time the page was due, so a retried
// send renders the same link. Its nonce is the delivery's
// (ackcode.NonceFor): using the link retires exactly that delivery's link.
func (l *Links) Ack(incidentID, userID, deliveryID string, due time.Time) (string, time.Time, error) {
	if !l.Signs() {
		return "", time.Time{}, ErrNoLinks
	}
	exp := due.Add(l.ttl()).Truncate(time.Second)
	tok, err := ackcode.Mint(l.Secret, ackcode.Claims{IncidentID: incidentID, UserID: userID, Expires: exp,
		Nonce: ackcode.NonceFor(deliveryID)})
	if err != nil {
		return "", time.Time{}, err
	}
	return l.base() + AckPath + tok, exp, nil
}

// Keypress returns the URL a voice page's keypress is posted to: it
// carries a token naming the incident and the user called, since the
// call's numbers alone do not.
func (l *Links) Keypress(incidentID, userID, deliveryID string, due time.Time) (string, error) {
	if !l.Signs() {
		return "", ErrNoLinks
	}
	tok, err := ackcode.Mint(l.Secret, ackcode.Claims{IncidentID: incidentID, UserID: userID,
		Expires: due.Add(l.ttl()).Truncate(time.Second), Nonce: keypressNonce + ackcode.NonceFor(deliveryID)})
	if err != nil {
		return "", err
	}
	return l.base() + KeypressPath + "?token=" + tok, nil
}

// Token purposes, for Verify.
const (
	PurposeAck      = "ack"
	PurposeKeypress = "keypress"
)

// Verify checks a token of purpose (PurposeAck or PurposeKeypress) and
// returns its claims. Errors are ackcode's (ErrMalformed, ErrBadSignature,
// ErrExpired), ErrNoLinks, or ackcode.ErrMalformed for a token of the other
// purpose.
func (l *Links) Verify(purpose, token string, now time.Time) (ackcode.Claims, error) {
	if !l.Signs() {
		return ackcode.Claims{}, ErrNoLinks
	}
	c, err := ackcode.Verify(l.Secret, token, now)
	if err != nil {
		return ackcode.Claims{}, err
	}
	if strings.HasPrefix(c.Nonce, keypressNonce) != (purpose == PurposeKeypress) {
		return ackcode.Claims{}, fmt.Errorf("%w: not a %s token", ackcode.ErrMalformed, purpose)
	}
	return c, nil
}

// URL returns the public URL of path (a path and query string, as a
// request names it): what Twilio signs its callbacks to.
func (l *Links) URL(pathAndQuery string) string { return l.base() + pathAndQuery }
