package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/notify/ackcode"
)

// Headers of a signed Slack request.
const (
	SignatureHeader = "X-Slack-Signature"
	TimestampHeader = "X-Slack-Request-Timestamp"
)

// MaxSkew is the replay window: a request whose timestamp is further from
// now, either way, is refused however well signed.
const MaxSkew = 5 * time.Minute

// MaxInteractionBody bounds the interaction bodies ReadBody reads. A
// payload echoes the message whose button was pressed; a page's is a few
// KiB.
const MaxInteractionBody = 256 << 10

// signatureVersion is the only version of Slack's request signing.
const signatureVersion = "v0"

// Errors of VerifyRequest and ParseInteraction. Answer a verification error
// with 401 and change nothing.
var (
	// ErrUnsigned: the signature or timestamp header is missing or not in
	// Slack's form.
	ErrUnsigned = errors.New("slack request is not signed")
	// ErrStale: the timestamp is outside MaxSkew of now (a replay, or a
	// clock far off).
	ErrStale = errors.New("slack request timestamp is outside the replay window")
	// ErrBadSignature: the signature does not match the body and timestamp
	// under the signing secret.
	ErrBadSignature = errors.New("slack request signature does not match")
	// ErrMalformed: the body is not an interaction payload.
	ErrMalformed = errors.New("malformed slack interaction")
)

// VerifyRequest checks that body came from Slack, as Slack documents it:
// X-Slack-Signature is "v0=" and the hex HMAC-SHA256, keyed with the app's
// signing secret, of "v0:" + X-Slack-Request-Timestamp + ":" + body,
// compared in constant time; and the timestamp (Unix seconds) is within
// MaxSkew of now. Pass the raw body, before any parsing. Errors are
// ErrUnsigned, ErrStale and ErrBadSignature (test with errors.Is); an empty
// signing secret verifies nothing.
func VerifyRequest(signingSecret string, header http.Header, body []byte, now time.Time) error {
	if signingSecret == "" {
		return fmt.Errorf("%w: no signing secret configured", ErrBadSignature)
	}
	ts := header.Get(TimestampHeader)
	sig := header.Get(SignatureHeader)
	if ts == "" || sig == "" {
		return fmt.Errorf("%w: %s or %s is missing", ErrUnsigned, SignatureHeader, TimestampHeader)
	}
	secs, ok := parseUnix(ts)
	if !ok {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrUnsigned, ts)
	}
	hexSig, ok := strings.CutPrefix(sig, signatureVersion+"=")
	if !ok {
		return fmt.Errorf("%w: signature is not %s=…", ErrUnsigned, signatureVersion)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: signature is not %d hex bytes", ErrUnsigned, sha256.Size)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: %s from now", ErrStale, d.Round(time.Second))
	}
	if !hmac.Equal(got, mac(signingSecret, ts, body)) {
		return ErrBadSignature
	}
	return nil
}

// Signature returns the X-Slack-Signature of body sent at timestamp (Unix
// seconds, as sent in X-Slack-Request-Timestamp): what Slack sends, and
// what a test or a local tool signs its requests with.
func Signature(signingSecret, timestamp string, body []byte) string {
	return signatureVersion + "=" + hex.EncodeToString(mac(signingSecret, timestamp, body))
}

func mac(secret, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(signatureVersion + ":" + timestamp + ":"))
	h.Write(body)
	return h.Sum(nil)
}

// parseUnix reads a timestamp of 1 to 12 decimal digits; signs, spaces and
// fractions are refused.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 12 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ReadBody reads an interaction request's raw body, at most
// MaxInteractionBody bytes, for VerifyRequest and then ParseInteraction.
// Errors wrap ErrMalformed, or are the read's own.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("%w: method %s, want POST", ErrMalformed, r.Method)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxInteractionBody+1))
	if err != nil {
		return nil, fmt.Errorf("read slack interaction: %w", err)
	}
	if len(body) > MaxInteractionBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrMalformed, MaxInteractionBody)
	}
	return body, nil
}

// Interaction is a block_actions interaction: someone pressed a button.
type Interaction struct {
	// Type is "block_actions".
	Type string `json:"type"`
	Team struct {
		ID     string `json:"id"`
		Domain string `json:"domain"`
	} `json:"team"`
	// User is who pressed. Map them to one of ours before acting: by an
	// explicit link of their ID, else by the email of UserInfo(User.ID).
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
		TeamID   string `json:"team_id"`
	} `json:"user"`
	APIAppID  string `json:"api_app_id"`
	TriggerID string `json:"trigger_id"`
	// ResponseURL takes replies to this interaction (see Client.Respond)
	// for 30 minutes.
	ResponseURL string `json:"response_url"`
	Container   struct {
		Type      string `json:"type"`
		MessageTS string `json:"message_ts"`
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Channel struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"channel"`
	Message struct {
		TS       string `json:"ts"`
		Metadata struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		} `json:"metadata"`
	} `json:"message"`
	Actions []Action `json:"actions"`
}

// Action is one pressed element of an interaction.
type Action struct {
	ActionID string `json:"action_id"`
	BlockID  string `json:"block_id"`
	Type     string `json:"type"`
	Value    string `json:"value"`
	ActionTS string `json:"action_ts"`
}

// IncidentAction returns what the interaction asks of which incident: the
// first action whose ID is ActionAcknowledge or ActionResolve, and its
// value. ok is false when no action is one of a page's buttons.
func (i Interaction) IncidentAction() (action ackcode.Action, incidentID string, ok bool) {
	for _, a := range i.Actions {
		if act, known := ActionOf(a.ActionID); known && a.Value != "" {
			return act, a.Value, true
		}
	}
	return "", "", false
}

// ParseInteraction decodes a verified interaction body: a form whose one
// payload field holds the JSON of a block_actions interaction with a user
// and at least one action. Other interaction types (view submissions,
// shortcuts) are refused. Errors wrap ErrMalformed.
func ParseInteraction(body []byte) (Interaction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Interaction{}, fmt.Errorf("%w: body is not a form: %v", ErrMalformed, err)
	}
	payloads := form["payload"]
	if len(payloads) != 1 {
		return Interaction{}, fmt.Errorf("%w: want one payload field, got %d", ErrMalformed, len(payloads))
	}
	var i Interaction
	if err := json.Unmarshal([]byte(payloads[0]), &i); err != nil {
		return Interaction{}, fmt.Errorf("%w: payload is not interaction JSON: %v", ErrMalformed, err)
	}
	switch {
	case i.Type != "block_actions":
		return Interaction{}, fmt.Errorf("%w: type %q, want block_actions", ErrMalformed, i.Type)
	case i.User.ID == "":
		return Interaction{}, fmt.Errorf("%w: no user", ErrMalformed)
	case len(i.Actions) == 0:
		return Interaction{}, fmt.Errorf("%w: no actions", ErrMalformed)
	}
	return i, nil
}
