package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
)

// paged is a user reachable on every channel, at email address email.
func paged(t *testing.T, s *store.Store, email string) oncall.User {
	t.Helper()
	u := oncall.User{Name: "Pat", Email: email, ContactMethods: []oncall.ContactMethod{
		{Type: oncall.ContactPush, Platform: oncall.PlatformIOS, Token: "tok-pat"},
		{Type: oncall.ContactEmail, Address: "pat@example.com"},
		{Type: oncall.ContactSMS, Address: "+15005550006"},
		{Type: oncall.ContactVoice, Address: "+15005550006"},
		{Type: oncall.ContactSlack, Address: "U024BE7LH"},
	}}
	u.Normalize()
	u, err := s.CreateUser(t.Context(), u)
	require.NoError(t, err)
	return u
}

func minutes(n int) oncall.Duration { return oncall.Duration(time.Duration(n) * time.Minute) }

func TestAddressedContactMethodsRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	u := paged(t, s, "Pat@Example.com")
	got, err := s.GetUser(t.Context(), u.ID)
	require.NoError(t, err)
	require.Len(t, got.ContactMethods, 5)
	for i, want := range []struct {
		typ     oncall.ContactType
		address string
	}{{oncall.ContactPush, ""}, {oncall.ContactEmail, "pat@example.com"}, {oncall.ContactSMS, "+15005550006"},
		{oncall.ContactVoice, "+15005550006"}, {oncall.ContactSlack, "U024BE7LH"}} {
		require.Equal(t, want.typ, got.ContactMethods[i].Type)
		require.Equal(t, want.address, got.ContactMethods[i].Address)
	}

	// The same number for SMS and voice is fine; twice for SMS is not.
	twice := got
	twice.ContactMethods = append(twice.ContactMethods, oncall.ContactMethod{Type: oncall.ContactSMS, Address: "+15005550006"})
	_, err = s.UpdateUser(t.Context(), twice)
	requireValidation(t, err, "contact_methods[5].address")
}

func TestNotificationRulesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	u := paged(t, s, "Pat@Example.com")
	push, email, sms, voice := u.ContactMethods[0].ID, u.ContactMethods[1].ID, u.ContactMethods[2].ID, u.ContactMethods[3].ID

	none, err := s.GetNotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Empty(t, none.High)
	require.Empty(t, none.Low)
	require.True(t, none.UpdatedAt.IsZero(), "never set")

	set, err := s.SetNotificationRules(ctx, oncall.NotificationRules{UserID: u.ID,
		High: []oncall.NotificationRule{{ContactMethodID: voice, Delay: minutes(5)}, {ContactMethodID: push}, {ContactMethodID: sms, Delay: minutes(2)}},
		Low:  []oncall.NotificationRule{{ContactMethodID: email, Delay: oncall.Duration(90*time.Second + 1)}},
	})
	require.NoError(t, err)
	want := []oncall.NotificationRule{{ContactMethodID: push}, {ContactMethodID: sms, Delay: minutes(2)}, {ContactMethodID: voice, Delay: minutes(5)}}
	require.Equal(t, want, set.High, "stored in the order they run")
	require.Equal(t, oncall.Duration(90*time.Second), set.Low[0].Delay, "whole milliseconds")
	require.False(t, set.UpdatedAt.IsZero())
	got, err := s.GetNotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, set, got)

	// A method of another user, or none at all, is refused; nothing changes.
	other := paged(t, s, "other@example.com")
	_, err = s.SetNotificationRules(ctx, oncall.NotificationRules{UserID: u.ID,
		Low: []oncall.NotificationRule{{ContactMethodID: email}, {ContactMethodID: other.ContactMethods[0].ID}}})
	requireValidation(t, err, "low[1].contact_method_id")
	got, err = s.GetNotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, set, got)
	_, err = s.SetNotificationRules(ctx, oncall.NotificationRules{UserID: "usr_nobody"})
	requireCode(t, fault.NotFound, err)
	_, err = s.GetNotificationRules(ctx, "usr_nobody")
	requireCode(t, fault.NotFound, err)

	// Removing a contact method removes its rules and keeps the others;
	// methods that stay keep their IDs, so their rules stay.
	u.ContactMethods = append(u.ContactMethods[:3:3], u.ContactMethods[4])
	_, err = s.UpdateUser(ctx, u)
	require.NoError(t, err)
	got, err = s.GetNotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, want[:2], got.High, "the voice rule went with the voice method")
	require.Len(t, got.Low, 1)

	// Clearing the rules pages every method at once again.
	cleared, err := s.SetNotificationRules(ctx, oncall.NotificationRules{UserID: u.ID, High: []oncall.NotificationRule{}, Low: []oncall.NotificationRule{}})
	require.NoError(t, err)
	require.Empty(t, cleared.High)
	require.False(t, cleared.UpdatedAt.IsZero())

	// Deleting the user deletes its rules.
	_, err = s.SetNotificationRules(ctx, oncall.NotificationRules{UserID: u.ID, High: []oncall.NotificationRule{{ContactMethodID: push}}})
	require.NoError(t, err)
	require.NoError(t, s.DeleteUser(ctx, u.ID))
	_, err = s.GetNotificationRules(ctx, u.ID)
	requireCode(t, fault.NotFound, err)
}

