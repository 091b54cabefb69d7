package twilio

import (
	"encoding/xml"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/ackcode"
)

// maxSpokenTitle bounds the part of a title read aloud: the whole TwiML
// must stay under MaxTwiMLLen, and nobody listens to more.
const maxSpokenTitle = 300

// PageSMS is the text of a page SMS: the page's summary, the incident link
// and the reply instructions for code (ackcode.Code of the delivery). It
// fits MaxBodyLen: the title is shortened when it would not.
func PageSMS(p notify.Page, code string) string {
	tail := ""
	if p.IncidentURL != "" {
		tail += "\n" + notify.OneLine(p.IncidentURL)
	}
	tail += "\n" + ackcode.Instructions(code)
	head := p.Summary()
	if room := MaxBodyLen - utf8.RuneCountInString(tail); utf8.RuneCountInString(head) > room {
		head = string([]rune(head)[:max(room-1, 0)]) + "…"
	}
	return head + tail
}

// PageTwiML is the TwiML of a voice page: it reads the page out twice
// while listening for one key, which Twilio posts to keypressURL (with the
// call's CallSid, From, To and Digits; see ParseKeypress). keypressURL
// should carry a signed token (ackcode.Mint) that names the incident and
// the user, since the call's numbers alone do not.
func PageTwiML(p notify.Page, keypressURL string) string {
	title := notify.OneLine(p.Title)
	if utf8.RuneCountInString(title) > maxSpokenTitle {
		title = string([]rune(title)[:maxSpokenTitle])
	}
	var say strings.Builder
	say.WriteString("This is incident server. ")
	if p.Severity != "" {
		say.WriteString(string(p.Severity) + " incident")
	} else {
		say.WriteString("Incident")
	}
	if p.Service != "" {
		say.WriteString(" on " + notify.OneLine(p.Service))
	}
	if title != "" {
		say.WriteString(": " + title)
	}
	say.WriteString(". ")
	fmt.Fprintf(&say, "Press %s to acknowledge, or %s to resolve.", ackcode.AckDigit, ackcode.ResolveDigit)

	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	b.WriteString(`<Gather numDigits="1" timeout="10" method="POST" action="`)
	escape(&b, keypressURL)
	b.WriteString(`"><Say loop="2">`)
	escape(&b, say.String())
	b.WriteString(`</Say></Gather><Say>No key was pressed. Goodbye.</Say></Response>`)
	return b.String()
}

// SayTwiML is the TwiML that answers a keypress callback: text read out,
// then the call ends ("Acknowledged. Goodbye.").
func SayTwiML(text string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Say>`)
	escape(&b, notify.OneLine(text))
	b.WriteString(`</Say><Hangup/></Response>`)
	return b.String()
}

// EmptyTwiML answers a messaging webhook without replying to the sender.
const EmptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`

// MessageTwiML answers a messaging webhook with an SMS back to the sender
// ("Acknowledged inc_42.", "Which page? Reply 4 and its code.").
func MessageTwiML(text string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Message>`)
	escape(&b, text)
	b.WriteString(`</Message></Response>`)
	return b.String()
}

// escape writes s as XML character data or attribute value. Characters XML
// cannot carry become U+FFFD.
func escape(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
