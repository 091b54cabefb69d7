package store_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/secret"
	"github.com/incident-server/incident-server/internal/store"
	"github.com/incident-server/incident-server/internal/testenv"
)

const slackURL = "https://hooks.slack.com/services/T0001/B0001/sEcReTsEcReTsEcReT"

// Keys of a rotation: old is the tests' key, fresh the one rotated to.
var fresh = func() string {
	k, err := secret.GenerateKey("fresh")
	if err != nil {
		panic(err)
	}
	return k
}()

func keyring(t *testing.T, keys ...string) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(keys)
	require.NoError(t, err)
	return k
}

// storedURL reads contact_methods.url and url_hash as Postgres holds them.
func storedURL(t *testing.T, pool *pgxpool.Pool, id string) (url string, hash *string) {
	t.Helper()
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT url, url_hash FROM contact_methods WHERE id = $1`, id).Scan(&url, &hash))
	return url, hash
}

func webhookUser(name, url string) oncall.User {
	u := oncall.User{Name: name, Email: strings.ToLower(name) + "@example.com", ContactMethods: []oncall.ContactMethod{
		{Type: oncall.ContactPush, Platform: oncall.PlatformIOS, Token: "device-" + name},
		{Type: oncall.ContactWebhook, URL: url, Format: oncall.WebhookSlack},
	}}
	u.Normalize()
	return u
}

// Postgres holds webhook URLs sealed and bound to their row; every reader
// of the store sees them plain; device tokens stay in clear.
func TestWebhookURLsAreStoredSealed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	s := testenv.Store(t, pool)
	u, err := s.CreateUser(ctx, webhookUser("Ann", slackURL))
	require.NoError(t, err)
	require.Equal(t, slackURL, u.ContactMethods[1].URL)

	cm := u.ContactMethods[1]
	raw, hash := storedURL(t, pool, cm.ID)
	require.True(t, secret.IsSealed(raw), "stored %q", raw)
	require.NotContains(t, raw, "sEcReT")
	require.NotNil(t, hash)
	require.Equal(t, store.URLHash(slackURL), *hash)
	var storedToken string
	require.NoError(t, pool.QueryRow(ctx, `SELECT token FROM contact_methods WHERE id = $1`, u.ContactMethods[0].ID).Scan(&storedToken))
	require.Equal(t, "device-Ann", storedToken, "device tokens are not sealed")

	got, err := s.GetUser(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, slackURL, got.ContactMethods[1].URL)
	list, err := s.ListUsers(ctx)
	require.NoError(t, err)
	require.Equal(t, slackURL, list[0].ContactMethods[1].URL)
	byID, err := s.GetUsers(ctx, []string{u.ID})
	require.NoError(t, err)
	require.Equal(t, slackURL, byID[u.ID].ContactMethods[1].URL)

	// A sealed URL moved to another row does not open there.
	other, err := s.CreateUser(ctx, webhookUser("Bob", "https://hooks.example.com/bob"))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE contact_methods SET url = $1 WHERE id = $2`, raw, other.ContactMethods[1].ID)
	require.NoError(t, err)
	_, err = s.GetUser(ctx, other.ID)
	require.Equal(t, fault.Internal, fault.CodeOf(err), "%v", err)

	// Without the key, a sealed URL neither opens nor is written in clear.
	bare := store.New(pool)
	_, err = bare.GetUser(ctx, u.ID)
	require.ErrorContains(t, err, "no keyring")
	_, err = bare.CreateUser(ctx, webhookUser("Cy", "https://hooks.example.com/cy"))
	require.ErrorContains(t, err, "no keyring")
	require.Equal(t, fault.Internal, fault.CodeOf(err))
}

