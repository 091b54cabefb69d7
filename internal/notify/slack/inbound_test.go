package slack_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify/ackcode"
	"github.com/incident-server/incident-server/internal/notify/slack"
)

// Slack's published example ("Verifying requests from Slack"): a slash
// command body, its timestamp, the app's signing secret and the signature
// Slack sent.
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = "1531420618"
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

var docTime = time.Unix(1531420618, 0)

func header(ts, sig string) http.Header {
	h := http.Header{}
	if ts != "" {
		h.Set(slack.TimestampHeader, ts)
	}
	if sig != "" {
		h.Set(slack.SignatureHeader, sig)
	}
	return h
}

func TestVerifyRequestMatchesSlacksPublishedExample(t *testing.T) {
	t.Parallel()
	require.Equal(t, docSignature, slack.Signature(docSecret, docTimestamp, []byte(docBody)))
	require.NoError(t, slack.VerifyRequest(docSecret, header(docTimestamp, docSignature), []byte(docBody), docTime))
	// Upper-case hex is still the same signature.
	require.NoError(t, slack.VerifyRequest(docSecret, header(docTimestamp, "v0="+strings.ToUpper(docSignature[3:])), []byte(docBody), docTime))
}

func TestVerifyRequestEnforcesTheReplayWindow(t *testing.T) {
	t.Parallel()
	h := header(docTimestamp, docSignature)
	body := []byte(docBody)
	require.NoError(t, slack.VerifyRequest(docSecret, h, body, docTime.Add(5*time.Minute)), "at the edge, late")
	require.NoError(t, slack.VerifyRequest(docSecret, h, body, docTime.Add(-5*time.Minute)), "at the edge, early")
	require.ErrorIs(t, slack.VerifyRequest(docSecret, h, body, docTime.Add(5*time.Minute+time.Second)), slack.ErrStale)
	require.ErrorIs(t, slack.VerifyRequest(docSecret, h, body, docTime.Add(-5*time.Minute-time.Second)), slack.ErrStale, "from the future")
	require.ErrorIs(t, slack.VerifyRequest(docSecret, h, body, time.Now()), slack.ErrStale, "a 2018 request replayed today")
}

func TestVerifyRequestRefusesForgeries(t *testing.T) {
	t.Parallel()
	body := []byte(docBody)
	for name, tc := range map[string]struct {
		secret string
		h      http.Header
		body   []byte
		want   error
	}{
		"another secret":     {"another-signing-secret", header(docTimestamp, docSignature), body, slack.ErrBadSignature},
		"no secret":          {"", header(docTimestamp, docSignature), body, slack.ErrBadSignature},
		"body changed":       {docSecret, header(docTimestamp, docSignature), []byte(strings.Replace(docBody, "roadrunner", "coyote", 1)), slack.ErrBadSignature},
		"body extended":      {docSecret, header(docTimestamp, docSignature), append([]byte(docBody), '&'), slack.ErrBadSignature},
		"timestamp moved":    {docSecret, header("1531420619", docSignature), body, slack.ErrBadSignature},
		"signature flipped":  {docSecret, header(docTimestamp, docSignature[:len(docSignature)-1]+"4"), body, slack.ErrBadSignature},
		"no signature":       {docSecret, header(docTimestamp, ""), body, slack.ErrUnsigned},
		"no timestamp":       {docSecret, header("", docSignature), body, slack.ErrUnsigned},
		"v1 signature":       {docSecret, header(docTimestamp, "v1="+docSignature[3:]), body, slack.ErrUnsigned},
		"bare hex":           {docSecret, header(docTimestamp, docSignature[3:]), body, slack.ErrUnsigned},
		"short signature":    {docSecret, header(docTimestamp, docSignature[:40]), body, slack.ErrUnsigned},
		"not hex":            {docSecret, header(docTimestamp, "v0="+strings.Repeat("zz", 32)), body, slack.ErrUnsigned},
		"negative timestamp": {docSecret, header("-1531420618", docSignature), body, slack.ErrUnsigned},
		"fractional time":    {docSecret, header("1531420618.5", docSignature), body, slack.ErrUnsigned},
		"spaced timestamp":   {docSecret, header(" 1531420618", docSignature), body, slack.ErrUnsigned},
	} {
		err := slack.VerifyRequest(tc.secret, tc.h, tc.body, docTime)
		require.ErrorIs(t, err, tc.want, name)
	}
}

