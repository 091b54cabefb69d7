// Package twilio sends SMS and voice pages through Twilio's REST API
// (Messages and Calls, API version 2010-04-01) and verifies and decodes
// the webhooks Twilio sends back: inbound SMS replies and the keypress of a
// voice page. It speaks the API with its own types; it imports no Twilio
// library.
package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/push"
)

// DefaultBaseURL is Twilio's REST API. A region's edge, or a proxy in
// front of it, is another BaseURL.
const DefaultBaseURL = "https://api.twilio.com"

// DefaultTimeout bounds one request when the Client has no HTTP client.
const DefaultTimeout = 10 * time.Second

// IdempotencyHeader carries a request's idempotency token. Twilio sends it
// on its own webhooks so receivers can drop retries; the clients here send
// the delivery's ledger key in it on every create request, so that a
// retried request names the delivery it repeats.
const IdempotencyHeader = "I-Twilio-Idempotency-Token"

// Limits Twilio documents for the fields sent.
const (
	// MaxBodyLen is the longest SMS body Twilio accepts, in characters.
	MaxBodyLen = 1600
	// MaxTwiMLLen is the longest inline TwiML a Call accepts, in characters.
	MaxTwiMLLen = 4000
)

// maxAnswer caps how much of an answer is read: a resource or an error is a
// few KiB.
const maxAnswer = 64 << 10

const userAgent = "incident-server"

// defaultHTTP is used when a Client has no HTTP client of its own.
var defaultHTTP = &http.Client{Timeout: DefaultTimeout}

// Client sends messages and calls from one Twilio account. Its zero value
// is not usable: AccountSID, AuthToken and From are required. It is safe
// for concurrent use.
type Client struct {
	// AccountSID ("AC…") names the account in every request's path and is
	// the basic-auth user name.
	AccountSID string
	// AuthToken is the account's auth token: the basic-auth password, and
	// the key Twilio signs its webhooks with (see ValidateSignature).
	AuthToken string
	// From is the sending phone number in E.164 form ("+15005550006").
	From string
	// BaseURL is the API's scheme and host; DefaultBaseURL when empty.
	BaseURL string
	// HTTP sends the requests; a client with DefaultTimeout when nil.
	// Redirects are never followed, whatever its CheckRedirect says: a
	// followed 301 or 302 turns a POST into a GET whose 2xx would pass for
	// a send.
	HTTP *http.Client
}

// SMS is one text message to send.
type SMS struct {
	// To is the recipient's number in E.164 form.
	To string
	// Body is the text, at most MaxBodyLen characters.
	Body string
	// StatusCallback, when set, is the URL Twilio posts delivery status
	// changes to.
	StatusCallback string
	// IdempotencyKey is the delivery's ledger key.
	IdempotencyKey string
}

// VoiceCall is one call to place. Exactly one of TwiML and URL is set.
type VoiceCall struct {
	// To is the number to call, in E.164 form.
	To string
	// TwiML is the call's instructions inline (see PageTwiML), at most
	// MaxTwiMLLen characters.
	TwiML string
	// URL is where Twilio fetches the call's TwiML instead.
	URL string
	// StatusCallback, when set, is the URL Twilio posts the call's
	// completion to.
	StatusCallback string
	// IdempotencyKey is the delivery's ledger key.
	IdempotencyKey string
}

// Resource is what Twilio answers a create request with.
type Resource struct {
	// SID names the message ("SM…") or call ("CA…").
	SID string `json:"sid"`
	// Status is its initial status: "queued", "accepted", "initiated", …
	Status string `json:"status"`
}

// APIError is Twilio's account of a refused request, from its JSON error
// body. It reaches callers wrapped in a *push.Error, which says whether the
// refusal is permanent.
type APIError struct {
	// Status is the HTTP status.
	Status int `json:"status"`
	// Code is Twilio's error code: 21211 (invalid To number), 21610
	// (recipient unsubscribed), 20003 (authentication), 20429 (too many
	// requests), …; 0 when the answer had none.
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
}

