package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func tokensAt(t *testing.T, now time.Time) *auth.Tokens {
	t.Helper()
	tk, err := auth.NewTokens(secret)
	require.NoError(t, err)
	tk.Now = func() time.Time { return now }
	return tk
}

func segment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

// forge signs arbitrary header and claims with key, as a foreign issuer or
// an attacker holding the wrong key would.
func forge(t *testing.T, key []byte, header, claims any) string {
	t.Helper()
	signed := segment(t, header) + "." + segment(t, claims)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestMintedTokenVerifies(t *testing.T) {
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	tk := tokensAt(t, now)
	tok, err := tk.Mint("alice", auth.Responder, time.Hour)
	require.NoError(t, err)
	c, err := tk.Verify(tok)
	require.NoError(t, err)
	require.Equal(t, auth.Claims{Subject: "alice", Role: auth.Responder, IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}, c)

	// What Mint writes is a plain HS256 JWT that any JWT library reads.
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"alg":"HS256","typ":"JWT"}`, string(header))
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	require.JSONEq(t, fmt.Sprintf(`{"sub":"alice","role":"responder","iat":%d,"exp":%d}`, now.Unix(), now.Add(time.Hour).Unix()), string(payload))
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	tk := tokensAt(t, now)
	hs := map[string]string{"alg": "HS256", "typ": "JWT"}
	claims := func(mut func(m map[string]any)) map[string]any {
		m := map[string]any{"sub": "alice", "role": "admin", "exp": now.Add(time.Hour).Unix()}
		if mut != nil {
			mut(m)
		}
		return m
	}
	good := forge(t, secret, hs, claims(nil))
	_, err := tk.Verify(good)
	require.NoError(t, err, "the forging helper signs like Mint")

	expired, err := tokensAt(t, now.Add(-2*time.Hour)).Mint("alice", auth.Admin, time.Hour)
	require.NoError(t, err)
	parts := strings.Split(good, ".")

	cases := map[string]struct {
		token string
		want  error
	}{
		"expired":         {expired, auth.ErrExpiredToken},
		"not yet valid":   {forge(t, secret, hs, claims(func(m map[string]any) { m["nbf"] = now.Add(10 * time.Minute).Unix() })), auth.ErrInvalidToken},
		"wrong signature": {forge(t, []byte("another secret of thirty-two bytes!!"), hs, claims(nil)), auth.ErrInvalidToken},
		"alg none":        {segment(t, map[string]string{"alg": "none"}) + "." + segment(t, claims(nil)) + ".", auth.ErrInvalidToken},
		"alg none signed": {forge(t, secret, map[string]string{"alg": "none", "typ": "JWT"}, claims(nil)), auth.ErrInvalidToken},
		"alg HS512":       {forge(t, secret, map[string]string{"alg": "HS512"}, claims(nil)), auth.ErrInvalidToken},
		"alg HS384":       {forge(t, secret, map[string]string{"alg": "HS384", "typ": "JWT"}, claims(nil)), auth.ErrInvalidToken},
		// The secret used as an HMAC key under an asymmetric algorithm's
		// name: the classic algorithm-confusion forgery.
		"alg RS256":      {forge(t, secret, map[string]string{"alg": "RS256", "typ": "JWT"}, claims(nil)), auth.ErrInvalidToken},
		"alg ES256":      {forge(t, secret, map[string]string{"alg": "ES256", "typ": "JWT"}, claims(nil)), auth.ErrInvalidToken},
		"alg missing":    {forge(t, secret, map[string]string{"typ": "JWT"}, claims(nil)), auth.ErrInvalidToken},
		"alg lower case": {forge(t, secret, map[string]string{"alg": "hs256", "typ": "JWT"}, claims(nil)), auth.ErrInvalidToken},
		"exp not number": {forge(t, secret, hs, claims(func(m map[string]any) { m["exp"] = "tomorrow" })), auth.ErrInvalidToken},
		"nbf not number": {forge(t, secret, hs, claims(func(m map[string]any) { m["nbf"] = "now" })), auth.ErrInvalidToken},
		"no role":        {forge(t, secret, hs, claims(func(m map[string]any) { delete(m, "role") })), auth.ErrInvalidToken},
		"sub too long":   {forge(t, secret, hs, claims(func(m map[string]any) { m["sub"] = strings.Repeat("a", auth.MaxSubjectLen+1) })), auth.ErrInvalidToken},
		// An expired token under the wrong key says nothing about expiry:
		// the signature is checked before any claim.
		"expired and wrong signature": {forge(t, []byte("another secret of thirty-two bytes!!"), hs, claims(func(m map[string]any) { m["exp"] = now.Add(-time.Hour).Unix() })), auth.ErrInvalidToken},
		"not json claims":             {parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("alice")) + "." + parts[2], auth.ErrInvalidToken},
		"wrong role":                  {forge(t, secret, hs, claims(func(m map[string]any) { m["role"] = "superuser" })), auth.ErrInvalidToken},
		"role not string":             {forge(t, secret, hs, claims(func(m map[string]any) { m["role"] = 3 })), auth.ErrInvalidToken},
		"no exp":                      {forge(t, secret, hs, claims(func(m map[string]any) { delete(m, "exp") })), auth.ErrInvalidToken},
		"no sub":                      {forge(t, secret, hs, claims(func(m map[string]any) { m["sub"] = " " })), auth.ErrInvalidToken},
		"two parts":                   {parts[0] + "." + parts[1], auth.ErrInvalidToken},
		"garbage":                     {"not a token", auth.ErrInvalidToken},
		"empty":                       {"", auth.ErrInvalidToken},
		"tampered claims":             {parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","role":"admin","exp":9999999999}`)) + "." + parts[2], auth.ErrInvalidToken},
		"bad base64 sig":              {parts[0] + "." + parts[1] + ".!!!", auth.ErrInvalidToken},
		"oversized":                   {strings.Repeat("a", 5000), auth.ErrInvalidToken},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := tk.Verify(tc.token)
			require.Error(t, err)
			require.True(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
			other := auth.ErrExpiredToken
			if tc.want == auth.ErrExpiredToken {
				other = auth.ErrInvalidToken
			}
			require.False(t, errors.Is(err, other), "%v is not also %v", err, other)
			require.Equal(t, auth.Claims{}, c, "a refused token yields no claims")
		})
	}
}

