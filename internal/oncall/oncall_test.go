package oncall_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
)

func TestDurationJSON(t *testing.T) {
	t.Parallel()
	var d oncall.Duration
	require.NoError(t, json.Unmarshal([]byte(`"1h30m"`), &d))
	require.Equal(t, 90*time.Minute, d.D())
	require.NoError(t, json.Unmarshal([]byte(`300`), &d))
	require.Equal(t, 5*time.Minute, d.D())
	require.Error(t, json.Unmarshal([]byte(`"soon"`), &d))
	require.Error(t, json.Unmarshal([]byte(`true`), &d))
	out, err := json.Marshal(oncall.Duration(90 * time.Second))
	require.NoError(t, err)
	require.Equal(t, `"1m30s"`, string(out))
}

func user(id string) oncall.Target { return oncall.Target{Type: oncall.TargetUser, ID: id} }

func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	valid := func() oncall.Policy {
		return oncall.Policy{Name: "primary", Repeat: 1, Steps: []oncall.Step{
			{Delay: oncall.Duration(10 * time.Minute), Targets: []oncall.Target{user("usr_a")}},
			{Delay: oncall.Duration(5 * time.Minute), Targets: []oncall.Target{user("usr_b")}},
		}}
	}
	cases := []struct {
		name  string
		edit  func(*oncall.Policy)
		field string
	}{
		{"valid", func(*oncall.Policy) {}, ""},
		{"no name", func(p *oncall.Policy) { p.Name = " " }, "name"},
		{"empty steps", func(p *oncall.Policy) { p.Steps = nil }, "steps"},
		{"negative delay", func(p *oncall.Policy) { p.Steps[1].Delay = -1 }, "steps[1].delay"},
		{"delay over a day", func(p *oncall.Policy) { p.Steps[1].Delay = oncall.Duration(25 * time.Hour) }, "steps[1].delay"},
		{"step without targets", func(p *oncall.Policy) { p.Steps[0].Targets = nil }, "steps[0].targets"},
		{"unknown target type", func(p *oncall.Policy) { p.Steps[0].Targets[0].Type = "team" }, "steps[0].targets[0].type"},
		{"target without id", func(p *oncall.Policy) { p.Steps[0].Targets[0].ID = "" }, "steps[0].targets[0].id"},
		{"negative repeat", func(p *oncall.Policy) { p.Repeat = -1 }, "repeat"},
		{"repeat without a wait", func(p *oncall.Policy) { p.Steps[0].Delay = 0 }, "steps[0].delay"},
		{"no repeat, no wait", func(p *oncall.Policy) { p.Repeat, p.Steps[0].Delay = 0, 0 }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := valid()
			c.edit(&p)
			p.Normalize()
			assertField(t, p.Validate(), c.field)
		})
	}
}

