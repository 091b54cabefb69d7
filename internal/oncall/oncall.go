// Package oncall holds who gets paged and how: users and their contact
// methods, services, escalation policies and on-call schedules. It imports
// only the standard library and packages incident, fault and schedule (the
// pure on-call computation), so workflows, activities, the store and the
// API share one definition and one set of validation rules.
package oncall

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("90s", "5m", "1h30m"), or reads a whole number of seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: use a form like 90s, 5m or 1h30m", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"5m\" or a number of seconds")
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// invalid says why one field is wrong: a fault.Invalid naming it.
func invalid(field, format string, args ...any) error {
	return fault.InvalidField(field, fmt.Sprintf(format, args...))
}

// Role is what a user may do.
type Role string

// Roles, from least to most privileged.
const (
	RoleViewer    Role = "viewer"
	RoleResponder Role = "responder"
	RoleAdmin     Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleViewer || r == RoleResponder || r == RoleAdmin }

// ContactType is how a contact method reaches its user.
type ContactType string

// Contact method types. Push and webhook need no configuration of the
// server's; email, sms, voice and slack go through providers configured
// under notifications.* (see Channel), and the API refuses to add a
// method whose channel the server has not configured.
const (
	ContactPush    ContactType = "push"
	ContactWebhook ContactType = "webhook"
	// ContactEmail sends to Address, an email address, over SMTP.
	ContactEmail ContactType = "email"
	// ContactSMS texts Address, a phone number in E.164 form (+15005550006).
	ContactSMS ContactType = "sms"
	// ContactVoice calls Address, a phone number in E.164 form.
	ContactVoice ContactType = "voice"
	// ContactSlack posts to Address, a Slack member ID (U…, W…: a direct
	// message from the app, which also links that Slack member to the user
	// for the message's buttons) or a conversation ID (C…, G…).
	ContactSlack ContactType = "slack"
)

// ContactTypes lists every contact method type, in the order error
// messages name them.
var ContactTypes = []ContactType{ContactPush, ContactWebhook, ContactEmail, ContactSMS, ContactVoice, ContactSlack}

// Addressed reports whether methods of type t reach their user at Address.
func (t ContactType) Addressed() bool {
	return t == ContactEmail || t == ContactSMS || t == ContactVoice || t == ContactSlack
}

// Platform is a push device's platform.
type Platform string

// Push platforms Gorush serves.
const (
	PlatformIOS     Platform = "ios"
	PlatformAndroid Platform = "android"
	PlatformHuawei  Platform = "huawei"
)

// GorushCode is the platform number of Gorush's push API.
func (p Platform) GorushCode() int {
	switch p {
	case PlatformIOS:
		return 1
	case PlatformAndroid:
		return 2
	case PlatformHuawei:
		return 3
	}
	return 0
}

// WebhookFormat is the body a webhook contact method receives.
type WebhookFormat string

// Webhook body formats.
const (
	// WebhookJSON posts the notification as this engine's own JSON object.
	WebhookJSON WebhookFormat = "json"
	// WebhookSlack posts a Slack-compatible incoming-webhook body ({"text": …}).
	WebhookSlack WebhookFormat = "slack"
)

// ContactMethod is one way to reach a user.
type ContactMethod struct {
	ID     string      `json:"id"`
	UserID string      `json:"user_id,omitempty"`
	Type   ContactType `json:"type"`
	Label  string      `json:"label,omitempty"`
	// Platform and Token address a push device (Type push).
	Platform Platform `json:"platform,omitempty"`
	Token    string   `json:"token,omitempty"`
	// URL and Format address a webhook (Type webhook). Format defaults to json.
	URL    string        `json:"url,omitempty"`
	Format WebhookFormat `json:"format,omitempty"`
	// Address is where an email, sms, voice or slack method reaches its
	// user: an email address, an E.164 phone number, or a Slack member or
	// conversation ID (see ContactType).
	Address string `json:"address,omitempty"`
}

