package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/incident-server/incident-server/activities"
	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/config"
	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/notify/twilio"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

// The public URL the test stacks believe they are reached at: links and
// Twilio's signatures are made for it, and the tests send to the stack's
// own address, as a proxy in front of the API would.
const publicURL = "https://incidents.example.com"

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "auth-token-of-the-test-account"
	twilioFrom  = "+15005550006"
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	slackBot    = "xoxb-test-bot-token"
	linkSecret  = "0123456789abcdef0123456789abcdef-links"
)

// twilioCall is one request the Twilio stand-in received, as Twilio's API
// reads it.
type twilioCall struct {
	resource    string // Messages.json or Calls.json
	form        url.Values
	idempotency string
}

// twilioStandIn answers Twilio's Messages and Calls create requests as its
// API reference documents them, and refuses any request not made as
// documented: POST, basic auth with the account SID and auth token, a
// form-encoded body with To and From.
type twilioStandIn struct {
	url   string
	mu    sync.Mutex
	calls []twilioCall
	got   chan twilioCall
}

func newTwilioStandIn(t *testing.T) *twilioStandIn {
	t.Helper()
	ts := &twilioStandIn{got: make(chan twilioCall, 32)}
	prefix := "/2010-04-01/Accounts/" + twilioSID + "/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		resource, inAccount := strings.CutPrefix(r.URL.Path, prefix)
		raw, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(raw))
		switch {
		case r.Method != http.MethodPost || !inAccount || (resource != "Messages.json" && resource != "Calls.json"):
			http.Error(w, `{"code":20404,"message":"not found"}`, http.StatusNotFound)
			return
		case !ok || user != twilioSID || pass != twilioToken:
			http.Error(w, `{"code":20003,"message":"Authenticate"}`, http.StatusUnauthorized)
			return
		case r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || err != nil,
			form.Get("To") == "", form.Get("From") != twilioFrom:
			http.Error(w, `{"code":21604,"message":"bad request"}`, http.StatusBadRequest)
			return
		}
		c := twilioCall{resource: resource, form: form, idempotency: r.Header.Get(twilio.IdempotencyHeader)}
		ts.mu.Lock()
		ts.calls = append(ts.calls, c)
		n := len(ts.calls)
		ts.mu.Unlock()
		ts.got <- c
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		kind := "SM"
		if resource == "Calls.json" {
			kind = "CA"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"sid": kind + strconv.Itoa(n), "status": "queued"})
	}))
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

// next waits for the next request.
func (ts *twilioStandIn) next(t *testing.T) twilioCall {
	t.Helper()
	select {
	case c := <-ts.got:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no request reached the Twilio stand-in within 30s")
		return twilioCall{}
	}
}

func (ts *twilioStandIn) count(resource string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n := 0
	for _, c := range ts.calls {
		if c.resource == resource {
			n++
		}
	}
	return n
}

// slackCall is one Web API call the Slack stand-in received.
type slackCall struct {
	method string
	body   map[string]any
	form   url.Values
}

// slackStandIn answers the Web API methods a page uses, checking the bot
// token, and takes the replies posted to interactions' response_url (over
// TLS, as Slack's are).
type slackStandIn struct {
	api, responses string
	client         *http.Client
	calls          chan slackCall
	replies        chan slack.Reply
	// members are the workspace's members, by ID, for users.info.
	members map[string]slack.User
}