func TestUserValidation(t *testing.T) {
	t.Parallel()
	valid := func() oncall.User {
		return oncall.User{Name: "Ann", Email: "Ann@Example.com", ContactMethods: []oncall.ContactMethod{
			{Type: "push", Platform: "iOS", Token: "tok"},
			{Type: "webhook", URL: "https://hooks.example.com/x"},
			{Type: "email", Address: " Ann@Example.com "},
			{Type: "sms", Address: "+1 (500) 555-0006"},
			{Type: "voice", Address: "+15005550006"},
			{Type: "slack", Address: "u024be7lh"},
		}}
	}
	cases := []struct {
		name  string
		edit  func(*oncall.User)
		field string
	}{
		{"valid", func(*oncall.User) {}, ""},
		{"email without address", func(u *oncall.User) { u.ContactMethods[2].Address = "" }, "contact_methods[2].address"},
		{"email to a non-address", func(u *oncall.User) { u.ContactMethods[2].Address = "ann at example" }, "contact_methods[2].address"},
		{"sms to a local number", func(u *oncall.User) { u.ContactMethods[3].Address = "555-0006" }, "contact_methods[3].address"},
		{"voice to letters", func(u *oncall.User) { u.ContactMethods[4].Address = "+1call" }, "contact_methods[4].address"},
		{"slack to a name", func(u *oncall.User) { u.ContactMethods[5].Address = "@ann" }, "contact_methods[5].address"},
		{"sms with a url", func(u *oncall.User) { u.ContactMethods[3].URL = "https://example.com" }, "contact_methods[3].address"},
		{"webhook with an address", func(u *oncall.User) { u.ContactMethods[1].Address = "+15005550006" }, "contact_methods[1].address"},
		{"no email", func(u *oncall.User) { u.Email = "" }, "email"},
		{"bad email", func(u *oncall.User) { u.Email = "ann at example" }, "email"},
		{"unknown role", func(u *oncall.User) { u.Role = "owner" }, "role"},
		{"unknown time zone", func(u *oncall.User) { u.TimeZone = "Mars/Olympus" }, "time_zone"},
		{"unknown platform", func(u *oncall.User) { u.ContactMethods[0].Platform = "blackberry" }, "contact_methods[0].platform"},
		{"push without token", func(u *oncall.User) { u.ContactMethods[0].Token = "" }, "contact_methods[0].token"},
		{"ftp webhook", func(u *oncall.User) { u.ContactMethods[1].URL = "ftp://example.com" }, "contact_methods[1].url"},
		{"unknown webhook format", func(u *oncall.User) { u.ContactMethods[1].Format = "xml" }, "contact_methods[1].format"},
		{"unknown contact type", func(u *oncall.User) { u.ContactMethods[1].Type = "pager" }, "contact_methods[1].type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := valid()
			c.edit(&u)
			u.Normalize()
			assertField(t, u.Validate(), c.field)
		})
	}
	u := valid()
	u.Normalize()
	require.Equal(t, "ann@example.com", u.Email)
	require.Equal(t, oncall.RoleResponder, u.Role, "default role")
	require.Equal(t, "UTC", u.TimeZone, "default time zone")
	require.Equal(t, oncall.WebhookJSON, u.ContactMethods[1].Format, "default webhook format")
	require.Equal(t, 1, u.ContactMethods[0].Platform.GorushCode())
	require.Equal(t, "ann@example.com", u.ContactMethods[2].Address, "email addresses are lower case")
	require.Equal(t, "+15005550006", u.ContactMethods[3].Address, "numbers lose their punctuation")
	require.Equal(t, "U024BE7LH", u.ContactMethods[5].Address, "Slack IDs are upper case")
	require.True(t, oncall.SlackMember("U024BE7LH"))
	require.False(t, oncall.SlackMember("C024BE7LH"), "a channel is not a member")
}

func TestUrgencyOfSeverity(t *testing.T) {
	t.Parallel()
	for sev, want := range map[incident.Severity]oncall.Urgency{
		incident.SeverityCritical: oncall.UrgencyHigh, incident.SeverityHigh: oncall.UrgencyHigh,
		incident.SeverityMedium: oncall.UrgencyLow, incident.SeverityLow: oncall.UrgencyLow, incident.SeverityInfo: oncall.UrgencyLow,
	} {
		require.Equal(t, want, oncall.UrgencyOf(sev), sev)
	}
}

