package twilio_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/twilio"
	"github.com/incident-server/incident-server/internal/push"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "auth-token-of-the-test-account"
	fromNumber = "+15005550006"
)

// request is what the stand-in received, decoded as Twilio decodes it.
type request struct {
	Method, Path, ContentType, Accept, Idempotency string
	User, Password                                 string
	BasicAuth                                      bool
	RawBody                                        string
	Form                                           url.Values
}

// standIn is a stand-in for Twilio's REST API: it records every request
// and answers with status and body.
func standIn(t *testing.T, status int, body string) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(raw))
		require.NoError(t, err)
		user, pass, ok := r.BasicAuth()
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"),
			r.Header.Get(twilio.IdempotencyHeader), user, pass, ok, string(raw), form})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

func client(base string) *twilio.Client {
	return &twilio.Client{AccountSID: accountSID, AuthToken: authToken, From: fromNumber, BaseURL: base}
}

// messageCreated is the shape of Twilio's 201 answer to a Message create
// (abridged from the Message resource reference).
const messageCreated = `{"account_sid":"AC0123456789abcdef0123456789abcdef","api_version":"2010-04-01",
"body":"page","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api",
"error_code":null,"error_message":null,"from":"+15005550006","num_segments":"1",
"sid":"SM3f3a1b2c4d5e6f708192a3b4c5d6e7f8","status":"queued","to":"+15558675310",
"uri":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM3f3a1b2c4d5e6f708192a3b4c5d6e7f8.json"}`

func TestSendSMSPostsTheDocumentedForm(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, http.StatusCreated, messageCreated)
	body := "[CRITICAL] checkout: p99 above 2s (inc_42)\nReply 4 K3M9 to acknowledge or 6 K3M9 to resolve. ünïcode & more"
	res, err := client(srv.URL).SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: body,
		StatusCallback: "https://pager.example.com/api/v1/inbound/twilio/status", IdempotencyKey: "inc_42/0/1#1/u_alice/cm_sms"})
	require.NoError(t, err)
	require.Equal(t, twilio.Resource{SID: "SM3f3a1b2c4d5e6f708192a3b4c5d6e7f8", Status: "queued"}, res)

	reqs := got()
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/2010-04-01/Accounts/"+accountSID+"/Messages.json", r.Path)
	require.True(t, r.BasicAuth, "HTTP basic auth")
	require.Equal(t, accountSID, r.User)
	require.Equal(t, authToken, r.Password)
	require.Equal(t, "application/x-www-form-urlencoded", r.ContentType)
	require.Equal(t, "application/json", r.Accept)
	require.Equal(t, "inc_42/0/1#1/u_alice/cm_sms", r.Idempotency)
	require.Equal(t, url.Values{
		"To":             {"+15558675310"},
		"From":           {fromNumber},
		"Body":           {body},
		"StatusCallback": {"https://pager.example.com/api/v1/inbound/twilio/status"},
	}, r.Form)
	// Form encoding proper: a plus is %2B (a bare + would be a space) and
	// line breaks survive.
	require.Contains(t, r.RawBody, "To=%2B15558675310")
	require.Contains(t, r.RawBody, "%0AReply+4")
}

func TestSendSMSLeavesOutAnEmptyStatusCallback(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, http.StatusCreated, messageCreated)
	_, err := client(srv.URL+"/").SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
	require.NoError(t, err)
	r := got()[0]
	require.Equal(t, "/2010-04-01/Accounts/"+accountSID+"/Messages.json", r.Path, "a trailing slash on the base URL is fine")
	require.Equal(t, url.Values{"To": {"+15558675310"}, "From": {fromNumber}, "Body": {"x"}}, r.Form)
	require.Empty(t, r.Idempotency)
}