func newSlackStandIn(t *testing.T) *slackStandIn {
	t.Helper()
	ss := &slackStandIn{calls: make(chan slackCall, 32), replies: make(chan slack.Reply, 8), members: map[string]slack.User{}}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+slackBot {
			_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		method := strings.TrimPrefix(r.URL.Path, "/api/")
		raw, _ := io.ReadAll(r.Body)
		c := slackCall{method: method}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			_ = json.Unmarshal(raw, &c.body)
		} else {
			c.form, _ = url.ParseQuery(string(raw))
		}
		ss.calls <- c
		switch method {
		case "chat.postMessage":
			_, _ = io.WriteString(w, `{"ok":true,"channel":"D0DM","ts":"1700000000.000100"}`)
		case "chat.update":
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "users.info":
			m, ok := ss.members[c.form.Get("user")]
			if !ok {
				_, _ = io.WriteString(w, `{"ok":false,"error":"user_not_found"}`)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": m})
		default:
			_, _ = io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
		}
	}))
	t.Cleanup(api.Close)
	responses := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reply slack.Reply
		if err := json.NewDecoder(r.Body).Decode(&reply); err == nil {
			ss.replies <- reply
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(responses.Close)
	ss.api, ss.responses, ss.client = api.URL+"/api", responses.URL, responses.Client()
	return ss
}

// nextCall waits for the next call of method, skipping others.
func (ss *slackStandIn) nextCall(t *testing.T, method string) slackCall {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case c := <-ss.calls:
			if c.method == method {
				return c
			}
		case <-deadline:
			t.Fatalf("no %s reached the Slack stand-in within 30s", method)
		}
	}
}

func (ss *slackStandIn) nextReply(t *testing.T) slack.Reply {
	t.Helper()
	select {
	case r := <-ss.replies:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no reply reached the response_url within 30s")
		return slack.Reply{}
	}
}

// channelStack is a stack with every channel configured: email to the test
// Mailpit, Twilio and Slack to stand-ins.
type channelStack struct {
	*stack
	twilio *twilioStandIn
	slack  *slackStandIn
}

func newChannelStack(t *testing.T, configure ...func(sdkworker.Worker, *activities.Activities)) *channelStack {
	t.Helper()
	tw, sl := newTwilioStandIn(t), newSlackStandIn(t)
	host, port, err := net.SplitHostPort(testenv.MailpitSMTPAddr(t))
	require.NoError(t, err)
	smtpPort, err := strconv.Atoi(port)
	require.NoError(t, err)
	testenv.MailpitRootCAs(t) // fails the test early when the CA is missing
	s := newStackWith(t, func(cfg *config.Config) {
		n := &cfg.Notifications
		n.PublicURL = publicURL
		n.AckLinkSecret = linkSecret
		n.Email.SMTPHost, n.Email.SMTPPort, n.Email.TLS = host, smtpPort, "starttls"
		n.Email.From = "Incident Server <pager@incident-server.test>"
		n.Email.CAFile = testenv.MailpitCAFile(t)
		n.Twilio.AccountSID, n.Twilio.AuthToken, n.Twilio.FromNumber, n.Twilio.BaseURL = twilioSID, twilioToken, twilioFrom, tw.url
		n.Slack.BotToken, n.Slack.SigningSecret, n.Slack.BaseURL = slackBot, slackSecret, sl.api
	}, append([]func(sdkworker.Worker, *activities.Activities){func(_ sdkworker.Worker, acts *activities.Activities) {
		// The API shares this client: it answers interactions over TLS to
		// the stand-in's response_url, whose certificate it must trust.
		acts.Slack.HTTP = sl.client
	}}, configure...)...)
	return &channelStack{stack: s, twilio: tw, slack: sl}
}

// pagedBy creates a user with the given contact methods and a service whose
// one-step policy pages them, and returns the service and the user.
func pagedBy(t *testing.T, s *stack, methods ...map[string]string) (service string, user pagedUser) {
	t.Helper()
	suffix := randomID()
	r := do(t, http.MethodPost, s.url+"/api/v1/users", map[string]any{
		"name": "Pat", "email": "pat-" + suffix + "@example.com", "contact_methods": methods,
	})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	r.json(t, &user)
	policy := create(t, s.url, "/api/v1/escalation-policies", map[string]any{
		"name": "pat", "steps": []map[string]any{{"targets": []map[string]string{{"type": "user", "id": user.ID}}}},
	})
	service = "chan-" + suffix
	create(t, s.url, "/api/v1/services", map[string]any{"id": service, "escalation_policy_id": policy})
	return service, user
}

