package slack

import (
	"strings"

	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/ackcode"
)

// Action IDs of a page's buttons. Each button's value is the incident ID.
const (
	ActionAcknowledge = "incident_acknowledge"
	ActionResolve     = "incident_resolve"
)

// MetadataEventType names the metadata every page message carries.
const MetadataEventType = "incident_page"

// Message is the content of a chat.postMessage or chat.update.
type Message struct {
	// Text is the notification and fallback text; with Blocks, Slack shows
	// the blocks and uses Text for notifications.
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks,omitempty"`
	// Metadata travels with the message and comes back in events and
	// interactions about it.
	Metadata *Metadata `json:"metadata,omitempty"`
}

// Metadata is a message's metadata.
type Metadata struct {
	EventType    string         `json:"event_type"`
	EventPayload map[string]any `json:"event_payload"`
}

// Block is a Block Kit layout block: a section with text, or actions with
// buttons.
type Block struct {
	Type     string    `json:"type"`
	BlockID  string    `json:"block_id,omitempty"`
	Text     *Text     `json:"text,omitempty"`
	Elements []Element `json:"elements,omitempty"`
}

// Text is a Block Kit text object: "mrkdwn" or "plain_text".
type Text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Element is an interactive element: here, a button.
type Element struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	ActionID string `json:"action_id,omitempty"`
	Value    string `json:"value,omitempty"`
	Style    string `json:"style,omitempty"`
}

// PageMessage renders a page: a section with the summary, the step and a
// link to the incident, then the Acknowledge and Resolve buttons (action
// IDs ActionAcknowledge and ActionResolve, value the incident ID), and
// metadata of type MetadataEventType whose payload holds the incident ID
// and the delivery ID, the page's ledger key.
func PageMessage(p notify.Page) Message {
	return Message{
		Text:   Escape(p.Summary()),
		Blocks: []Block{pageSection(p), pageActions(p)},
		Metadata: &Metadata{EventType: MetadataEventType, EventPayload: map[string]any{
			"incident_id": p.IncidentID,
			"delivery_id": p.DeliveryID,
		}},
	}
}

// ActedMessage is the page once someone acted on it, for UpdateMessage:
// the same section, the buttons replaced by note ("Acknowledged by Alice"),
// the metadata kept.
func ActedMessage(p notify.Page, note string) Message {
	m := PageMessage(p)
	m.Blocks = []Block{pageSection(p), {Type: "section", BlockID: "incident_status",
		Text: &Text{Type: "mrkdwn", Text: Escape(notify.OneLine(note))}}}
	return m
}

func pageSection(p notify.Page) Block {
	var b strings.Builder
	b.WriteString("*" + Escape(p.Summary()) + "*")
	if s := p.StepText(); s != "" {
		b.WriteString("\n" + Escape(upperFirst(s)))
	}
	if p.IncidentURL != "" {
		b.WriteString("\n<" + Escape(p.IncidentURL) + "|Open the incident>")
	}
	return Block{Type: "section", BlockID: "incident_page", Text: &Text{Type: "mrkdwn", Text: b.String()}}
}

func pageActions(p notify.Page) Block {
	return Block{Type: "actions", BlockID: "incident_actions", Elements: []Element{
		{Type: "button", Text: &Text{Type: "plain_text", Text: "Acknowledge"}, ActionID: ActionAcknowledge, Value: p.IncidentID, Style: "primary"},
		{Type: "button", Text: &Text{Type: "plain_text", Text: "Resolve"}, ActionID: ActionResolve, Value: p.IncidentID},
	}}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Escape makes s literal in Slack's mrkdwn: &, < and > become entities, so
// a title cannot mention @channel or forge a link.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Reply is a message posted to an interaction's response_url.
type Reply struct {
	// ResponseType is "ephemeral" (only the user who pressed sees it) or
	// "in_channel".
	ResponseType string `json:"response_type"`
	// ReplaceOriginal false keeps the message whose button was pressed.
	ReplaceOriginal bool   `json:"replace_original"`
	Text            string `json:"text"`
}

// NotLinkedText refuses an interaction from a Slack user who is not one of
// ours.
const NotLinkedText = "You are not linked to an incident-server user, so this button did nothing. Ask an admin to link your Slack account, or use the same email address in both."

// Ephemeral is a reply only the user who pressed the button sees, leaving
// the page as it is: a refusal (NotLinkedText) or a note ("Already
// resolved").
func Ephemeral(text string) Reply {
	return Reply{ResponseType: "ephemeral", ReplaceOriginal: false, Text: Escape(text)}
}

// ActionOf maps a button's action ID to what it asks for.
func ActionOf(actionID string) (ackcode.Action, bool) {
	switch actionID {
	case ActionAcknowledge:
		return ackcode.Acknowledge, true
	case ActionResolve:
		return ackcode.Resolve, true
	}
	return "", false
}
