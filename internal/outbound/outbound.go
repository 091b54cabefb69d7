// Package outbound is the one HTTP client for URLs that users type: webhook
// contact methods today, runbook actions later. Such a URL may point inside
// the network the server runs in (a database's admin port, a cloud
// metadata service at 169.254.169.254), so the client refuses loopback,
// link-local, private and other special-purpose addresses unless told
// otherwise.
//
// The check runs on the address each connection is actually made to, in
// the dialer's Control hook after DNS resolution and before connect(2):
// whatever a name resolves to, at whatever moment (DNS rebinding), and
// wherever a redirect leads, a refused address is never connected to. The
// client ignores proxy settings from the environment, since a proxy would
// make the dialed address the proxy's.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults applied by NewClient to zero Options fields.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRedirects = 3
	DefaultMaxBody      = 64 << 10
	DefaultUserAgent    = "incident-server"
)

// Options configures a Client. The zero value is valid and refuses every
// address that is not globally reachable.
type Options struct {
	// Timeout bounds one request from dial to the last byte of the answer's
	// body read, redirects included. Default DefaultTimeout (10s).
	Timeout time.Duration
	// AllowPrivate turns the address check off: every address may be
	// dialed. Meant for development, where webhooks point at
	// localhost. Default false.
	AllowPrivate bool
	// Allow lists exceptions to the address check. An entry is a CIDR
	// ("10.20.0.0/16"), a single address ("10.20.0.7", "fd00::7"), or a
	// host name ("hooks.internal.example", exact, case-insensitive, in its
	// ASCII form): a connection is allowed when its address lies in a listed
	// prefix, or when the URL being fetched names a listed host, whatever it
	// resolves to. A redirect is judged by its own URL's host. Default none.
	Allow []string
	// UserAgent is sent with requests that set none. Default
	// DefaultUserAgent.
	UserAgent string
	// MaxRedirects is how many redirects one request follows; each
	// redirect's target is checked like the first URL. 0 means
	// DefaultMaxRedirects (3); a negative value follows none and returns
	// the 3xx answer as is.
	MaxRedirects int
	// MaxBody caps how many bytes of an answer's body can be read: past it,
	// the body reads as ended. Default DefaultMaxBody (64 KiB): answers of
	// user-supplied endpoints are read for their status and an excerpt.
	MaxBody int64
	// Resolver looks host names up. Default net.DefaultResolver. The
	// address check runs on each address the dialer connects to, whatever
	// the resolver answered.
	Resolver *net.Resolver
}

// RefusedError is a request the client would not make: its destination
// address is refused by policy, or its URL is not http or https. Sending
// it again cannot succeed, so callers treat it as a permanent failure.
type RefusedError struct {
	// Host is the host named by the URL (or redirect) being fetched.
	Host string
	// Addr is the refused address; the zero Addr when the URL itself was
	// refused before any dial.
	Addr netip.Addr
	// Reason says why: "loopback", "private", "link-local (cloud metadata)", …
	Reason string
}

func (e *RefusedError) Error() string {
	switch {
	case !e.Addr.IsValid():
		return fmt.Sprintf("refused %s: %s", e.Host, e.Reason)
	case e.Host == "" || e.Host == e.Addr.String():
		return fmt.Sprintf("refused to connect to %s: %s address", e.Addr, e.Reason)
	}
	return fmt.Sprintf("refused to connect to %s (%s): %s address", e.Addr, e.Host, e.Reason)
}

// IsRefused reports whether err is, or wraps, a *RefusedError.
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

// Client makes HTTP requests to user-supplied URLs. It is safe for
// concurrent use.
type Client struct {
	http         *http.Client
	allowPrivate bool
	allowNets    []netip.Prefix
	allowHosts   map[string]bool
	userAgent    string
	maxRedirects int
	maxBody      int64
	resolver     *net.Resolver
	dialTimeout  time.Duration
}

