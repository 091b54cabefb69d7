package twilio_test

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/ackcode"
	"github.com/incident-server/incident-server/internal/notify/twilio"
)

// Test vectors published by Twilio: auth token 12345, a <Gather> posting to
// https://mycompany.com/myapp.php?foo=1&bar=2.
var docVectors = []struct {
	source, url string
	form        url.Values
	signature   string
}{
	{
		source: "twilio-php's request validation guide (docs/usage/validation)",
		url:    "https://mycompany.com/myapp.php?foo=1&bar=2",
		form: url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
			"From": {"+14158675309"}, "To": {"+18005551212"}},
		signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
	},
	{
		source: "Twilio's webhook security page (docs/usage/security), its validation example",
		url:    "https://mycompany.com/myapp.php?foo=1&bar=2",
		form: url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
			"From": {"+12349013030"}, "To": {"+18005551212"}},
		signature: "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
	},
}

func TestValidateSignatureMatchesTwiliosPublishedVectors(t *testing.T) {
	t.Parallel()
	for _, v := range docVectors {
		require.True(t, twilio.ValidateSignature("12345", v.url, v.form, v.signature), v.source)
		require.Equal(t, v.signature, twilio.Signature("12345", v.url, v.form), v.source)
	}
}

func TestForgedOrAlteredRequestsAreRefused(t *testing.T) {
	t.Parallel()
	v := docVectors[0]
	require.False(t, twilio.ValidateSignature("54321", v.url, v.form, v.signature), "another account's token")
	require.False(t, twilio.ValidateSignature("", v.url, v.form, v.signature), "no token")
	require.False(t, twilio.ValidateSignature("12345", v.url, v.form, ""), "no signature")
	require.False(t, twilio.ValidateSignature("12345", v.url, v.form, "not base64!"), "garbage")
	require.False(t, twilio.ValidateSignature("12345", v.url, v.form, "RSOYDt4T1cUTdK1PDd93/VVr8B8"), "unpadded")
	require.False(t, twilio.ValidateSignature("12345", v.url, v.form, "RSOYDt4T1cUTdK1\r\nPDd93/VVr8B8="), "line break")
	require.False(t, twilio.ValidateSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", v.form, v.signature), "another query")
	require.False(t, twilio.ValidateSignature("12345", "http://mycompany.com/myapp.php?foo=1&bar=2", v.form, v.signature), "another scheme")
	require.False(t, twilio.ValidateSignature("12345", "https://evil.example/myapp.php?foo=1&bar=2", v.form, v.signature), "another host")

	for name, change := range map[string]func(url.Values){
		"digit changed":   func(f url.Values) { f.Set("Digits", "4") },
		"field added":     func(f url.Values) { f.Set("Body", "4") },
		"field removed":   func(f url.Values) { f.Del("Caller") },
		"value repeated":  func(f url.Values) { f.Add("Digits", "1234") },
		"sender replaced": func(f url.Values) { f.Set("From", "+19995551234") },
	} {
		f := url.Values{}
		for k, vs := range v.form {
			f[k] = append([]string(nil), vs...)
		}
		change(f)
		require.False(t, twilio.ValidateSignature("12345", v.url, f, v.signature), name)
	}
}

func TestValidateSignatureToleratesTheDefaultPort(t *testing.T) {
	t.Parallel()
	form := url.Values{"From": {"+15558675310"}, "Body": {"4"}}
	sigWithout := twilio.Signature(authToken, "https://pager.example.com/api/v1/inbound/twilio/sms", form)
	sigWith := twilio.Signature(authToken, "https://pager.example.com:443/api/v1/inbound/twilio/sms", form)
	require.True(t, twilio.ValidateSignature(authToken, "https://pager.example.com:443/api/v1/inbound/twilio/sms", form, sigWithout))
	require.True(t, twilio.ValidateSignature(authToken, "https://pager.example.com/api/v1/inbound/twilio/sms", form, sigWith))
	// Another port is another URL.
	require.False(t, twilio.ValidateSignature(authToken, "https://pager.example.com:8443/api/v1/inbound/twilio/sms", form, sigWithout))
	httpSig := twilio.Signature(authToken, "http://[::1]/sms", form)
	require.True(t, twilio.ValidateSignature(authToken, "http://[::1]:80/sms", form, httpSig))
}

func TestSignatureSortsByNameAndKeepsRepeatedValuesInOrder(t *testing.T) {
	t.Parallel()
	// The signed string is the URL, then each name and value, names in byte
	// order (upper case before lower case), checked against HMAC-SHA1 from
	// the documentation's recipe computed by hand.
	form := url.Values{"b": {"2"}, "B": {"1"}, "a": {"y", "x"}}
	require.Equal(t, twilio.Signature("k", "https://h/p", form),
		twilio.Signature("k", "https://h/pB1ayaxb2", url.Values{}))
}

func signedRequest(t *testing.T, target string, form url.Values) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set(twilio.SignatureHeader, twilio.Signature(authToken, target, form))
	return r
}

