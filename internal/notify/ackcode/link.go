package ackcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// MinSecretLen is the shortest link secret Mint and Verify accept.
const MinSecretLen = 32

// Limits of the claims a token carries, in bytes.
const (
	MaxIDLen    = 128
	MaxNonceLen = 64
)

// tokenVersion is the first byte of every token. A new layout or MAC gets a
// new version; Verify refuses versions it does not know.
const tokenVersion = 1

// macLen is the length of the HMAC-SHA256 that ends a token.
const macLen = sha256.Size

// maxTokenLen bounds the tokens Verify decodes: version, expiry, three
// length-prefixed fields and the MAC, in base64url.
const maxTokenLen = (1 + 8 + 3 + 2*MaxIDLen + MaxNonceLen + macLen + 2) / 3 * 4

// macDomain separates this MAC from any other use of the same secret.
const macDomain = "incident-server/ack-link/v1\x00"

// Errors of Verify. A token that fails is refused whatever the reason; the
// reasons are told apart for logs and for a friendlier page ("this link has
// expired").
var (
	// ErrMalformed: the token is not one Mint produced (bad encoding,
	// unknown version, wrong length).
	ErrMalformed = errors.New("acknowledge link is malformed")
	// ErrBadSignature: the token was not signed with this secret, or was
	// altered.
	ErrBadSignature = errors.New("acknowledge link signature is not valid")
	// ErrExpired: the token is authentic but past its expiry.
	ErrExpired = errors.New("acknowledge link has expired")
)

// Claims are what an acknowledge link token proves.
type Claims struct {
	IncidentID string
	UserID     string
	// Expires is when the link stops working, to the second.
	Expires time.Time
	// Nonce identifies this link for single use: the caller marks it used
	// when the acknowledgement is accepted and refuses it afterwards.
	Nonce string
}

// NonceFor returns the nonce of a delivery's link: derived from its ledger
// key, so a retried send renders the same link, and marking the nonce used
// retires exactly that delivery's link.
func NonceFor(deliveryID string) string {
	sum := sha256.Sum256([]byte("incident-server/ack-nonce\x00" + deliveryID))
	return hex.EncodeToString(sum[:16])
}

// Mint returns a URL-safe token (unpadded base64url) carrying c, signed
// with HMAC-SHA256 under secret. Every claim is required; IDs are at most
// MaxIDLen bytes and the nonce MaxNonceLen, all valid UTF-8.
func Mint(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("mint acknowledge link: secret is %d bytes, want at least %d", len(secret), MinSecretLen)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"incident id", c.IncidentID, MaxIDLen}, {"user id", c.UserID, MaxIDLen}, {"nonce", c.Nonce, MaxNonceLen}} {
		if f.v == "" || len(f.v) > f.max || !utf8.ValidString(f.v) {
			return "", fmt.Errorf("mint acknowledge link: %s must be 1 to %d bytes of UTF-8", f.name, f.max)
		}
	}
	exp := c.Expires.Unix()
	if exp <= 0 {
		return "", errors.New("mint acknowledge link: expiry must be after 1970")
	}
	b := make([]byte, 0, 1+8+3+len(c.IncidentID)+len(c.UserID)+len(c.Nonce)+macLen)
	b = append(b, tokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	for _, f := range []string{c.IncidentID, c.UserID, c.Nonce} {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	b = append(b, mac(secret, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Verify checks token under secret and returns its claims when it is
// authentic and now is before its expiry. Errors are ErrMalformed,
// ErrBadSignature or ErrExpired (test with errors.Is), or a secret shorter
// than MinSecretLen. Verify does not know whether the link was used: the
// caller checks and marks Claims.Nonce.
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	if len(secret) < MinSecretLen {
		return Claims{}, fmt.Errorf("verify acknowledge link: secret is %d bytes, want at least %d", len(secret), MinSecretLen)
	}
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d characters", ErrMalformed, maxTokenLen)
	}
	// The decoder skips line breaks; refusing every character outside the
	// alphabet keeps one token string per link.
	for i := 0; i < len(token); i++ {
		if c := token[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Claims{}, fmt.Errorf("%w: not unpadded base64url", ErrMalformed)
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: not unpadded base64url", ErrMalformed)
	}
	if len(b) < 1+8+3+macLen {
		return Claims{}, fmt.Errorf("%w: too short", ErrMalformed)
	}
	if b[0] != tokenVersion {
		return Claims{}, fmt.Errorf("%w: unknown version %d", ErrMalformed, b[0])
	}
	payload, sig := b[:len(b)-macLen], b[len(b)-macLen:]
	// The MAC is checked before any field is read: nothing an attacker
	// wrote is parsed.
	if !hmac.Equal(sig, mac(secret, payload)) {
		return Claims{}, ErrBadSignature
	}
	c, ok := parseClaims(payload)
	if !ok {
		return Claims{}, fmt.Errorf("%w: fields do not fit", ErrMalformed)
	}
	if !now.Before(c.Expires) {
		return Claims{}, fmt.Errorf("%w: at %s", ErrExpired, c.Expires.UTC().Format(time.RFC3339))
	}
	return c, nil
}

func mac(secret, payload []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(macDomain))
	h.Write(payload)
	return h.Sum(nil)
}

// parseClaims reads a signed payload: version, expiry, and three
// length-prefixed fields that use it up exactly.
func parseClaims(p []byte) (Claims, bool) {
	exp := binary.BigEndian.Uint64(p[1:9])
	rest := p[9:]
	var f [3]string
	for i := range f {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return Claims{}, false
		}
		n := int(rest[0])
		f[i], rest = string(rest[1:1+n]), rest[1+n:]
	}
	if len(rest) != 0 || exp > 1<<62 {
		return Claims{}, false
	}
	return Claims{IncidentID: f[0], UserID: f[1], Expires: time.Unix(int64(exp), 0), Nonce: f[2]}, true
}
