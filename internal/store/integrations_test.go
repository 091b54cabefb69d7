package store_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

var integrationKeyShape = regexp.MustCompile(`^(ik_[a-z2-7]{26})\.([a-z2-7]{52})$`)

func createIntegrationService(t *testing.T, s *store.Store, id string) {
	t.Helper()
	_, err := s.CreateService(t.Context(), oncall.Service{ID: id, Name: id})
	require.NoError(t, err)
}

func createIntegrationKey(t *testing.T, s *store.Store, serviceID, name string) (store.IntegrationKey, string) {
	t.Helper()
	k, key, err := s.CreateIntegrationKey(t.Context(), serviceID, name)
	require.NoError(t, err)
	return k, key
}

func TestIntegrationKeyAuthenticates(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	createIntegrationService(t, s, "checkout")

	k, key, err := s.CreateIntegrationKey(ctx, "checkout", "  prometheus  ")
	require.NoError(t, err)
	m := integrationKeyShape.FindStringSubmatch(key)
	require.NotNil(t, m, "key %q", key)
	require.Equal(t, k.ID, m[1], "the key starts with its ID")
	require.Greater(t, len(key), 32, "longer than a PagerDuty routing key")
	require.Equal(t, "checkout", k.ServiceID)
	require.Equal(t, "prometheus", k.Name)
	require.False(t, k.CreatedAt.IsZero())
	require.Nil(t, k.RevokedAt)
	require.Nil(t, k.LastUsedAt)

	_, other := createIntegrationKey(t, s, "checkout", "grafana")
	require.NotEqual(t, key, other)

	got, err := s.AuthenticateIntegrationKey(ctx, key)
	require.NoError(t, err)
	require.Equal(t, k.ID, got.ID)
	require.Equal(t, "checkout", got.ServiceID)
	require.NotNil(t, got.LastUsedAt, "authentication records the use")

	got, err = s.AuthenticateIntegrationKey(ctx, " "+key+"\n")
	require.NoError(t, err, "a key pasted with surrounding whitespace still works")
	require.Equal(t, k.ID, got.ID)
}

func TestIntegrationKeyRecordsUseAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	s := store.New(pool)
	createIntegrationService(t, s, "checkout")
	k, key := createIntegrationKey(t, s, "checkout", "prometheus")

	first, err := s.AuthenticateIntegrationKey(ctx, key)
	require.NoError(t, err)
	require.NotNil(t, first.LastUsedAt)
	listed, err := s.ListIntegrationKeys(ctx, "checkout")
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.Equal(t, first.LastUsedAt, listed[0].LastUsedAt)

	again, err := s.AuthenticateIntegrationKey(ctx, key)
	require.NoError(t, err)
	require.Equal(t, first.LastUsedAt, again.LastUsedAt, "a use within the minute does not rewrite the row")

	var backdated time.Time
	require.NoError(t, pool.QueryRow(ctx, `
		UPDATE integration_keys SET last_used_at = last_used_at - interval '2 minutes'
		WHERE id = $1 RETURNING last_used_at`, k.ID).Scan(&backdated))
	later, err := s.AuthenticateIntegrationKey(ctx, key)
	require.NoError(t, err)
	require.True(t, later.LastUsedAt.After(backdated), "a use over a minute after the last is recorded")
	require.False(t, later.LastUsedAt.Before(*first.LastUsedAt))
	listed, err = s.ListIntegrationKeys(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, later.LastUsedAt, listed[0].LastUsedAt)
}

