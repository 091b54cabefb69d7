package email_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/email"
	"github.com/incident-server/incident-server/internal/push"
	"github.com/incident-server/incident-server/internal/testenv"
)

// mailpit splits the test Mailpit's SMTP address into host and port.
func mailpit(t *testing.T) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(testenv.MailpitSMTPAddr(t))
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return host, p
}

func newSender(t *testing.T, opts email.Options) *email.Sender {
	t.Helper()
	if opts.From == "" {
		opts.From = "Incident Server <pager@incident.example.com>"
	}
	s, err := email.New(opts)
	require.NoError(t, err)
	return s
}

func testPage(deliveryID string) notify.Page {
	return notify.Page{
		IncidentID: "inc_42", Title: "p99 über 2s in Zürich", Service: "checkout", Severity: "critical",
		Step: 1, Reason: "escalation",
		IncidentURL: "https://pager.example.com/incidents/inc_42",
		AckURL:      "https://pager.example.com/ack/AQAAAABppDhQBmluY180Mgd1X2FsaWNl",
		AckExpires:  time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
		DeliveryID:  deliveryID,
	}
}

func TestPageEmailArrivesWithItsSubjectLinksAndMessageID(t *testing.T) {
	t.Parallel()
	host, port := mailpit(t)
	s := newSender(t, email.Options{Host: host, Port: port, TLS: email.TLSNone, Timeout: 10 * time.Second})
	to := testenv.MailRecipient(t)
	deliveryID := "inc_42/0/1#1/u_alice/" + strings.TrimSuffix(to, "@example.com")
	m := email.PageMessage(testPage(deliveryID))
	m.To = "Alice Lindqvist <" + to + ">"
	require.NoError(t, s.Send(t.Context(), m))

	got := testenv.AwaitMail(t, to)
	require.Equal(t, "[CRITICAL] checkout: p99 über 2s in Zürich (inc_42)", got.Subject, "RFC 2047 subject decoded by the server")
	require.Equal(t, []testenv.MailAddress{{Name: "Alice Lindqvist", Address: to}}, got.To)
	require.Equal(t, testenv.MailAddress{Name: "Incident Server", Address: "pager@incident.example.com"}, got.From)
	require.Equal(t, strings.Trim(email.MessageID(deliveryID, ""), "<>"), got.MessageID)
	require.Equal(t, "inc_42/0/1#1/u_alice/"+strings.TrimSuffix(to, "@example.com")+"@incident-server", got.MessageID,
		"the ledger key, whose characters all fit a Message-ID, is the Message-ID")
	require.WithinDuration(t, time.Now(), got.Date, time.Minute)

	for _, want := range []string{
		"https://pager.example.com/incidents/inc_42",
		"Acknowledge with one click (the link works once, until 2026-03-01 13:00 UTC):\r\nhttps://pager.example.com/ack/AQAAAABppDhQBmluY180Mgd1X2FsaWNl",
		"Service:  checkout", "Severity: critical", "Step:     escalation step 1 (escalation)", "Incident: inc_42",
	} {
		require.Contains(t, got.Text, want)
	}
	require.Contains(t, got.HTML, `<a href="https://pager.example.com/ack/AQAAAABppDhQBmluY180Mgd1X2FsaWNl"><b>Acknowledge</b></a>`)
	require.Contains(t, got.HTML, `<a href="https://pager.example.com/incidents/inc_42">Open the incident</a>`)
	require.Contains(t, got.HTML, "p99 über 2s in Zürich")

	h := testenv.MailHeaders(t, got.ID)
	require.Equal(t, []string{"auto-generated"}, h["Auto-Submitted"])
	require.Equal(t, []string{"inc_42"}, h["X-Incident-Id"])
	require.Equal(t, []string{"1.0"}, h["Mime-Version"])
	require.True(t, strings.HasPrefix(h["Content-Type"][0], `multipart/alternative; boundary="=_`), h["Content-Type"])
	_, err := mail.ParseDate(h["Date"][0])
	require.NoError(t, err)

	raw := testenv.MailRaw(t, got.ID)
	require.Contains(t, raw, "Subject:\r\n =?utf-8?q?[CRITICAL]_checkout:_p99_=C3=BCber_2s_in_Z=C3=BCrich_(inc=5F42)?=\r\n", "the subject travels encoded")
	require.Contains(t, raw, "Content-Type: text/plain; charset=utf-8")
	require.Contains(t, raw, "Content-Type: text/html; charset=utf-8")
	require.Contains(t, raw, "Content-Transfer-Encoding: quoted-printable")
	require.Contains(t, raw, "=C3=BCber", "non-ASCII body text is quoted-printable")
}

