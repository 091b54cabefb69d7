package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/notify"
)

// DefaultMessageIDDomain is the right-hand side of a Message-ID when
// MessageID is given no domain.
const DefaultMessageIDDomain = "incident-server"

// Message is one email to one recipient.
type Message struct {
	// To is the recipient: "Alice <alice@example.com>" or a bare address,
	// ASCII only.
	To      string
	Subject string
	// Text is the plain-text body. Required.
	Text string
	// HTML, when set, is an alternative HTML body.
	HTML string
	// MessageID is the Message-ID header, "<left@right>": the delivery's
	// ledger key (see MessageID), the same on every attempt. Required.
	MessageID string
	// Headers are extra headers ("X-Incident-ID", "Auto-Submitted"). Names
	// are letters, digits and dashes; the headers this package writes
	// itself (From, To, Subject, Date, Message-ID, MIME and content
	// headers) cannot be set here.
	Headers map[string]string
}

// reserved are the headers compose writes; Message.Headers cannot set them.
var reserved = []string{"From", "To", "Cc", "Bcc", "Sender", "Subject", "Date", "Message-Id",
	"Mime-Version", "Content-Type", "Content-Transfer-Encoding", "Return-Path", "Received"}

// maxLine is where headers are folded (RFC 5322 recommends 78 with CRLF).
const maxLine = 76