func TestCallPostsInlineTwiML(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, http.StatusCreated, `{"sid":"CA0123456789abcdef0123456789abcdef","status":"queued"}`)
	twiml := twilio.PageTwiML(notify.Page{IncidentID: "inc_42", Title: "p99 above 2s", Service: "checkout", Severity: "critical"},
		"https://pager.example.com/api/v1/inbound/twilio/voice/keypress?token=abc&x=1")
	res, err := client(srv.URL).Call(t.Context(), twilio.VoiceCall{To: "+15558675310", TwiML: twiml,
		StatusCallback: "https://pager.example.com/api/v1/inbound/twilio/call-status", IdempotencyKey: "inc_42/0/1#1/u_alice/cm_voice"})
	require.NoError(t, err)
	require.Equal(t, "CA0123456789abcdef0123456789abcdef", res.SID)

	r := got()[0]
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/2010-04-01/Accounts/"+accountSID+"/Calls.json", r.Path)
	require.Equal(t, accountSID, r.User)
	require.Equal(t, authToken, r.Password)
	require.Equal(t, "application/x-www-form-urlencoded", r.ContentType)
	require.Equal(t, "inc_42/0/1#1/u_alice/cm_voice", r.Idempotency)
	require.Equal(t, url.Values{
		"To":             {"+15558675310"},
		"From":           {fromNumber},
		"Twiml":          {twiml},
		"StatusCallback": {"https://pager.example.com/api/v1/inbound/twilio/call-status"},
	}, r.Form)
}

func TestCallWithURL(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, http.StatusCreated, `{"sid":"CA1","status":"queued"}`)
	_, err := client(srv.URL).Call(t.Context(), twilio.VoiceCall{To: "+15558675310", URL: "https://pager.example.com/twiml/page?token=t"})
	require.NoError(t, err)
	require.Equal(t, url.Values{"To": {"+15558675310"}, "From": {fromNumber}, "Url": {"https://pager.example.com/twiml/page?token=t"}}, got()[0].Form)
}

func requirePushError(t *testing.T, err error, status int, permanent bool) *push.Error {
	t.Helper()
	var pe *push.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, status, pe.Status, "status in %v", err)
	require.Equal(t, permanent, pe.Permanent, "permanent in %v", err)
	require.Equal(t, permanent, push.IsPermanent(err))
	return pe
}

func TestErrorAnswersAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		permanent bool
		code      int
		message   string
	}{
		{"invalid number", 400, `{"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`, true, 21211, "The 'To' number +1555 is not a valid phone number."},
		{"unsubscribed recipient", 400, `{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}`, true, 21610, "Attempt to send to unsubscribed recipient"},
		{"bad credentials", 401, `{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`, true, 20003, "Authenticate"},
		{"not found", 404, `{"code": 20404, "message": "The requested resource was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}`, true, 20404, ""},
		{"too many requests", 429, `{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}`, false, 20429, "Too Many Requests"},
		{"server error", 500, `{"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}`, false, 20500, ""},
		{"gateway, not json", 503, `<html>Service Unavailable</html>`, false, 0, "<html>Service Unavailable</html>"},
		{"request timeout", 408, ``, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := standIn(t, tc.status, tc.body)
			_, err := client(srv.URL).SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
			requirePushError(t, err, tc.status, tc.permanent)
			var apiErr *twilio.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tc.status, apiErr.Status)
			require.Equal(t, tc.code, apiErr.Code)
			if tc.message != "" {
				require.Equal(t, tc.message, apiErr.Message)
			}
			if tc.code != 0 {
				require.Equal(t, "https://www.twilio.com/docs/errors/"+strconv.Itoa(tc.code), apiErr.MoreInfo)
			}
		})
	}
}

func TestAnswerThatIsNotAResourceIsPermanent(t *testing.T) {
	t.Parallel()
	// Twilio took the request: sending it again could page twice.
	for _, body := range []string{`not json`, `{"status":"queued"}`} {
		srv, _ := standIn(t, http.StatusCreated, body)
		_, err := client(srv.URL).SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
		requirePushError(t, err, http.StatusCreated, true)
	}
}

func TestRedirectsAreNotFollowedEvenByTheCallersClient(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, `{"sid":"SM1"}`)
	}))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	c := client(redirector.URL)
	c.HTTP = &http.Client{Timeout: 5 * time.Second} // follows redirects by default
	_, err := c.SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
	requirePushError(t, err, http.StatusFound, true)
	require.Zero(t, hits.Load())
}

