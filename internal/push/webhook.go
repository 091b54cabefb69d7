package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// DefaultWebhookTimeout bounds one webhook delivery when NewWebhook is given
// no timeout.
const DefaultWebhookTimeout = 5 * time.Second

// maxWebhookAnswer caps how much of a webhook's answer is read: only its
// status matters, and the start of its body explains a failure.
const maxWebhookAnswer = 64 << 10

// Webhook posts JSON to webhook endpoints. It is safe for concurrent use.
type Webhook struct {
	client *http.Client
}

// NewWebhook returns a webhook client whose every delivery is bounded by
// timeout, DefaultWebhookTimeout when timeout is not positive, and by its
// context. It does not follow redirects: a 3xx answer is a permanent error.
func NewWebhook(timeout time.Duration) *Webhook {
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	return &Webhook{client: &http.Client{Timeout: timeout, CheckRedirect: noRedirect}}
}

// Post sends body, encoded with encoding/json, to rawURL and returns the
// answer's status (0 when none arrived). A 2xx answer is a delivery;
// anything else is an *Error, permanent for a 3xx or a 4xx other than 408
// and 429, for a URL that is not absolute http(s) and for a body that cannot
// be encoded, retryable for 5xx, 408, 429, timeouts and connection errors.
//
// Webhook URLs often carry their secret in the path (Slack's do), so errors
// name the endpoint by scheme and host only.
func (w *Webhook) Post(ctx context.Context, rawURL string, body any) (status int, err error) {
	const op = "webhook post"
	u, err := url.Parse(rawURL)
	if err != nil || !absoluteHTTP(u) {
		return 0, &Error{Op: op, Permanent: true, Err: errors.New("URL is not an absolute http or https URL")}
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return 0, &Error{Op: op, Permanent: true, Err: fmt.Errorf("encode body: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return 0, &Error{Op: op, Permanent: true, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	status, _, err = exchange(w.client, op, req, maxWebhookAnswer)
	if err != nil {
		redactURL(err, u)
	}
	return status, err
}

// SlackBody returns a Slack-compatible incoming-webhook body.
func SlackBody(text string) map[string]any {
	return map[string]any{"text": text}
}

// redactURL replaces the URL in a transport error with its scheme and host.
func redactURL(err error, u *url.URL) {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = u.Scheme + "://" + u.Host + "/…"
	}
}

// absoluteHTTP reports whether u is an http or https URL with a host.
func absoluteHTTP(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
