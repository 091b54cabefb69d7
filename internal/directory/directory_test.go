package directory_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/directory"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/secret"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

func setup(t *testing.T) (*store.Store, *directory.Directory, oncall.User, string) {
	t.Helper()
	ctx := t.Context()
	st := testenv.Store(t, testenv.Postgres(t))
	rdb, prefix := testenv.Redis(t)
	d := directory.New(st, cache.New(rdb, prefix, 0), time.Hour, 24*time.Hour, nil)
	u, err := st.CreateUser(ctx, oncall.User{Name: "Ann", Email: "ann@example.com", TimeZone: "UTC", Role: oncall.RoleResponder})
	require.NoError(t, err)
	p, err := st.CreatePolicy(ctx, oncall.Policy{Name: "primary", Steps: []oncall.Step{
		{Targets: []oncall.Target{{Type: oncall.TargetUser, ID: u.ID}}},
	}})
	require.NoError(t, err)
	_, err = st.CreateService(ctx, oncall.Service{ID: "checkout", Name: "checkout", EscalationPolicyID: p.ID})
	require.NoError(t, err)
	return st, d, u, p.ID
}

func TestUsersAreCachedUntilForgotten(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, d, u, _ := setup(t)

	got, err := d.User(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "Ann", got.Name)

	u.Name = "Ann B."
	_, err = st.UpdateUser(ctx, u)
	require.NoError(t, err)
	got, err = d.User(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "Ann", got.Name, "served from the cache until a writer says it changed")

	d.Forget(ctx)
	got, err = d.User(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, "Ann B.", got.Name)

	_, err = d.User(ctx, "usr_missing")
	require.Equal(t, fault.NotFound, fault.CodeOf(err), "%v", err)
}

func TestEscalationSnapshotsAreCachedUntilForgotten(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, d, _, policyID := setup(t)

	snap, err := d.Escalation(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, int64(1), snap.Version)

	p, err := st.GetPolicy(ctx, policyID)
	require.NoError(t, err)
	p.Name = "primary v2"
	_, err = st.UpdatePolicy(ctx, p)
	require.NoError(t, err)
	snap, err = d.Escalation(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, int64(1), snap.Version)

	d.Forget(ctx)
	snap, err = d.Escalation(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, int64(2), snap.Version)
	require.Equal(t, "primary v2", snap.Name)

	empty, err := d.Escalation(ctx, "no-such-service")
	require.NoError(t, err)
	require.True(t, empty.Empty())
}

// A snapshot read in the last quarter of its lifetime is reloaded, so a
// change reaches hot services before the entry expires.
func TestEscalationRefreshesAhead(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testenv.Store(t, testenv.Postgres(t))
	rdb, prefix := testenv.Redis(t)
	// A 4 s lifetime: a read with less than 1 s left reloads from Postgres.
	d := directory.New(st, cache.New(rdb, prefix, 0), time.Hour, 4*time.Second, nil)
	u, err := st.CreateUser(ctx, oncall.User{Name: "Ann", Email: "ann@example.com", TimeZone: "UTC", Role: oncall.RoleResponder})
	require.NoError(t, err)
	p, err := st.CreatePolicy(ctx, oncall.Policy{Name: "v1", Steps: []oncall.Step{{Targets: []oncall.Target{{Type: oncall.TargetUser, ID: u.ID}}}}})
	require.NoError(t, err)
	_, err = st.CreateService(ctx, oncall.Service{ID: "checkout", Name: "checkout", EscalationPolicyID: p.ID})
	require.NoError(t, err)
	_, err = d.Escalation(ctx, "checkout")
	require.NoError(t, err)
	p.Name = "v2"
	_, err = st.UpdatePolicy(ctx, p)
	require.NoError(t, err)

	// Without any invalidation, the cached v1 gives way to v2 once the entry
	// is in its last quarter, before it expires.
	require.Eventually(t, func() bool {
		snap, err := d.Escalation(ctx, "checkout")
		require.NoError(t, err)
		return snap.Name == "v2"
	}, 10*time.Second, 50*time.Millisecond)
}