// Limits on free text, in characters.
const (
	MaxNameLen  = 200
	MaxIDLen    = 64
	MaxTokenLen = 4096
	MaxURLLen   = 2048
	MaxSteps    = 20
	MaxTargets  = 50
	MaxRepeat   = 20
	MaxDelay    = 24 * time.Hour
	MaxContacts = 20
)

// Normalize trims text and applies defaults.
func (c *ContactMethod) Normalize() {
	c.Type = ContactType(strings.ToLower(strings.TrimSpace(string(c.Type))))
	c.Label = strings.TrimSpace(c.Label)
	c.Platform = Platform(strings.ToLower(strings.TrimSpace(string(c.Platform))))
	c.Token = strings.TrimSpace(c.Token)
	c.URL = strings.TrimSpace(c.URL)
	c.Format = WebhookFormat(strings.ToLower(strings.TrimSpace(string(c.Format))))
	if c.Type == ContactWebhook && c.Format == "" {
		c.Format = WebhookJSON
	}
	c.Address = strings.TrimSpace(c.Address)
	switch c.Type {
	case ContactEmail:
		c.Address = strings.ToLower(c.Address)
	case ContactSlack:
		// Slack's IDs are upper case; a pasted lower-case one is the same ID.
		c.Address = strings.ToUpper(c.Address)
	case ContactSMS, ContactVoice:
		// Numbers are often written with spaces, dashes, dots or brackets.
		c.Address = strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' {
				return -1
			}
			return r
		}, c.Address)
	}
}

// e164 is a phone number in E.164 form: a plus, a country code and at most
// 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// slackID is a Slack member (U…, W…) or conversation (C…, G…, D…) ID.
var slackID = regexp.MustCompile(`^[UWCGD][A-Z0-9]{2,31}$`)

// SlackMember reports whether a slack method's Address names a member (a
// direct message) rather than a conversation.
func SlackMember(address string) bool {
	return slackID.MatchString(address) && (address[0] == 'U' || address[0] == 'W')
}

// Validate checks a contact method; field names are prefixed with prefix.
func (c ContactMethod) Validate(prefix string) error {
	switch c.Type {
	case ContactPush:
		if c.Platform.GorushCode() == 0 {
			return invalid(prefix+"platform", "must be one of ios, android, huawei")
		}
		if c.Token == "" {
			return invalid(prefix+"token", "is required for a push device")
		}
		if len(c.Token) > MaxTokenLen {
			return invalid(prefix+"token", "is longer than %d bytes", MaxTokenLen)
		}
		if c.URL != "" {
			return invalid(prefix+"url", "is for webhooks, not push devices")
		}
	case ContactWebhook:
		if len(c.URL) > MaxURLLen {
			return invalid(prefix+"url", "is longer than %d bytes", MaxURLLen)
		}
		u, err := url.Parse(c.URL)
		if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(prefix+"url", "must be an absolute http or https URL")
		}
		if c.Format != WebhookJSON && c.Format != WebhookSlack {
			return invalid(prefix+"format", "must be json or slack")
		}
		if c.Token != "" || c.Platform != "" {
			return invalid(prefix+"token", "is for push devices, not webhooks")
		}
	case ContactEmail:
		if !validEmail(c.Address) {
			return invalid(prefix+"address", "must be an email address")
		}
	case ContactSMS, ContactVoice:
		if !e164.MatchString(c.Address) {
			return invalid(prefix+"address", "must be a phone number in E.164 form, like +15005550006")
		}
	case ContactSlack:
		if !slackID.MatchString(c.Address) {
			return invalid(prefix+"address", "must be a Slack member ID (U…) or conversation ID (C…)")
		}
	default:
		return invalid(prefix+"type", "must be one of push, webhook, email, sms, voice, slack")
	}
	if c.Type.Addressed() && (c.Token != "" || c.Platform != "" || c.URL != "" || c.Format != "") {
		return invalid(prefix+"address", "is the only field a %s method takes besides its label", c.Type)
	}
	if !c.Type.Addressed() && c.Address != "" {
		return invalid(prefix+"address", "is for email, sms, voice and slack methods")
	}
	if utf8.RuneCountInString(c.Label) > MaxNameLen {
		return invalid(prefix+"label", "is longer than %d characters", MaxNameLen)
	}
	return nil
}