type pagedUser struct {
	ID             string `json:"id"`
	Email          string `json:"email"`
	ContactMethods []struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Address string `json:"address"`
	} `json:"contact_methods"`
}

// awaitStatus waits until the incident has status st in Postgres.
func awaitStatus(t *testing.T, s *stack, id string, st incident.Status) incident.Incident {
	t.Helper()
	var inc incident.Incident
	require.Eventually(t, func() bool {
		var err error
		inc, err = s.store.GetIncident(context.Background(), id)
		return err == nil && inc.Status == st
	}, 30*time.Second, 20*time.Millisecond, "incident %s becomes %s", id, st)
	return inc
}

// eventOf returns the incident's first timeline event of type typ.
func eventOf(t *testing.T, s *stack, id string, typ incident.EventType) (incident.Event, bool) {
	t.Helper()
	var tl timelineBody
	do(t, http.MethodGet, s.url+"/api/v1/incidents/"+id+"/timeline", nil).json(t, &tl)
	for _, ev := range tl.Events {
		if ev.Type == typ {
			return ev, true
		}
	}
	return incident.Event{}, false
}

// sendTwilio posts a webhook form to path (and query) as Twilio does,
// signed for the public URL with token.
func sendTwilio(t *testing.T, s *stack, pathAndQuery string, form url.Values, token string) response {
	t.Helper()
	return do(t, http.MethodPost, s.url+pathAndQuery, form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", "",
		twilio.SignatureHeader, twilio.Signature(token, publicURL+pathAndQuery, form))
}

func TestEmailPageArrivesAndItsLinkAcknowledgesOnce(t *testing.T) {
	t.Parallel()
	s := newChannelStack(t)
	to := testenv.MailRecipient(t)
	service, user := pagedBy(t, s.stack, map[string]string{"type": "email", "address": to})
	inc := openIncident(t, s.stack, service)

	m := testenv.AwaitMail(t, to)
	require.Equal(t, "[CRITICAL] "+service+": payments failing ("+inc.ID+")", m.Subject)
	require.Equal(t, to, m.To[0].Address)
	require.Equal(t, "pager@incident-server.test", m.From.Address)
	require.Contains(t, m.Text, publicURL+"/api/v1/incidents/"+inc.ID, "the incident link")
	require.Contains(t, m.Text, "Acknowledge with one click")
	link := regexp.MustCompile(regexp.QuoteMeta(publicURL+notify.AckPath) + `[A-Za-z0-9_-]+`).FindString(m.Text)
	require.NotEmpty(t, link, "the acknowledge link: %s", m.Text)
	ledger := s.ledger(t, inc.ID)
	require.Len(t, ledger, 1)
	require.Equal(t, "email", ledger[0].Channel)
	require.Equal(t, ledger[0].Key.DeliveryID()+"@incident-server", m.MessageID, "the Message-ID is the delivery")

	// A GET shows what the link does and changes nothing.
	path := strings.TrimPrefix(link, publicURL)
	page := do(t, http.MethodGet, s.url+path, nil, "Authorization", "")
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	require.Contains(t, page.header.Get("Content-Type"), "text/html")
	require.Contains(t, string(page.body), `<form method="post"`)
	require.Contains(t, string(page.body), inc.ID)
	require.Equal(t, incident.StatusOpen, awaitStatus(t, s.stack, inc.ID, incident.StatusOpen).Status)

	// A POST acknowledges, for the user paged, with the channel on the timeline.
	r := do(t, http.MethodPost, s.url+path, nil, "Authorization", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "Acknowledged "+inc.ID)
	acked := awaitStatus(t, s.stack, inc.ID, incident.StatusAcknowledged)
	require.Equal(t, user.ID, acked.AcknowledgedBy)
	ev, ok := eventOf(t, s.stack, inc.ID, incident.EventAcknowledged)
	require.True(t, ok)
	require.Equal(t, contract.InboundLink, ev.Data["channel"])

	// The link works once; a forged one not at all.
	r = do(t, http.MethodPost, s.url+path, nil, "Authorization", "")
	require.Equal(t, http.StatusGone, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "used already")
	r = do(t, http.MethodPost, s.url+path[:len(path)-2]+"AA", nil, "Authorization", "")
	require.Equal(t, http.StatusUnauthorized, r.status)

	metrics := string(do(t, http.MethodGet, s.url+"/metrics", nil).body)
	require.Contains(t, metrics, `notifications_sent_total{channel="email",result="sent"} 1`)
}