// NewClient returns a client configured by opts, or an error naming the
// first Allow entry that is neither a CIDR, an address nor a host name.
func NewClient(opts Options) (*Client, error) {
	c := &Client{
		allowPrivate: opts.AllowPrivate,
		allowHosts:   map[string]bool{},
		userAgent:    opts.UserAgent,
		maxRedirects: opts.MaxRedirects,
		maxBody:      opts.MaxBody,
		resolver:     opts.Resolver,
		dialTimeout:  opts.Timeout,
	}
	for _, entry := range opts.Allow {
		if err := c.addAllow(entry); err != nil {
			return nil, err
		}
	}
	if c.dialTimeout <= 0 {
		c.dialTimeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.maxRedirects == 0 {
		c.maxRedirects = DefaultMaxRedirects
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBody
	}
	c.http = &http.Client{
		Timeout:       c.dialTimeout,
		CheckRedirect: c.checkRedirect,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            c.dial,
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           100,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    min(10*time.Second, c.dialTimeout),
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
	}
	return c, nil
}

// addAllow parses one Allow entry.
func (c *Client) addAllow(entry string) error {
	e := strings.TrimSpace(entry)
	if p, err := netip.ParsePrefix(e); err == nil {
		c.allowNets = append(c.allowNets, p.Masked())
		return nil
	}
	if a, err := netip.ParseAddr(e); err == nil {
		c.allowNets = append(c.allowNets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		return nil
	}
	host := normalHost(e)
	if !validHost(host) {
		return fmt.Errorf("outbound allow entry %q: not a CIDR, an IP address or a host name", entry)
	}
	c.allowHosts[host] = true
	return nil
}

// validHost reports whether h is a host name in ASCII form: dot-separated
// labels of letters, digits, hyphens and underscores.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// normalHost lower-cases h and drops a trailing dot.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// Check returns a *RefusedError when the client would refuse to connect to
// addr for a URL whose host is host, and nil when it would connect. Every
// dial runs this check on the address it is about to connect to; callers
// may run it earlier, say to reject a URL with a literal address when it is
// saved.
func (c *Client) Check(host string, addr netip.Addr) error {
	if c.allowPrivate {
		return nil
	}
	reason := refusal(addr)
	if reason == "" || c.allowHosts[normalHost(host)] {
		return nil
	}
	a := addr.WithZone("").Unmap()
	for _, p := range c.allowNets {
		if p.Contains(a) {
			return nil
		}
	}
	return &RefusedError{Host: host, Addr: addr, Reason: reason}
}

// CheckURL runs Check ahead of time on a URL about to be saved: when its
// host is a literal address (http://169.254.169.254/…, http://[::1]/…), it
// returns the *RefusedError a request to it would meet, and otherwise nil.
// A host name is not resolved here, since what it resolves to may change:
// the dial-time check judges every address it leads to.
func (c *Client) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil // not a URL at all: the caller's own validation says so
	}
	host := u.Hostname()
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return c.Check(host, addr)
}

// dial is the transport's DialContext. addr is the URL's host and port; the
// dialer resolves the host and calls the check for each address it tries,
// before connecting to it.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	d := &net.Dialer{
		Timeout:   c.dialTimeout,
		KeepAlive: 30 * time.Second,
		Resolver:  c.resolver,
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			if network != "tcp4" && network != "tcp6" {
				return &RefusedError{Host: host, Reason: "network " + network + " is not TCP"}
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &RefusedError{Host: host, Reason: fmt.Sprintf("unparsable address %q", address)}
			}
			return c.Check(host, ap.Addr())
		},
	}
	return d.DialContext(ctx, network, addr)
}

// checkRedirect follows at most maxRedirects redirects, to http and https
// URLs only. The redirect's dial is checked like any other.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if c.maxRedirects < 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > c.maxRedirects {
		return fmt.Errorf("stopped after %d redirects", c.maxRedirects)
	}
	return checkScheme(req)
}

// checkScheme refuses URLs other than http and https.
func checkScheme(req *http.Request) error {
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return &RefusedError{Host: req.URL.Host, Reason: fmt.Sprintf("scheme %q is not http or https", s)}
	}
	return nil
}

// Do sends req, following redirects as configured, and returns the answer,
// whose body reads as ended after MaxBody bytes; the caller closes it.
// Requests without a User-Agent get the client's. A refused destination
// makes Do fail with an error that wraps a *RefusedError.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req); err != nil {
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = limitedBody{Reader: io.LimitReader(resp.Body, c.maxBody), Closer: resp.Body}
	return resp, nil
}

// CloseIdleConnections closes kept-alive connections that carry no request.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// limitedBody reads at most a bounded prefix of a body and closes the whole.
type limitedBody struct {
	io.Reader
	io.Closer
}