// User is a person who can be paged.
type User struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Email          string          `json:"email"`
	TimeZone       string          `json:"time_zone"`
	Role           Role            `json:"role"`
	ContactMethods []ContactMethod `json:"contact_methods"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// Normalize trims text and applies defaults (time zone UTC, role responder).
func (u *User) Normalize() {
	u.Name = strings.TrimSpace(u.Name)
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.TimeZone = strings.TrimSpace(u.TimeZone)
	if u.TimeZone == "" {
		u.TimeZone = "UTC"
	}
	u.Role = Role(strings.ToLower(strings.TrimSpace(string(u.Role))))
	if u.Role == "" {
		u.Role = RoleResponder
	}
	for i := range u.ContactMethods {
		u.ContactMethods[i].Normalize()
	}
}

// Validate checks a user and every contact method.
func (u User) Validate() error {
	switch {
	case u.Name == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(u.Name) > MaxNameLen:
		return invalid("name", "is longer than %d characters", MaxNameLen)
	case u.Email == "":
		return invalid("email", "is required")
	case !validEmail(u.Email):
		return invalid("email", "is not an email address")
	case !u.Role.Valid():
		return invalid("role", "must be one of viewer, responder, admin")
	case len(u.ContactMethods) > MaxContacts:
		return invalid("contact_methods", "holds more than %d entries", MaxContacts)
	}
	if _, err := time.LoadLocation(u.TimeZone); err != nil || len(u.TimeZone) > MaxNameLen {
		return invalid("time_zone", "is not a known IANA time zone (e.g. Europe/Berlin)")
	}
	for i, c := range u.ContactMethods {
		if err := c.Validate(fmt.Sprintf("contact_methods[%d].", i)); err != nil {
			return err
		}
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

// TargetType is what an escalation step pages.
type TargetType string

// Target types: a user is paged as named; a schedule pages whoever is on
// call in it at the moment of the page.
const (
	TargetUser     TargetType = "user"
	TargetSchedule TargetType = "schedule"
)

// Target is one thing an escalation step pages.
type Target struct {
	Type TargetType `json:"type"`
	ID   string     `json:"id"`
}

// Step is one level of an escalation policy: its targets are paged Delay
// after the previous step was. Step 1 pages at once when an incident opens;
// its Delay is the wait after the last step before the policy repeats.
type Step struct {
	Delay   Duration `json:"delay"`
	Targets []Target `json:"targets"`
}

// Policy is an ordered list of steps, run Repeat more times after the last.
type Policy struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Steps  []Step `json:"steps"`
	Repeat int    `json:"repeat"`
	// Version increases with every change; incidents record the version they
	// snapshotted.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Normalize trims text.
func (p *Policy) Normalize() {
	p.Name = strings.TrimSpace(p.Name)
	for i := range p.Steps {
		for j := range p.Steps[i].Targets {
			t := &p.Steps[i].Targets[j]
			t.Type = TargetType(strings.ToLower(strings.TrimSpace(string(t.Type))))
			t.ID = strings.TrimSpace(t.ID)
		}
	}
}

// Validate checks the policy's shape. Whether each target exists is the
// store's to check.
func (p Policy) Validate() error {
	switch {
	case p.Name == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(p.Name) > MaxNameLen:
		return invalid("name", "is longer than %d characters", MaxNameLen)
	case len(p.Steps) == 0:
		return invalid("steps", "needs at least one step")
	case len(p.Steps) > MaxSteps:
		return invalid("steps", "holds more than %d steps", MaxSteps)
	case p.Repeat < 0 || p.Repeat > MaxRepeat:
		return invalid("repeat", "must be from 0 to %d", MaxRepeat)
	case p.Repeat > 0 && p.Steps[0].Delay <= 0:
		// Step 1 pages at once on open; its delay is the wait after the
		// last step before the policy starts over.
		return invalid("steps[0].delay", "must be positive when repeat is set: it is the wait before the policy starts over")
	}
	for i, s := range p.Steps {
		f := fmt.Sprintf("steps[%d].", i)
		switch {
		case s.Delay < 0:
			return invalid(f+"delay", "must not be negative")
		case s.Delay.D() > MaxDelay:
			return invalid(f+"delay", "must be at most %s", MaxDelay)
		case len(s.Targets) == 0:
			return invalid(f+"targets", "needs at least one target")
		case len(s.Targets) > MaxTargets:
			return invalid(f+"targets", "holds more than %d targets", MaxTargets)
		}
		for j, t := range s.Targets {
			tf := fmt.Sprintf("%stargets[%d].", f, j)
			if t.Type != TargetUser && t.Type != TargetSchedule {
				return invalid(tf+"type", "must be user or schedule")
			}
			if t.ID == "" || len(t.ID) > MaxIDLen {
				return invalid(tf+"id", "is required")
			}
		}
	}
	return nil
}

// UserIDs lists every user the policy targets, each once, in step order.
func (p Policy) UserIDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, s := range p.Steps {
		for _, t := range s.Targets {
			if t.Type == TargetUser && !seen[t.ID] {
				seen[t.ID] = true
				ids = append(ids, t.ID)
			}
		}
	}
	return ids
}

// ScheduleIDs lists every schedule the policy targets, each once, in step
// order.
func (p Policy) ScheduleIDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, s := range p.Steps {
		for _, t := range s.Targets {
			if t.Type == TargetSchedule && !seen[t.ID] {
				seen[t.ID] = true
				ids = append(ids, t.ID)
			}
		}
	}
	return ids
}

// Service is something that has incidents. Its ID is the name incidents
// carry in their service field.
type Service struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// EscalationPolicyID names the policy that pages for this service's
	// incidents; empty means incidents are recorded but nobody is paged.
	EscalationPolicyID string `json:"escalation_policy_id,omitempty"`
	// AckTimeout returns an acknowledged incident to open, and resumes
	// paging, when it is neither mitigated nor resolved this long after the
	// acknowledgement. Zero disables it.
	AckTimeout Duration `json:"ack_timeout"`
	// AutoResolve resolves an incident of this service once every alert in
	// it has resolved. Default true.
	AutoResolve *bool `json:"auto_resolve,omitempty"`
	// BreachUserIDs are alerted on every SLA warning and breach of the
	// service's incidents, beside the escalation step's targets.
	BreachUserIDs []string `json:"breach_user_ids,omitempty"`
	// RequireRunbookSteps refuses to resolve an incident of the service
	// (409) until every required step of its runbooks is done. Default
	// false.
	RequireRunbookSteps bool      `json:"require_runbook_steps"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// ResolvesItself reports the AutoResolve setting, true when unset.
