// Package push delivers notifications: to devices through Gorush's HTTP API
// and to webhook endpoints. It speaks the API of Gorush v1.22.0 with its own
// types and imports none of Gorush's packages, whose dependencies stay out of
// this module.
package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultGorushTimeout bounds one exchange with Gorush when NewGorush is
// given no timeout.
const DefaultGorushTimeout = 10 * time.Second

// maxGorushAnswer caps how much of a Gorush answer is read. A push answer
// carries one log entry per failed push, at most a few hundred bytes each.
const maxGorushAnswer = 4 << 20

// userAgent identifies every request this package sends.
const userAgent = "incident-server"

// Gorush platform numbers (oncall.Platform.GorushCode returns these).
const (
	PlatformIOS     = 1
	PlatformAndroid = 2
	PlatformHuawei  = 3
)

// LogFailedPush is the Type of a Log entry that reports a failed push.
const LogFailedPush = "failed-push"

// Gorush is a client of one Gorush server. It is safe for concurrent use.
type Gorush struct {
	base   string
	client *http.Client
}

// NewGorush returns a client of the Gorush at baseURL (scheme, host and
// port, e.g. "http://127.0.0.1:58088"). Every exchange is bounded by timeout,
// DefaultGorushTimeout when timeout is not positive, and by its context.
func NewGorush(baseURL string, timeout time.Duration) *Gorush {
	if timeout <= 0 {
		timeout = DefaultGorushTimeout
	}
	return &Gorush{
		base:   strings.TrimRight(baseURL, "/"),
		client: &http.Client{Timeout: timeout, CheckRedirect: noRedirect},
	}
}

// Notification is one entry of a Gorush push request: the same content for
// every token. JSON names are those of Gorush's push API.
type Notification struct {
	// ID is echoed in the answer's log entries for this notification, so a
	// failure can be matched to the page that caused it.
	ID string `json:"notif_id,omitempty"`
	// Tokens are the device tokens; Gorush counts and reports each.
	Tokens []string `json:"tokens"`
	// Platform is PlatformIOS, PlatformAndroid or PlatformHuawei.
	Platform int    `json:"platform"`
	Title    string `json:"title,omitempty"`
	Message  string `json:"message,omitempty"`
	// Priority is "high" (deliver now; APNs priority 10) or "normal".
	Priority string `json:"priority,omitempty"`
	// Topic is the APNs topic (the app's bundle ID) or an FCM topic.
	Topic string `json:"topic,omitempty"`
	// Sound names the sound the device plays; "default" for the system one.
	Sound string `json:"sound,omitempty"`
	// InterruptionLevel is the iOS interruption level: "active",
	// "time-sensitive" (breaks through Focus) or "critical".
	InterruptionLevel string `json:"interruption_level,omitempty"`
	// Data is the app's custom payload.
	Data map[string]any `json:"data,omitempty"`
	// CollapseID is the APNs collapse identifier (at most 64 bytes): a
	// device shows one alert for notifications that share it.
	CollapseID string `json:"collapse_id,omitempty"`
	// Android holds FCM's Android options.
	Android *AndroidConfig `json:"android,omitempty"`
}

// AndroidConfig is the part of FCM's Android options this engine sets.
type AndroidConfig struct {
	// CollapseKey makes FCM keep only the latest of the messages that share
	// it for a device that is offline, and the device replace one with the
	// next.
	CollapseKey string `json:"collapse_key,omitempty"`
}

// Log is Gorush's report of one push.
type Log struct {
	// ID is the Notification's ID.
	ID string `json:"notif_id,omitempty"`
	// Type is LogFailedPush for a failure.
	Type string `json:"type"`
	// Platform is "ios", "android" or "huawei".
	Platform string `json:"platform"`
	// Token is the device token, masked unless Gorush runs with
	// log.hide_token false (as the local one of deploy/local does).
	Token   string `json:"token"`
	Message string `json:"message"`
	// Error is the provider's or the transport's reason.
	Error string `json:"error"`
}

// Result is Gorush's answer to a push request.
type Result struct {
	// Counts is the number of targets Gorush accepted: one per token, plus
	// one per notification with a Topic. A notification for a platform the
	// server has disabled is dropped without a log entry and not counted, so
	// a Counts of 0 for a request with tokens means nothing was attempted.
	Counts int
	// Logs reports every push that failed. A push that succeeded leaves no
	// entry. Gorush fills it only when it runs with core.sync: true;
	// otherwise it answers before pushing and Logs is always empty.
	Logs []Log
	// Raw is the answer's body as received.
	Raw string
}

