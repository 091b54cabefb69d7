package testenv

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/incident-server/incident-server/internal/auth"
	"github.com/incident-server/incident-server/internal/secret"
	"github.com/incident-server/incident-server/internal/store"
)

// JWTSecret signs every test's user tokens. It is a test fixture, never a
// deployment's secret.
const JWTSecret = "test-secret-of-at-least-thirty-two-bytes"

// Tokens returns user-token verification with the tests' fixed secret.
func Tokens(t testing.TB) *auth.Tokens {
	t.Helper()
	tk, err := auth.NewTokens([]byte(JWTSecret))
	if err != nil {
		t.Fatalf("test tokens: %v", err)
	}
	return tk
}

// Token mints a user token with role for the user named after the role
// ("admin", "responder", "viewer"), valid for an hour.
func Token(t testing.TB, role auth.Role) string {
	t.Helper()
	return TokenFor(t, string(role), role)
}

// TokenFor mints a user token for user with role, valid for an hour.
func TokenFor(t testing.TB, user string, role auth.Role) string {
	t.Helper()
	tok, err := Tokens(t).Mint(user, role, time.Hour)
	if err != nil {
		t.Fatalf("mint %s token: %v", role, err)
	}
	return tok
}

// SecretsKey is the keyring entry (secrets.keys) of every test stack and
// store: it seals and opens test webhook URLs. A test fixture, never a
// deployment's key.
const SecretsKey = "test:dGVzdC1rZXktb2YtZXhhY3RseS10aGlydHktdHdvISE="

// Keyring returns the keyring of the tests' fixed key.
func Keyring(t testing.TB) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring([]string{SecretsKey})
	if err != nil {
		t.Fatalf("test keyring: %v", err)
	}
	return k
}

// Store returns a store on pool that seals with the tests' keyring.
func Store(t testing.TB, pool *pgxpool.Pool) *store.Store {
	t.Helper()
	s := store.New(pool)
	s.SetKeyring(Keyring(t))
	return s
}