func (s Service) ResolvesItself() bool { return s.AutoResolve == nil || *s.AutoResolve }

// Normalize trims text.
func (s *Service) Normalize() {
	s.ID = strings.TrimSpace(s.ID)
	s.Name = strings.TrimSpace(s.Name)
	s.Description = strings.TrimSpace(s.Description)
	s.EscalationPolicyID = strings.TrimSpace(s.EscalationPolicyID)
	if s.Name == "" {
		s.Name = s.ID
	}
}

// Validate checks a service.
func (s Service) Validate() error {
	switch {
	case s.ID == "":
		return invalid("id", "is required")
	case len(s.ID) > incident.MaxServiceLen || !incident.ValidServiceName(s.ID):
		return invalid("id", "may hold only letters, digits, '.', '_' and '-' (at most 128)")
	case utf8.RuneCountInString(s.Name) > MaxNameLen:
		return invalid("name", "is longer than %d characters", MaxNameLen)
	case utf8.RuneCountInString(s.Description) > 4096:
		return invalid("description", "is longer than 4096 characters")
	case s.AckTimeout < 0:
		return invalid("ack_timeout", "must not be negative")
	case s.AckTimeout.D() > 7*24*time.Hour:
		return invalid("ack_timeout", "must be at most 168h")
	case len(s.BreachUserIDs) > MaxTargets:
		return invalid("breach_user_ids", "holds more than %d users", MaxTargets)
	}
	return nil
}