// Failed returns the entries of r.Logs that report a failed push.
func (r Result) Failed() []Log {
	var out []Log
	for _, l := range r.Logs {
		if l.Type == LogFailedPush {
			out = append(out, l)
		}
	}
	return out
}

// Send posts the notifications to Gorush's /api/push in one request.
//
// A 200 answer is a successful Send even when its logs report failed pushes:
// the provider's verdict on each device (APNs rejected the token, or could
// not be reached) is a result for the caller to record, not a reason to
// retry the request, which would push again to the devices that succeeded.
// Use Result.Failed.
//
// Errors are *Error: a 4xx answer (malformed request, more notifications
// than core.max_notification) and an answer that is not Gorush's are
// permanent; 5xx, 408, 429, timeouts and connection errors are not.
func (g *Gorush) Send(ctx context.Context, n ...Notification) (Result, error) {
	const op = "gorush push"
	if len(n) == 0 {
		return Result{}, &Error{Op: op, Permanent: true, Err: errors.New("no notifications")}
	}
	payload, err := json.Marshal(struct {
		Notifications []Notification `json:"notifications"`
	}{n})
	if err != nil {
		return Result{}, &Error{Op: op, Permanent: true, Err: fmt.Errorf("encode request: %w", err)}
	}
	req, err := g.request(ctx, op, http.MethodPost, "/api/push", payload)
	if err != nil {
		return Result{}, err
	}
	status, body, err := exchange(g.client, op, req, maxGorushAnswer)
	if err != nil {
		return Result{}, err
	}
	var answer struct {
		Success string `json:"success"`
		Counts  *int   `json:"counts"`
		Logs    []Log  `json:"logs"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Success != "ok" || answer.Counts == nil {
		if err == nil {
			err = errors.New(`answer lacks "success":"ok" and counts`)
		}
		return Result{}, &Error{Op: op, Status: status, Body: truncate(body), Permanent: true,
			Err: fmt.Errorf("decode answer: %w", err)}
	}
	return Result{Counts: *answer.Counts, Logs: answer.Logs, Raw: string(body)}, nil
}

// AppStats is Gorush's GET /api/stat/app: counters since it started (the
// memory stat engine) or since its stat store was created.
type AppStats struct {
	Version        string `json:"version"`
	BusyWorkers    int64  `json:"busy_workers"`
	SuccessTasks   uint64 `json:"success_tasks"`
	FailureTasks   uint64 `json:"failure_tasks"`
	SubmittedTasks uint64 `json:"submitted_tasks"`
	// TotalCount is the sum of every push answer's counts.
	TotalCount int64         `json:"total_count"`
	IOS        PlatformStats `json:"ios"`
	Android    PlatformStats `json:"android"`
	Huawei     PlatformStats `json:"huawei"`
}

// PlatformStats counts one platform's pushes by outcome.
type PlatformStats struct {
	PushSuccess int64 `json:"push_success"`
	PushError   int64 `json:"push_error"`
}

// Stats reads Gorush's application counters.
func (g *Gorush) Stats(ctx context.Context) (AppStats, error) {
	const op = "gorush stats"
	req, err := g.request(ctx, op, http.MethodGet, "/api/stat/app", nil)
	if err != nil {
		return AppStats{}, err
	}
	status, body, err := exchange(g.client, op, req, maxGorushAnswer)
	if err != nil {
		return AppStats{}, err
	}
	var s AppStats
	if err := json.Unmarshal(body, &s); err != nil {
		return AppStats{}, &Error{Op: op, Status: status, Body: truncate(body), Permanent: true,
			Err: fmt.Errorf("decode answer: %w", err)}
	}
	return s, nil
}

// Healthy returns nil when Gorush answers GET /healthz with a 2xx.
func (g *Gorush) Healthy(ctx context.Context) error {
	const op = "gorush health"
	req, err := g.request(ctx, op, http.MethodGet, "/healthz", nil)
	if err != nil {
		return err
	}
	_, _, err = exchange(g.client, op, req, maxErrorBody)
	return err
}

func (g *Gorush) request(ctx context.Context, op, method, path string, body []byte) (*http.Request, error) {
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, g.base+path, bytes.NewReader(body))
	} else {
		req, err = http.NewRequestWithContext(ctx, method, g.base+path, nil)
	}
	if err != nil {
		return nil, &Error{Op: op, Permanent: true, Err: fmt.Errorf("build request: %w", err)}
	}
	if !absoluteHTTP(req.URL) {
		return nil, &Error{Op: op, Permanent: true, Err: fmt.Errorf("gorush URL %q is not an absolute http or https URL", g.base)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}
