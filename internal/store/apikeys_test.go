package store_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/store"
)

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	k, key, err := s.CreateAPIKey(ctx, store.NewAPIKey{Name: " chatops ", Role: "responder", CreatedBy: "alice"})
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^ak_[a-z2-7]{26}\.[a-z2-7]{52}$`), key)
	require.True(t, strings.HasPrefix(key, k.ID+"."), "the key starts with its row's ID")
	require.Equal(t, "chatops", k.Name)
	require.Nil(t, k.LastUsedAt)

	got, err := s.AuthenticateAPIKey(ctx, " "+key+"\n")
	require.NoError(t, err)
	require.Equal(t, k.ID, got.ID)
	require.Equal(t, "responder", got.Role)
	require.NotNil(t, got.LastUsedAt, "use is recorded")

	var hash []byte
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT secret_hash FROM api_keys WHERE id = $1`, k.ID).Scan(&hash))
	require.NotContains(t, string(hash), key[len(k.ID)+1:], "only a hash of the secret is stored")

	wrong := key[:len(key)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(key, "a")]
	for name, bad := range map[string]string{"wrong secret": wrong, "garbage": "ak_x.y", "empty": "", "integration key shape": "ik_" + key[3:]} {
		_, err := s.AuthenticateAPIKey(ctx, bad)
		requireCode(t, fault.Unauthorized, err, name)
	}

	require.NoError(t, s.RevokeAPIKey(ctx, k.ID))
	require.NoError(t, s.RevokeAPIKey(ctx, k.ID), "revoking twice succeeds")
	_, err = s.AuthenticateAPIKey(ctx, key)
	requireCode(t, fault.Unauthorized, err, "a revoked key is refused")
	requireCode(t, fault.NotFound, s.RevokeAPIKey(ctx, "ak_missing"))

	keys, err := s.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NotNil(t, keys[0].RevokedAt, "a revoked key stays listed")
}

func TestAPIKeyExpires(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	soon := time.Now().Add(time.Hour)
	k, key, err := s.CreateAPIKey(ctx, store.NewAPIKey{Name: "ci", Role: "viewer", ExpiresAt: &soon})
	require.NoError(t, err)
	_, err = s.AuthenticateAPIKey(ctx, key)
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, k.ID)
	require.NoError(t, err)
	_, err = s.AuthenticateAPIKey(ctx, key)
	requireCode(t, fault.Unauthorized, err, "an expired key is refused")

	past := time.Now().Add(-time.Minute)
	_, _, err = s.CreateAPIKey(ctx, store.NewAPIKey{Name: "old", Role: "viewer", ExpiresAt: &past})
	requireCode(t, fault.Invalid, err)
	_, _, err = s.CreateAPIKey(ctx, store.NewAPIKey{Name: " ", Role: "viewer"})
	requireCode(t, fault.Invalid, err)
}