func TestSMSReplyFromThePagedNumberAcknowledges(t *testing.T) {
	t.Parallel()
	s := newChannelStack(t)
	const number = "+15558675310"
	service, user := pagedBy(t, s.stack, map[string]string{"type": "sms", "address": number})
	inc := openIncident(t, s.stack, service)

	sms := s.twilio.next(t)
	require.Equal(t, "Messages.json", sms.resource)
	require.Equal(t, number, sms.form.Get("To"))
	require.Contains(t, sms.form.Get("Body"), inc.ID)
	require.Regexp(t, `Reply 4 [0-9A-Z]{4} to acknowledge or 6 [0-9A-Z]{4} to resolve\.$`, sms.form.Get("Body"))
	ledger := s.ledger(t, inc.ID)
	require.Len(t, ledger, 1)
	require.Equal(t, ledger[0].Key.DeliveryID(), sms.idempotency, "the delivery travels in Twilio's idempotency header")

	reply := url.Values{"MessageSid": {"SM" + randomID()}, "AccountSid": {twilioSID}, "From": {number},
		"To": {twilioFrom}, "Body": {"4"}}
	// A forged signature, or one made for another URL, is refused and changes nothing.
	r := sendTwilio(t, s.stack, notify.SMSPath, reply, "not-the-auth-token")
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
	forged := do(t, http.MethodPost, s.url+notify.SMSPath, reply.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"Authorization", "", twilio.SignatureHeader, twilio.Signature(twilioToken, s.url+notify.SMSPath, reply))
	require.Equal(t, http.StatusUnauthorized, forged.status, "signed for the stack's own address, not the public URL")
	other := url.Values{}
	for k, v := range reply {
		other[k] = v
	}
	other.Set("AccountSid", "AC"+strings.Repeat("9", 32))
	r = sendTwilio(t, s.stack, notify.SMSPath, other, twilioToken)
	require.Equal(t, http.StatusUnauthorized, r.status, "another account's webhook")
	require.Equal(t, incident.StatusOpen, awaitStatus(t, s.stack, inc.ID, incident.StatusOpen).Status)

	// A reply from another number finds no page.
	stranger := url.Values{"MessageSid": {"SM" + randomID()}, "AccountSid": {twilioSID}, "From": {"+15558675399"},
		"To": {twilioFrom}, "Body": {"4"}}
	r = sendTwilio(t, s.stack, notify.SMSPath, stranger, twilioToken)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), "No page sent to this number")

	r = sendTwilio(t, s.stack, notify.SMSPath, reply, twilioToken)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, r.header.Get("Content-Type"), "text/xml")
	require.Contains(t, string(r.body), "<Message>Acknowledged "+inc.ID)
	acked := awaitStatus(t, s.stack, inc.ID, incident.StatusAcknowledged)
	require.Equal(t, user.ID, acked.AcknowledgedBy)
	ev, ok := eventOf(t, s.stack, inc.ID, incident.EventAcknowledged)
	require.True(t, ok)
	require.Equal(t, contract.InboundSMS, ev.Data["channel"])

	// Twilio retrying the same message gets the first answer back.
	r = sendTwilio(t, s.stack, notify.SMSPath, reply, twilioToken)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), "Acknowledged "+inc.ID)

	// "6" and the code resolves.
	code := regexp.MustCompile(`Reply 4 ([0-9A-Z]{4})`).FindStringSubmatch(sms.form.Get("Body"))[1]
	resolve := url.Values{"MessageSid": {"SM" + randomID()}, "AccountSid": {twilioSID}, "From": {number},
		"To": {twilioFrom}, "Body": {"resolve " + strings.ToLower(code)}}
	r = sendTwilio(t, s.stack, notify.SMSPath, resolve, twilioToken)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), "Resolved "+inc.ID)
	awaitStatus(t, s.stack, inc.ID, incident.StatusResolved)
}