func (e *APIError) Error() string {
	s := "twilio error"
	if e.Code != 0 {
		s += " " + strconv.Itoa(e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.MoreInfo != "" {
		s += " (" + e.MoreInfo + ")"
	}
	return s
}

// e164 is an E.164 number: a plus, a country code and at most 15 digits.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// ValidNumber reports whether s is a phone number in E.164 form, the form
// SMS and voice contact methods are stored in.
func ValidNumber(s string) bool { return e164.MatchString(s) }

// SendSMS creates a Message: POST /2010-04-01/Accounts/{AccountSid}/Messages.json
// with To, From, Body and StatusCallback form-encoded.
//
// Errors are *push.Error. A request that cannot be valid (a number not in
// E.164 form, an empty or too long body) is refused before sending, as
// permanent. Twilio's 4xx answers are permanent, with its *APIError
// inside (21211: invalid number, 21610: the recipient replied STOP); 429,
// 408, 5xx, timeouts and connection errors are not.
func (c *Client) SendSMS(ctx context.Context, m SMS) (Resource, error) {
	const op = "twilio send sms"
	if !ValidNumber(m.To) {
		return Resource{}, invalid(op, "to %q is not an E.164 number", m.To)
	}
	n := utf8.RuneCountInString(m.Body)
	if n == 0 || n > MaxBodyLen || !utf8.ValidString(m.Body) {
		return Resource{}, invalid(op, "body must be 1 to %d characters of UTF-8, not %d", MaxBodyLen, n)
	}
	form := url.Values{"To": {m.To}, "From": {c.From}, "Body": {m.Body}}
	if m.StatusCallback != "" {
		form.Set("StatusCallback", m.StatusCallback)
	}
	return c.create(ctx, op, "Messages.json", form, m.IdempotencyKey)
}

// Call creates a Call: POST /2010-04-01/Accounts/{AccountSid}/Calls.json
// with To, From, Twiml or Url, and StatusCallback form-encoded. Errors are
// classified as SendSMS's.
func (c *Client) Call(ctx context.Context, v VoiceCall) (Resource, error) {
	const op = "twilio create call"
	if !ValidNumber(v.To) {
		return Resource{}, invalid(op, "to %q is not an E.164 number", v.To)
	}
	if (v.TwiML == "") == (v.URL == "") {
		return Resource{}, invalid(op, "set exactly one of TwiML and URL")
	}
	if n := utf8.RuneCountInString(v.TwiML); n > MaxTwiMLLen {
		return Resource{}, invalid(op, "twiml is %d characters, more than %d", n, MaxTwiMLLen)
	}
	form := url.Values{"To": {v.To}, "From": {c.From}}
	if v.TwiML != "" {
		form.Set("Twiml", v.TwiML)
	} else {
		form.Set("Url", v.URL)
	}
	if v.StatusCallback != "" {
		form.Set("StatusCallback", v.StatusCallback)
	}
	return c.create(ctx, op, "Calls.json", form, v.IdempotencyKey)
}

func invalid(op, format string, args ...any) error {
	return &push.Error{Op: op, Permanent: true, Err: fmt.Errorf(format, args...)}
}

// create posts form to the account's resource list and decodes the new
// resource.
func (c *Client) create(ctx context.Context, op, resource string, form url.Values, idempotencyKey string) (Resource, error) {
	if c.AccountSID == "" || c.AuthToken == "" || c.From == "" {
		return Resource{}, invalid(op, "account sid, auth token and from number are required")
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	endpoint := strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(c.AccountSID) + "/" + resource
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Resource{}, invalid(op, "base URL %q is not an absolute http or https URL", base)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return Resource{}, &push.Error{Op: op, Permanent: true, Err: fmt.Errorf("build request: %w", err)}
	}
	req.SetBasicAuth(c.AccountSID, c.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if idempotencyKey != "" {
		req.Header.Set(IdempotencyHeader, idempotencyKey)
	}

	resp, err := c.client().Do(req)
	if err != nil {
		// Timeouts, refused connections, DNS failures and resets: Twilio may
		// answer next time. The request may also have been taken: the
		// caller's ledger and the idempotency token bound the repeat.
		return Resource{}, &push.Error{Op: op, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Resource{}, &push.Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{}
		if json.Unmarshal(body, apiErr) != nil || (apiErr.Code == 0 && apiErr.Message == "") {
			apiErr = &APIError{Message: truncate(body)}
		}
		apiErr.Status = resp.StatusCode
		return Resource{}, &push.Error{Op: op, Status: resp.StatusCode, Body: truncate(body),
			Permanent: permanentStatus(resp.StatusCode), Err: apiErr}
	}
	var r Resource
	if err := json.Unmarshal(body, &r); err != nil || r.SID == "" {
		if err == nil {
			err = errors.New("answer has no sid")
		}
		// Twilio took the request and answered something else: sending
		// again could page twice.
		return Resource{}, &push.Error{Op: op, Status: resp.StatusCode, Body: truncate(body), Permanent: true,
			Err: fmt.Errorf("decode answer: %w", err)}
	}
	return r, nil
}

// client returns the configured HTTP client with redirects turned off.
func (c *Client) client() *http.Client {
	hc := defaultHTTP
	if c.HTTP != nil {
		hc = c.HTTP
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// permanentStatus classifies a non-2xx status as push does: the same
// request gets the same answer, except for 408, 429 and 5xx.
func permanentStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return false
	case code >= 500:
		return false
	}
	return true
}

func truncate(b []byte) string {
	if len(b) > 1<<10 {
		b = b[:1<<10]
	}
	return strings.ToValidUTF8(string(b), "")
}
