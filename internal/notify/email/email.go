// Package email sends pages over SMTP: one message per delivery, to one
// recipient, with its ledger key as Message-ID, over STARTTLS, implicit TLS
// or (to a local relay) plain SMTP, with optional AUTH PLAIN. It uses
// net/smtp for the dialogue and builds the MIME message itself.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/push"
)

// TLSMode is how a Sender protects its connection.
type TLSMode string

// TLS modes.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS before
	// anything else; a server that does not offer STARTTLS is refused,
	// never used unencrypted. The default, on port 587.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS), on port 465.
	TLSImplicit TLSMode = "implicit"
	// TLSNone never encrypts, on port 25: for a relay on the same host or
	// network. AUTH over it needs Options.InsecureAuth and a loopback host.
	TLSNone TLSMode = "none"
)

// DefaultTimeout bounds one Send when Options.Timeout is not set.
const DefaultTimeout = 30 * time.Second

// Options configure a Sender. Host and From are required; every other
// field's zero value is a working default.
type Options struct {
	// Host is the SMTP server's name or IP address; certificates are
	// verified against it.
	Host string
	// Port defaults to 587 for starttls, 465 for implicit and 25 for none.
	Port int
	// Username and Password, when Username is set, authenticate with AUTH
	// PLAIN after TLS is up. A server that does not offer AUTH PLAIN is
	// refused.
	Username string
	Password string
	// From is the sender, as the From header and the envelope sender:
	// "Incident Server <pager@example.com>" or a bare address.
	From string
	// TLS defaults to TLSStartTLS.
	TLS TLSMode
	// RootCAs verifies the server's certificate; nil uses the host's roots.
	RootCAs *x509.CertPool
	// InsecureAuth allows AUTH on a connection without TLS, which sends the
	// password in clear. Only a loopback Host may use it (a development
	// relay on the same machine); New refuses it for any other host.
	InsecureAuth bool
	// Timeout bounds one Send, from dialling to the server's last answer:
	// DefaultTimeout when not positive.
	Timeout time.Duration
	// HelloName is the name given in EHLO: the host name of this machine
	// when empty.
	HelloName string
}

// Sender sends messages through one SMTP server. It is safe for concurrent
// use: every Send opens its own connection.
type Sender struct {
	addr      string
	host      string
	from      *mail.Address
	user      string
	pass      string
	tlsMode   TLSMode
	tlsConfig *tls.Config
	plainAuth bool
	timeout   time.Duration
	hello     string
}

