// Package runbook holds resolution steps: a runbook is a named, ordered
// list of steps that responders (and the engine) work through to resolve an
// incident. It says what a runbook and its steps are, the rules they are
// validated by, where a run and each step stand, and how an action step's
// HTTP request is built from an incident. It imports only the standard
// library and packages fault, incident and oncall, so the workflows, the
// activities, the store and the API share one definition.
//
// A runbook is attached to a service (optionally for some severities only),
// and then starts on every incident of it that opens, or is started by hand
// on an incident. It is snapshotted when it starts: editing it never
// changes a run in progress.
package runbook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

// Kind is what a step does.
type Kind string

// Step kinds.
const (
	// KindManual is a checklist item: a responder marks it done or skips it.
	KindManual Kind = "manual"
	// KindAction is an outbound HTTP call, signed, retried on 5xx and
	// timeouts.
	KindAction Kind = "action"
	// KindApproval is a gate: the runbook waits until a user with the
	// required role approves or rejects.
	KindApproval Kind = "approval"
	// KindWait waits a duration, or until no alert of the incident fires.
	KindWait Kind = "wait"
)

// OnFailure is what a failed step does to its runbook.
type OnFailure string

// Failure policies.
const (
	// OnFailureStop ends the run: the steps after it are cancelled. The default.
	OnFailureStop OnFailure = "stop"
	// OnFailureContinue goes on with the next step.
	OnFailureContinue OnFailure = "continue"
)

// Step statuses, as a run shows them.
const (
	StepPending         = "pending"
	StepRunning         = "running"
	StepWaitingApproval = "waiting_approval"
	StepDone            = "done"
	StepSkipped         = "skipped"
	StepFailed          = "failed"
	StepCancelled       = "cancelled"
)

// Run statuses.
const (
	RunRunning = "running"
	// RunDone: every step ran (a failed step whose on_failure is continue
	// included).
	RunDone = "done"
	// RunFailed: a failed step stopped the run.
	RunFailed = "failed"
	// RunCancelled: the incident resolved while the run was in progress.
	RunCancelled = "cancelled"
)

// Limits.
const (
	MaxSteps           = 20
	MaxNameLen         = 200
	MaxInstructionsLen = 4096
	MaxHeaders         = 20
	MaxHeaderLen       = 1024
	MaxBodyLen         = 8 << 10
	MaxSeverities      = 5
	// MaxPerService caps the runbooks attached to one service. Their
	// snapshots travel in the open plan, one workflow payload, which the
	// limits above and this one keep well under Temporal's 2 MB.
	MaxPerService = 5
	// DefaultActionTimeout bounds one attempt of an action when its step
	// sets no timeout; MaxActionTimeout is the longest a step may set.
	DefaultActionTimeout = 10 * time.Second
	MaxActionTimeout     = time.Minute
	// DefaultMaxAttempts is how many times an action is tried when its step
	// does not say; MaxAttempts is the most a step may ask for.
	DefaultMaxAttempts = 5
	MaxAttempts        = 10
	// MaxWait bounds a wait step's duration and timeout, and an approval's
	// timeout.
	MaxWait = 7 * 24 * time.Hour
	// DefaultAlertsTimeout bounds a wait for the incident's alerts to
	// resolve when its step sets no timeout.
	DefaultAlertsTimeout = time.Hour
)

// Runbook is a named, ordered list of steps.
type Runbook struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// ServiceID attaches the runbook to a service: it starts on every
	// incident of the service that opens. Empty: it is started by hand only.
	ServiceID string `json:"service_id,omitempty"`
	// Severities narrow ServiceID to incidents of these severities; empty
	// means every severity.
	Severities []incident.Severity `json:"severities,omitempty"`
	Steps      []Step              `json:"steps"`
	// Version increases with every change; a run records the version it
	// snapshotted.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Step is one step of a runbook. Exactly the settings of its kind are set:
