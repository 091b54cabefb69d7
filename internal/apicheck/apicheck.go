// Package apicheck holds HTTP exchanges to the API's OpenAPI document
// (api/openapi.yaml): a request that does not match its operation, or an
// answer whose status, media type or body the operation does not describe,
// is an error. The end-to-end tests serve the API through Handler, so every
// request they send and every answer they get is checked; a field renamed
// in the code and not in the document fails them.
//
// It is for tests: it loads the document with kin-openapi, which holds it
// to OpenAPI 3.1 and validates bodies as JSON Schema 2020-12.
package apicheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/incident-server/incident-server/api"
)

// SkipRequest is the header that marks a request a test sends malformed on
// purpose (to see it refused): its request is not checked, its answer is.
// Handler removes it before the API sees the request.
const SkipRequest = "X-Apicheck-Skip-Request"

// Checker validates exchanges against one loaded document. It is safe for
// concurrent use.
type Checker struct {
	// Doc is the loaded, validated document.
	Doc    *openapi3.T
	router routers.Router
	// errorBody is the one error shape, for answers to requests that match
	// no operation (404 for an unknown route, 405 for a wrong method).
	errorBody *openapi3.Schema
	options   *openapi3filter.Options
}

var (
	loadOnce sync.Once
	loaded   *Checker
	loadErr  error
)

// Load returns the checker of the API's document, loaded once per process.
func Load() (*Checker, error) {
	loadOnce.Do(func() { loaded, loadErr = New(api.OpenAPIYAML) })
	return loaded, loadErr
}

// New loads and validates a document and returns its checker.
func New(doc []byte) (*Checker, error) {
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := t.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate openapi document: %w", err)
	}
	// The document names no servers: routes match on any host.
	router, err := gorillamux.NewRouter(t)
	if err != nil {
		return nil, fmt.Errorf("route openapi document: %w", err)
	}
	errSchema := t.Components.Schemas["Error"]
	if errSchema == nil || errSchema.Value == nil {
		return nil, errors.New("openapi document: components.schemas.Error is missing")
	}
	return &Checker{
		Doc:       t,
		router:    router,
		errorBody: errSchema.Value,
		options: &openapi3filter.Options{
			IncludeResponseStatus:             true,
			RejectWhenRequestBodyNotSpecified: true,
			MultiError:                        true,
			AuthenticationFunc:                credentialPresent,
		},
	}, nil
}

// Exchange is one request and its answer.
type Exchange struct {
	Request *http.Request
	// RequestBody is the request's body, read whole; the Request's own
	// Body is not read.
	RequestBody []byte
	// SkipRequest checks the answer only.
	SkipRequest bool
	Status      int
	Header      http.Header
	// Body is the answer's body; nil with Streamed.
	Body []byte
	// Streamed answers (Server-Sent Events) never end: their status and
	// headers are checked, not their body.
	Streamed bool
}

// Check validates one exchange. An exchange whose request matches no
// operation is valid when its answer is the one error shape (or not JSON:
// the console's files are not API routes).
func (c *Checker) Check(ctx context.Context, x Exchange) error {
	req := x.Request.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(x.RequestBody)), nil }
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return c.checkUnrouted(x)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.options}
	var errs []error
	if !x.SkipRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil && !refusedForCredentials(err, x.Status) {
			errs = append(errs, fmt.Errorf("request: %w", err))
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.Header, Options: c.options}
	if x.Streamed {
		opts := *c.options
		opts.ExcludeResponseBody = true
		out.Options = &opts
	} else {
		out.SetBodyBytes(x.Body)
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, fmt.Errorf("response %d: %w", x.Status, err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s %s (operation %s): %w", x.Request.Method, x.Request.URL.Path, route.Operation.OperationID, errors.Join(errs...))
	}
	return nil
}

