package store_test

import (
	"time"

	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/store"
)

func TestNotificationKeyString(t *testing.T) {
	t.Parallel()
	k := store.NotificationKey{IncidentID: "inc_1", Step: 2, Round: 1, UserID: "usr_a", ContactMethodID: "cm_b"}
	require.Equal(t, "inc_1/2/1/usr_a/cm_b", k.String())
	k.ContactMethodID = ""
	require.Equal(t, "inc_1/2/1/usr_a/", k.String())
}

func TestClaimNotificationOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, ev := opened("inc_1", t0)
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	key := store.NotificationKey{IncidentID: "inc_1", Step: 0, Round: 0, UserID: "usr_a", ContactMethodID: "cm_phone"}

	first, claimed, err := s.ClaimNotification(ctx, key, "push")
	require.NoError(t, err)
	require.True(t, claimed, "the first claim sends")
	require.Equal(t, key, first.Key)
	require.Equal(t, store.NotificationClaimed, first.Status)
	require.Equal(t, "push", first.Channel)
	require.Equal(t, 1, first.Attempts)

	// While the first attempt may still be sending, a second one waits.
	_, claimed, err = s.ClaimNotification(ctx, key, "push")
	var held *store.ClaimHeldError
	require.ErrorAs(t, err, &held, "a claim within its lease is held")
	require.False(t, claimed)
	require.Equal(t, key, held.Key)
	require.Greater(t, held.Wait, time.Duration(0))
	require.LessOrEqual(t, held.Wait, store.ClaimLease)

	// Renewing keeps it held; once its sender stops renewing, it lapses
	// and a later attempt takes it over.
	require.NoError(t, s.RenewNotification(ctx, key))
	_, _, err = s.ClaimNotification(ctx, key, "push")
	require.ErrorAs(t, err, &held)
	lapse(t, s, key)
	again, claimed, err := s.ClaimNotification(ctx, key, "push")
	require.NoError(t, err)
	require.False(t, claimed, "a retried claim does not send again")
	require.Equal(t, 2, again.Attempts, "held claims are not attempts")
	require.Equal(t, store.NotificationClaimed, again.Status)
	require.Equal(t, first.CreatedAt, again.CreatedAt)
	_, _, err = s.ClaimNotification(ctx, key, "push")
	require.ErrorAs(t, err, &held, "the takeover is a fresh claim")

	require.NoError(t, s.FinishNotification(ctx, key, store.NotificationSent, "accepted by gorush"))
	after, claimed, err := s.ClaimNotification(ctx, key, "push")
	require.NoError(t, err)
	require.False(t, claimed)
	require.Equal(t, store.NotificationSent, after.Status)
	require.Equal(t, "accepted by gorush", after.Detail)
	require.Equal(t, 3, after.Attempts)

	// A later round of the same step is a new page.
	next := key
	next.Round = 1
	_, claimed, err = s.ClaimNotification(ctx, next, "push")
	require.NoError(t, err)
	require.True(t, claimed)

	logged := store.NotificationKey{IncidentID: "inc_1", Step: 1, UserID: "usr_b"}
	_, claimed, err = s.ClaimNotification(ctx, logged, "log")
	require.NoError(t, err)
	require.True(t, claimed)

	list, err := s.ListNotifications(ctx, "inc_1")
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, key, list[0].Key)
	require.Equal(t, store.NotificationSent, list[0].Status)
	keys := []store.NotificationKey{list[1].Key, list[2].Key}
	require.ElementsMatch(t, []store.NotificationKey{next, logged}, keys)

	empty, err := s.ListNotifications(ctx, "inc_other")
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestFinishNotification(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	inc, ev := opened("inc_1", t0)
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	key := store.NotificationKey{IncidentID: "inc_1", UserID: "usr_a", ContactMethodID: "cm_hook"}

	requireCode(t, fault.NotFound, s.FinishNotification(ctx, key, store.NotificationSent, ""), "never claimed")

	_, _, err := s.ClaimNotification(ctx, key, "webhook")
	require.NoError(t, err)
	require.Error(t, s.FinishNotification(ctx, key, store.NotificationClaimed, ""), "only sent or failed finish a claim")

	detail := strings.Repeat("é", store.MaxNotificationDetail) // two bytes each
	require.NoError(t, s.FinishNotification(ctx, key, store.NotificationFailed, "\x00"+detail))
	list, err := s.ListNotifications(ctx, "inc_1")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, store.NotificationFailed, list[0].Status)
	require.Len(t, list[0].Detail, store.MaxNotificationDetail)
	require.True(t, utf8.ValidString(list[0].Detail))
	require.Equal(t, 1, list[0].Attempts)
}

func TestClaimNotificationRejects(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	_, _, err := s.ClaimNotification(ctx, store.NotificationKey{IncidentID: "inc_missing", UserID: "usr_a"}, "log")
	requireCode(t, fault.NotFound, err)

	inc, ev := opened("inc_1", t0)
	require.NoError(t, errOf(s.ApplyTransition(ctx, inc, ev)))
	for name, key := range map[string]store.NotificationKey{
		"no incident":    {UserID: "usr_a"},
		"negative step":  {IncidentID: "inc_1", Step: -1},
		"slash in a key": {IncidentID: "inc_1", UserID: "usr/a"},
	} {
		_, _, err := s.ClaimNotification(ctx, key, "log")
		require.Error(t, err, name)
	}
	_, _, err = s.ClaimNotification(ctx, store.NotificationKey{IncidentID: "inc_1"}, "carrier-pigeon")
	require.Error(t, err)
	require.Equal(t, 0, countRows(t, s, `SELECT count(*) FROM notifications`))
}

// lapse ages key's claim past its lease, as if its sender had died.
func lapse(t *testing.T, s *store.Store, key store.NotificationKey) {
	t.Helper()
	_, err := s.Pool().Exec(t.Context(), `UPDATE notifications SET updated_at = now() - $2::bigint * interval '1 millisecond' WHERE key = $1`,
		key.String(), (store.ClaimLease + time.Second).Milliseconds())
	require.NoError(t, err)
}