// The unique index compares URL hashes, so a user still cannot list one
// webhook twice, even in two concurrent writes that each passed the check.
func TestWebhookUniquenessSurvivesSealing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	s := testenv.Store(t, pool)
	u, err := s.CreateUser(ctx, webhookUser("Ann", slackURL))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO contact_methods (id, user_id, type, url, url_hash) VALUES ('cm_dup', $1, 'webhook', 'x', $2)`,
		u.ID, store.URLHash(slackURL))
	require.ErrorContains(t, err, "contact_methods_webhook_key")

	// Another user may use the same URL; the same user may swap methods.
	_, err = s.CreateUser(ctx, webhookUser("Bob", slackURL))
	require.NoError(t, err)
	u.ContactMethods = append(u.ContactMethods, oncall.ContactMethod{Type: oncall.ContactWebhook, URL: slackURL + "/2", Format: oncall.WebhookJSON})
	u.ContactMethods[1].URL, u.ContactMethods[2].URL = u.ContactMethods[2].URL, u.ContactMethods[1].URL
	u, err = s.UpdateUser(ctx, u)
	require.NoError(t, err)
	require.Equal(t, slackURL+"/2", u.ContactMethods[1].URL)
}

// Rotation: rows in clear (written before sealing) read as they are, then
// rotate seals them; a new primary reseals what the old key sealed; once
// done the old key can go; a second run changes nothing.
func TestRotateSecretsSealsAndReseals(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testenv.Postgres(t)
	s := testenv.Store(t, pool)
	sealedUser, err := s.CreateUser(ctx, webhookUser("Ann", slackURL))
	require.NoError(t, err)
	plainUser, err := s.CreateUser(ctx, webhookUser("Bob", "https://hooks.example.com/bob"))
	require.NoError(t, err)
	legacy := plainUser.ContactMethods[1].ID
	// As a row written before 0011, or imported from an export of that time.
	_, err = pool.Exec(ctx, `UPDATE contact_methods SET url = 'https://hooks.example.com/bob', url_hash = NULL WHERE id = $1`, legacy)
	require.NoError(t, err)
	got, err := s.GetUser(ctx, plainUser.ID)
	require.NoError(t, err)
	require.Equal(t, "https://hooks.example.com/bob", got.ContactMethods[1].URL, "a plain row still reads")

	rotated := store.New(pool)
	rotated.SetKeyring(keyring(t, fresh, testenv.SecretsKey))
	res, err := rotated.RotateSecrets(ctx)
	require.NoError(t, err)
	require.Equal(t, store.RotateResult{Resealed: 1, Sealed: 1, Hashed: 1}, res)
	for _, id := range []string{sealedUser.ContactMethods[1].ID, legacy} {
		raw, hash := storedURL(t, pool, id)
		keyID, err := secret.KeyID(raw)
		require.NoError(t, err)
		require.Equal(t, "fresh", keyID)
		require.NotNil(t, hash)
	}
	_, hash := storedURL(t, pool, legacy)
	require.Equal(t, store.URLHash("https://hooks.example.com/bob"), *hash)

	again, err := rotated.RotateSecrets(ctx)
	require.NoError(t, err)
	require.Equal(t, store.RotateResult{Unchanged: 2}, again)

	onlyNew := store.New(pool)
	onlyNew.SetKeyring(keyring(t, fresh))
	for id, want := range map[string]string{sealedUser.ID: slackURL, plainUser.ID: "https://hooks.example.com/bob"} {
		u, err := onlyNew.GetUser(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, u.ContactMethods[1].URL)
	}

	// A value whose key is gone fails the rotation, which changes nothing.
	_, err = pool.Exec(ctx, `UPDATE contact_methods SET url = 'https://hooks.example.com/new' WHERE id = $1`, legacy)
	require.NoError(t, err)
	before, _ := storedURL(t, pool, legacy)
	_, err = s.RotateSecrets(ctx) // the tests' key alone: "fresh" is unknown to it
	require.ErrorIs(t, err, secret.ErrUnknownKey)
	after, _ := storedURL(t, pool, legacy)
	require.Equal(t, before, after)
}

// The cache form of a user has its webhook URLs sealed, and opens back.
func TestSealContactsForCaches(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	u, err := s.CreateUser(t.Context(), webhookUser("Ann", slackURL))
	require.NoError(t, err)
	sealed, err := s.SealContacts(u)
	require.NoError(t, err)
	raw, err := json.Marshal(sealed)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "sEcReT")
	require.Equal(t, "device-Ann", sealed.ContactMethods[0].Token)
	require.Equal(t, slackURL, u.ContactMethods[1].URL, "the argument is not changed")
	opened, err := s.OpenContacts(sealed)
	require.NoError(t, err)
	require.Equal(t, u, opened)
}
