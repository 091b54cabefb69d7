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

	"github.com/incident-server/incident-server/internal/outbound"
	"github.com/incident-server/incident-server/internal/secret"
)

// DefaultWebhookTimeout bounds one webhook delivery when NewWebhookWith is
// given no timeout.
const DefaultWebhookTimeout = 5 * time.Second

// maxWebhookAnswer caps how much of a webhook's answer is read: only its
// status matters, and the start of its body explains a failure.
const maxWebhookAnswer = 64 << 10

// Webhook posts JSON to webhook endpoints, which users type: it goes
// through an outbound.Client, which refuses internal destinations unless
// allowed. It is safe for concurrent use.
type Webhook struct {
	client *outbound.Client
	secret []byte
}

// WebhookOptions configures a Webhook. The zero value is valid: deliveries
// to loopback, link-local, private and other internal addresses are
// refused, and bodies are not signed.
type WebhookOptions struct {
	// Timeout bounds one delivery, and so does the context of each Post.
	// Default DefaultWebhookTimeout (5s).
	Timeout time.Duration
	// AllowPrivate lets deliveries reach every address, internal ones
	// included. For development, where webhooks point at localhost.
	// Default false.
	AllowPrivate bool
	// Allow lists internal destinations that deliveries may reach all the
	// same: CIDRs, addresses or host names, as outbound.Options.Allow.
	// Default none.
	Allow []string
	// SigningSecret, when not empty, signs every delivery: its
	// outbound.SignatureHeader lets the receiver check that the body came
	// from this server, unchanged and recently. Default none: unsigned.
	SigningSecret []byte
}

// NewWebhookWith returns a webhook client configured by opts, or an error
// naming an Allow entry that is not a CIDR, an address or a host name. It
// does not follow redirects: a 3xx answer is a permanent error.
func NewWebhookWith(opts WebhookOptions) (*Webhook, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultWebhookTimeout
	}
	c, err := outbound.NewClient(outbound.Options{
		Timeout:      opts.Timeout,
		AllowPrivate: opts.AllowPrivate,
		Allow:        opts.Allow,
		UserAgent:    userAgent,
		// Following a 301, 302 or 303 turns a POST into a body-less GET,
		// whose 2xx would pass for a delivery.
		MaxRedirects: -1,
		MaxBody:      maxWebhookAnswer,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook client: %w", err)
	}
	return &Webhook{client: c, secret: bytes.Clone(opts.SigningSecret)}, nil
}

// Post sends body, encoded with encoding/json, to rawURL and returns the
// answer's status (0 when none arrived). A 2xx answer is a delivery;
// anything else is an *Error, permanent for a 3xx or a 4xx other than 408
// and 429, for a URL that is not absolute http(s), for a destination the
// client refuses (its Err wraps an *outbound.RefusedError) and for a body
// that cannot be encoded, retryable for 5xx, 408, 429, timeouts and
// connection errors. With a signing secret, the body is signed at the
// moment of sending.
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
	if len(w.secret) > 0 {
		req.Header.Set(outbound.SignatureHeader, outbound.Sign(w.secret, time.Now(), payload))
	}
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

// redactURL replaces the URL in a transport error with its redacted form.
func redactURL(err error, u *url.URL) {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = secret.Redact(u.String())
	}
}

// absoluteHTTP reports whether u is an http or https URL with a host.
func absoluteHTTP(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