func TestPlainTextOnlyMessage(t *testing.T) {
	t.Parallel()
	host, port := mailpit(t)
	s := newSender(t, email.Options{Host: host, Port: port, TLS: email.TLSNone})
	to := testenv.MailRecipient(t)
	require.NoError(t, s.Send(t.Context(), email.Message{To: to, Subject: "plain", Text: "line one\nline two. ça va\n",
		MessageID: email.MessageID("inc_1/0/0/u/"+to, "pager.example.com")}))
	got := testenv.AwaitMail(t, to)
	require.Equal(t, "line one\r\nline two. ça va\r\n", got.Text)
	require.Empty(t, got.HTML)
	require.Equal(t, []string{"text/plain; charset=utf-8"}, testenv.MailHeaders(t, got.ID)["Content-Type"])
}

func TestSTARTTLSWithAuthPlain(t *testing.T) {
	t.Parallel()
	host, port := mailpit(t)
	s := newSender(t, email.Options{Host: host, Port: port, TLS: email.TLSStartTLS, RootCAs: testenv.MailpitRootCAs(t),
		Username: "pager-relay", Password: "s3cret"})
	to := testenv.MailRecipient(t)
	m := email.PageMessage(testPage("inc_42/0/1#1/u_bob/" + to))
	m.To = to
	require.NoError(t, s.Send(t.Context(), m))
	got := testenv.AwaitMail(t, to)
	// The sender stops before MAIL FROM unless STARTTLS succeeded, so the
	// AUTH user Mailpit recorded was sent inside TLS.
	require.Equal(t, "pager-relay", got.Username)
}

func TestSTARTTLSRefusesACertificateItCannotVerify(t *testing.T) {
	t.Parallel()
	host, port := mailpit(t)
	// The host's roots do not know the test Mailpit's self-signed certificate.
	s := newSender(t, email.Options{Host: host, Port: port, TLS: email.TLSStartTLS, Username: "u", Password: "p"})
	err := s.Send(t.Context(), email.Message{To: testenv.MailRecipient(t), Subject: "x", Text: "x", MessageID: "<a@b>"})
	require.Error(t, err)
	require.True(t, push.IsPermanent(err), "%v", err)
	require.ErrorContains(t, err, "certificate")
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	// Mailpit's SMTP port speaks STARTTLS; a TLS-terminating relay in front
	// of it gives the implicit-TLS (SMTPS) port a client sees.
	addr, roots := smtpsRelay(t, testenv.MailpitSMTPAddr(t))
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, _ := strconv.Atoi(port)
	s := newSender(t, email.Options{Host: host, Port: p, TLS: email.TLSImplicit, RootCAs: roots, Username: "smtps-user", Password: "pw"})
	to := testenv.MailRecipient(t)
	require.NoError(t, s.Send(t.Context(), email.Message{To: to, Subject: "over SMTPS", Text: "x", MessageID: email.MessageID("d-"+to, "")}))
	got := testenv.AwaitMail(t, to)
	require.Equal(t, "over SMTPS", got.Subject)
	require.Equal(t, "smtps-user", got.Username)
}

func TestInsecureAuthToALoopbackRelay(t *testing.T) {
	t.Parallel()
	host, port := mailpit(t)
	s := newSender(t, email.Options{Host: host, Port: port, TLS: email.TLSNone, Username: "dev", Password: "dev", InsecureAuth: true})
	to := testenv.MailRecipient(t)
	require.NoError(t, s.Send(t.Context(), email.Message{To: to, Subject: "dev relay", Text: "x", MessageID: "<dev-" + strings.ReplaceAll(to, "@", ".") + "@incident-server>"}))
	require.Equal(t, "dev", testenv.AwaitMail(t, to).Username)
}

