// Package slack pages through a Slack app: it posts messages with a bot
// token (chat.postMessage, with Acknowledge and Resolve buttons and the
// delivery in the message's metadata), updates them once someone acted
// (chat.update), looks up who a Slack user is (users.info,
// users.lookupByEmail), and verifies and decodes the interactivity
// requests Slack sends when a button is pressed. It speaks the Web API
// with its own types; it imports no Slack library.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/push"
)

// DefaultBaseURL is Slack's Web API.
const DefaultBaseURL = "https://slack.com/api"

// DefaultTimeout bounds one request when the Client has no HTTP client.
const DefaultTimeout = 10 * time.Second

// maxAnswer caps how much of an answer is read. A posted message is echoed
// back with its blocks: tens of KiB at most.
const maxAnswer = 1 << 20

const userAgent = "incident-server"

var defaultHTTP = &http.Client{Timeout: DefaultTimeout}

// Client calls the Web API as one Slack app's bot. It is safe for
// concurrent use.
type Client struct {
	// BotToken is the app's bot token ("xoxb-…"), sent as a bearer token.
	// Posting needs the chat:write scope; LookupUserByEmail and UserInfo's
	// profile email need users:read and users:read.email.
	BotToken string
	// BaseURL is the Web API's base; DefaultBaseURL when empty.
	BaseURL string
	// HTTP sends the requests; a client with DefaultTimeout when nil.
	// Redirects are never followed.
	HTTP *http.Client
}

// APIError is Slack's refusal of a call: an answer {"ok": false, "error":
// code}, or an HTTP error status. It reaches callers wrapped in a
// *push.Error, which says whether it is permanent.
type APIError struct {
	// Method is the Web API method called ("chat.postMessage").
	Method string
	// Status is the HTTP status: 200 for an "ok": false answer.
	Status int
	// Code is Slack's error code: "channel_not_found", "not_in_channel",
	// "invalid_auth", "users_not_found", "ratelimited", …; "" for an HTTP
	// error without one.
	Code string
	// RetryAfter is Slack's Retry-After for a rate-limited call.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := "slack " + e.Method
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Status != http.StatusOK {
		s += " (status " + strconv.Itoa(e.Status) + ")"
	}
	if e.RetryAfter > 0 {
		s += ", retry after " + e.RetryAfter.String()
	}
	return s
}

