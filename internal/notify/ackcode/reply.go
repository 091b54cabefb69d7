// Package ackcode makes a page answerable from where it lands: short reply
// codes that an SMS answer or a phone keypress carries, and signed
// one-click acknowledge links for emails and pushes.
//
// # Reply codes
//
// Every page SMS ends with "Reply 4 K3M9 to acknowledge or 6 K3M9 to
// resolve.". K3M9 is Code(deliveryID): four Crockford base32 characters (20
// bits) derived from the delivery's ledger key, so a retried send carries
// the same code. The code only tells one of a user's pending pages from
// another: the inbound SMS is authenticated by Twilio's signature and
// attributed by its From number, never by the code. Store (the paged
// number, the code) → (incident, user, delivery) when the SMS is sent, look
// it up with the sender's number and the parsed code, and treat a reply
// without a code ("4") as meant for the sender's only pending page (ask
// for the code when there are several). Two pending pages of one number
// share a code once in about a million pairs; refuse the second mapping
// (a unique key on number and code among pending pages) rather than
// guessing.
//
// # Links
//
// Mint signs an acknowledge link token bound to an incident, a user, an
// expiry and a nonce; Verify checks it. Single use is the caller's: mark
// the nonce used (Redis SET NX or a Postgres unique key) when the
// acknowledgement is accepted, and refuse a token whose nonce is marked.
package ackcode

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Action is what a reply asks for.
type Action string

// Actions a reply can ask for.
const (
	Acknowledge Action = "acknowledge"
	Resolve     Action = "resolve"
)

// The digits that stand for each action, in an SMS reply and on a phone's
// keypad (GoAlert's convention).
const (
	AckDigit     = "4"
	ResolveDigit = "6"
)

// CodeLen is the length of a reply code.
const CodeLen = 4

// alphabet is Crockford's base32: no I, L, O or U, so a code read aloud or
// typed on a phone is hard to get wrong.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// maxReplyLen bounds the replies worth parsing; longer bodies are
// conversation, not a code.
const maxReplyLen = 64

// ErrNotAReply is returned for an SMS body or keypress that is not one of
// the accepted reply forms.
var ErrNotAReply = errors.New("not a reply code")

// Code returns the reply code of a delivery: the first 20 bits of the
// SHA-256 of its ledger key, in lowercase Crockford base32. Instructions
// shows it in upper case; ParseReply accepts either.
func Code(deliveryID string) string {
	sum := sha256.Sum256([]byte("incident-server/reply-code\x00" + deliveryID))
	v := uint32(sum[0])<<12 | uint32(sum[1])<<4 | uint32(sum[2])>>4
	b := make([]byte, CodeLen)
	for i := CodeLen - 1; i >= 0; i-- {
		b[i] = alphabet[v&31]
		v >>= 5
	}
	return string(b)
}

// Instructions is the sentence a page SMS ends with.
func Instructions(code string) string {
	c := strings.ToUpper(code)
	return fmt.Sprintf("Reply %s %s to acknowledge or %s %s to resolve.", AckDigit, c, ResolveDigit, c)
}

// Reply is a parsed SMS reply or keypress.
type Reply struct {
	Action Action
	// Code is the normalized reply code (lowercase Crockford base32), or ""
	// when the reply named none.
	Code string
}

// ParseReply reads an SMS body or the digits of a keypress. It accepts,
// case-insensitively and with any surrounding whitespace or trailing
// punctuation:
//
//	4            ack           acknowledge
//	4 k3m9       ack k3m9      acknowledge k3m9      4k3m9
//	6            close         resolve
//	6 k3m9       close k3m9    resolve k3m9          6k3m9
//
// In a code, I and L read as 1 and O as 0 (Crockford). Anything else is
// ErrNotAReply.
func ParseReply(body string) (Reply, error) {
	if len(body) > maxReplyLen {
		return Reply{}, fmt.Errorf("%w: longer than %d bytes", ErrNotAReply, maxReplyLen)
	}
	s := strings.ToLower(strings.TrimSpace(body))
	s = strings.TrimRight(s, ".!?")
	fields := strings.Fields(s)
	switch len(fields) {
	case 1:
		if a, ok := actionWord(fields[0]); ok {
			return Reply{Action: a}, nil
		}
		// A digit with the code run on: "4k3m9".
		f := fields[0]
		if len(f) == 1+CodeLen {
			if a, ok := actionWord(f[:1]); ok {
				if code, ok := normalizeCode(f[1:]); ok {
					return Reply{Action: a, Code: code}, nil
				}
			}
		}
	case 2:
		a, ok := actionWord(fields[0])
		if !ok {
			break
		}
		code, ok := normalizeCode(fields[1])
		if !ok {
			return Reply{}, fmt.Errorf("%w: %q is not a %d-character reply code", ErrNotAReply, fields[1], CodeLen)
		}
		return Reply{Action: a, Code: code}, nil
	}
	return Reply{}, ErrNotAReply
}

func actionWord(w string) (Action, bool) {
	switch w {
	case AckDigit, "ack", "acknowledge":
		return Acknowledge, true
	case ResolveDigit, "close", "resolve":
		return Resolve, true
	}
	return "", false
}

// normalizeCode maps a typed code onto the alphabet, or reports that it is
// not one.
func normalizeCode(s string) (string, bool) {
	if len(s) != CodeLen {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch c {
		case 'i', 'l':
			c = '1'
		case 'o':
			c = '0'
		}
		if strings.IndexByte(alphabet, c) < 0 {
			return "", false
		}
		b[i] = c
	}
	return string(b), true
}