func TestNotificationRulesValidation(t *testing.T) {
	t.Parallel()
	min := func(n int) oncall.Duration { return oncall.Duration(time.Duration(n) * time.Minute) }
	valid := func() oncall.NotificationRules {
		return oncall.NotificationRules{High: []oncall.NotificationRule{
			{ContactMethodID: "cm_voice", Delay: min(5)},
			{ContactMethodID: " cm_push ", Delay: 0},
			{ContactMethodID: "cm_sms", Delay: min(2)},
			{ContactMethodID: "cm_push", Delay: min(10)},
		}}
	}
	cases := []struct {
		name  string
		edit  func(*oncall.NotificationRules)
		field string
	}{
		{"valid", func(*oncall.NotificationRules) {}, ""},
		{"no contact method", func(r *oncall.NotificationRules) { r.High[0].ContactMethodID = "" }, "high[0].contact_method_id"},
		{"negative delay", func(r *oncall.NotificationRules) {
			r.Low = []oncall.NotificationRule{{ContactMethodID: "cm_a", Delay: -1}}
		}, "low[0].delay"},
		{"delay over a day", func(r *oncall.NotificationRules) { r.High[0].Delay = oncall.Duration(25 * time.Hour) }, "high[0].delay"},
		{"same method at the same delay", func(r *oncall.NotificationRules) { r.High[3].Delay = 0 }, "high[3].contact_method_id"},
		{"too many", func(r *oncall.NotificationRules) {
			for i := range oncall.MaxRules {
				r.Low = append(r.Low, oncall.NotificationRule{ContactMethodID: "cm_a", Delay: min(i)})
			}
			r.Low = append(r.Low, oncall.NotificationRule{ContactMethodID: "cm_b"})
		}, "low"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := valid()
			c.edit(&r)
			r.Normalize()
			assertField(t, r.Validate(), c.field)
		})
	}
	r := valid()
	r.Normalize()
	r.Order()
	require.Equal(t, []oncall.NotificationRule{
		{ContactMethodID: "cm_push", Delay: 0}, {ContactMethodID: "cm_sms", Delay: min(2)},
		{ContactMethodID: "cm_voice", Delay: min(5)}, {ContactMethodID: "cm_push", Delay: min(10)},
	}, r.For(oncall.UrgencyHigh), "ordered by delay, IDs trimmed")
	require.NotNil(t, r.For(oncall.UrgencyLow), "an absent list is an empty one")
	require.Empty(t, r.For(oncall.UrgencyLow))
}

func TestServiceValidation(t *testing.T) {
	t.Parallel()
	s := oncall.Service{ID: "checkout-api"}
	s.Normalize()
	require.NoError(t, s.Validate())
	require.Equal(t, "checkout-api", s.Name, "the name defaults to the id")
	bad := oncall.Service{ID: "check out"}
	assertField(t, bad.Validate(), "id")
	neg := oncall.Service{ID: "x", AckTimeout: -1}
	assertField(t, neg.Validate(), "ack_timeout")
}

func TestSnapshotIsACopy(t *testing.T) {
	t.Parallel()
	p := oncall.Policy{ID: "pol_1", Version: 4, Steps: []oncall.Step{{Targets: []oncall.Target{user("usr_a")}}}}
	snap := oncall.SnapshotOf(p, oncall.Duration(time.Minute))
	p.Steps[0].Targets[0].ID = "usr_changed"
	require.Equal(t, "usr_a", snap.Steps[0].Targets[0].ID, "editing the policy never changes a snapshot")
	require.Equal(t, int64(4), snap.Version)
	require.False(t, snap.Empty())
	require.True(t, oncall.Snapshot{}.Empty())
}

func assertField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		require.NoError(t, err)
		return
	}
	ve, ok := fault.As(err)
	require.True(t, ok, "want a validation error on %s, got %v", field, err)
	require.Equal(t, fault.Invalid, ve.Code)
	require.Equal(t, field, ve.Field)
}

func TestMaintenanceWindowValidation(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	valid := oncall.MaintenanceWindow{ServiceID: "checkout", StartsAt: at, EndsAt: at.Add(time.Hour), Reason: "upgrade"}
	require.NoError(t, valid.Validate())
	cases := map[string]func(*oncall.MaintenanceWindow){
		"service_id": func(w *oncall.MaintenanceWindow) { w.ServiceID = "" },
		"starts_at":  func(w *oncall.MaintenanceWindow) { w.StartsAt = time.Time{} },
		"ends_at":    func(w *oncall.MaintenanceWindow) { w.EndsAt = w.StartsAt },
		"reason":     func(w *oncall.MaintenanceWindow) { w.Reason = " " },
	}
	for field, edit := range cases {
		w := valid
		edit(&w)
		w.Normalize()
		assertField(t, w.Validate(), field)
	}
	long := valid
	long.EndsAt = long.StartsAt.Add(31 * 24 * time.Hour)
	assertField(t, long.Validate(), "ends_at")
}
