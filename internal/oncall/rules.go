package oncall

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/incident-server/incident-server/internal/incident"
)

// Urgency splits incidents for notification rules: a user may want a call
// for a critical incident and only a push for a low one.
type Urgency string

// Urgencies.
const (
	// UrgencyHigh is the urgency of critical and high incidents.
	UrgencyHigh Urgency = "high"
	// UrgencyLow is the urgency of every other incident.
	UrgencyLow Urgency = "low"
)

// UrgencyOf returns the urgency of an incident of severity s.
func UrgencyOf(s incident.Severity) Urgency {
	if s == incident.SeverityCritical || s == incident.SeverityHigh {
		return UrgencyHigh
	}
	return UrgencyLow
}

// MaxRules caps the rules of one urgency.
const MaxRules = 20

// NotificationRule sends a page to one of the user's contact methods Delay
// after the user was paged, unless the incident was acknowledged, mitigated
// or resolved (or paging was snoozed or reassigned) by then.
type NotificationRule struct {
	ContactMethodID string   `json:"contact_method_id"`
	Delay           Duration `json:"delay"`
}

// NotificationRules are one user's rules, per urgency. A user without rules
// for an urgency is paged on every contact method at once.
type NotificationRules struct {
	UserID string             `json:"user_id"`
	High   []NotificationRule `json:"high"`
	Low    []NotificationRule `json:"low"`
	// UpdatedAt is when the rules were last set; zero when never.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// For returns the rules of urgency u (ordered by delay once stored).
func (r NotificationRules) For(u Urgency) []NotificationRule {
	if u == UrgencyHigh {
		return r.High
	}
	return r.Low
}

// Normalize trims IDs and turns absent lists into empty ones.
func (r *NotificationRules) Normalize() {
	for _, list := range []*[]NotificationRule{&r.High, &r.Low} {
		if *list == nil {
			*list = []NotificationRule{}
		}
		for i := range *list {
			(*list)[i].ContactMethodID = strings.TrimSpace((*list)[i].ContactMethodID)
		}
	}
}

// Order sorts each list by delay, keeping the given order among equal
// delays: the order rules are stored and run in. Validation errors name
// rules by their place in the list as given, so Order runs after Validate.
func (r *NotificationRules) Order() {
	for _, list := range []*[]NotificationRule{&r.High, &r.Low} {
		slices.SortStableFunc(*list, func(a, b NotificationRule) int {
			switch {
			case a.Delay < b.Delay:
				return -1
			case a.Delay > b.Delay:
				return 1
			}
			return 0
		})
	}
}

// Validate checks the rules' shape. That each contact method is one of the
// user's is the store's to check.
func (r NotificationRules) Validate() error {
	for _, l := range []struct {
		name  string
		rules []NotificationRule
	}{{"high", r.High}, {"low", r.Low}} {
		if len(l.rules) > MaxRules {
			return invalid(l.name, "holds more than %d rules", MaxRules)
		}
		seen := map[NotificationRule]int{}
		for i, rule := range l.rules {
			f := fmt.Sprintf("%s[%d].", l.name, i)
			switch {
			case rule.ContactMethodID == "" || len(rule.ContactMethodID) > MaxIDLen:
				return invalid(f+"contact_method_id", "is required")
			case rule.Delay < 0:
				return invalid(f+"delay", "must not be negative")
			case rule.Delay.D() > MaxDelay:
				return invalid(f+"delay", "must be at most %s", MaxDelay)
			}
			if j, ok := seen[rule]; ok {
				return invalid(f+"contact_method_id", "repeats %s[%d]: the same method at the same delay", l.name, j)
			}
			seen[rule] = i
		}
	}
	return nil
}