func TestInboundSMSReplyIsReadVerifiedAndDecoded(t *testing.T) {
	t.Parallel()
	// The fields Twilio's messaging webhook posts for an incoming SMS.
	form := url.Values{
		"ToCountry": {"US"}, "ToState": {"CA"}, "SmsMessageSid": {"SM5a0e1b2c3d4e5f60718293a4b5c6d7e8"},
		"NumMedia": {"0"}, "ToCity": {"SAN FRANCISCO"}, "FromZip": {"94103"},
		"SmsSid": {"SM5a0e1b2c3d4e5f60718293a4b5c6d7e8"}, "FromState": {"CA"}, "SmsStatus": {"received"},
		"FromCity": {"SAN FRANCISCO"}, "Body": {"4 k3m9"}, "FromCountry": {"US"}, "To": {fromNumber},
		"ToZip": {"94105"}, "NumSegments": {"1"}, "MessageSid": {"SM5a0e1b2c3d4e5f60718293a4b5c6d7e8"},
		"AccountSid": {accountSID}, "From": {"+15558675310"}, "ApiVersion": {"2010-04-01"},
	}
	target := "https://pager.example.com/api/v1/inbound/twilio/sms"
	r := signedRequest(t, target, form)

	got, err := twilio.ReadForm(r)
	require.NoError(t, err)
	require.True(t, twilio.ValidateSignature(authToken, target, got, r.Header.Get(twilio.SignatureHeader)))
	sms, err := twilio.ParseSMS(got)
	require.NoError(t, err)
	require.Equal(t, twilio.InboundSMS{MessageSID: "SM5a0e1b2c3d4e5f60718293a4b5c6d7e8", AccountSID: accountSID,
		From: "+15558675310", To: fromNumber, Body: "4 k3m9"}, sms)
	reply, err := ackcode.ParseReply(sms.Body)
	require.NoError(t, err)
	require.Equal(t, ackcode.Reply{Action: ackcode.Acknowledge, Code: "k3m9"}, reply)

	// A forged request (signed with another token) decodes the same but
	// does not validate.
	forged := signedRequest(t, target, form)
	forged.Header.Set(twilio.SignatureHeader, twilio.Signature("not-the-auth-token", target, form))
	ff, err := twilio.ReadForm(forged)
	require.NoError(t, err)
	require.False(t, twilio.ValidateSignature(authToken, target, ff, forged.Header.Get(twilio.SignatureHeader)))
}

func TestKeypressIsDecoded(t *testing.T) {
	t.Parallel()
	form := url.Values{"AccountSid": {accountSID}, "CallSid": {"CA0123456789abcdef0123456789abcdef"}, "CallStatus": {"in-progress"},
		"Direction": {"outbound-api"}, "From": {fromNumber}, "To": {"+15558675310"}, "Digits": {"4"}, "FinishedOnKey": {""}}
	k, err := twilio.ParseKeypress(form)
	require.NoError(t, err)
	require.Equal(t, twilio.Keypress{CallSID: "CA0123456789abcdef0123456789abcdef", AccountSID: accountSID,
		From: fromNumber, To: "+15558675310", Digits: "4"}, k)
	reply, err := ackcode.ParseReply(k.Digits)
	require.NoError(t, err)
	require.Equal(t, ackcode.Acknowledge, reply.Action)

	form.Del("Digits") // the Gather timed out
	k, err = twilio.ParseKeypress(form)
	require.NoError(t, err)
	require.Empty(t, k.Digits)
}

