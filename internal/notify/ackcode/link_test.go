package ackcode_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify/ackcode"
)

var (
	secret = []byte("link-secret-of-at-least-thirty-two-bytes")
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func claims() ackcode.Claims {
	return ackcode.Claims{IncidentID: "inc_42", UserID: "u_alice", Expires: t0.Add(time.Hour),
		Nonce: ackcode.NonceFor("inc_42/0/1#1/u_alice/cm_mail")}
}

func mint(t *testing.T, c ackcode.Claims) string {
	t.Helper()
	tok, err := ackcode.Mint(secret, c)
	require.NoError(t, err)
	return tok
}

func TestMintedLinkVerifiesUntilItExpires(t *testing.T) {
	t.Parallel()
	c := claims()
	tok := mint(t, c)
	require.NotContains(t, tok, "=", "unpadded")
	require.Equal(t, tok, base64.RawURLEncoding.EncodeToString(mustDecode(t, tok)), "base64url: safe in a URL as is")

	got, err := ackcode.Verify(secret, tok, t0)
	require.NoError(t, err)
	require.Equal(t, c.IncidentID, got.IncidentID)
	require.Equal(t, c.UserID, got.UserID)
	require.Equal(t, c.Nonce, got.Nonce)
	require.True(t, c.Expires.Equal(got.Expires))

	_, err = ackcode.Verify(secret, tok, c.Expires.Add(-time.Second))
	require.NoError(t, err, "valid in its last second")
	_, err = ackcode.Verify(secret, tok, c.Expires)
	require.ErrorIs(t, err, ackcode.ErrExpired, "not at its expiry")
	_, err = ackcode.Verify(secret, tok, c.Expires.Add(24*time.Hour))
	require.ErrorIs(t, err, ackcode.ErrExpired)
}

func TestTokenFormatIsStable(t *testing.T) {
	t.Parallel()
	// A token minted by an earlier build must still verify: links sit in
	// inboxes across deployments. This version 1 token was computed apart
	// from this package (Python's hmac, struct and base64 over the layout:
	// version 1, big-endian Unix expiry, length-prefixed incident, user and
	// nonce, HMAC-SHA256 of "incident-server/ack-link/v1\x00" + payload).
	const tok = "AQAAAABppDhQBmluY180Mgd1X2FsaWNlIDE3NGNiMmZmNTc4NmU0YzcyNDE2MjYxZjY5ODUyODUxAz_TV9GuR-xV4c7IX_w-peMH02dnn23T5-mOcdL_tm8"
	require.Equal(t, tok, mint(t, claims()))
	got, err := ackcode.Verify(secret, tok, t0)
	require.NoError(t, err)
	require.Equal(t, "inc_42", got.IncidentID)
}

func TestAlteredOrForeignTokensAreRefused(t *testing.T) {
	t.Parallel()
	tok := mint(t, claims())
	raw := mustDecode(t, tok)

	// Flipping any bit after the version byte breaks the signature.
	for i := 1; i < len(raw); i++ {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		_, err := ackcode.Verify(secret, base64.RawURLEncoding.EncodeToString(b), t0)
		require.ErrorIs(t, err, ackcode.ErrBadSignature, "byte %d", i)
	}
	// Another secret signed it.
	other := []byte("another-secret-of-at-least-thirty-two-bytes")
	foreign, err := ackcode.Mint(other, claims())
	require.NoError(t, err)
	_, err = ackcode.Verify(secret, foreign, t0)
	require.ErrorIs(t, err, ackcode.ErrBadSignature)

	// A token for another user or incident is another token.
	c := claims()
	c.UserID = "u_mallory"
	require.NotEqual(t, tok, mint(t, c))
}

func TestMalformedTokensAreRefused(t *testing.T) {
	t.Parallel()
	raw := mustDecode(t, mint(t, claims()))
	unknownVersion := append([]byte{2}, raw[1:]...)
	for name, tok := range map[string]string{
		"empty":           "",
		"not base64url":   "abc$def",
		"padded":          base64.URLEncoding.EncodeToString(raw),
		"standard base64": strings.NewReplacer("-", "+", "_", "/").Replace(base64.RawURLEncoding.EncodeToString(raw)) + "+/",
		"too short":       base64.RawURLEncoding.EncodeToString(raw[:40]),
		"unknown version": base64.RawURLEncoding.EncodeToString(unknownVersion),
		"too long":        strings.Repeat("A", 1000),
		"line break":      base64.RawURLEncoding.EncodeToString(raw)[:20] + "\r\n" + base64.RawURLEncoding.EncodeToString(raw)[20:],
	} {
		_, err := ackcode.Verify(secret, tok, t0)
		require.ErrorIs(t, err, ackcode.ErrMalformed, name)
	}
}

func TestMintAndVerifyRefuseWeakSecretsAndIncompleteClaims(t *testing.T) {
	t.Parallel()
	_, err := ackcode.Mint([]byte("short"), claims())
	require.ErrorContains(t, err, "secret")
	_, err = ackcode.Verify([]byte("short"), mint(t, claims()), t0)
	require.ErrorContains(t, err, "secret")

	for name, change := range map[string]func(*ackcode.Claims){
		"no incident":     func(c *ackcode.Claims) { c.IncidentID = "" },
		"no user":         func(c *ackcode.Claims) { c.UserID = "" },
		"no nonce":        func(c *ackcode.Claims) { c.Nonce = "" },
		"long incident":   func(c *ackcode.Claims) { c.IncidentID = strings.Repeat("i", ackcode.MaxIDLen+1) },
		"long nonce":      func(c *ackcode.Claims) { c.Nonce = strings.Repeat("n", ackcode.MaxNonceLen+1) },
		"invalid utf-8":   func(c *ackcode.Claims) { c.UserID = "\xff" },
		"no expiry":       func(c *ackcode.Claims) { c.Expires = time.Time{} },
		"expiry pre-1970": func(c *ackcode.Claims) { c.Expires = time.Unix(-5, 0) },
	} {
		c := claims()
		change(&c)
		_, err := ackcode.Mint(secret, c)
		require.Error(t, err, name)
	}

	// The limits themselves are fine.
	c := claims()
	c.IncidentID, c.UserID, c.Nonce = strings.Repeat("i", ackcode.MaxIDLen), strings.Repeat("u", ackcode.MaxIDLen), strings.Repeat("n", ackcode.MaxNonceLen)
	got, err := ackcode.Verify(secret, mint(t, c), t0)
	require.NoError(t, err)
	require.Equal(t, c.Nonce, got.Nonce)
}

func TestNonceIsPerDelivery(t *testing.T) {
	t.Parallel()
	a := ackcode.NonceFor("inc_42/0/1#1/u_alice/cm_mail")
	require.Equal(t, a, ackcode.NonceFor("inc_42/0/1#1/u_alice/cm_mail"))
	require.NotEqual(t, a, ackcode.NonceFor("inc_42/0/1#2/u_alice/cm_mail"))
	require.Len(t, a, 32)
}

func mustDecode(t *testing.T, tok string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(tok)
	require.NoError(t, err)
	return b
}

// FuzzVerify: whatever the token, Verify returns claims or one of its three
// errors, never panics, and accepts only what Mint produced.
func FuzzVerify(f *testing.F) {
	good, err := ackcode.Mint(secret, claims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("AQ")
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add(strings.Repeat("_", 60))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ackcode.Verify(secret, tok, t0)
		switch {
		case err == nil:
			if tok != good {
				// Another encoding of the same bytes would be a second valid
				// token for one link; base64url without padding has none.
				t.Fatalf("Verify accepted %q, which Mint did not produce", tok)
			}
			if c.IncidentID != "inc_42" {
				t.Fatalf("claims %+v", c)
			}
		case errors.Is(err, ackcode.ErrMalformed), errors.Is(err, ackcode.ErrBadSignature), errors.Is(err, ackcode.ErrExpired):
		default:
			t.Fatalf("Verify(%q): untyped error %v", tok, err)
		}
	})
}
