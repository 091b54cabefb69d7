package runbook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"
)

// Context is what an action's templates know of its incident, read when
// the step starts: the incident and the labels and annotations of its
// alerts.
type Context struct {
	Incident IncidentData `json:"incident"`
	// Labels are the labels of the incident's alerts, merged: when alerts
	// disagree on a label, the first alert's value is kept.
	Labels map[string]string `json:"labels"`
	// Annotations are the alerts' annotations (Alertmanager annotations,
	// Events API v2 custom details), merged the same way; values that are
	// not strings are given as JSON.
	Annotations map[string]string `json:"annotations"`
}

// IncidentData is the incident as templates see it.
type IncidentData struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Service     string `json:"service"`
	Severity    string `json:"severity"`
	Status      string `json:"status"`
}

// RunData says which run and step make a call.
type RunData struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Run numbers the incident's runbook runs from 1.
	Run int `json:"run"`
	// Step is the calling step's number, from 1, and StepName its name.
	Step     int    `json:"step"`
	StepName string `json:"step_name"`
}

// Data is what an action's templates are executed with:
//
//	{{.Incident.ID}} {{.Incident.Title}} {{.Incident.Service}} {{.Incident.Severity}} {{.Incident.Status}}
//	{{.Labels.instance}} {{index .Labels "k8s-pod"}} {{.Annotations.summary}}
//	{{.Runbook.Name}} {{.Runbook.Run}} {{.Runbook.Step}} {{.IdempotencyKey}}
//	{{json .Labels}}                        a value as JSON text
//	{{secret "deploy_token"}}               runbooks.secrets.deploy_token (header values only)
//
// A label or annotation that is not there renders as "".
type Data struct {
	Incident    IncidentData      `json:"incident"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Runbook     RunData           `json:"runbook"`
	// IdempotencyKey is the call's Idempotency-Key header: the same for
	// every attempt of one step of one run.
	IdempotencyKey string `json:"idempotency_key"`
}

// NewData is the data of the call of step (from 1) of run of rb, for an
// incident as ctx describes it.
func NewData(ctx Context, rb Runbook, run, step int, key string) Data {
	d := Data{Incident: ctx.Incident, Labels: ctx.Labels, Annotations: ctx.Annotations, IdempotencyKey: key,
		Runbook: RunData{ID: rb.ID, Name: rb.Name, Run: run, Step: step}}
	if step >= 1 && step <= len(rb.Steps) {
		d.Runbook.StepName = rb.Steps[step-1].Name
	}
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	return d
}

// DefaultBody is the body of an action that sets none.
func DefaultBody(d Data) map[string]any {
	return map[string]any{
		"type":            "runbook.action",
		"incident":        d.Incident,
		"labels":          d.Labels,
		"annotations":     d.Annotations,
		"runbook":         d.Runbook,
		"idempotency_key": d.IdempotencyKey,
	}
}

// Request is an action's HTTP request, rendered.
type Request struct {
	Method string
	URL    string
	Header http.Header
	// Body is nil for methods that carry none.
	Body []byte
}

// maxRendered bounds what one template may render to.
const maxRendered = 64 << 10

// errUnknownSecret is wrapped by Render when a header names a secret the
// configuration does not hold.
var errUnknownSecret = errors.New("no such secret in runbooks.secrets")

// Render builds the request of action a for d. secret looks a configured
// secret up by name. Every error is final: the same runbook and data fail
// the same way.
func (a Action) Render(d Data, secret func(name string) (string, bool)) (Request, error) {
	req := Request{Method: a.Method, Header: http.Header{}}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	u, err := render(a.URL, d, nil)
	if err != nil {
		return Request{}, fmt.Errorf("url: %w", err)
	}
	pu, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return Request{}, errors.New("url: does not render to an absolute http or https URL")
	}
	req.URL = pu.String()
	for _, name := range sortedKeys(a.Headers) {
		lookup := secret
		if lookup == nil {
			lookup = noSecrets
		}
		v, err := render(a.Headers[name], d, lookup)
		if err != nil {
			return Request{}, fmt.Errorf("header %s: %w", name, err)
		}
		if strings.ContainsAny(v, "\r\n") {
			return Request{}, fmt.Errorf("header %s: renders to more than one line", name)
		}
		req.Header.Set(name, v)
	}
	if !a.HasBody() {
		return req, nil
	}
	var body any = DefaultBody(d)
	if len(a.Body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(a.Body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return Request{}, fmt.Errorf("body: %w", err)
		}
		if body, err = walkStrings(v, func(s string) (string, error) { return render(s, d, nil) }); err != nil {
			return Request{}, fmt.Errorf("body: %w", err)
		}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return Request{}, fmt.Errorf("body: %w", err)
	}
	req.Body = raw
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// funcs are the template functions. secret, when not nil, adds the
// secret function: header values may name secrets, URLs and bodies may not,
// and a template that does fails to parse.
func funcs(secret func(string) (string, bool)) template.FuncMap {
	fm := template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}
	if secret != nil {
		fm["secret"] = func(name string) (string, error) {
			v, ok := secret(name)
			if !ok {
				return "", fmt.Errorf("%w: %q", errUnknownSecret, name)
			}
			return v, nil
		}
	}
	return fm
}

// noSecrets stands in for the configured secrets where a template is only
// parsed.
func noSecrets(string) (string, bool) { return "", false }

// checkTemplate parses s as a template; withSecrets says whether it may
// name secrets (header values).
func checkTemplate(s string, withSecrets bool) error {
	if !strings.Contains(s, "{{") {
		return nil
	}
	var secret func(string) (string, bool)
	if withSecrets {
		secret = noSecrets
	}
	if _, err := template.New("").Funcs(funcs(secret)).Parse(s); err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: ")
		if strings.Contains(msg, `function "secret" not defined`) {
			msg = "secrets may be named in header values only"
		}
		return fmt.Errorf("template: %s", msg)
	}
	return nil
}

// render executes s as a template over d; secret is nil where no secret
// may be named.
func render(s string, d Data, secret func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New("").Funcs(funcs(secret)).Option("missingkey=zero").Parse(s)
	if err != nil {
		return "", err
	}
	out := &limited{max: maxRendered}
	if err := t.Execute(out, d); err != nil {
		return "", err
	}
	return out.String(), nil
}

// walkStrings returns v (a decoded JSON value) with f applied to every
// string in it, object keys left as they are.
func walkStrings(v any, f func(string) (string, error)) (any, error) {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := walkStrings(e, f)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := walkStrings(e, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// limited is a buffer that refuses to grow past max bytes.
type limited struct {
	bytes.Buffer
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.Len()+len(p) > l.max {
		return 0, fmt.Errorf("renders to more than %d bytes", l.max)
	}
	return l.Buffer.Write(p)
}