// MessageID turns a delivery's ledger key into a Message-ID,
// "<key@domain>", the key's characters that a Message-ID cannot hold
// percent-encoded. The same key always gives the same Message-ID, so a
// retried send carries the one of the first attempt. domain defaults to
// DefaultMessageIDDomain.
func MessageID(deliveryID, domain string) string {
	if domain == "" {
		domain = DefaultMessageIDDomain
	}
	var b strings.Builder
	b.WriteByte('<')
	for i := 0; i < len(deliveryID); i++ {
		c := deliveryID[i]
		if atext(c) && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if deliveryID == "" {
		b.WriteString("none")
	}
	b.WriteString("@" + domain + ">")
	return b.String()
}

// atext reports whether c may appear in a dot-atom without a dot
// (RFC 5322 atext).
func atext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// compose builds the message as sent after DATA, with CRLF line ends, and
// returns the recipient's bare address for RCPT TO.
func compose(from *mail.Address, m Message, now time.Time) ([]byte, string, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, "", fmt.Errorf("to %q: %w", m.To, err)
	}
	if !ascii(to.Address) {
		return nil, "", fmt.Errorf("to %q: only ASCII addresses are supported", m.To)
	}
	if err := checkMessageID(m.MessageID); err != nil {
		return nil, "", err
	}
	if m.Text == "" {
		return nil, "", errors.New("message has no text body")
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) || !utf8.ValidString(m.Subject) {
		return nil, "", errors.New("message is not valid UTF-8")
	}

	var b bytes.Buffer
	header(&b, "From", from.String())
	header(&b, "To", to.String())
	header(&b, "Subject", encodeText(notify.OneLine(m.Subject)))
	header(&b, "Date", now.Format(time.RFC1123Z))
	header(&b, "Message-ID", m.MessageID)
	names := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !headerName(k) {
			return nil, "", fmt.Errorf("header name %q: use letters, digits and dashes", k)
		}
		if slices.Contains(reserved, textproto.CanonicalMIMEHeaderKey(k)) {
			return nil, "", fmt.Errorf("header %s is written by the sender and cannot be set", k)
		}
		v := m.Headers[k]
		if !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n") {
			return nil, "", fmt.Errorf("header %s: value must be one line of UTF-8", k)
		}
		header(&b, k, encodeText(v))
	}
	header(&b, "MIME-Version", "1.0")

	if m.HTML == "" {
		header(&b, "Content-Type", "text/plain; charset=utf-8")
		header(&b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Text)
		return b.Bytes(), to.Address, nil
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	// A boundary with "=_" cannot occur in quoted-printable parts, where "="
	// always starts an escape; derived from the Message-ID, it is the same
	// on every attempt.
	sum := sha256.Sum256([]byte(m.MessageID))
	if err := mw.SetBoundary("=_" + hex.EncodeToString(sum[:14])); err != nil {
		return nil, "", fmt.Errorf("set boundary: %w", err)
	}
	for _, part := range []struct{ ctype, content string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, "", fmt.Errorf("create %s part: %w", part.ctype, err)
		}
		var qp bytes.Buffer
		writeQP(&qp, part.content)
		if _, err := w.Write(qp.Bytes()); err != nil {
			return nil, "", fmt.Errorf("write %s part: %w", part.ctype, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("close multipart: %w", err)
	}
	header(&b, "Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), to.Address, nil
}

// checkMessageID accepts "<left@right>" of printable ASCII without spaces,
// quotes, backslashes, angle brackets or a second @.
func checkMessageID(id string) error {
	bad := fmt.Errorf("message id %q: want <left@right> of printable ASCII (see MessageID)", id)
	if len(id) > 250 || !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") {
		return bad
	}
	inner := id[1 : len(id)-1]
	left, right, ok := strings.Cut(inner, "@")
	if !ok || left == "" || right == "" || strings.Contains(right, "@") {
		return bad
	}
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c < 0x21 || c > 0x7e || strings.IndexByte(`<>"\`, c) >= 0 {
			return bad
		}
	}
	return nil
}

func headerName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// encodeText returns v as it may appear in an unstructured header: as is
// when it is printable ASCII whose words fold, else as RFC 2047 encoded
// words.
func encodeText(v string) string {
	plain := !strings.Contains(v, "=?") // else a reader would decode it
	for _, w := range strings.Split(v, " ") {
		if len(w) > maxLine-12 {
			plain = false
		}
	}
	for i := 0; i < len(v) && plain; i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			plain = false
		}
	}
	if plain {
		return v
	}
	return encodeWords(v)
}

// encodeWords encodes v as UTF-8 Q-encoded words of at most 75 characters
// (RFC 2047), never splitting a character, separated by spaces to fold at.
// mime.QEncoding leaves text it deems safe as is, "=?" included, so the
// encoding is done here.
func encodeWords(v string) string {
	const prefix, suffix = "=?utf-8?q?", "?="
	const room = 75 - len(prefix) - len(suffix)
	var words []string
	var cur strings.Builder
	for _, r := range v {
		var enc strings.Builder
		var buf [utf8.UTFMax]byte
		for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
			switch {
			case c == ' ':
				enc.WriteByte('_')
			case c > ' ' && c < 0x7f && c != '=' && c != '?' && c != '_':
				// Printable ASCII may stand as is in an unstructured header's
				// encoded word (RFC 2047 section 5).
				enc.WriteByte(c)
			default:
				fmt.Fprintf(&enc, "=%02X", c)
			}
		}
		if cur.Len()+enc.Len() > room {
			words = append(words, prefix+cur.String()+suffix)
			cur.Reset()
		}
		cur.WriteString(enc.String())
	}
	if cur.Len() > 0 || len(words) == 0 {
		words = append(words, prefix+cur.String()+suffix)
	}
	return strings.Join(words, " ")
}

// header writes "name: value" folded at spaces to lines of at most maxLine
// characters where the value allows, the first word moving to a line of
// its own when it does not fit beside the name.
func header(b *bytes.Buffer, name, value string) {
	line := name + ":"
	for _, w := range strings.Split(value, " ") {
		if len(line)+1+len(w) > maxLine && line != "" {
			b.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + w
	}
	b.WriteString(line + "\r\n")
}

// writeQP writes s quoted-printable with CRLF line ends.
func writeQP(b *bytes.Buffer, s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
}

// PageMessage renders a page as an email, To left for the caller: the
// subject is the page's summary ("[CRITICAL] checkout: p99 above 2s
// (inc_42)"); the body gives the service, severity, step and incident, the
// incident link and the one-click acknowledge link with its expiry, in
// plain text and HTML. MessageID is MessageID(p.DeliveryID, ""); headers
// X-Incident-ID and Auto-Submitted (RFC 3834, so vacation responders stay
// quiet) are set.
func PageMessage(p notify.Page) Message {
	type row struct{ k, v string }
	rows := []row{{"Service", p.Service}, {"Severity", string(p.Severity)}, {"Step", p.StepText()}, {"Incident", p.IncidentID}}

	var t strings.Builder
	t.WriteString(p.Summary() + "\n\n")
	for _, r := range rows {
		if r.v != "" {
			fmt.Fprintf(&t, "%-9s %s\n", r.k+":", notify.OneLine(r.v))
		}
	}
	if p.IncidentURL != "" {
		t.WriteString("\nOpen the incident:\n" + p.IncidentURL + "\n")
	}
	if p.AckURL != "" {
		t.WriteString("\nAcknowledge with one click" + ackTerms(p) + ":\n" + p.AckURL + "\n")
	}
	t.WriteString("\n-- \nincident-server paged you about this incident.\n")

	var h strings.Builder
	h.WriteString(`<!DOCTYPE html><html><body style="font-family: sans-serif">`)
	h.WriteString("<h2>" + html.EscapeString(p.Summary()) + "</h2><table>")
	for _, r := range rows {
		if r.v != "" {
			h.WriteString("<tr><th align=\"left\">" + r.k + "</th><td>" + html.EscapeString(notify.OneLine(r.v)) + "</td></tr>")
		}
	}
	h.WriteString("</table>")
	if p.IncidentURL != "" {
		h.WriteString(`<p><a href="` + html.EscapeString(p.IncidentURL) + `">Open the incident</a></p>`)
	}
	if p.AckURL != "" {
		h.WriteString(`<p><a href="` + html.EscapeString(p.AckURL) + `"><b>Acknowledge</b></a>` + html.EscapeString(ackTerms(p)) + `</p>`)
	}
	h.WriteString("<p><small>incident-server paged you about this incident.</small></p></body></html>")

	headers := map[string]string{"Auto-Submitted": "auto-generated"}
	if p.IncidentID != "" {
		headers["X-Incident-ID"] = notify.OneLine(p.IncidentID)
	}
	return Message{
		Subject:   p.Summary(),
		Text:      t.String(),
		HTML:      h.String(),
		MessageID: MessageID(p.DeliveryID, ""),
		Headers:   headers,
	}
}

// ackTerms says how long and how often the acknowledge link works.
func ackTerms(p notify.Page) string {
	if p.AckExpires.IsZero() {
		return " (the link works once)"
	}
	return " (the link works once, until " + p.AckExpires.UTC().Format("2006-01-02 15:04 MST") + ")"
}