func TestSlackButtonsActForTheMappedUserOnly(t *testing.T) {
	t.Parallel()
	s := newChannelStack(t)
	service, user := pagedBy(t, s.stack, map[string]string{"type": "slack", "address": "U0PAT"})
	inc := openIncident(t, s.stack, service)

	post := s.slack.nextCall(t, "chat.postMessage")
	require.Equal(t, "U0PAT", post.body["channel"], "a direct message to the linked member")
	meta := post.body["metadata"].(map[string]any)
	require.Equal(t, slack.MetadataEventType, meta["event_type"])
	ledger := s.ledger(t, inc.ID)
	require.Equal(t, ledger[0].Key.DeliveryID(), meta["event_payload"].(map[string]any)["delivery_id"])

	press := func(member, actionID string) []byte {
		payload, err := json.Marshal(map[string]any{
			"type": "block_actions", "user": map[string]string{"id": member}, "trigger_id": "trig-" + randomID(),
			"response_url": s.slack.responses + "/actions/" + randomID(),
			"container":    map[string]string{"type": "message", "channel_id": "D0DM", "message_ts": "1700000000.000100"},
			"actions":      []map[string]string{{"action_id": actionID, "value": inc.ID, "type": "button"}},
		})
		require.NoError(t, err)
		return []byte(url.Values{"payload": {string(payload)}}.Encode())
	}
	send := func(body []byte, ts time.Time, secret string) response {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		return do(t, http.MethodPost, s.url+notify.SlackPath, body, "Content-Type", "application/x-www-form-urlencoded",
			"Authorization", "", slack.TimestampHeader, stamp, slack.SignatureHeader, slack.Signature(secret, stamp, body))
	}

	// A bad signature and a stale one are 401 and change nothing.
	body := press("U0PAT", slack.ActionAcknowledge)
	r := send(body, time.Now(), "not-the-signing-secret")
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
	r = send(body, time.Now().Add(-6*time.Minute), slackSecret)
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
	require.Equal(t, incident.StatusOpen, awaitStatus(t, s.stack, inc.ID, incident.StatusOpen).Status)

	// A member linked to nobody, whose email is nobody's, is told so alone.
	s.slack.members["U0STRANGER"] = slack.User{ID: "U0STRANGER"}
	stranger := s.slack.members["U0STRANGER"]
	stranger.Profile.Email = "stranger@example.com"
	s.slack.members["U0STRANGER"] = stranger
	r = send(press("U0STRANGER", slack.ActionAcknowledge), time.Now(), slackSecret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	refusal := s.slack.nextReply(t)
	require.Equal(t, "ephemeral", refusal.ResponseType)
	require.Contains(t, refusal.Text, "not linked")
	require.Equal(t, incident.StatusOpen, awaitStatus(t, s.stack, inc.ID, incident.StatusOpen).Status)

	// The linked member acknowledges; the page loses its buttons.
	r = send(body, time.Now(), slackSecret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	acked := awaitStatus(t, s.stack, inc.ID, incident.StatusAcknowledged)
	require.Equal(t, user.ID, acked.AcknowledgedBy)
	ev, ok := eventOf(t, s.stack, inc.ID, incident.EventAcknowledged)
	require.True(t, ok)
	require.Equal(t, contract.InboundSlack, ev.Data["channel"])
	update := s.slack.nextCall(t, "chat.update")
	require.Equal(t, "D0DM", update.body["channel"])
	raw, _ := json.Marshal(update.body["blocks"])
	require.Contains(t, string(raw), "Acknowledged by Pat")
	require.NotContains(t, string(raw), slack.ActionAcknowledge, "no buttons left")

	// A member found by email resolves.
	colleague := slack.User{ID: "U0COLLEAGUE"}
	colleague.Profile.Email = strings.ToUpper(user.Email)
	s.slack.members["U0COLLEAGUE"] = colleague
	r = send(press("U0COLLEAGUE", slack.ActionResolve), time.Now(), slackSecret)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	awaitStatus(t, s.stack, inc.ID, incident.StatusResolved)
}

// A three-rule chain: push at once, SMS after 2 s, a call after a minute.
// The SMS is answered "4": the call is never placed. (The minute leaves a
// loaded machine all the time it needs to deliver the answer first.)
func TestRuleChainStopsWhenAnSMSReplyAcknowledges(t *testing.T) {
	t.Parallel()
	s := newChannelStack(t)
	const number = "+15558675311"
	service, user := pagedBy(t, s.stack,
		map[string]string{"type": "push", "platform": "ios", "token": "tok-" + randomID()},
		map[string]string{"type": "sms", "address": number},
		map[string]string{"type": "voice", "address": number})
	push, sms, voice := user.ContactMethods[0].ID, user.ContactMethods[1].ID, user.ContactMethods[2].ID
	r := do(t, http.MethodPut, s.url+"/api/v1/users/"+user.ID+"/notification-rules", map[string]any{
		"high": []map[string]any{
			{"contact_method_id": voice, "delay": "1m"},
			{"contact_method_id": push, "delay": "0s"},
			{"contact_method_id": sms, "delay": "2s"},
		},
	})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	inc := openIncident(t, s.stack, service)
	text := s.twilio.next(t)
	require.Equal(t, "Messages.json", text.resource, "the SMS comes before the call")
	ledger := s.ledger(t, inc.ID)
	require.Len(t, ledger, 2)
	require.Equal(t, "push", ledger[0].Channel)
	require.Equal(t, 1, ledger[0].Key.Rule)
	require.Equal(t, "sms", ledger[1].Channel)
	require.Equal(t, 2, ledger[1].Key.Rule)
	require.GreaterOrEqual(t, ledger[1].CreatedAt.Sub(inc.CreatedAt), 2*time.Second, "the SMS waits for its delay")

	reply := url.Values{"MessageSid": {"SM" + randomID()}, "AccountSid": {twilioSID}, "From": {number},
		"To": {twilioFrom}, "Body": {"4"}}
	r = sendTwilio(t, s.stack, notify.SMSPath, reply, twilioToken)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	awaitStatus(t, s.stack, inc.ID, incident.StatusAcknowledged)

	// The call's timer is cancelled: no timer is left that could place it.
	callDue := inc.CreatedAt.Add(time.Minute)
	require.Eventually(t, func() bool {
		for _, fire := range s.pendingTimers(t, inc.WorkflowID) {
			if fire.Before(callDue.Add(time.Minute)) {
				return false
			}
		}
		_, stopped := eventOf(t, s.stack, inc.ID, incident.EventRulesStopped)
		return stopped
	}, 30*time.Second, 20*time.Millisecond, "no rule timer left after the acknowledgement")
	desc, err := s.temporal.DescribeWorkflowExecution(context.Background(), inc.WorkflowID, "")
	require.NoError(t, err)
	require.Empty(t, desc.GetPendingActivities())
	require.Zero(t, s.twilio.count("Calls.json"), "the call was never placed")
	stopped, _ := eventOf(t, s.stack, inc.ID, incident.EventRulesStopped)
	require.Equal(t, "acknowledged", stopped.Data["reason"])
	require.Len(t, s.ledger(t, inc.ID), 2)

	r = do(t, http.MethodPost, s.url+"/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var final incident.Incident
	require.NoError(t, s.temporal.GetWorkflow(context.Background(), inc.WorkflowID, "").Get(context.Background(), &final))
	replayAndRecord(t, s.stack, inc.WorkflowID, "incident_rules_v1.json")
}

// A voice page is answered by pressing 4: Twilio posts the keypress to the
// URL in the call's TwiML.
func TestVoiceKeypressAcknowledges(t *testing.T) {
	t.Parallel()
	s := newChannelStack(t)
	const number = "+15558675312"
	service, user := pagedBy(t, s.stack, map[string]string{"type": "voice", "address": number})
	inc := openIncident(t, s.stack, service)

	call := s.twilio.next(t)
	require.Equal(t, "Calls.json", call.resource)
	require.Equal(t, number, call.form.Get("To"))
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(call.form.Get("Twiml"))
	require.Len(t, action, 2, "%s", call.form.Get("Twiml"))
	keypress := strings.ReplaceAll(action[1], "&amp;", "&")
	require.True(t, strings.HasPrefix(keypress, publicURL+notify.KeypressPath+"?token="), keypress)
	path := strings.TrimPrefix(keypress, publicURL)

	press := url.Values{"CallSid": {"CA" + randomID()}, "AccountSid": {twilioSID}, "From": {twilioFrom}, "To": {number}, "Digits": {"4"}}
	r := sendTwilio(t, s.stack, notify.KeypressPath+"?token=forged", press, twilioToken)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), "can no longer be answered", "a token that is not ours acts on nothing")
	r = sendTwilio(t, s.stack, path, press, twilioToken)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "<Say>Acknowledged "+inc.ID)
	acked := awaitStatus(t, s.stack, inc.ID, incident.StatusAcknowledged)
	require.Equal(t, user.ID, acked.AcknowledgedBy)
	ev, _ := eventOf(t, s.stack, inc.ID, incident.EventAcknowledged)
	require.Equal(t, contract.InboundVoice, ev.Data["channel"])
}

