package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// SignatureHeader is the header Twilio signs every webhook request with.
const SignatureHeader = "X-Twilio-Signature"

// MaxWebhookBody bounds the webhook bodies ReadForm reads. An inbound SMS
// or a keypress is well under 4 KiB of form fields.
const MaxWebhookBody = 64 << 10

// ErrMalformed is returned for a webhook request or form that is not what
// Twilio sends.
var ErrMalformed = errors.New("malformed twilio webhook")

// ValidateSignature reports whether signature (the X-Twilio-Signature
// header) is Twilio's signature of a webhook request, as Twilio documents
// it: the base64 HMAC-SHA1, keyed with the account's auth token, of the
// full URL Twilio requested (scheme, host, path and query string, as
// configured in Twilio or given as a callback URL) followed by every POST
// parameter's name and value, parameters sorted by name in byte order, the
// values of a repeated name in the order received. For a GET, form is
// empty: the parameters are in the URL's query string.
//
// Like Twilio's own libraries, it also accepts the signature of the URL
// with the scheme's default port added or removed (":443", ":80"): proxies
// and Twilio disagree on writing it. The comparison is constant-time. An
// empty auth token or signature never validates.
func ValidateSignature(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	// Exactly the canonical length: the decoder would skip line breaks.
	if len(signature) != base64.StdEncoding.EncodedLen(sha1.Size) {
		return false
	}
	want, err := base64.StdEncoding.Strict().DecodeString(signature)
	if err != nil || len(want) != sha1.Size {
		return false
	}
	params := signedParams(form)
	ok := false
	for _, u := range urlVariants(fullURL) {
		// Every variant is computed: the time taken does not tell which one
		// matched.
		if hmac.Equal(sign(authToken, u, params), want) {
			ok = true
		}
	}
	return ok
}

// Signature computes the X-Twilio-Signature of a request to fullURL with
// the POST parameters form: what Twilio sends, and what a test or a local
// tool signs its requests with.
func Signature(authToken, fullURL string, form url.Values) string {
	return base64.StdEncoding.EncodeToString(sign(authToken, fullURL, signedParams(form)))
}

func sign(authToken, fullURL, params string) []byte {
	h := hmac.New(sha1.New, []byte(authToken))
	h.Write([]byte(fullURL))
	h.Write([]byte(params))
	return h.Sum(nil)
}

// signedParams concatenates the parameters as Twilio signs them.
func signedParams(form url.Values) string {
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		for _, v := range form[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.String()
}

// urlVariants returns fullURL, and fullURL with the scheme's default port
// added or removed when it has one.
func urlVariants(fullURL string) []string {
	out := []string{fullURL}
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return out
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return out
	}
	v := *u
	switch u.Port() {
	case "":
		v.Host = net.JoinHostPort(u.Hostname(), def)
	case def:
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]"
		}
	default:
		return out
	}
	return append(out, v.String())
}

// ReadForm reads the form a Twilio webhook posts: a POST of at most
// MaxWebhookBody bytes of application/x-www-form-urlencoded. The form is
// what ValidateSignature checks and ParseSMS and ParseKeypress decode.
// Errors wrap ErrMalformed.
func ReadForm(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("%w: method %s, want POST", ErrMalformed, r.Method)
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("%w: content type %q, want application/x-www-form-urlencoded", ErrMalformed, r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("read twilio webhook: %w", err)
	}
	if len(body) > MaxWebhookBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrMalformed, MaxWebhookBody)
	}
	return DecodeForm(body)
}

// DecodeForm decodes a webhook body. Unlike url.ParseQuery it refuses the
// whole body when any part is malformed: a signature covers every
// parameter, so a partial decode could never validate anyway.
func DecodeForm(body []byte) (url.Values, error) {
	if len(body) > MaxWebhookBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrMalformed, MaxWebhookBody)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return form, nil
}

// InboundSMS is an SMS sent to the account's number, as Twilio's messaging
// webhook reports it.
type InboundSMS struct {
	MessageSID string
	AccountSID string
	// From is the sender's number (E.164): who replied.
	From string
	// To is the account's number that received it.
	To string
	// Body is the text, possibly empty (a picture message).
	Body string
}

// Keypress is the digits a callee pressed during a <Gather>, as Twilio
// posts them to the Gather's action URL.
type Keypress struct {
	CallSID    string
	AccountSID string
	// From and To are the call's: for a page, From is the account's number
	// and To the person called.
	From, To string
	// Digits are the keys pressed, "" when the Gather timed out.
	Digits string
}

// ParseSMS decodes an inbound SMS webhook's form. MessageSid, AccountSid,
// From and To are required; every field is a single, valid UTF-8 value.
// Errors wrap ErrMalformed. Check the signature first: only a validated
// form is Twilio's.
func ParseSMS(form url.Values) (InboundSMS, error) {
	var m InboundSMS
	var err error
	get := fieldReader(form, &err)
	m.MessageSID = get("MessageSid", true)
	m.AccountSID = get("AccountSid", true)
	m.From = get("From", true)
	m.To = get("To", true)
	m.Body = get("Body", false)
	if err != nil {
		return InboundSMS{}, fmt.Errorf("inbound sms: %w", err)
	}
	return m, nil
}

// ParseKeypress decodes the form a <Gather> posts to its action URL.
// CallSid, AccountSid, From and To are required, Digits may be empty (no
// key pressed). Errors wrap ErrMalformed.
func ParseKeypress(form url.Values) (Keypress, error) {
	var k Keypress
	var err error
	get := fieldReader(form, &err)
	k.CallSID = get("CallSid", true)
	k.AccountSID = get("AccountSid", true)
	k.From = get("From", true)
	k.To = get("To", true)
	k.Digits = get("Digits", false)
	if err != nil {
		return Keypress{}, fmt.Errorf("voice keypress: %w", err)
	}
	return k, nil
}

// fieldReader returns a function reading one single-valued field of form,
// recording the first problem in *errp.
func fieldReader(form url.Values, errp *error) func(name string, required bool) string {
	return func(name string, required bool) string {
		if *errp != nil {
			return ""
		}
		vs := form[name]
		switch {
		case len(vs) == 0 && required:
			*errp = fmt.Errorf("%w: %s is missing", ErrMalformed, name)
		case len(vs) > 1:
			*errp = fmt.Errorf("%w: %s is repeated", ErrMalformed, name)
		case len(vs) == 1 && !utf8.ValidString(vs[0]):
			*errp = fmt.Errorf("%w: %s is not UTF-8", ErrMalformed, name)
		case len(vs) == 1 && required && vs[0] == "":
			*errp = fmt.Errorf("%w: %s is empty", ErrMalformed, name)
		case len(vs) == 1:
			return vs[0]
		}
		return ""
	}
}