func TestRedisDownFallsBackToPostgres(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := testenv.Store(t, testenv.Postgres(t))
	dead := cache.New(cache.NewClient("127.0.0.1:1", "", 0, cache.ClientOptions{DialTimeout: 100 * time.Millisecond}), "x:", 0)
	d := directory.New(st, dead, 0, 0, nil)
	u, err := st.CreateUser(ctx, oncall.User{Name: "Ann", Email: "ann@example.com", TimeZone: "UTC", Role: oncall.RoleResponder})
	require.NoError(t, err)
	got, err := d.User(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	snap, err := d.Escalation(ctx, "anything")
	require.NoError(t, err)
	require.True(t, snap.Empty())
	d.Forget(ctx) // logs, never fails
}

// Redis holds a user's webhook URLs sealed; the directory hands them out in
// clear, and reads Postgres again when a cached entry does not open.
func TestCachedUsersHoldNoPlainWebhookURL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	st := testenv.Store(t, pool)
	rdb, prefix := testenv.Redis(t)
	d := directory.New(st, cache.New(rdb, prefix, 0), time.Hour, 24*time.Hour, nil)
	const hook = "https://hooks.slack.com/services/T1/B1/plainSecretPart"
	u := oncall.User{Name: "Ann", Email: "ann@example.com", ContactMethods: []oncall.ContactMethod{
		{Type: oncall.ContactWebhook, URL: hook, Format: oncall.WebhookSlack}}}
	u.Normalize()
	u, err := st.CreateUser(ctx, u)
	require.NoError(t, err)

	for range 2 { // a miss, then a hit
		got, err := d.User(ctx, u.ID)
		require.NoError(t, err)
		require.Equal(t, hook, got.ContactMethods[0].URL)
	}
	keys, err := rdb.Keys(ctx, prefix+"user:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	cached, err := rdb.Get(ctx, keys[0]).Result()
	require.NoError(t, err)
	require.Contains(t, cached, u.ID)
	require.NotContains(t, cached, "plainSecretPart")
	require.Contains(t, cached, "enc:v1:test:")

	// The cached entry is under a key the directory's store no longer has
	// (rotated out): it reads Postgres, where rotation resealed the URL.
	rotated, err := secret.GenerateKey("next")
	require.NoError(t, err)
	next := store.New(pool)
	ring, err := secret.NewKeyring([]string{rotated, testenv.SecretsKey})
	require.NoError(t, err)
	next.SetKeyring(ring)
	_, err = next.RotateSecrets(ctx)
	require.NoError(t, err)
	only, err := secret.NewKeyring([]string{rotated})
	require.NoError(t, err)
	next.SetKeyring(only)
	got, err := directory.New(next, cache.New(rdb, prefix, 0), time.Hour, 24*time.Hour, nil).User(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, hook, got.ContactMethods[0].URL)
}

func TestNotificationRulesAreCachedUntilForgotten(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, d, u, _ := setup(t)
	u.ContactMethods = []oncall.ContactMethod{{Type: oncall.ContactEmail, Address: "ann@example.com"}}
	u, err := st.UpdateUser(ctx, u)
	require.NoError(t, err)

	got, err := d.NotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Empty(t, got.High)

	_, err = st.SetNotificationRules(ctx, oncall.NotificationRules{UserID: u.ID,
		High: []oncall.NotificationRule{{ContactMethodID: u.ContactMethods[0].ID, Delay: oncall.Duration(time.Minute)}}})
	require.NoError(t, err)
	got, err = d.NotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Empty(t, got.High, "served from the cache until a writer says it changed")

	d.Forget(ctx)
	got, err = d.NotificationRules(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, got.High, 1)
	require.Equal(t, time.Minute, got.High[0].Delay.D())

	_, err = d.NotificationRules(ctx, "usr_missing")
	require.Equal(t, fault.NotFound, fault.CodeOf(err), "%v", err)
}