// Action for action steps, Approval for approval steps, Wait for wait steps.
type Step struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Required steps must be done (not skipped, failed or cancelled) before
	// the incident may resolve, when its service asks for that
	// (require_runbook_steps). A required manual step cannot be skipped.
	Required bool `json:"required,omitempty"`
	// OnFailure applies when the step fails: an action that gave up, an
	// approval rejected, a wait for alerts that timed out. Default stop.
	OnFailure OnFailure `json:"on_failure,omitempty"`
	// Instructions tell a responder what to do (manual steps) or what is
	// being approved (approval steps), in Markdown.
	Instructions string    `json:"instructions,omitempty"`
	Action       *Action   `json:"action,omitempty"`
	Approval     *Approval `json:"approval,omitempty"`
	Wait         *Wait     `json:"wait,omitempty"`
}

// Action is an outbound HTTP call. The URL, the header values and every
// string in the body are templates (Go text/template) over the incident
// (see Data); header values may name secrets from the configuration with
// {{secret "name"}}, so a runbook never holds one.
type Action struct {
	// Method is GET, POST, PUT, PATCH or DELETE. Default POST.
	Method string `json:"method,omitempty"`
	URL    string `json:"url"`
	// Headers are sent with the request. Content-Type, Idempotency-Key and
	// X-Incident-Signature are set by the engine.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a JSON value sent as the request body (POST, PUT and PATCH),
	// each string in it rendered as a template. Default: the incident, its
	// labels and annotations, and which runbook step calls (see
	// DefaultBody).
	Body json.RawMessage `json:"body,omitempty"`
	// Timeout bounds one attempt. Default DefaultActionTimeout (10s), at
	// most MaxActionTimeout (1m).
	Timeout oncall.Duration `json:"timeout,omitempty"`
	// MaxAttempts is how many times the call is tried: a 5xx, 408 or 429
	// answer, a timeout or a connection error is tried again with backoff;
	// any other answer is final. Default DefaultMaxAttempts (5).
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// Approval is an approval gate's settings.
type Approval struct {
	// Role is the role a user needs to approve or reject: responder or
	// admin. Default responder.
	Role oncall.Role `json:"role,omitempty"`
	// Timeout, when set, pages the incident's current escalation targets
	// once if nobody has decided by then; the gate keeps waiting. Default:
	// no page.
	Timeout oncall.Duration `json:"timeout,omitempty"`
}

// Wait is a wait step's settings: a duration, or until no alert of the
// incident is firing.
type Wait struct {
	Duration oncall.Duration `json:"duration,omitempty"`
	// UntilAlertsResolved waits until none of the incident's alerts is
	// firing (at once when it has none), or fails after Timeout.
	UntilAlertsResolved bool `json:"until_alerts_resolved,omitempty"`
	// Timeout bounds UntilAlertsResolved. Default DefaultAlertsTimeout (1h).
	Timeout oncall.Duration `json:"timeout,omitempty"`
}

// Methods lists the HTTP methods an action may use.
var Methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// HasBody reports whether requests of this method carry the body.
func (a Action) HasBody() bool {
	return a.Method == http.MethodPost || a.Method == http.MethodPut || a.Method == http.MethodPatch
}

// AttemptTimeout is how long one attempt may take.
func (a Action) AttemptTimeout() time.Duration {
	if a.Timeout <= 0 {
		return DefaultActionTimeout
	}
	return a.Timeout.D()
}

// Attempts is how many times the call is tried at most.
func (a Action) Attempts() int {
	if a.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return a.MaxAttempts
}

// AlertsTimeout is how long a wait for the alerts to resolve lasts at most.
func (w Wait) AlertsTimeout() time.Duration {
	if w.Timeout <= 0 {
		return DefaultAlertsTimeout
	}
	return w.Timeout.D()
}

// StopsOnFailure reports whether a failure of s ends its run.
func (s Step) StopsOnFailure() bool { return s.OnFailure != OnFailureContinue }

// Role is who may decide an approval step: its role, responder by default.
func (s Step) Role() oncall.Role {
	if s.Approval == nil || s.Approval.Role == "" {
		return oncall.RoleResponder
	}
	return s.Approval.Role
}

// Applies reports whether r starts on an incident of service and severity
// when it opens.
func (r Runbook) Applies(service string, severity incident.Severity) bool {
	return r.ServiceID != "" && r.ServiceID == service &&
		(len(r.Severities) == 0 || slices.Contains(r.Severities, severity))
}

// Normalize trims text and applies defaults.
func (r *Runbook) Normalize() {
	r.Name = strings.TrimSpace(r.Name)
	r.Description = strings.TrimSpace(r.Description)
	r.ServiceID = strings.TrimSpace(r.ServiceID)
	for i, s := range r.Severities {
		r.Severities[i] = incident.Severity(strings.ToLower(strings.TrimSpace(string(s))))
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		s.Name = strings.TrimSpace(s.Name)
		s.Kind = Kind(strings.ToLower(strings.TrimSpace(string(s.Kind))))
		s.OnFailure = OnFailure(strings.ToLower(strings.TrimSpace(string(s.OnFailure))))
		if s.OnFailure == "" {
			s.OnFailure = OnFailureStop
		}
		s.Instructions = strings.TrimSpace(s.Instructions)
		if a := s.Action; a != nil {
			a.Method = strings.ToUpper(strings.TrimSpace(a.Method))
			if a.Method == "" {
				a.Method = http.MethodPost
			}
			a.URL = strings.TrimSpace(a.URL)
			if len(a.Body) > 0 && strings.TrimSpace(string(a.Body)) == "null" {
				a.Body = nil
			}
		}
		if ap := s.Approval; ap != nil {
			ap.Role = oncall.Role(strings.ToLower(strings.TrimSpace(string(ap.Role))))
		}
		if s.Kind == KindApproval && s.Approval == nil {
			s.Approval = &Approval{}
		}
		if s.Kind == KindApproval && s.Approval.Role == "" {
			s.Approval.Role = oncall.RoleResponder
		}
	}
}

func invalid(field, format string, args ...any) error {
	return fault.InvalidField(field, fmt.Sprintf(format, args...))
}

// Validate checks a runbook's shape: every step is valid for its kind and
// every template parses. Whether its service exists is the store's to
// check; where an action's URL may point, the outbound policy's.
func (r Runbook) Validate() error {
	switch {
	case r.Name == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(r.Name) > MaxNameLen:
		return invalid("name", "is longer than %d characters", MaxNameLen)
	case utf8.RuneCountInString(r.Description) > incident.MaxNoteLen:
		return invalid("description", "is longer than %d characters", incident.MaxNoteLen)
	case r.ServiceID != "" && (len(r.ServiceID) > incident.MaxServiceLen || !incident.ValidServiceName(r.ServiceID)):
		return invalid("service_id", "may hold only letters, digits, '.', '_' and '-'")
	case len(r.Severities) > 0 && r.ServiceID == "":
		return invalid("severities", "narrow service_id: set it too, or leave severities out")
	case len(r.Severities) > MaxSeverities:
		return invalid("severities", "holds more than %d entries", MaxSeverities)
	case len(r.Steps) == 0:
		return invalid("steps", "needs at least one step")
	case len(r.Steps) > MaxSteps:
		return invalid("steps", "holds more than %d steps", MaxSteps)
	}
	for i, s := range r.Severities {
		if !s.Valid() {
			return invalid(fmt.Sprintf("severities[%d]", i), "must be one of critical, high, medium, low, info")
		}
	}
	for i, s := range r.Steps {
		if err := s.validate(fmt.Sprintf("steps[%d].", i)); err != nil {
			return err
		}
	}
	return nil
}

func (s Step) validate(f string) error {
	switch {
	case s.Name == "":
		return invalid(f+"name", "is required")
	case utf8.RuneCountInString(s.Name) > MaxNameLen:
		return invalid(f+"name", "is longer than %d characters", MaxNameLen)
	case utf8.RuneCountInString(s.Instructions) > MaxInstructionsLen:
		return invalid(f+"instructions", "is longer than %d characters", MaxInstructionsLen)
	case s.OnFailure != OnFailureStop && s.OnFailure != OnFailureContinue:
		return invalid(f+"on_failure", "must be stop or continue")
	}
	set := map[Kind]bool{KindAction: s.Action != nil, KindApproval: s.Approval != nil, KindWait: s.Wait != nil}
	for k, isSet := range set {
		if isSet && k != s.Kind {
			return invalid(f+string(k), "is for %s steps, not %s steps", k, s.Kind)
		}
	}
	switch s.Kind {
	case KindManual:
		return nil
	case KindAction:
		if s.Action == nil {
			return invalid(f+"action", "is required for an action step")
		}
		return s.Action.validate(f + "action.")
	case KindApproval:
		ap := s.Approval
		if ap == nil {
			ap = &Approval{Role: oncall.RoleResponder}
		}
		switch {
		case ap.Role != oncall.RoleResponder && ap.Role != oncall.RoleAdmin:
			return invalid(f+"approval.role", "must be responder or admin")
		case ap.Timeout < 0 || ap.Timeout.D() > MaxWait:
			return invalid(f+"approval.timeout", "must be from 0 (no page) to %s", MaxWait)
		}
		return nil
	case KindWait:
		w := s.Wait
		switch {
		case w == nil:
			return invalid(f+"wait", "is required for a wait step")
		case w.UntilAlertsResolved == (w.Duration != 0):
			return invalid(f+"wait", "give either duration or until_alerts_resolved")
		case w.Duration < 0 || w.Duration.D() > MaxWait:
			return invalid(f+"wait.duration", "must be at most %s", MaxWait)
		case w.Timeout < 0 || w.Timeout.D() > MaxWait:
			return invalid(f+"wait.timeout", "must be at most %s", MaxWait)
		case w.Timeout != 0 && !w.UntilAlertsResolved:
			return invalid(f+"wait.timeout", "bounds until_alerts_resolved; a duration needs none")
		}
		return nil
	}
	return invalid(f+"kind", "must be one of manual, action, approval, wait")
}

func (a Action) validate(f string) error {
	switch {
	case !slices.Contains(Methods, a.Method):
		return invalid(f+"method", "must be one of %s", strings.Join(Methods, ", "))
	case a.URL == "":
		return invalid(f+"url", "is required")
	case len(a.URL) > oncall.MaxURLLen:
		return invalid(f+"url", "is longer than %d bytes", oncall.MaxURLLen)
	case len(a.Headers) > MaxHeaders:
		return invalid(f+"headers", "holds more than %d headers", MaxHeaders)
	case len(a.Body) > MaxBodyLen:
		return invalid(f+"body", "is longer than %d bytes", MaxBodyLen)
	case len(a.Body) > 0 && !a.HasBody():
		return invalid(f+"body", "is sent with POST, PUT and PATCH only")
	case a.Timeout < 0 || a.Timeout.D() > MaxActionTimeout:
		return invalid(f+"timeout", "must be at most %s", MaxActionTimeout)
	case a.MaxAttempts < 0 || a.MaxAttempts > MaxAttempts:
		return invalid(f+"max_attempts", "must be from 1 to %d (0: %d)", MaxAttempts, DefaultMaxAttempts)
	}
	if err := checkTemplate(a.URL, false); err != nil {
		return invalid(f+"url", "%v", err)
	}
	if !strings.Contains(a.URL, "{{") {
		if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(f+"url", "must be an absolute http or https URL")
		}
	}
	for _, name := range sortedKeys(a.Headers) {
		v := a.Headers[name]
		switch {
		case !validHeaderName(name):
			return invalid(f+"headers", "%q is not a header name", name)
		case reservedHeaders[http.CanonicalHeaderKey(name)]:
			return invalid(f+"headers", "%s is set by the engine", http.CanonicalHeaderKey(name))
		case len(v) > MaxHeaderLen:
			return invalid(f+"headers."+name, "is longer than %d bytes", MaxHeaderLen)
		}
		if err := checkTemplate(v, true); err != nil {
			return invalid(f+"headers."+name, "%v", err)
		}
	}
	if len(a.Body) > 0 {
		var v any
		if err := json.Unmarshal(a.Body, &v); err != nil {
			return invalid(f+"body", "is not JSON")
		}
		if _, err := walkStrings(v, func(s string) (string, error) { return s, checkTemplate(s, false) }); err != nil {
			return invalid(f+"body", "%v", err)
		}
	}
	return nil
}

// reservedHeaders are set by the engine on every action request.
var reservedHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Idempotency-Key": true, "X-Incident-Signature": true, "Host": true,
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// RoleAllows reports whether a user of role have may decide an approval
// that needs role need.
func RoleAllows(have, need oncall.Role) bool {
	rank := map[oncall.Role]int{oncall.RoleViewer: 1, oncall.RoleResponder: 2, oncall.RoleAdmin: 3}
	return rank[have] > 0 && rank[have] >= rank[need]
}