func TestVerifyRefusesOtherAlgorithmsCorrectlySigned(t *testing.T) {
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	tk := tokensAt(t, now)
	claims := jwt.MapClaims{"sub": "alice", "role": "admin", "exp": now.Add(time.Hour).Unix()}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		method jwt.SigningMethod
		key    any
	}{
		{jwt.SigningMethodRS256, rsaKey},
		{jwt.SigningMethodPS256, rsaKey},
		{jwt.SigningMethodES256, ecKey},
		{jwt.SigningMethodHS512, secret},
	} {
		signed, err := jwt.NewWithClaims(tc.method, claims).SignedString(tc.key)
		require.NoError(t, err)
		_, err = tk.Verify(signed)
		require.ErrorIs(t, err, auth.ErrInvalidToken, "%s, signed with its own kind of key", tc.method.Alg())
	}
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	_, err = tk.Verify(unsigned)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "alg none")
}

func TestLeewayForgivesSmallSkewOnNotBefore(t *testing.T) {
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	tk := tokensAt(t, now)
	hs := map[string]string{"alg": "HS256", "typ": "JWT"}
	soon := forge(t, secret, hs, map[string]any{"sub": "alice", "role": "viewer", "nbf": now.Add(20 * time.Second).Unix(), "exp": now.Add(time.Hour).Unix()})
	c, err := tk.Verify(soon)
	require.NoError(t, err, "nbf 20 s ahead is within the 30 s leeway")
	require.Equal(t, now.Add(20*time.Second).Unix(), c.NotBefore)
	later := forge(t, secret, hs, map[string]any{"sub": "alice", "role": "viewer", "nbf": now.Add(time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()})
	_, err = tk.Verify(later)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "nbf a minute ahead is not")

	tk.Leeway = 0
	_, err = tk.Verify(soon)
	require.ErrorIs(t, err, auth.ErrInvalidToken, "without leeway nbf is exact")
}

func TestLeewayForgivesSmallSkew(t *testing.T) {
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	tok, err := tokensAt(t, now).Mint("alice", auth.Viewer, time.Minute)
	require.NoError(t, err)
	_, err = tokensAt(t, now.Add(time.Minute+10*time.Second)).Verify(tok)
	require.NoError(t, err, "10 s past exp is within the 30 s leeway")
	_, err = tokensAt(t, now.Add(time.Minute+time.Minute)).Verify(tok)
	require.ErrorIs(t, err, auth.ErrExpiredToken)
}

func TestMintRefusesBadInput(t *testing.T) {
	tk := tokensAt(t, time.Now())
	for name, f := range map[string]func() (string, error){
		"empty user":   func() (string, error) { return tk.Mint(" ", auth.Admin, time.Hour) },
		"unknown role": func() (string, error) { return tk.Mint("bob", auth.Role("root"), time.Hour) },
		"zero ttl":     func() (string, error) { return tk.Mint("bob", auth.Admin, 0) },
	} {
		_, err := f()
		require.Error(t, err, name)
	}
	_, err := auth.NewTokens([]byte("short"))
	require.ErrorContains(t, err, "at least 32")
}

func TestRoles(t *testing.T) {
	require.True(t, auth.Admin.Allows(auth.Responder))
	require.True(t, auth.Responder.Allows(auth.Viewer))
	require.True(t, auth.Viewer.Allows(auth.Viewer))
	require.False(t, auth.Viewer.Allows(auth.Responder))
	require.False(t, auth.Responder.Allows(auth.Admin))
	require.False(t, auth.Role("root").Allows(auth.Viewer))
	r, err := auth.ParseRole(" Admin ")
	require.NoError(t, err)
	require.Equal(t, auth.Admin, r)
	_, err = auth.ParseRole("owner")
	require.Error(t, err)
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	_, err := auth.LoadSecret("", "")
	require.ErrorContains(t, err, "INCIDENT_AUTH_JWT_SECRET")
	b, err := auth.LoadSecret("inline", filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.Equal(t, "inline", string(b))
	file := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(file, []byte("from-file\n"), 0o600))
	b, err = auth.LoadSecret("", file)
	require.NoError(t, err)
	require.Equal(t, "from-file", string(b))

	first, err := auth.DevSecret(dir)
	require.NoError(t, err)
	require.Len(t, first, 64)
	again, err := auth.DevSecret(dir)
	require.NoError(t, err)
	require.Equal(t, first, again, "the dev secret is made once and kept")
	info, err := os.Stat(filepath.Join(dir, "jwt-secret"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}
