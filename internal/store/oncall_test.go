package store_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
)

var generatedID = regexp.MustCompile(`^(usr|cm|pol)_[a-z2-7]{26}$`)

func ann() oncall.User {
	u := oncall.User{
		Name:  "Ann Example",
		Email: "ann@example.com",
		ContactMethods: []oncall.ContactMethod{
			{Type: oncall.ContactPush, Label: "phone", Platform: oncall.PlatformIOS, Token: "device-token-1"},
			{Type: oncall.ContactWebhook, URL: "https://hooks.example.com/ann", Format: oncall.WebhookSlack},
		},
	}
	u.Normalize()
	return u
}

func createUser(t *testing.T, s *store.Store, name, email string) oncall.User {
	t.Helper()
	u := oncall.User{Name: name, Email: email}
	u.Normalize()
	u, err := s.CreateUser(t.Context(), u)
	require.NoError(t, err)
	return u
}

func policyFor(name string, userIDs ...string) oncall.Policy {
	p := oncall.Policy{Name: name, Repeat: 1}
	for i, id := range userIDs {
		p.Steps = append(p.Steps, oncall.Step{
			Delay:   oncall.Duration(time.Duration(i+1) * 5 * time.Minute),
			Targets: []oncall.Target{{Type: oncall.TargetUser, ID: id}},
		})
	}
	return p
}

func requireValidation(t *testing.T, err error, field string) {
	t.Helper()
	verr, ok := fault.As(err)
	require.True(t, ok && verr.Code == fault.Invalid, "want a validation error on %s, got %v", field, err)
	require.Equal(t, field, verr.Field)
}

func TestUserRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	created, err := s.CreateUser(ctx, ann())
	require.NoError(t, err)
	require.Regexp(t, generatedID, created.ID)
	require.Len(t, created.ContactMethods, 2)
	for _, c := range created.ContactMethods {
		require.Regexp(t, generatedID, c.ID)
		require.Equal(t, created.ID, c.UserID)
	}
	require.Equal(t, "UTC", created.TimeZone)
	require.Equal(t, oncall.RoleResponder, created.Role)
	require.False(t, created.CreatedAt.IsZero())

	got, err := s.GetUser(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, created, got)

	bob := createUser(t, s, "Bob", "bob@example.com")
	require.Equal(t, []oncall.ContactMethod{}, bob.ContactMethods)
	list, err := s.ListUsers(ctx)
	require.NoError(t, err)
	require.Equal(t, []oncall.User{created, bob}, list, "ordered by name")

	byID, err := s.GetUsers(ctx, []string{bob.ID, "usr_missing", created.ID})
	require.NoError(t, err)
	require.Equal(t, map[string]oncall.User{created.ID: created, bob.ID: bob}, byID)

	// Keep the webhook by ID, drop the phone, add a second phone first.
	upd := created
	upd.Name = "Ann Updated"
	upd.Role = oncall.RoleAdmin
	upd.TimeZone = "Europe/Berlin"
	upd.ContactMethods = []oncall.ContactMethod{
		{Type: oncall.ContactPush, Platform: oncall.PlatformAndroid, Token: "device-token-2"},
		created.ContactMethods[1],
		{ID: "cm_not_hers", Type: oncall.ContactPush, Platform: oncall.PlatformHuawei, Token: "device-token-3"},
	}
	updated, err := s.UpdateUser(ctx, upd)
	require.NoError(t, err)
	require.Equal(t, created.CreatedAt, updated.CreatedAt)
	require.Len(t, updated.ContactMethods, 3)
	require.Equal(t, created.ContactMethods[1].ID, updated.ContactMethods[1].ID, "a listed method keeps its ID")
	require.NotEqual(t, created.ContactMethods[0].ID, updated.ContactMethods[0].ID)
	require.NotEqual(t, "cm_not_hers", updated.ContactMethods[2].ID, "an unknown ID is replaced")
	require.Regexp(t, generatedID, updated.ContactMethods[2].ID)

	got, err = s.GetUser(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, updated, got)
	require.Equal(t, "Europe/Berlin", got.TimeZone)
	require.Equal(t, 3, countRows(t, s, `SELECT count(*) FROM contact_methods WHERE user_id = $1`, created.ID))

	// Swapping tokens between two methods in one update is allowed.
	swap := got
	swap.ContactMethods = []oncall.ContactMethod{got.ContactMethods[2], got.ContactMethods[1], got.ContactMethods[0]}
	swap.ContactMethods[0].Token, swap.ContactMethods[2].Token = swap.ContactMethods[2].Token, swap.ContactMethods[0].Token
	_, err = s.UpdateUser(ctx, swap)
	require.NoError(t, err)

	require.NoError(t, s.DeleteUser(ctx, created.ID))
	_, err = s.GetUser(ctx, created.ID)
	requireCode(t, fault.NotFound, err)
	require.Equal(t, 0, countRows(t, s, `SELECT count(*) FROM contact_methods WHERE user_id = $1`, created.ID))
	requireCode(t, fault.NotFound, s.DeleteUser(ctx, created.ID))

	upd.ID = "usr_missing"
	_, err = s.UpdateUser(ctx, upd)
	requireCode(t, fault.NotFound, err)
}