func TestMalformedWebhooksAreRefused(t *testing.T) {
	t.Parallel()
	sms := url.Values{"MessageSid": {"SM1"}, "AccountSid": {accountSID}, "From": {"+15558675310"}, "To": {fromNumber}, "Body": {"4"}}
	for name, change := range map[string]func(url.Values){
		"no MessageSid":   func(f url.Values) { f.Del("MessageSid") },
		"empty From":      func(f url.Values) { f.Set("From", "") },
		"repeated From":   func(f url.Values) { f.Add("From", "+15550000000") },
		"repeated Body":   func(f url.Values) { f.Add("Body", "6") },
		"body not UTF-8":  func(f url.Values) { f.Set("Body", "\xff") },
		"no To":           func(f url.Values) { f.Del("To") },
		"no AccountSid":   func(f url.Values) { f.Del("AccountSid") },
		"sender not UTF8": func(f url.Values) { f.Set("From", "\xc3") },
	} {
		f := url.Values{}
		for k, vs := range sms {
			f[k] = append([]string(nil), vs...)
		}
		change(f)
		_, err := twilio.ParseSMS(f)
		require.ErrorIs(t, err, twilio.ErrMalformed, name)
	}
	_, err := twilio.ParseKeypress(url.Values{"CallSid": {"CA1"}, "From": {"+1"}, "To": {"+2"}})
	require.ErrorIs(t, err, twilio.ErrMalformed, "no AccountSid")

	for name, r := range map[string]*http.Request{
		"GET":          httptest.NewRequest(http.MethodGet, "/sms?Body=4", nil),
		"JSON":         withType(httptest.NewRequest(http.MethodPost, "/sms", strings.NewReader(`{"Body":"4"}`)), "application/json"),
		"no type":      httptest.NewRequest(http.MethodPost, "/sms", strings.NewReader("Body=4")),
		"bad escape":   withType(httptest.NewRequest(http.MethodPost, "/sms", strings.NewReader("Body=%zz&From=%2B1")), "application/x-www-form-urlencoded"),
		"body too big": withType(httptest.NewRequest(http.MethodPost, "/sms", strings.NewReader("Body="+strings.Repeat("a", twilio.MaxWebhookBody))), "application/x-www-form-urlencoded"),
	} {
		_, err := twilio.ReadForm(r)
		require.ErrorIs(t, err, twilio.ErrMalformed, name)
	}
	ok := withType(httptest.NewRequest(http.MethodPost, "/sms", strings.NewReader("Body=4")), "application/x-www-form-urlencoded; charset=utf-8")
	_, err = twilio.ReadForm(ok)
	require.NoError(t, err, "a charset parameter is fine")
}

func withType(r *http.Request, ct string) *http.Request {
	r.Header.Set("Content-Type", ct)
	return r
}

func TestPageSMSCarriesTheSummaryLinkAndInstructions(t *testing.T) {
	t.Parallel()
	p := notify.Page{IncidentID: "inc_42", Title: "p99 above 2s", Service: "checkout", Severity: "critical",
		IncidentURL: "https://pager.example.com/incidents/inc_42"}
	require.Equal(t, "[CRITICAL] checkout: p99 above 2s (inc_42)\nhttps://pager.example.com/incidents/inc_42\nReply 4 K3M9 to acknowledge or 6 K3M9 to resolve.",
		twilio.PageSMS(p, "k3m9"))

	// A title that would not fit is shortened; the instructions stay whole.
	p.Title = strings.Repeat("very long title ", 200)
	s := twilio.PageSMS(p, "k3m9")
	require.LessOrEqual(t, len([]rune(s)), twilio.MaxBodyLen)
	require.True(t, strings.HasSuffix(s, "Reply 4 K3M9 to acknowledge or 6 K3M9 to resolve."))
	require.Contains(t, s, "…\nhttps://pager.example.com/incidents/inc_42\n")

	// A line break in the title cannot push the instructions around.
	p.Title = "line one\nReply 6 AAAA to resolve"
	require.Equal(t, 3, strings.Count(twilio.PageSMS(p, "k3m9"), "\n")+1)
}

// twiml is the subset of TwiML a page uses, for reading PageTwiML back.
type twiml struct {
	XMLName xml.Name `xml:"Response"`
	Gather  struct {
		NumDigits string `xml:"numDigits,attr"`
		Action    string `xml:"action,attr"`
		Method    string `xml:"method,attr"`
		Say       struct {
			Loop string `xml:"loop,attr"`
			Text string `xml:",chardata"`
		} `xml:"Say"`
	} `xml:"Gather"`
	Say    string    `xml:"Say"`
	Hangup *struct{} `xml:"Hangup"`
	Msg    string    `xml:"Message"`
}

func TestPageTwiMLAsksForOneKeyAndEscapes(t *testing.T) {
	t.Parallel()
	action := "https://pager.example.com/api/v1/inbound/twilio/voice/keypress?token=abc-_&call=1"
	doc := twilio.PageTwiML(notify.Page{Title: `p99 > 2s & "rising" <fast>`, Service: "checkout", Severity: "critical"}, action)
	require.True(t, strings.HasPrefix(doc, `<?xml version="1.0" encoding="UTF-8"?>`))
	require.Contains(t, doc, "token=abc-_&amp;call=1", "the ampersand is escaped in the attribute")
	require.NotContains(t, doc, "<fast>")

	var got twiml
	require.NoError(t, xml.Unmarshal([]byte(doc), &got))
	require.Equal(t, "1", got.Gather.NumDigits)
	require.Equal(t, "POST", got.Gather.Method)
	require.Equal(t, action, got.Gather.Action)
	require.Equal(t, "2", got.Gather.Say.Loop)
	require.Equal(t, `This is incident server. critical incident on checkout: p99 > 2s & "rising" <fast>. Press 4 to acknowledge, or 6 to resolve.`, got.Gather.Say.Text)
	require.Equal(t, "No key was pressed. Goodbye.", got.Say)

	long := twilio.PageTwiML(notify.Page{Title: strings.Repeat("x", 5000)}, action)
	require.Less(t, len([]rune(long)), twilio.MaxTwiMLLen)
}

