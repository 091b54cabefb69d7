package testenv

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// Environment variables naming the test Mailpit (see deploy/local/services.sh).
const (
	MailpitSMTPAddrEnv = "TEST_MAILPIT_SMTP_ADDR"
	MailpitURLEnv      = "TEST_MAILPIT_URL"
	MailpitSMTPCAEnv   = "TEST_MAILPIT_SMTP_CA"
)

// mailWait bounds how long AwaitMail waits for a message to be stored.
const mailWait = 15 * time.Second

func mailpitEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which builds and starts Mailpit and sets it", name)
	}
	return v
}

// MailpitSMTPAddr returns TEST_MAILPIT_SMTP_ADDR, the host:port of the test
// Mailpit's SMTP server (STARTTLS offered, any AUTH credentials accepted).
func MailpitSMTPAddr(t testing.TB) string {
	t.Helper()
	return mailpitEnv(t, MailpitSMTPAddrEnv)
}

// MailpitURL returns TEST_MAILPIT_URL, the base URL of the test Mailpit's
// HTTP API.
func MailpitURL(t testing.TB) string {
	t.Helper()
	return strings.TrimRight(mailpitEnv(t, MailpitURLEnv), "/")
}

// MailpitCAFile returns TEST_MAILPIT_SMTP_CA, the path of the test
// Mailpit's self-signed SMTP certificate (PEM), for configurations that
// name a CA file.
func MailpitCAFile(t testing.TB) string {
	t.Helper()
	return mailpitEnv(t, MailpitSMTPCAEnv)
}

// MailpitRootCAs returns a pool holding the test Mailpit's self-signed SMTP
// certificate (TEST_MAILPIT_SMTP_CA), to verify its STARTTLS with.
func MailpitRootCAs(t testing.TB) *x509.CertPool {
	t.Helper()
	path := mailpitEnv(t, MailpitSMTPCAEnv)
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", MailpitSMTPCAEnv, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s (%s) holds no PEM certificate", MailpitSMTPCAEnv, path)
	}
	return pool
}

// MailAddress is an address as Mailpit reports it.
type MailAddress struct {
	Name    string
	Address string
}

// Mail is a message as Mailpit's API returns it (GET /api/v1/message/{ID}).
type Mail struct {
	// ID is Mailpit's own ID of the message.
	ID string
	// MessageID is the Message-ID header without its angle brackets.
	MessageID string
	From      MailAddress
	To        []MailAddress
	Subject   string
	Date      time.Time
	// Username is the AUTH user name the message was sent with, if any.
	Username string
	Text     string
	HTML     string
}

// AwaitMail waits until the test Mailpit holds exactly one message to the
// address to and returns it. Tests send to addresses no other test uses
// (see MailRecipient), so parallel tests do not see each other's mail.
func AwaitMail(t testing.TB, to string) Mail {
	t.Helper()
	ms := AwaitMails(t, to, 1)
	return ms[0]
}

// AwaitMails waits until the test Mailpit holds n messages to the address
// to, then returns them, newest first. It fails the test when more arrive
// or n have not after 15 s.
func AwaitMails(t testing.TB, to string, n int) []Mail {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mailWait)
	defer cancel()
	q := url.Values{"query": {`to:"` + to + `"`}, "limit": {"50"}}
	var ids []string
	for {
		var res struct {
			Messages []struct {
				ID string
				To []MailAddress
			} `json:"messages"`
		}
		if err := mailpitGet(ctx, MailpitURL(t)+"/api/v1/search?"+q.Encode(), &res); err != nil {
			t.Fatalf("search mailpit for mail to %s: %v", to, err)
		}
		ids = ids[:0]
		for _, m := range res.Messages {
			for _, a := range m.To {
				// The search matches substrings; only the exact address counts.
				if strings.EqualFold(a.Address, to) {
					ids = append(ids, m.ID)
					break
				}
			}
		}
		if len(ids) > n {
			t.Fatalf("mailpit holds %d messages to %s, want %d", len(ids), to, n)
		}
		if len(ids) == n {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("mailpit holds %d messages to %s after %s, want %d", len(ids), to, mailWait, n)
		case <-time.After(25 * time.Millisecond):
		}
	}
	out := make([]Mail, 0, n)
	for _, id := range ids {
		var m Mail
		if err := mailpitGet(ctx, MailpitURL(t)+"/api/v1/message/"+url.PathEscape(id), &m); err != nil {
			t.Fatalf("read mailpit message %s: %v", id, err)
		}
		out = append(out, m)
	}
	return out
}

// MailHeaders returns the headers of the test Mailpit's message id as
// received (GET /api/v1/message/{ID}/headers).
func MailHeaders(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	if err := mailpitGet(t.Context(), MailpitURL(t)+"/api/v1/message/"+url.PathEscape(id)+"/headers", &h); err != nil {
		t.Fatalf("read mailpit headers of %s: %v", id, err)
	}
	return h
}

// MailRaw returns the test Mailpit's message id as received, headers and
// encoded body (GET /api/v1/message/{ID}/raw).
func MailRaw(t testing.TB, id string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, MailpitURL(t)+"/api/v1/message/"+url.PathEscape(id)+"/raw", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("read mailpit raw message %s: %v", id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("read mailpit raw message %s: status %d, %v", id, resp.StatusCode, err)
	}
	return string(b)
}

// MailRecipient returns an address at example.com that no other test
// uses, for AwaitMail.
func MailRecipient(t testing.TB) string {
	t.Helper()
	return "pager-" + randomHex(t) + "@example.com"
}

func mailpitGet(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return json.Unmarshal(b, into)
}