func TestUserDuplicateEmail(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	first, err := s.CreateUser(ctx, ann())
	require.NoError(t, err)

	dup := ann()
	dup.Name = "Another Ann"
	dup.Email = "ANN@example.com"
	_, err = s.CreateUser(ctx, dup)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "a user with email ANN@example.com exists")
	require.Equal(t, 1, countRows(t, s, `SELECT count(*) FROM users`))
	require.Equal(t, 2, countRows(t, s, `SELECT count(*) FROM contact_methods`), "nothing of the rejected user is written")

	bob := createUser(t, s, "Bob", "bob@example.com")
	bob.Email = first.Email
	_, err = s.UpdateUser(ctx, bob)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "a user with email ann@example.com exists")
}

func TestUserRejectsRepeatedContactMethod(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	u := ann()
	u.ContactMethods = append(u.ContactMethods, oncall.ContactMethod{Type: oncall.ContactWebhook, URL: "https://hooks.example.com/ann", Format: oncall.WebhookJSON})
	_, err := s.CreateUser(t.Context(), u)
	requireValidation(t, err, "contact_methods[2].url")
	require.Equal(t, 0, countRows(t, s, `SELECT count(*) FROM users`))
}

func TestDeleteUserTargetedByPolicy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	b := createUser(t, s, "Bob", "bob@example.com")
	p, err := s.CreatePolicy(ctx, policyFor("primary", a.ID, b.ID))
	require.NoError(t, err)

	err = s.DeleteUser(ctx, b.ID)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "user is a target of policy "+p.ID)
	_, err = s.GetUser(ctx, b.ID)
	require.NoError(t, err, "the user is kept")

	p.Steps = p.Steps[:1]
	_, err = s.UpdatePolicy(ctx, p)
	require.NoError(t, err)
	require.NoError(t, s.DeleteUser(ctx, b.ID), "no longer targeted")
	requireCode(t, fault.Conflict, s.DeleteUser(ctx, a.ID))
}

func TestPolicyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	b := createUser(t, s, "Bob", "bob@example.com")

	in := policyFor("primary", a.ID, b.ID)
	in.Steps[1].Targets = append(in.Steps[1].Targets, oncall.Target{Type: oncall.TargetUser, ID: a.ID})
	created, err := s.CreatePolicy(ctx, in)
	require.NoError(t, err)
	require.Regexp(t, generatedID, created.ID)
	require.EqualValues(t, 1, created.Version)
	require.Equal(t, in.Steps, created.Steps)

	got, err := s.GetPolicy(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, created, got)
	require.Equal(t, 10*time.Minute, got.Steps[1].Delay.D())

	other, err := s.CreatePolicy(ctx, policyFor("backup", b.ID))
	require.NoError(t, err)
	list, err := s.ListPolicies(ctx)
	require.NoError(t, err)
	require.Equal(t, []oncall.Policy{other, created}, list, "ordered by name")

	upd := created
	upd.Name = "primary v2"
	upd.Repeat = 3
	upd.Steps = []oncall.Step{{Delay: oncall.Duration(90 * time.Second), Targets: []oncall.Target{{Type: oncall.TargetUser, ID: b.ID}}}}
	updated, err := s.UpdatePolicy(ctx, upd)
	require.NoError(t, err)
	require.EqualValues(t, 2, updated.Version)
	require.Equal(t, created.CreatedAt, updated.CreatedAt)
	got, err = s.GetPolicy(ctx, created.ID)
	require.NoError(t, err)
	require.Equal(t, updated, got)

	require.NoError(t, s.DeletePolicy(ctx, created.ID))
	_, err = s.GetPolicy(ctx, created.ID)
	requireCode(t, fault.NotFound, err)
	requireCode(t, fault.NotFound, s.DeletePolicy(ctx, created.ID))
	upd.ID = "pol_missing"
	_, err = s.UpdatePolicy(ctx, upd)
	requireCode(t, fault.NotFound, err)
}

func TestPolicyUnknownTarget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")

	in := policyFor("primary", a.ID, a.ID)
	in.Steps[1].Targets = append(in.Steps[1].Targets, oncall.Target{Type: oncall.TargetUser, ID: "usr_nobody"})
	_, err := s.CreatePolicy(ctx, in)
	requireValidation(t, err, "steps[1].targets[1].id")
	require.ErrorContains(t, err, "no such user")
	require.Equal(t, 0, countRows(t, s, `SELECT count(*) FROM escalation_policies`))

	p, err := s.CreatePolicy(ctx, policyFor("primary", a.ID))
	require.NoError(t, err)
	in.ID = p.ID
	_, err = s.UpdatePolicy(ctx, in)
	requireValidation(t, err, "steps[1].targets[1].id")
	got, err := s.GetPolicy(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, got, "a rejected update changes nothing, version included")
}