func TestNewRefusesUnsafeOrBrokenConfigurations(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]email.Options{
		"no host":                      {From: "a@b.example"},
		"no from":                      {Host: "smtp.example.com"},
		"bad from":                     {Host: "smtp.example.com", From: "not an address"},
		"non-ASCII from":               {Host: "smtp.example.com", From: "pagér@b.example"},
		"unknown tls mode":             {Host: "smtp.example.com", From: "a@b.example", TLS: "ssl"},
		"port out of range":            {Host: "smtp.example.com", From: "a@b.example", Port: 70000},
		"password in clear":            {Host: "smtp.example.com", From: "a@b.example", TLS: email.TLSNone, Username: "u", Password: "p"},
		"password in clear, loopback":  {Host: "127.0.0.1", From: "a@b.example", TLS: email.TLSNone, Username: "u", Password: "p"},
		"insecure auth to remote host": {Host: "smtp.example.com", From: "a@b.example", TLS: email.TLSNone, Username: "u", InsecureAuth: true},
		"hello name with space":        {Host: "smtp.example.com", From: "a@b.example", HelloName: "a b"},
	} {
		_, err := email.New(opts)
		require.Error(t, err, name)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "127.0.0.2", "::1"} {
		_, err := email.New(email.Options{Host: host, From: "a@b.example", TLS: email.TLSNone, Username: "u", InsecureAuth: true})
		require.NoError(t, err, host)
	}
}