// Snapshot is the escalation an incident runs: its service's policy as it
// was when the incident opened, and the service's acknowledgement timeout.
// Incidents keep the snapshot for life, so editing a policy never changes
// who an open incident pages or when, and the timeline can name the exact
// version that paged.
type Snapshot struct {
	// Maintenance is the reason of the maintenance window the incident
	// opened in; such a snapshot has no steps and pages nobody.
	Maintenance string   `json:"maintenance,omitempty"`
	PolicyID    string   `json:"policy_id,omitempty"`
	Version     int64    `json:"version,omitempty"`
	Name        string   `json:"name,omitempty"`
	Steps       []Step   `json:"steps,omitempty"`
	Repeat      int      `json:"repeat"`
	AckTimeout  Duration `json:"ack_timeout"`
	// BreachUserIDs are the service's breach-notification contacts: SLA
	// warnings and breaches alert them beside the current step's targets.
	BreachUserIDs []string `json:"breach_user_ids,omitempty"`
}

// Empty reports whether the snapshot pages nobody.
func (s Snapshot) Empty() bool { return len(s.Steps) == 0 }

// SnapshotOf returns the snapshot of p for a service with ackTimeout.
func SnapshotOf(p Policy, ackTimeout Duration) Snapshot {
	steps := make([]Step, len(p.Steps))
	for i, st := range p.Steps {
		steps[i] = Step{Delay: st.Delay, Targets: append([]Target(nil), st.Targets...)}
	}
	return Snapshot{PolicyID: p.ID, Version: p.Version, Name: p.Name, Steps: steps, Repeat: p.Repeat, AckTimeout: ackTimeout}
}

// SLA is the response and resolution targets an incident is held to,
// counted from when it opened. A zero target is not tracked.
type SLA struct {
	// Response is met by the first move out of open (acknowledge, mitigate
	// or resolve).
	Response Duration `json:"response"`
	// Resolution is met by resolve.
	Resolution Duration `json:"resolution"`
	// WarningFraction of a target raises a warning before the breach, e.g.
	// 0.75. Zero or one means no warning.
	WarningFraction float64 `json:"warning_fraction"`
	// Source says where the targets came from: "service", "default" or "built-in".
	Source string `json:"source,omitempty"`
}

// DefaultWarningFraction raises SLA warnings at 75 % of a target.
const DefaultWarningFraction = 0.75

// BuiltinSLA is the SLA of a severity when no policy says otherwise.
func BuiltinSLA(s incident.Severity) SLA {
	m := map[incident.Severity][2]time.Duration{
		incident.SeverityCritical: {5 * time.Minute, time.Hour},
		incident.SeverityHigh:     {15 * time.Minute, 4 * time.Hour},
		incident.SeverityMedium:   {time.Hour, 24 * time.Hour},
		incident.SeverityLow:      {4 * time.Hour, 72 * time.Hour},
	}
	t, ok := m[s]
	if !ok {
		return SLA{Source: "built-in"} // info: tracked by nobody
	}
	return SLA{Response: Duration(t[0]), Resolution: Duration(t[1]), WarningFraction: DefaultWarningFraction, Source: "built-in"}
}