// blockActions is the shape of a block_actions payload (abridged from
// Slack's reference) for a press of a page's Acknowledge button.
const blockActions = `{
  "type": "block_actions",
  "user": {"id": "U0CA5", "username": "amy.mcgee", "name": "amy.mcgee", "team_id": "T3MDE"},
  "api_app_id": "A0CA5",
  "token": "Shh_its_a_seekrit",
  "container": {"type": "message", "text": "The contents of the original message where the action originated", "message_ts": "1548261231.000200", "channel_id": "C0CA5", "is_ephemeral": false},
  "trigger_id": "12466734323.1395872398",
  "team": {"id": "T0CAG", "domain": "acme-creamery"},
  "enterprise": null,
  "is_enterprise_install": false,
  "channel": {"id": "C0CA5", "name": "incidents"},
  "message": {"type": "message", "ts": "1548261231.000200", "text": "x", "blocks": [],
    "metadata": {"event_type": "incident_page", "event_payload": {"incident_id": "inc_42", "delivery_id": "inc_42/0/1#1/u_amy/cm_slack"}}},
  "state": {"values": {}},
  "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
  "actions": [{"action_id": "incident_acknowledge", "block_id": "incident_actions", "text": {"type": "plain_text", "text": "Acknowledge", "emoji": true},
    "value": "inc_42", "style": "primary", "type": "button", "action_ts": "1548426417.840180"}]
}`

func form(payload string) []byte { return []byte(url.Values{"payload": {payload}}.Encode()) }

func TestParseInteractionDecodesAButtonPress(t *testing.T) {
	t.Parallel()
	i, err := slack.ParseInteraction(form(blockActions))
	require.NoError(t, err)
	require.Equal(t, "block_actions", i.Type)
	require.Equal(t, "U0CA5", i.User.ID)
	require.Equal(t, "amy.mcgee", i.User.Username)
	require.Equal(t, "T3MDE", i.User.TeamID)
	require.Equal(t, "T0CAG", i.Team.ID)
	require.Equal(t, "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209", i.ResponseURL)
	require.Equal(t, "1548261231.000200", i.Container.MessageTS)
	require.Equal(t, "C0CA5", i.Container.ChannelID)
	require.Equal(t, "C0CA5", i.Channel.ID)
	require.Equal(t, "incident_page", i.Message.Metadata.EventType)
	require.Equal(t, "inc_42/0/1#1/u_amy/cm_slack", i.Message.Metadata.EventPayload["delivery_id"])
	require.Len(t, i.Actions, 1)
	require.Equal(t, slack.Action{ActionID: "incident_acknowledge", BlockID: "incident_actions", Type: "button",
		Value: "inc_42", ActionTS: "1548426417.840180"}, i.Actions[0])

	action, id, ok := i.IncidentAction()
	require.True(t, ok)
	require.Equal(t, ackcode.Acknowledge, action)
	require.Equal(t, "inc_42", id)

	resolve := strings.Replace(blockActions, `"action_id": "incident_acknowledge"`, `"action_id": "incident_resolve"`, 1)
	i, err = slack.ParseInteraction(form(resolve))
	require.NoError(t, err)
	action, _, ok = i.IncidentAction()
	require.True(t, ok)
	require.Equal(t, ackcode.Resolve, action)

	other := strings.Replace(blockActions, `"action_id": "incident_acknowledge"`, `"action_id": "something_else"`, 1)
	i, err = slack.ParseInteraction(form(other))
	require.NoError(t, err)
	_, _, ok = i.IncidentAction()
	require.False(t, ok, "a button that is not a page's asks nothing of an incident")
}

