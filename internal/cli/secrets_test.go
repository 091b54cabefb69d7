package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/secret"
	"github.com/incident-server/incident-server/internal/testenv"
)

func TestSecretsGenerateKeyPrintsAKeyringEntry(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, "secrets", "generate-key", "-id", "k2026")
	require.Equal(t, 0, code, errOut)
	key := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(key, "k2026:"), key)
	k, err := secret.NewKeyring([]string{key})
	require.NoError(t, err)
	require.Equal(t, "k2026", k.Primary())

	code, out, _ = runCmd(t, "secrets", "generate-key")
	require.Equal(t, 0, code)
	_, err = secret.NewKeyring([]string{strings.TrimSpace(out)})
	require.NoError(t, err, "the default ID is valid")
	require.NotEqual(t, key, strings.TrimSpace(out))

	code, _, errOut = runCmd(t, "secrets", "generate-key", "-id", "no spaces")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "key ID")
	code, _, errOut = runCmd(t, "secrets")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "generate-key")
}

// The documented rotation: a new key first, the old one after it, rotate,
// then the new key alone opens everything. Outside development, no keys is
// an error that says how to make one.
func TestSecretsRotateMovesStoredURLsToThePrimaryKey(t *testing.T) {
	db := testenv.PostgresURL(t)
	st := openStore(t, db)
	u := oncall.User{Name: "Ann", Email: "ann@example.com", ContactMethods: []oncall.ContactMethod{
		{Type: oncall.ContactWebhook, URL: "https://hooks.example.com/ann", Format: oncall.WebhookSlack}}}
	u.Normalize()
	u, err := st.CreateUser(t.Context(), u)
	require.NoError(t, err)

	t.Setenv("DATABASE_URL", db)
	t.Setenv("ENVIRONMENT", "production")
	t.Setenv("INCIDENT_SECRETS_KEYS", "")
	code, _, errOut := runCmd(t, "secrets", "rotate")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "secrets.keys is not set")
	require.Contains(t, errOut, "incident-server secrets generate-key")

	next, err := secret.GenerateKey("next")
	require.NoError(t, err)
	t.Setenv("INCIDENT_SECRETS_KEYS", next+","+testenv.SecretsKey)
	code, out, errOut := runCmd(t, "secrets", "rotate")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "webhook URLs under key next: 1 resealed from older keys, 0 sealed (were in clear), 0 already under it")
	require.Contains(t, out, "the other keys (test) can be removed")
	code, out, errOut = runCmd(t, "secrets", "rotate")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "0 resealed from older keys, 0 sealed (were in clear), 1 already under it")

	k, err := secret.NewKeyring([]string{next})
	require.NoError(t, err)
	st.SetKeyring(k)
	got, err := st.GetUser(t.Context(), u.ID)
	require.NoError(t, err)
	require.Equal(t, "https://hooks.example.com/ann", got.ContactMethods[0].URL)
}

// Outside development, api and worker refuse to start without
// secrets.keys, saying which setting to set and how to make a key.
func TestServersRefuseToStartWithoutKeysOutsideDevelopment(t *testing.T) {
	t.Setenv("DATABASE_URL", testenv.PostgresURL(t))
	t.Setenv("REDIS_ADDR", testenv.RedisAddr(t))
	t.Setenv("ENVIRONMENT", "production")
	t.Setenv("INCIDENT_AUTH_JWT_SECRET", testenv.JWTSecret)
	t.Setenv("INCIDENT_SECRETS_KEYS", "")
	t.Setenv("INCIDENT_SERVER_ADDR", "127.0.0.1:0")
	for _, cmd := range []string{"api", "worker"} {
		code, _, errOut := runCmd(t, cmd)
		require.Equal(t, 1, code, cmd)
		require.Contains(t, errOut, "secrets.keys is not set", cmd)
		require.Contains(t, errOut, "incident-server secrets generate-key", cmd)
	}
}