// ErrorCode returns the Slack error code inside err ("users_not_found"),
// or "" when err carries none.
func ErrorCode(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// transientCodes are the error codes of "ok": false answers that a later
// call can get past: rate limits and Slack's own trouble. Every other code
// (invalid_auth, channel_not_found, not_in_channel, is_archived,
// msg_too_long, …) answers the same request the same way.
var transientCodes = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// Posted names a posted message.
type Posted struct {
	// Channel is the conversation's ID (a user ID posted to becomes the
	// direct message's channel ID).
	Channel string `json:"channel"`
	// TS is the message's timestamp, its ID within the channel.
	TS string `json:"ts"`
}

// PostMessage posts m to channel (a conversation ID, or a user ID for a
// direct message from the app) with chat.postMessage.
//
// Errors are *push.Error carrying an *APIError: "ok": false answers are
// permanent (invalid_auth, channel_not_found, not_in_channel, …) except
// ratelimited and Slack's internal errors; HTTP 429 (with Retry-After),
// 408, 5xx, timeouts and connection errors are transient, other HTTP
// errors permanent.
func (c *Client) PostMessage(ctx context.Context, channel string, m Message) (Posted, error) {
	body := struct {
		Channel string `json:"channel"`
		Message
	}{channel, m}
	var answer Posted
	if err := c.callJSON(ctx, "chat.postMessage", body, &answer); err != nil {
		return Posted{}, err
	}
	return answer, nil
}

// UpdateMessage replaces the message ts of channel with m (chat.update):
// after an action, the page without its buttons and with who acted.
// Errors are classified as PostMessage's.
func (c *Client) UpdateMessage(ctx context.Context, channel, ts string, m Message) error {
	body := struct {
		Channel string `json:"channel"`
		TS      string `json:"ts"`
		Message
	}{channel, ts, m}
	return c.callJSON(ctx, "chat.update", body, nil)
}

// User is a Slack user as users.info and users.lookupByEmail describe one.
type User struct {
	ID       string `json:"id"`
	TeamID   string `json:"team_id"`
	Name     string `json:"name"`
	RealName string `json:"real_name"`
	Deleted  bool   `json:"deleted"`
	IsBot    bool   `json:"is_bot"`
	Profile  struct {
		// Email is present with the users:read.email scope.
		Email       string `json:"email"`
		DisplayName string `json:"display_name"`
	} `json:"profile"`
}

// LookupUserByEmail finds the workspace member with email
// (users.lookupByEmail). A member that does not exist is a permanent error
// with code "users_not_found".
func (c *Client) LookupUserByEmail(ctx context.Context, email string) (User, error) {
	var answer struct {
		User User `json:"user"`
	}
	if err := c.callForm(ctx, "users.lookupByEmail", url.Values{"email": {email}}, &answer); err != nil {
		return User{}, err
	}
	return answer.User, nil
}

// UserInfo describes the user with ID id (users.info), the profile email
// included when the token has users:read.email. An unknown user is a
// permanent error with code "user_not_found".
func (c *Client) UserInfo(ctx context.Context, id string) (User, error) {
	var answer struct {
		User User `json:"user"`
	}
	if err := c.callForm(ctx, "users.info", url.Values{"user": {id}}, &answer); err != nil {
		return User{}, err
	}
	return answer.User, nil
}

// Respond posts reply to an interaction's response_url: the ephemeral
// refusal of an unknown user, or a note to the one who pressed. The URL
// must be https (Slack's are); it carries its own authority, so no token is
// sent. Errors are classified as PostMessage's.
func (c *Client) Respond(ctx context.Context, responseURL string, reply Reply) error {
	const op = "slack respond"
	u, err := url.Parse(responseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return &push.Error{Op: op, Permanent: true, Err: errors.New("response_url is not an absolute https URL")}
	}
	payload, err := json.Marshal(reply)
	if err != nil {
		return &push.Error{Op: op, Permanent: true, Err: fmt.Errorf("encode reply: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return &push.Error{Op: op, Permanent: true, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client().Do(req)
	if err != nil {
		return &push.Error{Op: op, Err: redact(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(op, "response_url", resp, body)
	}
	return nil
}

// callJSON calls a write method with a JSON body.
func (c *Client) callJSON(ctx context.Context, method string, body, answer any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return &push.Error{Op: "slack " + method, Permanent: true, Err: fmt.Errorf("encode request: %w", err)}
	}
	return c.call(ctx, method, "application/json; charset=utf-8", payload, answer)
}

// callForm calls a read method with form-encoded arguments: Slack's read
// methods do not take JSON bodies.
func (c *Client) callForm(ctx context.Context, method string, args url.Values, answer any) error {
	return c.call(ctx, method, "application/x-www-form-urlencoded", []byte(args.Encode()), answer)
}

// call posts payload to method and decodes an "ok": true answer into
// answer (when not nil).
func (c *Client) call(ctx context.Context, method, contentType string, payload []byte, answer any) error {
	op := "slack " + method
	if c.BotToken == "" {
		return &push.Error{Op: op, Permanent: true, Err: errors.New("no bot token")}
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(base, "/") + "/" + method)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &push.Error{Op: op, Permanent: true, Err: fmt.Errorf("base URL %q is not an absolute http or https URL", base)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return &push.Error{Op: op, Permanent: true, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Authorization", "Bearer "+c.BotToken)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	resp, err := c.client().Do(req)
	if err != nil {
		return &push.Error{Op: op, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &push.Error{Op: op, Status: resp.StatusCode, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(op, method, resp, body)
	}
	var env struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.OK == nil {
		if err == nil {
			err = errors.New(`answer has no "ok"`)
		}
		return &push.Error{Op: op, Status: resp.StatusCode, Body: truncate(body), Permanent: true,
			Err: fmt.Errorf("decode answer: %w", err)}
	}
	if !*env.OK {
		apiErr := &APIError{Method: method, Status: resp.StatusCode, Code: env.Error, RetryAfter: retryAfter(resp)}
		return &push.Error{Op: op, Status: resp.StatusCode, Body: truncate(body), Permanent: !transientCodes[env.Error], Err: apiErr}
	}
	if answer != nil {
		if err := json.Unmarshal(body, answer); err != nil {
			return &push.Error{Op: op, Status: resp.StatusCode, Body: truncate(body), Permanent: true,
				Err: fmt.Errorf("decode answer: %w", err)}
		}
	}
	return nil
}

// statusError classifies an HTTP error answer: 429 (Slack's rate limit,
// with Retry-After), 408 and 5xx are transient, the rest permanent.
func statusError(op, method string, resp *http.Response, body []byte) error {
	apiErr := &APIError{Method: method, Status: resp.StatusCode, RetryAfter: retryAfter(resp)}
	var env struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		apiErr.Code = env.Error
	}
	if resp.StatusCode == http.StatusTooManyRequests && apiErr.Code == "" {
		apiErr.Code = "ratelimited"
	}
	permanent := true
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		permanent = false
	}
	return &push.Error{Op: op, Status: resp.StatusCode, Body: truncate(body), Permanent: permanent, Err: apiErr}
}

// retryAfter reads a Retry-After of whole seconds; 0 when absent.
func retryAfter(resp *http.Response) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

func (c *Client) client() *http.Client {
	hc := defaultHTTP
	if c.HTTP != nil {
		hc = c.HTTP
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// redact names a response_url by its host only: its path is a credential
// for answering the interaction.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Scheme + "://" + u.Host + "/…"
		}
	}
	return err
}

func truncate(b []byte) string {
	if len(b) > 1<<10 {
		b = b[:1<<10]
	}
	return strings.ToValidUTF8(string(b), "")
}
