package outbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a request body:
//
//	X-Incident-Signature: t=1700000000,v1=5257a869…
//
// t is the signing time in Unix seconds and v1 the lower-case hex
// HMAC-SHA256, keyed with the shared secret, of the ASCII decimal t, a dot,
// and the body bytes exactly as sent. A receiver recomputes it (Verify does)
// and rejects a timestamp outside its tolerance, which bounds replays. A
// header may carry several v1 entries, one per secret while a sender rotates
// its secret; one matching entry is enough.
const SignatureHeader = "X-Incident-Signature"

// Errors returned by Verify.
var (
	ErrSignatureMissing   = errors.New("signature missing")
	ErrSignatureMalformed = errors.New("signature malformed")
	ErrSignatureExpired   = errors.New("signature timestamp outside tolerance")
	ErrSignatureMismatch  = errors.New("signature does not match")
)

// Sign returns the SignatureHeader value for body sent at ts.
func Sign(secret []byte, ts time.Time, body []byte) string {
	t := ts.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(mac(secret, t, body))
}

func mac(secret []byte, t int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendInt(nil, t, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a SignatureHeader value against body and secret. It fails
// with ErrSignatureExpired when the header's timestamp is more than
// tolerance away from now, in either direction (clocks drift), and with
// ErrSignatureMismatch when no v1 entry matches. Unknown entries are
// ignored, so a later scheme can be added beside v1.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if strings.TrimSpace(header) == "" {
		return ErrSignatureMissing
	}
	var (
		t      int64
		haveT  bool
		hashes [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: entry %q is not key=value", ErrSignatureMalformed, part)
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveT {
				return fmt.Errorf("%w: bad or repeated timestamp", ErrSignatureMalformed)
			}
			t, haveT = n, true
		case "v1":
			h, err := hex.DecodeString(v)
			if err != nil || len(h) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256", ErrSignatureMalformed)
			}
			hashes = append(hashes, h)
		}
	}
	if !haveT || len(hashes) == 0 {
		return fmt.Errorf("%w: t and v1 are required", ErrSignatureMalformed)
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	want := mac(secret, t, body)
	for _, h := range hashes {
		if hmac.Equal(h, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