func TestMessagesThatCannotBeSentAreRefusedBeforeDialling(t *testing.T) {
	t.Parallel()
	srv := newFakeSMTP(t, fakeScript{})
	s := newSender(t, email.Options{Host: "127.0.0.1", Port: srv.port, TLS: email.TLSNone})
	for name, m := range map[string]email.Message{
		"no recipient":       {Subject: "x", Text: "x", MessageID: "<a@b>"},
		"two recipients":     {To: "a@example.com, b@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"},
		"non-ASCII address":  {To: "ålice@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"},
		"no message id":      {To: "a@example.com", Subject: "x", Text: "x"},
		"bare message id":    {To: "a@example.com", Subject: "x", Text: "x", MessageID: "a@b"},
		"no text":            {To: "a@example.com", Subject: "x", MessageID: "<a@b>"},
		"reserved header":    {To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>", Headers: map[string]string{"Bcc": "x@example.com"}},
		"header injection":   {To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>", Headers: map[string]string{"X-Id": "1\r\nBcc: x@example.com"}},
		"bad header name":    {To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>", Headers: map[string]string{"X Id": "1"}},
		"invalid UTF-8 text": {To: "a@example.com", Subject: "x", Text: "\xff", MessageID: "<a@b>"},
	} {
		err := s.Send(t.Context(), m)
		require.Error(t, err, name)
		require.True(t, push.IsPermanent(err), "%s: %v", name, err)
	}
	require.Zero(t, srv.connections(), "nothing was dialled")
}

func TestSMTPRepliesAreClassified(t *testing.T) {
	t.Parallel()
	msg := email.Message{To: "alice@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"}
	for _, tc := range []struct {
		name      string
		script    fakeScript
		opts      email.Options
		permanent bool
		contains  string
	}{
		{"unknown mailbox", fakeScript{replies: map[string]string{"RCPT": "550 5.1.1 no such user"}}, email.Options{}, true, "550"},
		{"relaying denied", fakeScript{replies: map[string]string{"MAIL": "554 5.7.1 relaying denied"}}, email.Options{}, true, "554"},
		{"message refused after data", fakeScript{replies: map[string]string{".": "552 5.3.4 message too big"}}, email.Options{}, true, "552"},
		{"greylisted", fakeScript{replies: map[string]string{"RCPT": "451 4.7.1 try again later"}}, email.Options{}, false, "451"},
		{"mailbox busy", fakeScript{replies: map[string]string{"MAIL": "450 4.2.1 busy"}}, email.Options{}, false, "450"},
		{"service closing", fakeScript{greeting: "421 4.3.2 shutting down"}, email.Options{}, false, "421"},
		{"service refused", fakeScript{greeting: "554 5.3.2 no service"}, email.Options{}, true, "554"},
		{"authentication failed", fakeScript{ext: []string{"STARTTLS", "AUTH PLAIN LOGIN"}, tls: true, replies: map[string]string{"AUTH": "535 5.7.8 bad credentials"}},
			email.Options{TLS: email.TLSStartTLS, Username: "u", Password: "wrong"}, true, "535"},
		{"auth temporarily failing", fakeScript{ext: []string{"STARTTLS", "AUTH PLAIN"}, tls: true, replies: map[string]string{"AUTH": "454 4.7.0 temporary authentication failure"}},
			email.Options{TLS: email.TLSStartTLS, Username: "u", Password: "p"}, false, "454"},
		{"no STARTTLS offered", fakeScript{ext: []string{"AUTH PLAIN"}}, email.Options{TLS: email.TLSStartTLS, Username: "u", Password: "p"}, true, "STARTTLS"},
		{"no AUTH PLAIN offered", fakeScript{ext: []string{"STARTTLS", "AUTH LOGIN CRAM-MD5"}, tls: true},
			email.Options{TLS: email.TLSStartTLS, Username: "u", Password: "p"}, true, "AUTH PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeSMTP(t, tc.script)
			opts := tc.opts
			opts.Host, opts.Port, opts.From = "127.0.0.1", srv.port, "pager@incident.example.com"
			if opts.TLS == "" {
				opts.TLS = email.TLSNone
			}
			opts.RootCAs = srv.roots
			s := newSender(t, opts)
			err := s.Send(t.Context(), msg)
			require.Error(t, err)
			var pe *push.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.permanent, pe.Permanent, "%v", err)
			require.ErrorContains(t, err, tc.contains)
			if tc.name == "no STARTTLS offered" || tc.name == "no AUTH PLAIN offered" {
				require.NotContains(t, srv.commands(), "MAIL", "nothing is sent without the protection asked for")
			}
		})
	}
}

func TestPasswordNeverCrossesPlainText(t *testing.T) {
	t.Parallel()
	// A server that offers AUTH but not STARTTLS never sees the password
	// of a sender that asks for STARTTLS, loopback or not.
	srv := newFakeSMTP(t, fakeScript{ext: []string{"AUTH PLAIN"}})
	s := newSender(t, email.Options{Host: "127.0.0.1", Port: srv.port, TLS: email.TLSStartTLS, Username: "u", Password: "p"})
	require.Error(t, s.Send(t.Context(), email.Message{To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"}))
	require.NotContains(t, srv.commands(), "AUTH")
}

func TestDataAcceptedIsDeliveredEvenIfQuitFails(t *testing.T) {
	t.Parallel()
	srv := newFakeSMTP(t, fakeScript{hangUpOnQuit: true})
	s := newSender(t, email.Options{Host: "127.0.0.1", Port: srv.port, TLS: email.TLSNone})
	require.NoError(t, s.Send(t.Context(), email.Message{To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"}))
	require.Equal(t, []string{"EHLO", "MAIL", "RCPT", "DATA", ".", "QUIT"}, srv.commands())
}

func TestTimeoutsAndRefusedConnectionsAreTransient(t *testing.T) {
	t.Parallel()
	srv := newFakeSMTP(t, fakeScript{silent: true})
	s := newSender(t, email.Options{Host: "127.0.0.1", Port: srv.port, TLS: email.TLSNone, Timeout: 200 * time.Millisecond})
	err := s.Send(t.Context(), email.Message{To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"})
	require.Error(t, err)
	require.False(t, push.IsPermanent(err))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = newSender(t, email.Options{Host: "127.0.0.1", Port: srv.port, TLS: email.TLSNone}).Send(ctx,
		email.Message{To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"})
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, push.IsPermanent(err))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	err = newSender(t, email.Options{Host: "127.0.0.1", Port: port, TLS: email.TLSNone}).Send(t.Context(),
		email.Message{To: "a@example.com", Subject: "x", Text: "x", MessageID: "<a@b>"})
	require.Error(t, err)
	require.False(t, push.IsPermanent(err))
}

// fakeScript scripts a fake SMTP server for the replies Mailpit does not
// give on demand.
type fakeScript struct {
	// greeting replaces "220 fake ESMTP".
	greeting string
	// ext are the EHLO extensions offered.
	ext []string
	// tls makes STARTTLS work (with a certificate the test trusts).
	tls bool
	// replies answer commands by verb ("MAIL", "RCPT", "AUTH"), or the
	// end of data ("."); others get 250.
	replies map[string]string
	// silent never greets.
	silent bool
	// hangUpOnQuit closes the connection instead of answering QUIT.
	hangUpOnQuit bool
}

type fakeSMTP struct {
	port  int
	roots *x509.CertPool
	mu    sync.Mutex
	conns int
	cmds  []string
}

func (f *fakeSMTP) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

func (f *fakeSMTP) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

func newFakeSMTP(t *testing.T, s fakeScript) *fakeSMTP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cert, roots := selfSigned(t)
	f := &fakeSMTP{port: l.Addr().(*net.TCPAddr).Port, roots: roots}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				f.serve(c, s, cert)
			}()
		}
	}()
	return f
}

func (f *fakeSMTP) serve(c net.Conn, s fakeScript, cert tls.Certificate) {
	if s.silent {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	r := bufio.NewReader(c)
	write := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	greeting := s.greeting
	if greeting == "" {
		greeting = "220 fake ESMTP"
	}
	write(greeting)
	if !strings.HasPrefix(greeting, "220") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(strings.TrimSpace(line) + " x")[0])
		f.mu.Lock()
		f.cmds = append(f.cmds, verb)
		f.mu.Unlock()
		switch verb {
		case "EHLO":
			lines := append([]string{"fake greets you"}, s.ext...)
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				write("250" + sep + l)
			}
		case "STARTTLS":
			if !s.tls {
				write("502 5.5.1 not supported")
				continue
			}
			write("220 2.0.0 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			if tc.Handshake() != nil {
				return
			}
			c, r = tc, bufio.NewReader(tc)
			s.ext = slicesWithout(s.ext, "STARTTLS")
			s.tls = false
		case "DATA":
			write("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			f.mu.Lock()
			f.cmds = append(f.cmds, ".")
			f.mu.Unlock()
			if rep, ok := s.replies["."]; ok {
				write(rep)
			} else {
				write("250 2.0.0 queued")
			}
		case "QUIT":
			if s.hangUpOnQuit {
				return
			}
			write("221 bye")
			return
		default:
			if rep, ok := s.replies[verb]; ok {
				write(rep)
			} else if verb == "AUTH" {
				write("235 2.7.0 ok")
			} else {
				write("250 ok")
			}
		}
	}
}

func slicesWithout(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// smtpsRelay listens on loopback with TLS from the first byte and pipes
// every connection, decrypted, to upstream. It returns its address and the
// roots that verify it.
func smtpsRelay(t *testing.T, upstream string) (string, *x509.CertPool) {
	t.Helper()
	cert, roots := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				go func() {
					_, _ = io.Copy(u, c)
					_ = u.(*net.TCPConn).CloseWrite()
				}()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return l.Addr().String(), roots
}

func TestMessageIDCarriesTheLedgerKey(t *testing.T) {
	t.Parallel()
	require.Equal(t, "<inc_42/0/1#1/u_alice/cm_mail@incident-server>", email.MessageID("inc_42/0/1#1/u_alice/cm_mail", ""))
	require.Equal(t, "<inc%2E1/u%20a%40b%25/c@pager.example.com>", email.MessageID("inc.1/u a@b%/c", "pager.example.com"))
	require.Equal(t, "<none@incident-server>", email.MessageID("", ""))
}
