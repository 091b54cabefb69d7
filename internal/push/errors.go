package push

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/incident-server/incident-server/internal/outbound"
)

// maxErrorBody caps the answer body an Error carries.
const maxErrorBody = 1 << 10

// Error is a failed exchange with Gorush or a webhook endpoint.
//
// Permanent says whether sending the same request again can succeed: a 4xx
// answer other than 408 and 429, a redirect, an answer that is not what the
// API promises, a request that cannot be built, or a destination that the
// outbound policy refuses are permanent; 5xx, 408, 429, timeouts and
// connection errors are not. Activities turn a permanent Error into a
// non-retryable failure and let Temporal retry the rest.
type Error struct {
	// Op names the exchange: "gorush push", "webhook post", …
	Op string
	// Status is the answer's HTTP status; 0 when no answer arrived.
	Status int
	// Body is the start of the answer's body, at most 1 KiB.
	Body string
	// Permanent is true when a retry cannot succeed.
	Permanent bool
	// Err is the underlying error, if any (transport, timeout, decoding).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Body != "" {
		b.WriteString(": body ")
		b.WriteString(strconv.Quote(e.Body))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is an *Error that a retry cannot fix, or
// an *outbound.RefusedError: a destination refused by policy stays refused.
// Errors of other types, context cancellation among them, are not permanent.
func IsPermanent(err error) bool {
	var e *Error
	return (errors.As(err, &e) && e.Permanent) || outbound.IsRefused(err)
}

// permanentStatus classifies a non-2xx status: the server will give the same
// answer to the same request, except for 408 (it gave up waiting), 429
// (throttled) and 5xx (its own trouble).
func permanentStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return false
	case code >= 500:
		return false
	}
	return true
}

// truncate returns at most maxErrorBody bytes of b as valid UTF-8.
func truncate(b []byte) string {
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody]
	}
	return strings.ToValidUTF8(string(b), "")
}

// doer sends one request: an *http.Client for Gorush, whose URL the
// operator configures, an *outbound.Client for webhooks, whose URLs users
// type.
type doer interface {
	Do(*http.Request) (*http.Response, error)
}

// exchange sends req and returns the answer's status and at most limit bytes
// of its body. A transport failure, a non-2xx answer or a body that cannot be
// read is returned as an *Error; the status is returned whenever an answer
// arrived.
func exchange(c doer, op string, req *http.Request, limit int64) (int, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		// Timeouts, refused connections, DNS failures and resets: the
		// endpoint may answer next time. A destination refused by the
		// outbound policy will be refused again.
		return 0, nil, &Error{Op: op, Err: err, Permanent: outbound.IsRefused(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return resp.StatusCode, nil, &Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Op: op, Status: resp.StatusCode, Body: truncate(body), Permanent: permanentStatus(resp.StatusCode)}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			e.Err = errRedirect
		}
		return resp.StatusCode, body, e
	}
	return resp.StatusCode, body, nil
}

var errRedirect = errors.New("redirects are not followed")

// noRedirect keeps a client from following redirects: following a 301, 302
// or 303 turns a POST into a body-less GET, whose 2xx would pass for a
// delivery. The 3xx answer is returned as is and treated as permanent.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