// SLAPolicy sets the targets of one severity, for every service (Service
// empty) or for one service, which then overrides the default.
type SLAPolicy struct {
	ID              string            `json:"id"`
	Severity        incident.Severity `json:"severity"`
	Service         string            `json:"service,omitempty"`
	Response        Duration          `json:"response"`
	Resolution      Duration          `json:"resolution"`
	WarningFraction float64           `json:"warning_fraction"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// Normalize trims text and applies the default warning fraction.
func (p *SLAPolicy) Normalize() {
	p.Severity = incident.Severity(strings.ToLower(strings.TrimSpace(string(p.Severity))))
	p.Service = strings.TrimSpace(p.Service)
	if p.WarningFraction == 0 {
		p.WarningFraction = DefaultWarningFraction
	}
}

// Validate checks an SLA policy.
func (p SLAPolicy) Validate() error {
	const maxTarget = 30 * 24 * time.Hour
	switch {
	case !p.Severity.Valid():
		return invalid("severity", "must be one of critical, high, medium, low, info")
	case p.Service != "" && (len(p.Service) > incident.MaxServiceLen || !incident.ValidServiceName(p.Service)):
		return invalid("service", "may hold only letters, digits, '.', '_' and '-'")
	case p.Response < 0 || p.Response.D() > maxTarget:
		return invalid("response", "must be from 0 (not tracked) to 720h")
	case p.Resolution < 0 || p.Resolution.D() > maxTarget:
		return invalid("resolution", "must be from 0 (not tracked) to 720h")
	case p.Response > 0 && p.Resolution > 0 && p.Resolution < p.Response:
		return invalid("resolution", "must not be shorter than response")
	case p.WarningFraction <= 0 || p.WarningFraction > 1:
		return invalid("warning_fraction", "must be above 0 and at most 1")
	}
	return nil
}

// SLA returns the policy's targets, marked with where they came from.
func (p SLAPolicy) SLA() SLA {
	src := "default"
	if p.Service != "" {
		src = "service"
	}
	return SLA{Response: p.Response, Resolution: p.Resolution, WarningFraction: p.WarningFraction, Source: src}
}

// MaintenanceWindow silences a service for a while: incidents that open
// during it are recorded, with their alerts, but page nobody. Incidents
// already open keep escalating.
type MaintenanceWindow struct {
	ID        string    `json:"id"`
	ServiceID string    `json:"service_id"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Normalize trims text and drops sub-microsecond precision.
func (w *MaintenanceWindow) Normalize() {
	w.ServiceID = strings.TrimSpace(w.ServiceID)
	w.Reason = strings.TrimSpace(w.Reason)
	w.StartsAt = w.StartsAt.UTC().Truncate(time.Microsecond)
	w.EndsAt = w.EndsAt.UTC().Truncate(time.Microsecond)
}

// Validate checks a maintenance window.
func (w MaintenanceWindow) Validate() error {
	switch {
	case w.ServiceID == "":
		return invalid("service_id", "is required")
	case w.StartsAt.IsZero():
		return invalid("starts_at", "is required (RFC 3339)")
	case !w.EndsAt.After(w.StartsAt):
		return invalid("ends_at", "must be after starts_at")
	case w.EndsAt.Sub(w.StartsAt) > 30*24*time.Hour:
		return invalid("ends_at", "a window lasts at most 30 days")
	case w.Reason == "":
		return invalid("reason", "is required")
	case utf8.RuneCountInString(w.Reason) > 1000:
		return invalid("reason", "is longer than 1000 characters")
	}
	return nil
}

// Limits of a snooze: paging stops for at least MinSnooze and at most
// MaxSnooze.
const (
	MinSnooze = time.Second
	MaxSnooze = 24 * time.Hour
)

// ValidateSnooze checks how long paging is to stop.
func ValidateSnooze(d time.Duration) error {
	if d < MinSnooze || d > MaxSnooze {
		return invalid("duration", "must be from %s to %s", MinSnooze, MaxSnooze)
	}
	return nil
}

// ValidateReassign checks whom an incident is handed to: a policy, or up to
// MaxTargets users paged together, never both.
func ValidateReassign(policyID string, userIDs []string) error {
	switch {
	case (policyID == "") == (len(userIDs) == 0):
		return fault.New(fault.Invalid, "give either policy_id or user_ids")
	case len(userIDs) > MaxTargets:
		return invalid("user_ids", "at most %d", MaxTargets)
	}
	return nil
}