func TestRulesAndAddressesAreExported(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	u := paged(t, s, "Pat@Example.com")
	_, err := s.SetNotificationRules(ctx, oncall.NotificationRules{UserID: u.ID,
		High: []oncall.NotificationRule{{ContactMethodID: u.ContactMethods[2].ID, Delay: minutes(2)}}})
	require.NoError(t, err)
	doc, err := s.Export(ctx, store.ExportConfig)
	require.NoError(t, err)
	require.Len(t, doc.Tables["notification_rules"], 1)

	fresh := newStore(t)
	_, err = fresh.Import(ctx, doc)
	require.NoError(t, err)
	got, err := fresh.GetNotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u.ContactMethods[2].ID, got.High[0].ContactMethodID)
	back, err := fresh.GetUser(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "+15005550006", back.ContactMethods[2].Address)
}

func TestUserBySlackMemberAndEmail(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	u := paged(t, s, "Pat@Example.com")

	got, err := s.UserBySlackMember(ctx, "U024BE7LH")
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	_, err = s.UserBySlackMember(ctx, "U000NOBODY")
	requireCode(t, fault.NotFound, err)

	got, err = s.UserByEmail(ctx, "PAT@example.com")
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	_, err = s.UserByEmail(ctx, "nobody@example.com")
	requireCode(t, fault.NotFound, err)

	// Two users claiming one Slack member: nobody can tell who pressed.
	other := oncall.User{Name: "Sam", Email: "sam@example.com", ContactMethods: []oncall.ContactMethod{{Type: oncall.ContactSlack, Address: "U024BE7LH"}}}
	other.Normalize()
	_, err = s.CreateUser(ctx, other)
	require.NoError(t, err)
	_, err = s.UserBySlackMember(ctx, "U024BE7LH")
	requireCode(t, fault.Conflict, err)
}

func TestRuleDeliveriesHaveKeysOfTheirOwn(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, ev := opened("inc_1", t0)
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	first := store.NotificationKey{IncidentID: "inc_1", Page: 1, UserID: "usr_a", ContactMethodID: "cm_push", Rule: 1}
	again := first
	again.Rule = 4 // the same method, paged again by a later rule
	require.Equal(t, "inc_1/0/0#1/usr_a/cm_push#r1", first.String())
	require.NotEqual(t, first.DeliveryID(), again.DeliveryID())

	for _, k := range []store.NotificationKey{first, again} {
		n, claimed, err := s.ClaimNotification(ctx, k, "sms")
		require.NoError(t, err)
		require.True(t, claimed)
		require.Equal(t, k, n.Key)
	}
	ns, err := s.ListNotifications(ctx, "inc_1")
	require.NoError(t, err)
	require.Len(t, ns, 2)
	require.Equal(t, 1, ns[0].Key.Rule)
	require.Equal(t, "sms", ns[0].Channel)

	_, _, err = s.ClaimNotification(ctx, store.NotificationKey{IncidentID: "inc_1", ContactMethodID: "cm#x"}, "sms")
	require.Error(t, err, "a '#' would make keys ambiguous")
}

func TestPendingReplies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	for _, id := range []string{"inc_1", "inc_2"} {
		inc, ev := opened(id, t0)
		require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	}
	const number = "+15005550006"
	codes := []store.ReplyCode{
		{Number: number, Code: "k3m9", IncidentID: "inc_1", UserID: "usr_a", DeliveryID: "d1"},
		{Number: number, Code: "a1b2", IncidentID: "inc_2", UserID: "usr_a", DeliveryID: "d2"},
	}
	for _, c := range codes {
		require.NoError(t, s.RecordReplyCode(ctx, c))
		require.NoError(t, s.RecordReplyCode(ctx, c), "a retried send records nothing new")
	}
	requireCode(t, fault.NotFound, s.RecordReplyCode(ctx, store.ReplyCode{Number: number, Code: "zzzz", IncidentID: "inc_none", UserID: "usr_a"}))

	all, err := s.PendingReplies(ctx, number, "")
	require.NoError(t, err)
	require.Len(t, all, 2, "a reply without a code names two incidents")
	one, err := s.PendingReplies(ctx, number, "k3m9")
	require.NoError(t, err)
	require.Equal(t, []store.ReplyCode{codes[0]}, one)
	none, err := s.PendingReplies(ctx, "+15005550007", "")
	require.NoError(t, err)
	require.Empty(t, none)

	// Once inc_2 resolves, a bare "4" can only mean inc_1.
	inc, _ := opened("inc_2", t0)
	inc.Move(incident.StatusResolved, "pat", t0.Add(time.Minute))
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, incident.Event{ID: "v2/resolved", IncidentID: "inc_2",
		Type: incident.EventResolved, EventTime: t0.Add(time.Minute), Seq: 2})))
	all, err = s.PendingReplies(ctx, number, "")
	require.NoError(t, err)
	require.Equal(t, []store.ReplyCode{codes[0]}, all)
}

func TestAckNonceIsUsedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, ev := opened("inc_1", t0)
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))

	fresh, err := s.UseAckNonce(ctx, "n1", "inc_1", "usr_a")
	require.NoError(t, err)
	require.True(t, fresh)
	fresh, err = s.UseAckNonce(ctx, "n1", "inc_1", "usr_a")
	require.NoError(t, err)
	require.False(t, fresh, "a used link is refused")

	require.NoError(t, s.ReleaseAckNonce(ctx, "n1"))
	fresh, err = s.UseAckNonce(ctx, "n1", "inc_1", "usr_a")
	require.NoError(t, err)
	require.True(t, fresh, "released after an acknowledgement that did not go through")

	_, err = s.UseAckNonce(ctx, "n2", "inc_none", "usr_a")
	requireCode(t, fault.NotFound, err)
}
