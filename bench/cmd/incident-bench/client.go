package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// requestTimeout bounds one request. The engine answers 503 itself when a
// workflow does not answer within 10 s, so a request still open after this
// long means the engine is stuck, not slow.
const requestTimeout = 30 * time.Second

// client speaks JSON to the engine's REST API. Every scenario shares it so
// that all of them measure through the same connection handling.
type client struct {
	base string // scheme://host[:port], no trailing slash
	http *http.Client
	// token is the API credential sent as a bearer token on every request
	// that does not carry an integration key; empty sends none.
	token string
}

// newClient checks base and returns a client that keeps up to maxConns idle
// connections alive. Reusing connections keeps TCP set-up out of the
// measured latencies, as for a real alerting source that holds a pool.
// Scenarios bound their own concurrency; the transport does not, so a
// request never waits for a free connection inside a measured interval.
func newClient(base string, maxConns int, token string) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want an absolute http(s) URL such as http://127.0.0.1:8080", base)
	}
	tr := &http.Transport{
		// A proxy from the environment would add its own latency to every
		// sample, so requests always go straight to the engine.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: tr}, token: token}, nil
}

// close drops idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// apiError is an answer outside 2xx, with the engine's error code and
// message when the body carried them.
type apiError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
	RequestID    string
	// Body is the raw answer, for callers that read more than the error.
	Body []byte
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (X-Request-ID " + e.RequestID + ")"
	}
	return msg
}

// statusOf returns the HTTP status of an apiError, or 0 when err is not one
// (the request never got an answer).
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// unreachable reports whether err means nothing answered at the address,
// as opposed to an engine that answered with an error.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		(errors.As(err, &op) && op.Op == "dial")
}

// do sends body as JSON (no body when nil) with the client's token, and
// decodes a 2xx answer into out (discarded when nil). It returns the status,
// and an *apiError for any status outside 2xx.
func (c *client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	return c.doAuth(ctx, method, path, c.token, body, out)
}

// doAuth is do with bearer in the Authorization header instead of the
// client's token, as the ingestion endpoints authenticate the sender by its
// integration key; empty sends no Authorization header.
func (c *client) doAuth(ctx context.Context, method, path, bearer string, body, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	// Read the whole body so the connection goes back to the pool.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &apiError{Method: method, Path: path, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID"), Body: raw}
		var eb errorBody
		if json.Unmarshal(raw, &eb) == nil {
			ae.Code, ae.Message = eb.Error.Code, eb.Error.Message
		}
		return resp.StatusCode, ae
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// tokenEnv names the variable the -token flag defaults to.
const tokenEnv = "INCIDENT_TOKEN"

// registerToken adds -token, the API credential sent on every request.
func registerToken(fs *flag.FlagSet, token *string) {
	fs.StringVar(token, "token", os.Getenv(tokenEnv),
		"API token sent as \"Authorization: Bearer <token>\" on every /api/v1 request but the ingestion posts, which carry their integration key (default $"+tokenEnv+")")
}