func TestDeletePolicyInUse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	p, err := s.CreatePolicy(ctx, policyFor("primary", a.ID))
	require.NoError(t, err)
	_, err = s.CreateService(ctx, oncall.Service{ID: "checkout", Name: "Checkout", EscalationPolicyID: p.ID})
	require.NoError(t, err)

	err = s.DeletePolicy(ctx, p.ID)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "policy is used by service checkout")

	require.NoError(t, s.DeleteService(ctx, "checkout"))
	require.NoError(t, s.DeletePolicy(ctx, p.ID))
}

func TestServiceRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	a := createUser(t, s, "Ann", "ann@example.com")
	p, err := s.CreatePolicy(ctx, policyFor("primary", a.ID))
	require.NoError(t, err)

	in := oncall.Service{ID: "checkout", Description: "pays for things", EscalationPolicyID: p.ID, AckTimeout: oncall.Duration(30 * time.Minute)}
	in.Normalize()
	created, err := s.CreateService(ctx, in)
	require.NoError(t, err)
	require.Equal(t, "checkout", created.Name, "name defaults to the ID")
	got, err := s.GetService(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, created, got)

	_, err = s.CreateService(ctx, in)
	requireCode(t, fault.Conflict, err)
	require.ErrorContains(t, err, "a service with id checkout exists")

	_, err = s.CreateService(ctx, oncall.Service{ID: "search", Name: "Search", EscalationPolicyID: "pol_missing"})
	requireValidation(t, err, "escalation_policy_id")
	_, err = s.GetService(ctx, "search")
	requireCode(t, fault.NotFound, err)

	bare, err := s.CreateService(ctx, oncall.Service{ID: "auth", Name: "Auth"})
	require.NoError(t, err)
	list, err := s.ListServices(ctx)
	require.NoError(t, err)
	require.Equal(t, []oncall.Service{bare, created}, list)

	upd := created
	upd.EscalationPolicyID = ""
	upd.AckTimeout = 0
	upd.Name = "Checkout"
	updated, err := s.UpdateService(ctx, upd)
	require.NoError(t, err)
	got, err = s.GetService(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, updated, got)
	require.Empty(t, got.EscalationPolicyID)

	upd.EscalationPolicyID = "pol_missing"
	_, err = s.UpdateService(ctx, upd)
	requireValidation(t, err, "escalation_policy_id")
	upd.ID = "missing"
	upd.EscalationPolicyID = ""
	_, err = s.UpdateService(ctx, upd)
	requireCode(t, fault.NotFound, err)

	require.NoError(t, s.DeleteService(ctx, "checkout"))
	requireCode(t, fault.NotFound, s.DeleteService(ctx, "checkout"))
}

func TestEscalationFor(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	snap, err := s.EscalationFor(ctx, "unknown")
	require.NoError(t, err)
	require.Equal(t, oncall.Snapshot{}, snap)

	_, err = s.CreateService(ctx, oncall.Service{ID: "unpaged", Name: "Unpaged", AckTimeout: oncall.Duration(time.Hour)})
	require.NoError(t, err)
	snap, err = s.EscalationFor(ctx, "unpaged")
	require.NoError(t, err)
	require.True(t, snap.Empty())
	require.Equal(t, oncall.Snapshot{}, snap)

	a := createUser(t, s, "Ann", "ann@example.com")
	b := createUser(t, s, "Bob", "bob@example.com")
	p, err := s.CreatePolicy(ctx, policyFor("primary", a.ID, b.ID))
	require.NoError(t, err)
	_, err = s.CreateService(ctx, oncall.Service{ID: "checkout", Name: "Checkout", EscalationPolicyID: p.ID, AckTimeout: oncall.Duration(20 * time.Minute)})
	require.NoError(t, err)

	snap, err = s.EscalationFor(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, oncall.SnapshotOf(p, oncall.Duration(20*time.Minute)), snap)
	require.EqualValues(t, 1, snap.Version)

	p.Repeat = 0
	p, err = s.UpdatePolicy(ctx, p)
	require.NoError(t, err)
	snap, err = s.EscalationFor(ctx, "checkout")
	require.NoError(t, err)
	require.EqualValues(t, 2, snap.Version, "the snapshot names the version it was taken at")
	require.Equal(t, 0, snap.Repeat)
	require.Equal(t, []string{a.ID, b.ID}, oncall.Policy{Steps: snap.Steps}.UserIDs())
}
