package outbound_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/outbound"
)

func TestSignFormatIsHMACOfTimestampDotBody(t *testing.T) {
	t.Parallel()
	secret, body := []byte("whsec_test"), []byte(`{"type":"incident.page"}`)
	got := outbound.Sign(secret, time.Unix(1700000000, 999), body)

	// Recomputed from the documented format, independently of the package.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(`1700000000.{"type":"incident.page"}`))
	require.Equal(t, "t=1700000000,v1="+hex.EncodeToString(m.Sum(nil)), got)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret, body := []byte("whsec_test"), []byte(`{"a":1}`)
	signedAt := time.Unix(1700000000, 0)
	header := outbound.Sign(secret, signedAt, body)
	const tolerance = 5 * time.Minute

	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"round trip", secret, header, body, signedAt, nil},
		{"late within tolerance", secret, header, body, signedAt.Add(tolerance), nil},
		{"early within tolerance (clock skew)", secret, header, body, signedAt.Add(-tolerance), nil},
		{"too late: a replay", secret, header, body, signedAt.Add(tolerance + time.Second), outbound.ErrSignatureExpired},
		{"too early", secret, header, body, signedAt.Add(-tolerance - time.Second), outbound.ErrSignatureExpired},
		{"other body", secret, header, []byte(`{"a":2}`), signedAt, outbound.ErrSignatureMismatch},
		{"other secret", []byte("whsec_other"), header, body, signedAt, outbound.ErrSignatureMismatch},
		{"timestamp moved", secret, "t=1700000001," + header[len("t=1700000000,"):], body, signedAt, outbound.ErrSignatureMismatch},
		{"several v1, one matches", secret, header + ",v1=" + hexZeros, body, signedAt, nil},
		{"unknown scheme ignored", secret, header + ",v0=abc", body, signedAt, nil},
		{"missing", secret, "  ", body, signedAt, outbound.ErrSignatureMissing},
		{"no v1", secret, "t=1700000000", body, signedAt, outbound.ErrSignatureMalformed},
		{"no t", secret, "v1=" + hexZeros, body, signedAt, outbound.ErrSignatureMalformed},
		{"bad hex", secret, "t=1700000000,v1=zz", body, signedAt, outbound.ErrSignatureMalformed},
		{"short hash", secret, "t=1700000000,v1=abcd", body, signedAt, outbound.ErrSignatureMalformed},
		{"not key=value", secret, "t=1700000000;" + hexZeros, body, signedAt, outbound.ErrSignatureMalformed},
		{"repeated t", secret, "t=1700000000," + header, body, signedAt, outbound.ErrSignatureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := outbound.Verify(tt.secret, tt.header, tt.body, tt.now, tolerance)
			if tt.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.want)
			}
		})
	}
}

const hexZeros = "0000000000000000000000000000000000000000000000000000000000000000"