// refusedForCredentials reports whether err says only that the request
// lacks the credential its route requires, and the server answered 401: that
// is the refusal the document describes, not a mismatch. Any other request
// error, or a missing credential the server let through, is still one.
func refusedForCredentials(err error, status int) bool {
	if status != http.StatusUnauthorized {
		return false
	}
	var sec *openapi3filter.SecurityRequirementsError
	if !errors.As(err, &sec) {
		return false
	}
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) > 1 {
		return false
	}
	return true
}

func (c *Checker) checkUnrouted(x Exchange) error {
	mt, _, _ := mime.ParseMediaType(x.Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil
	}
	v, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(x.Body), x.Header, nil, nil)
	if err == nil {
		err = c.errorBody.VisitJSON(v, openapi3.EnableJSONSchema2020())
	}
	if err != nil {
		return fmt.Errorf("%s %s (no operation) answered %d: not the error shape: %w", x.Request.Method, x.Request.URL.Path, x.Status, err)
	}
	return nil
}

// credentialPresent checks that a request carries the credential a
// security scheme names, in the form the scheme describes: the bearer
// schemes tell user tokens (JWTs), API keys (ak_) and integration keys
// (ik_) apart. Whether the credential is valid is the server's to say.
func credentialPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	s := in.SecurityScheme
	switch s.Type {
	case "http":
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			return in.NewError(errors.New("no Authorization: Bearer header"))
		}
		switch prefix, _ := strings.CutSuffix(s.BearerFormat, "…"); {
		case prefix != "" && prefix != "JWT":
			if !strings.HasPrefix(token, prefix) {
				return in.NewError(fmt.Errorf("the bearer credential is not a %s key", prefix))
			}
		case strings.Count(token, ".") != 2:
			return in.NewError(errors.New("the bearer credential is not a JWT"))
		}
	case "apiKey":
		var present bool
		switch s.In {
		case "header":
			present = r.Header.Get(s.Name) != ""
		case "query":
			present = r.URL.Query().Get(s.Name) != ""
		case "cookie":
			_, err := r.Cookie(s.Name)
			present = err == nil
		}
		if !present {
			return in.NewError(fmt.Errorf("no %s %s", s.In, s.Name))
		}
	default:
		return in.NewError(fmt.Errorf("security scheme type %q is not checked", s.Type))
	}
	return nil
}

// Handler serves next and checks every exchange it serves, calling fail
// with each mismatch. It buffers each request body whole (the API caps them
// at a few MiB) and each answer's body, except a stream's. The check runs
// once the answer is sent, so it adds nothing to the latency a test sees;
// wait returns when every check of an exchange served so far is done (call
// it after the server has stopped, before the test ends).
func (c *Checker) Handler(next http.Handler, fail func(error)) (h http.Handler, wait func()) {
	var pending sync.WaitGroup
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		skip := r.Header.Get(SkipRequest) != ""
		r.Header.Del(SkipRequest)
		var body []byte
		if r.Body != nil {
			var err error
			if body, err = io.ReadAll(r.Body); err != nil {
				fail(fmt.Errorf("%s %s: read request body: %w", r.Method, r.URL.Path, err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		// What the handler will change of r (its body is read) is kept
		// apart from what is checked.
		checked := r.Clone(context.WithoutCancel(r.Context()))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		x := Exchange{Request: checked, RequestBody: body, SkipRequest: skip, Status: rec.status,
			Header: w.Header().Clone(), Body: rec.body.Bytes(), Streamed: rec.streamed}
		pending.Go(func() {
			// The caller may have gone (a stream closed): the check is
			// about what was sent, not about the caller.
			if err := c.Check(checked.Context(), x); err != nil {
				fail(err)
			}
		})
	}), pending.Wait
}

// recorder passes an answer through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status   int
	wrote    bool
	streamed bool
	body     bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
		mt, _, _ := mime.ParseMediaType(r.Header().Get("Content-Type"))
		r.streamed = mt == "text/event-stream"
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if !r.streamed {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// write deadlines of streams).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes on for handlers that assert http.Flusher.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func init() {
	// The document's non-JSON answers are text of one kind or another,
	// checked as strings.
	for _, ct := range []string{"text/html", "text/xml", "text/calendar", "text/event-stream", "application/openmetrics-text"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}