func TestIntegrationKeyRejectsEveryBadKeyAlike(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	createIntegrationService(t, s, "checkout")
	_, key := createIntegrationKey(t, s, "checkout", "prometheus")
	revokedKey, revoked := createIntegrationKey(t, s, "checkout", "old")
	require.NoError(t, s.RevokeIntegrationKey(ctx, "checkout", revokedKey.ID))

	id, secret, _ := strings.Cut(key, ".")
	wrongSecret := id + "." + strings.Repeat("a", len(secret))
	// A well-formed key that this database never issued.
	elsewhere := newStore(t)
	createIntegrationService(t, elsewhere, "checkout")
	_, stranger := createIntegrationKey(t, elsewhere, "checkout", "elsewhere")
	bad := map[string]string{
		"wrong secret":            wrongSecret,
		"unknown id":              stranger,
		"revoked":                 revoked,
		"empty":                   "",
		"secret only":             secret,
		"id only":                 id,
		"no separator":            id + secret,
		"upper case":              strings.ToUpper(key),
		"truncated":               key[:len(key)-1],
		"extended":                key + "a",
		"pagerduty routing key":   "0123456789abcdef0123456789abcdef",
		"another key's id":        revokedKey.ID + "." + secret,
		"secret of the wrong row": strings.SplitN(revoked, ".", 2)[0] + "." + secret,
	}
	var msgs []string
	for name, candidate := range bad {
		_, err := s.AuthenticateIntegrationKey(ctx, candidate)
		requireCode(t, fault.Unauthorized, err, name)
		msgs = append(msgs, err.Error())
	}
	for _, msg := range msgs {
		require.Equal(t, msgs[0], msg, "the error does not say what was wrong")
	}

	listed, err := s.ListIntegrationKeys(ctx, "checkout")
	require.NoError(t, err)
	for _, l := range listed {
		require.Nil(t, l.LastUsedAt, "failed attempts are not uses")
	}
	_, err = s.AuthenticateIntegrationKey(ctx, key)
	require.NoError(t, err, "the right key still works")
}

func TestIntegrationKeyListNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	createIntegrationService(t, s, "checkout")
	createIntegrationService(t, s, "search")
	_, k1 := createIntegrationKey(t, s, "checkout", "prometheus")
	_, k2 := createIntegrationKey(t, s, "checkout", "grafana")
	createIntegrationKey(t, s, "search", "datadog")

	listed, err := s.ListIntegrationKeys(ctx, "checkout")
	require.NoError(t, err)
	require.Len(t, listed, 2, "only the service's own keys")
	require.Equal(t, "prometheus", listed[0].Name, "oldest first")
	require.Equal(t, "grafana", listed[1].Name)
	raw, err := json.Marshal(listed)
	require.NoError(t, err)
	for _, key := range []string{k1, k2} {
		_, secret, _ := strings.Cut(key, ".")
		require.NotContains(t, string(raw), secret)
	}

	createIntegrationService(t, s, "quiet")
	none, err := s.ListIntegrationKeys(ctx, "quiet")
	require.NoError(t, err)
	require.Empty(t, none)

	_, err = s.ListIntegrationKeys(ctx, "nope")
	requireCode(t, fault.NotFound, err)
}

func TestIntegrationKeyRevoke(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	createIntegrationService(t, s, "checkout")
	createIntegrationService(t, s, "search")
	k, key := createIntegrationKey(t, s, "checkout", "prometheus")

	err := s.RevokeIntegrationKey(ctx, "search", k.ID)
	requireCode(t, fault.NotFound, err, "another service cannot revoke the key")
	requireCode(t, fault.NotFound, s.RevokeIntegrationKey(ctx, "checkout", "ik_unknown"))
	_, err = s.AuthenticateIntegrationKey(ctx, key)
	require.NoError(t, err)

	require.NoError(t, s.RevokeIntegrationKey(ctx, "checkout", k.ID))
	_, err = s.AuthenticateIntegrationKey(ctx, key)
	requireCode(t, fault.Unauthorized, err)
	listed, err := s.ListIntegrationKeys(ctx, "checkout")
	require.NoError(t, err)
	require.Len(t, listed, 1, "a revoked key stays listed")
	require.NotNil(t, listed[0].RevokedAt)

	require.NoError(t, s.RevokeIntegrationKey(ctx, "checkout", k.ID), "revoking twice succeeds")
	again, err := s.ListIntegrationKeys(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, listed[0].RevokedAt, again[0].RevokedAt, "and keeps the first revocation time")
}

func TestIntegrationKeyBelongsToAnExistingService(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	_, key, err := s.CreateIntegrationKey(ctx, "nope", "prometheus")
	requireCode(t, fault.NotFound, err)
	require.Empty(t, key)

	createIntegrationService(t, s, "checkout")
	_, _, err = s.CreateIntegrationKey(ctx, "checkout", "   ")
	requireValidation(t, err, "name")
	_, _, err = s.CreateIntegrationKey(ctx, "checkout", strings.Repeat("x", oncall.MaxNameLen+1))
	requireValidation(t, err, "name")

	_, key = createIntegrationKey(t, s, "checkout", "prometheus")
	require.NoError(t, s.DeleteService(ctx, "checkout"))
	_, err = s.AuthenticateIntegrationKey(ctx, key)
	requireCode(t, fault.Unauthorized, err, "deleting the service retires its keys")
}