// The worker's reply after a rule's SMS is lost, so Temporal runs the step
// again: the ledger keeps the retry from texting a second time.
func TestRetriedRuleStepTextsOnce(t *testing.T) {
	t.Parallel()
	var lost atomic.Int32
	s := newChannelStack(t, func(w sdkworker.Worker, acts *activities.Activities) {
		w.RegisterActivityWithOptions(func(ctx context.Context, in contract.NotifyInput) (contract.Delivery, error) {
			d, err := acts.NotifyContact(ctx, in)
			if err == nil && activity.GetInfo(ctx).Attempt == 1 {
				lost.Add(1)
				return d, errors.New("reply lost on the way back to Temporal")
			}
			return d, err
		}, activity.RegisterOptions{Name: contract.ActivityNotifyContact, DisableAlreadyRegisteredCheck: true})
	})
	const number = "+15558675313"
	service, user := pagedBy(t, s.stack, map[string]string{"type": "sms", "address": number})
	r := do(t, http.MethodPut, s.url+"/api/v1/users/"+user.ID+"/notification-rules", map[string]any{
		"high": []map[string]any{{"contact_method_id": user.ContactMethods[0].ID, "delay": "1s"}},
	})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	inc := openIncident(t, s.stack, service)
	s.twilio.next(t)
	require.Eventually(t, func() bool {
		ns := s.ledger(t, inc.ID)
		return len(ns) == 1 && ns[0].Attempts == 2
	}, 30*time.Second, 20*time.Millisecond, "the retry claimed the step a second time")
	require.Eventually(t, func() bool {
		_, ok := eventOf(t, s.stack, inc.ID, incident.EventNotified)
		return ok
	}, 30*time.Second, 20*time.Millisecond, "the outcome reaches the timeline")
	require.Equal(t, int32(1), lost.Load())
	require.Equal(t, 1, s.twilio.count("Messages.json"), "Twilio received one SMS")
	ns := s.ledger(t, inc.ID)
	require.Equal(t, store.NotificationSent, ns[0].Status)
	require.Equal(t, 1, ns[0].Key.Rule)
}