func TestReplyTwiML(t *testing.T) {
	t.Parallel()
	var got twiml
	require.NoError(t, xml.Unmarshal([]byte(twilio.SayTwiML("Acknowledged <inc_42>. Goodbye.")), &got))
	require.Equal(t, "Acknowledged <inc_42>. Goodbye.", got.Say)
	require.NotNil(t, got.Hangup)

	got = twiml{}
	require.NoError(t, xml.Unmarshal([]byte(twilio.MessageTwiML("Acknowledged inc_42 & co.")), &got))
	require.Equal(t, "Acknowledged inc_42 & co.", got.Msg)
	require.NoError(t, xml.Unmarshal([]byte(twilio.EmptyTwiML), new(twiml)))
}

// FuzzInboundWebhook decodes arbitrary bodies as the SMS and keypress
// handlers would: DecodeForm, ValidateSignature, ParseSMS, ParseKeypress
// never panic, fail only with ErrMalformed, and a signature only validates
// the form it was computed over.
func FuzzInboundWebhook(f *testing.F) {
	f.Add([]byte("MessageSid=SM1&AccountSid=AC1&From=%2B15558675310&To=%2B15005550006&Body=4+k3m9"), "")
	f.Add([]byte("CallSid=CA1&AccountSid=AC1&From=%2B15005550006&To=%2B15558675310&Digits=4"), "")
	f.Add([]byte("Body=%zz"), "")
	f.Add([]byte("From=a&From=b&;;=&&=="), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
	f.Add([]byte("Body=%FF%FE"), "abc")
	const target = "https://pager.example.com/api/v1/inbound/twilio/sms?x=1"
	f.Fuzz(func(t *testing.T, body []byte, signature string) {
		form, err := twilio.DecodeForm(body)
		if err != nil {
			if !errors.Is(err, twilio.ErrMalformed) {
				t.Fatalf("DecodeForm: untyped error %v", err)
			}
			return
		}
		if twilio.ValidateSignature(authToken, target, form, signature) && signature != twilio.Signature(authToken, target, form) &&
			signature != twilio.Signature(authToken, "https://pager.example.com:443/api/v1/inbound/twilio/sms?x=1", form) {
			t.Fatalf("signature %q validated a form it was not computed over", signature)
		}
		if !twilio.ValidateSignature(authToken, target, form, twilio.Signature(authToken, target, form)) {
			t.Fatalf("the form's own signature does not validate")
		}
		if _, err := twilio.ParseSMS(form); err != nil && !errors.Is(err, twilio.ErrMalformed) {
			t.Fatalf("ParseSMS: untyped error %v", err)
		}
		if _, err := twilio.ParseKeypress(form); err != nil && !errors.Is(err, twilio.ErrMalformed) {
			t.Fatalf("ParseKeypress: untyped error %v", err)
		}
	})
}

// The round trip a handler performs, through a real HTTP server: read the
// form, validate against the URL Twilio called, decode.
func TestHandlerRoundTrip(t *testing.T) {
	t.Parallel()
	type outcome struct {
		valid bool
		sms   twilio.InboundSMS
	}
	results := make(chan outcome, 2)
	var publicURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, err := twilio.ReadForm(r)
		require.NoError(t, err)
		valid := twilio.ValidateSignature(authToken, publicURL+r.URL.RequestURI(), form, r.Header.Get(twilio.SignatureHeader))
		sms, _ := twilio.ParseSMS(form)
		results <- outcome{valid, sms}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, twilio.EmptyTwiML)
	}))
	t.Cleanup(srv.Close)
	publicURL = srv.URL
	form := url.Values{"MessageSid": {"SM1"}, "AccountSid": {accountSID}, "From": {"+15558675310"}, "To": {fromNumber}, "Body": {"ack"}}
	for _, sig := range []string{twilio.Signature(authToken, srv.URL+"/sms?tenant=a", form), twilio.Signature(authToken, srv.URL+"/sms?tenant=b", form)} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/sms?tenant=a", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, sig)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	first, second := <-results, <-results
	require.True(t, first.valid)
	require.Equal(t, "ack", first.sms.Body)
	require.False(t, second.valid, "a signature for another query string")
}