func TestParseInteractionRefusesWhatIsNotAButtonPress(t *testing.T) {
	t.Parallel()
	for name, body := range map[string][]byte{
		"empty":           nil,
		"no payload":      []byte("foo=bar"),
		"two payloads":    []byte(url.Values{"payload": {blockActions, blockActions}}.Encode()),
		"bad escape":      []byte("payload=%zz"),
		"not json":        form("{"),
		"json array":      form("[]"),
		"view submission": form(`{"type":"view_submission","user":{"id":"U1"},"actions":[{"action_id":"a"}]}`),
		"no user":         form(`{"type":"block_actions","actions":[{"action_id":"incident_acknowledge","value":"inc_1"}]}`),
		"no actions":      form(`{"type":"block_actions","user":{"id":"U1"},"actions":[]}`),
		"wrong types":     form(`{"type":"block_actions","user":{"id":42},"actions":[{}]}`),
	} {
		_, err := slack.ParseInteraction(body)
		require.ErrorIs(t, err, slack.ErrMalformed, name)
	}
}

func TestReadBodyBoundsTheBody(t *testing.T) {
	t.Parallel()
	ok := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(string(form(blockActions))))
	b, err := slack.ReadBody(ok)
	require.NoError(t, err)
	require.Equal(t, form(blockActions), b)

	big := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(strings.Repeat("a", slack.MaxInteractionBody+1)))
	_, err = slack.ReadBody(big)
	require.ErrorIs(t, err, slack.ErrMalformed)
	_, err = slack.ReadBody(httptest.NewRequest(http.MethodGet, "/slack/interactions", nil))
	require.ErrorIs(t, err, slack.ErrMalformed)
}

// The handler's sequence on a signed request: read, verify, parse.
func TestSignedInteractionRoundTrip(t *testing.T) {
	t.Parallel()
	const secret = "signing-secret-of-the-test-app"
	now := time.Now()
	body := form(blockActions)
	ts := strconv.FormatInt(now.Unix(), 10)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/inbound/slack/interactions", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set(slack.TimestampHeader, ts)
	r.Header.Set(slack.SignatureHeader, slack.Signature(secret, ts, body))

	raw, err := slack.ReadBody(r)
	require.NoError(t, err)
	require.NoError(t, slack.VerifyRequest(secret, r.Header, raw, now))
	i, err := slack.ParseInteraction(raw)
	require.NoError(t, err)
	_, id, ok := i.IncidentAction()
	require.True(t, ok)
	require.Equal(t, "inc_42", id)
}

// FuzzParseInteraction: any body decodes to a block_actions interaction
// with a user and an action, or fails with ErrMalformed; never a panic.
func FuzzParseInteraction(f *testing.F) {
	f.Add(form(blockActions))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte("payload=%zz"))
	f.Add(form(`{"type":"block_actions","user":{"id":"U"},"actions":[{"action_id":"incident_resolve","value":"inc_1"}]}`))
	f.Add(form(`{"type":"block_actions","user":{"id":"U"},"actions":[null],"message":{"metadata":{"event_payload":{"a":[1,{"b":null}]}}}}`))
	f.Add([]byte(docBody))
	f.Fuzz(func(t *testing.T, body []byte) {
		i, err := slack.ParseInteraction(body)
		if err != nil {
			if !errors.Is(err, slack.ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if i.Type != "block_actions" || i.User.ID == "" || len(i.Actions) == 0 {
			t.Fatalf("accepted an incomplete interaction: %+v", i)
		}
		if a, id, ok := i.IncidentAction(); ok && (id == "" || (a != ackcode.Acknowledge && a != ackcode.Resolve)) {
			t.Fatalf("incident action %q %q", a, id)
		}
	})
}

// FuzzVerifyRequest: whatever the headers and body, VerifyRequest returns
// nil only for the signature of that body, else one of its errors.
func FuzzVerifyRequest(f *testing.F) {
	f.Add(docTimestamp, docSignature, []byte(docBody))
	f.Add(docTimestamp, "v0=", []byte(""))
	f.Add("0", "v0="+strings.Repeat("0", 64), []byte("x"))
	f.Add("99999999999999999999", docSignature, []byte(docBody))
	f.Add(docTimestamp, "V0="+docSignature[3:], []byte(docBody))
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := slack.VerifyRequest(docSecret, header(ts, sig), body, docTime)
		switch {
		case err == nil:
			if !strings.EqualFold(sig, slack.Signature(docSecret, ts, body)) {
				t.Fatalf("verified %q for a body it does not sign", sig)
			}
		case errors.Is(err, slack.ErrUnsigned), errors.Is(err, slack.ErrStale), errors.Is(err, slack.ErrBadSignature):
		default:
			t.Fatalf("untyped error %v", err)
		}
	})
}
