package testenv

import (
	"testing"
	"time"

	"github.com/incident-server/incident-server/internal/auth"
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