func TestNotificationRulesAPI(t *testing.T) {
	t.Parallel()
	s := newChannelStack(t)
	_, user := pagedBy(t, s.stack, map[string]string{"type": "email", "address": "rules-" + randomID() + "@example.com"},
		map[string]string{"type": "slack", "address": "U0RULES"})
	base := s.url + "/api/v1/users/" + user.ID + "/notification-rules"

	var got struct {
		UserID string `json:"user_id"`
		High   []struct {
			ContactMethodID string `json:"contact_method_id"`
			Delay           string `json:"delay"`
		} `json:"high"`
		Low []any `json:"low"`
	}
	r := do(t, http.MethodGet, base, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(t, &got)
	require.Empty(t, got.High, "no rules: every method at once")

	body := map[string]any{"high": []map[string]any{
		{"contact_method_id": user.ContactMethods[1].ID, "delay": "5m"},
		{"contact_method_id": user.ContactMethods[0].ID, "delay": 0},
	}}
	r = do(t, http.MethodPut, base, body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = do(t, http.MethodGet, base, nil)
	r.json(t, &got)
	require.Equal(t, user.ID, got.UserID)
	require.Len(t, got.High, 2)
	require.Equal(t, user.ContactMethods[0].ID, got.High[0].ContactMethodID, "ordered by delay")
	require.Equal(t, "5m0s", got.High[1].Delay)
	// What GET answers may be sent back as it is.
	r = do(t, http.MethodPut, base, r.body)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	for _, bad := range []map[string]any{
		{"high": []map[string]any{{"contact_method_id": "cm_someone_elses"}}},
		{"high": []map[string]any{{"contact_method_id": user.ContactMethods[0].ID, "delay": "-1m"}}},
		{"user_id": "usr_other"},
		{"urgent": []any{}},
	} {
		r = doRaw(t, http.MethodPut, base, bad)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", bad, r.body)
	}
	r = do(t, http.MethodPut, s.url+"/api/v1/users/usr_nobody/notification-rules", map[string]any{})
	require.Equal(t, http.StatusNotFound, r.status)
	r = do(t, http.MethodPut, base, map[string]any{}, "Authorization", "Bearer "+testenv.Token(t, auth.Responder))
	require.Equal(t, http.StatusForbidden, r.status, "rules are configuration: admins write them")
}

// A channel the server has not configured refuses its contact methods when
// they are added, with a 400 that names the setting, rather than failing
// each page.
func TestUnconfiguredChannelsRefuseTheirContactMethods(t *testing.T) {
	t.Parallel()
	s := newStack(t) // no notifications.* configured
	for typ, address := range map[string]string{"email": "a@example.com", "sms": "+15558675310", "voice": "+15558675310", "slack": "U0ABC"} {
		r := do(t, http.MethodPost, s.url+"/api/v1/users", map[string]any{
			"name": "Nobody", "email": "nobody-" + randomID() + "@example.com",
			"contact_methods": []map[string]string{{"type": typ, "address": address}},
		})
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", typ, r.body)
		require.Contains(t, string(r.body), "contact_methods[0].type")
		require.Contains(t, string(r.body), "is not configured on this server")
	}
	// The inbound routes of unconfigured channels are not there.
	r := doRaw(t, http.MethodPost, s.url+notify.SMSPath, "a=b", "Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, http.StatusNotFound, r.status)
	r = doRaw(t, http.MethodPost, s.url+notify.SlackPath, "a=b", "Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, http.StatusNotFound, r.status)
	r = do(t, http.MethodGet, s.url+notify.AckPath+"anything", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "no link is valid without a link secret")
}