// New checks opts and returns a Sender. It refuses a configuration that
// would send a password without TLS to anything but a loopback host.
func New(opts Options) (*Sender, error) {
	if opts.Host == "" {
		return nil, errors.New("smtp: host is required")
	}
	from, err := mail.ParseAddress(opts.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from %q: %w", opts.From, err)
	}
	if !ascii(from.Address) {
		return nil, fmt.Errorf("smtp: from %q: only ASCII addresses are supported", opts.From)
	}
	mode := opts.TLS
	if mode == "" {
		mode = TLSStartTLS
	}
	port := opts.Port
	switch mode {
	case TLSStartTLS:
		port = orDefault(port, 587)
	case TLSImplicit:
		port = orDefault(port, 465)
	case TLSNone:
		port = orDefault(port, 25)
	default:
		return nil, fmt.Errorf("smtp: tls %q: use none, starttls or implicit", mode)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp: port %d is out of range", port)
	}
	insecure := false
	if opts.InsecureAuth {
		if !loopback(opts.Host) {
			return nil, fmt.Errorf("smtp: insecure auth is only allowed to a loopback host, not %q", opts.Host)
		}
		insecure = true
	}
	if mode == TLSNone && opts.Username != "" && !insecure {
		return nil, errors.New("smtp: refusing to authenticate without TLS: use starttls or implicit, or insecure auth to a loopback relay")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	hello := opts.HelloName
	if hello == "" {
		hello, _ = os.Hostname()
		if hello == "" {
			hello = "localhost"
		}
	}
	if strings.ContainsAny(hello, " \r\n") {
		return nil, fmt.Errorf("smtp: hello name %q has spaces or line breaks", hello)
	}
	return &Sender{
		addr:      net.JoinHostPort(opts.Host, strconv.Itoa(port)),
		host:      opts.Host,
		from:      from,
		user:      opts.Username,
		pass:      opts.Password,
		tlsMode:   mode,
		tlsConfig: &tls.Config{ServerName: opts.Host, RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		plainAuth: insecure,
		timeout:   timeout,
		hello:     hello,
	}, nil
}

func orDefault(port, def int) int {
	if port == 0 {
		return def
	}
	return port
}

// loopback reports whether host is localhost or a loopback IP address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m to its one recipient.
//
// Errors are *push.Error. SMTP 5xx replies (unknown mailbox, relaying
// denied, authentication failed) are permanent, and so are messages that
// cannot be built, a server without STARTTLS or AUTH PLAIN when they are
// needed, and a certificate that does not verify; 4xx replies (greylisting,
// mailbox busy), timeouts and connection errors are transient. Once the
// server has accepted the message's data, Send succeeds whatever happens
// next. If the connection fails while the server is answering the data, a
// retry may deliver twice: the Message-ID, the same on every attempt, lets
// mail clients show one.
func (s *Sender) Send(ctx context.Context, m Message) error {
	const op = "smtp send"
	raw, to, err := compose(s.from, m, time.Now())
	if err != nil {
		return &push.Error{Op: op, Permanent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.send(ctx, to, raw); err != nil {
		return classify(ctx, op, err)
	}
	return nil
}

// send runs one SMTP dialogue.
func (s *Sender) send(ctx context.Context, to string, raw []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", s.addr, err)
	}
	// net/smtp knows no contexts: the deadline bounds every read and write,
	// and cancellation cuts the connection short.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if s.tlsMode == TLSImplicit {
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("tls handshake: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.hello); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if s.tlsMode == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanentf("server does not offer STARTTLS; not sending in clear")
		}
		if err := c.StartTLS(s.tlsConfig); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.user != "" {
		if err := c.Auth(plainAuth{user: s.user, pass: s.pass, allowClear: s.plainAuth}); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("write data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end data: %w", err)
	}
	// The message is the server's now. A failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// plainAuth is AUTH PLAIN (RFC 4616) that sends the password only over
// TLS, unless allowClear (a loopback relay, checked by New).
type plainAuth struct {
	user, pass string
	allowClear bool
}

func (a plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !a.allowClear {
		return "", nil, permanentf("refusing to send the password without TLS")
	}
	if !slices.Contains(server.Auth, "PLAIN") {
		return "", nil, permanentf("server does not offer AUTH PLAIN (offers %s)", strings.Join(server.Auth, " "))
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge after AUTH PLAIN")
	}
	return nil, nil
}

// permanentError marks a failure no retry can fix that is not an SMTP
// reply: a missing extension, a policy refusal.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanentf(format string, args ...any) error {
	return &permanentError{fmt.Sprintf(format, args...)}
}

// classify wraps a dialogue's error in a *push.Error that says whether a
// retry can help.
func classify(ctx context.Context, op string, err error) error {
	pe := &push.Error{Op: op, Err: err}
	var reply *textproto.Error
	var perm *permanentError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	switch {
	case errors.As(err, &reply):
		// 5xx: the server will refuse the same message again; 4xx: it asks
		// us to come back later.
		pe.Permanent = reply.Code >= 500
	case errors.As(err, &perm):
		pe.Permanent = true
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr):
		// A certificate that does not verify will not verify next time.
		pe.Permanent = true
	case ctx.Err() != nil:
		// The deadline or the caller's cancellation cut the dialogue: say so.
		pe.Err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's deadline is the context's, which may not have
		// reported itself done yet.
		pe.Err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return pe
}
