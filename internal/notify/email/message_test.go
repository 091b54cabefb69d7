package email

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	sender = &mail.Address{Name: "Incident Server", Address: "pager@incident.example.com"}
	now    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// parse reads a composed message back with net/mail and checks that every
// line ends in CRLF and stays within the RFC 5322 limit.
func parse(t *testing.T, raw []byte) *mail.Message {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
		require.NotContains(t, line, "\n", "bare LF")
		require.LessOrEqual(t, len(line), 998, "line %q", line)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	return m
}

func TestLongAndNonASCIISubjectsAreEncodedAndFolded(t *testing.T) {
	t.Parallel()
	subject := "[CRITICAL] checkout: " + strings.Repeat("Zürich latency über SLO ", 12) + "(inc_42)"
	raw, rcpt, err := compose(sender, Message{To: "Åsa Öberg <asa@example.com>", Subject: subject, Text: "x", MessageID: "<a@b>"}, now)
	require.NoError(t, err)
	require.Equal(t, "asa@example.com", rcpt)
	m := parse(t, raw)
	var dec mime.WordDecoder
	got, err := dec.DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, subject, got)
	to, err := m.Header.AddressList("To")
	require.NoError(t, err)
	require.Equal(t, "Åsa Öberg", to[0].Name)

	// Every header line is folded to at most 76 characters.
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		require.LessOrEqual(t, len(line), maxLine, "%q", line)
	}
}

func TestASCIISubjectsStayReadable(t *testing.T) {
	t.Parallel()
	raw, _, err := compose(sender, Message{To: "a@example.com", Subject: "[HIGH] api: 5xx above 1%", Text: "x", MessageID: "<a@b>"}, now)
	require.NoError(t, err)
	require.Contains(t, string(raw), "\r\nSubject: [HIGH] api: 5xx above 1%\r\n")

	// Text that looks like an encoded word is encoded, so it stays literal.
	raw, _, err = compose(sender, Message{To: "a@example.com", Subject: "=?utf-8?q?x?=", Text: "x", MessageID: "<a@b>"}, now)
	require.NoError(t, err)
	var dec mime.WordDecoder
	got, err := dec.DecodeHeader(parse(t, raw).Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, "=?utf-8?q?x?=", got)
}

func TestLineBreaksCannotForgeHeaders(t *testing.T) {
	t.Parallel()
	raw, _, err := compose(sender, Message{To: "a@example.com", Subject: "down\r\nBcc: everyone@example.com", Text: "x", MessageID: "<a@b>"}, now)
	require.NoError(t, err)
	m := parse(t, raw)
	require.Empty(t, m.Header.Get("Bcc"))
	require.Equal(t, "down  Bcc: everyone@example.com", m.Header.Get("Subject"))
}

func TestHeadersAndBodyAsSent(t *testing.T) {
	t.Parallel()
	text := "first line\nsecond line é\n" + strings.Repeat("long ", 40) + "\n.leading dot\n"
	raw, _, err := compose(sender, Message{To: "a@example.com", Subject: "s", Text: text, MessageID: "<k@incident-server>",
		Headers: map[string]string{"X-Incident-ID": "inc_42", "Auto-Submitted": "auto-generated", "X-Note": "ünïcode"}}, now)
	require.NoError(t, err)
	m := parse(t, raw)
	require.Equal(t, `"Incident Server" <pager@incident.example.com>`, m.Header.Get("From"))
	require.Equal(t, "<a@example.com>", m.Header.Get("To"))
	require.Equal(t, "Sun, 01 Mar 2026 12:00:00 +0000", m.Header.Get("Date"))
	require.Equal(t, "<k@incident-server>", m.Header.Get("Message-Id"))
	require.Equal(t, "1.0", m.Header.Get("Mime-Version"))
	require.Equal(t, "inc_42", m.Header.Get("X-Incident-Id"))
	require.Equal(t, "auto-generated", m.Header.Get("Auto-Submitted"))
	require.Equal(t, "=?utf-8?q?=C3=BCn=C3=AFcode?=", m.Header.Get("X-Note"))
	require.Equal(t, "text/plain; charset=utf-8", m.Header.Get("Content-Type"))
	require.Equal(t, "quoted-printable", m.Header.Get("Content-Transfer-Encoding"))

	body, err := io.ReadAll(m.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\r\n") {
		require.LessOrEqual(t, len(line), 76, "quoted-printable lines are soft-broken: %q", line)
	}
	decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	require.NoError(t, err)
	require.Equal(t, strings.ReplaceAll(text, "\n", "\r\n"), string(decoded))
}

func TestAlternativeBodiesAndADeterministicBoundary(t *testing.T) {
	t.Parallel()
	msg := Message{To: "a@example.com", Subject: "s", Text: "plain ü", HTML: "<p>html ü</p>", MessageID: "<k@incident-server>"}
	raw, _, err := compose(sender, msg, now)
	require.NoError(t, err)
	again, _, err := compose(sender, msg, now)
	require.NoError(t, err)
	require.Equal(t, raw, again, "a retry sends the same bytes")

	m := parse(t, raw)
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	require.True(t, strings.HasPrefix(params["boundary"], "=_"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		parts = append(parts, p.Header.Get("Content-Type")+": "+string(b))
	}
	require.Equal(t, []string{"text/plain; charset=utf-8: plain ü\r\n", "text/html; charset=utf-8: <p>html ü</p>\r\n"}, parts)
}

func TestMessageIDs(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"<a@b>", "<inc_42/0/1#1/u/cm@incident-server>", "<x.y@pager.example.com>", MessageID("any thing\x00at all", "")} {
		require.NoError(t, checkMessageID(ok), ok)
	}
	for _, bad := range []string{"", "a@b", "<a@b", "<ab>", "<@b>", "<a@>", "<a@b@c>", "<a b@c>", "<a@b>\r\nBcc: x", "<ä@b>", "<a\"@b>", "<" + strings.Repeat("a", 250) + "@b>"} {
		require.Error(t, checkMessageID(bad), bad)
	}
}