// countingTransport counts the requests a caller's client carried.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestTheCallersHTTPClientCarriesTheRequests(t *testing.T) {
	t.Parallel()
	srv, _ := standIn(t, http.StatusCreated, messageCreated)
	tr := &countingTransport{}
	c := client(srv.URL)
	c.HTTP = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	_, err := c.SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
	require.NoError(t, err)
	require.EqualValues(t, 1, tr.n.Load())
}

func TestTimeoutsAndRefusedConnectionsAreTransient(t *testing.T) {
	t.Parallel()
	blocking := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(blocking.Close)
	c := client(blocking.URL)
	c.HTTP = &http.Client{Timeout: 100 * time.Millisecond}
	_, err := c.SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
	requirePushError(t, err, 0, false)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = client(blocking.URL).SendSMS(ctx, twilio.SMS{To: "+15558675310", Body: "x"})
	requirePushError(t, err, 0, false)
	require.ErrorIs(t, err, context.Canceled)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	_, err = client(closed).Call(t.Context(), twilio.VoiceCall{To: "+15558675310", URL: "https://x.example/t"})
	requirePushError(t, err, 0, false)
}

func TestRequestsThatCannotBeValidAreRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	srv, got := standIn(t, http.StatusCreated, messageCreated)
	c := client(srv.URL)
	for name, send := range map[string]func() error{
		"local number": func() error { _, err := c.SendSMS(t.Context(), twilio.SMS{To: "5558675310", Body: "x"}); return err },
		"letters":      func() error { _, err := c.SendSMS(t.Context(), twilio.SMS{To: "+1555CALLNOW", Body: "x"}); return err },
		"empty body":   func() error { _, err := c.SendSMS(t.Context(), twilio.SMS{To: "+15558675310"}); return err },
		"long body": func() error {
			_, err := c.SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: strings.Repeat("é", 1601)})
			return err
		},
		"no twiml nor url": func() error { _, err := c.Call(t.Context(), twilio.VoiceCall{To: "+15558675310"}); return err },
		"both twiml and url": func() error {
			_, err := c.Call(t.Context(), twilio.VoiceCall{To: "+15558675310", TwiML: "<Response/>", URL: "https://x.example"})
			return err
		},
		"long twiml": func() error {
			_, err := c.Call(t.Context(), twilio.VoiceCall{To: "+15558675310", TwiML: strings.Repeat("x", 4001)})
			return err
		},
		"no account": func() error {
			_, err := (&twilio.Client{AuthToken: authToken, From: fromNumber, BaseURL: srv.URL}).SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
			return err
		},
		"relative base url": func() error {
			_, err := client("/twilio").SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: "x"})
			return err
		},
	} {
		err := send()
		require.Error(t, err, name)
		require.True(t, push.IsPermanent(err), "%s: %v", name, err)
	}
	require.Empty(t, got())

	// At the limit is fine.
	_, err := c.SendSMS(t.Context(), twilio.SMS{To: "+15558675310", Body: strings.Repeat("é", 1600)})
	require.NoError(t, err)
}

func TestValidNumber(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"+15558675310", "+442071838750", "+861012345678901"[:16]} {
		require.True(t, twilio.ValidNumber(n), n)
	}
	for _, n := range []string{"", "+", "15558675310", "+0155586", "+1 555 867 5310", "+1555867531012345", "whatsapp:+15558675310"} {
		require.False(t, twilio.ValidNumber(n), n)
	}
}

func TestAPIErrorMessage(t *testing.T) {
	t.Parallel()
	e := &twilio.APIError{Status: 400, Code: 21211, Message: "invalid To", MoreInfo: "https://www.twilio.com/docs/errors/21211"}
	require.Equal(t, "twilio error 21211: invalid To (https://www.twilio.com/docs/errors/21211)", e.Error())
	require.True(t, errors.As(&push.Error{Op: "x", Err: e}, new(*twilio.APIError)))
}
