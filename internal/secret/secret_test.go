package secret_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/incident-server/incident-server/internal/secret"
)

// Fixed test keys: 32 bytes each, in the forms operators paste.
var (
	k1 = "k1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	k2 = "k2:" + base64.RawURLEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	// k1 under the same ID but other bytes: what a mistyped key looks like.
	k1Other = "k1:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdeX"))
)

const (
	slackURL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
	ctxURL   = "contact_method:cm_01:url"
)

func ring(t *testing.T, keys ...string) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(keys)
	require.NoError(t, err)
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := ring(t, k1)
	for _, plain := range []string{slackURL, "", "ünïcödé token ✓", strings.Repeat("x", secret.MaxPlaintext)} {
		sealed, err := k.Seal(plain, ctxURL)
		require.NoError(t, err)
		require.True(t, secret.IsSealed(sealed))
		require.True(t, strings.HasPrefix(sealed, "enc:v1:k1:"), sealed)
		if plain != "" {
			require.NotContains(t, sealed, plain)
		}
		got, err := k.Open(sealed, ctxURL)
		require.NoError(t, err)
		require.Equal(t, plain, got)
	}
}

func TestSealingTwiceGivesDifferentTexts(t *testing.T) {
	t.Parallel()
	k := ring(t, k1)
	a, err := k.Seal(slackURL, ctxURL)
	require.NoError(t, err)
	b, err := k.Seal(slackURL, ctxURL)
	require.NoError(t, err)
	require.NotEqual(t, a, b, "a fresh nonce per seal")
}

func TestSealRefusesLongValues(t *testing.T) {
	t.Parallel()
	_, err := ring(t, k1).Seal(strings.Repeat("x", secret.MaxPlaintext+1), ctxURL)
	require.ErrorContains(t, err, "at most 65536")
}

func TestOpenFailures(t *testing.T) {
	t.Parallel()
	k := ring(t, k1)
	sealed, err := k.Seal(slackURL, ctxURL)
	require.NoError(t, err)
	body := strings.TrimPrefix(sealed, "enc:v1:k1:")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	require.NoError(t, err)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return "enc:v1:k1:" + base64.RawURLEncoding.EncodeToString(b)
	}

	tests := []struct {
		name    string
		ring    *secret.Keyring
		sealed  string
		context string
		want    error
	}{
		{"wrong key under the same ID", ring(t, k1Other), sealed, ctxURL, secret.ErrOpen},
		{"wrong context: moved to another row", k, sealed, "contact_method:cm_02:url", secret.ErrOpen},
		{"wrong context: empty", k, sealed, "", secret.ErrOpen},
		{"nonce altered", k, flip(0), ctxURL, secret.ErrOpen},
		{"ciphertext altered", k, flip(14), ctxURL, secret.ErrOpen},
		{"tag altered", k, flip(len(raw) - 1), ctxURL, secret.ErrOpen},
		{"truncated", k, sealed[:len(sealed)-4], ctxURL, secret.ErrOpen},
		{"key ID swapped", ring(t, k1, strings.Replace(k1, "k1:", "k9:", 1)), strings.Replace(sealed, ":k1:", ":k9:", 1), ctxURL, secret.ErrOpen},
		{"unknown key ID", ring(t, k2), sealed, ctxURL, secret.ErrUnknownKey},
		{"plain URL", k, slackURL, ctxURL, secret.ErrNotSealed},
		{"other version", k, strings.Replace(sealed, "enc:v1:", "enc:v2:", 1), ctxURL, secret.ErrNotSealed},
		{"not base64url", k, "enc:v1:k1:" + strings.Repeat("+", 40), ctxURL, secret.ErrNotSealed},
		{"too short to hold a nonce and tag", k, "enc:v1:k1:AAAA", ctxURL, secret.ErrNotSealed},
		{"no key ID", k, "enc:v1:" + body, ctxURL, secret.ErrNotSealed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.ring.Open(tt.sealed, tt.context)
			require.ErrorIs(t, err, tt.want)
			require.Empty(t, got)
			require.NotContains(t, err.Error(), "SECRET")
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old := ring(t, k1)
	sealed, err := old.Seal(slackURL, ctxURL)
	require.NoError(t, err)

	// The new key goes first; the old one stays to open what it sealed.
	rotated := ring(t, k2, k1)
	require.Equal(t, "k2", rotated.Primary())
	require.Equal(t, []string{"k2", "k1"}, rotated.KeyIDs())
	got, err := rotated.Open(sealed, ctxURL)
	require.NoError(t, err)
	require.Equal(t, slackURL, got)

	resealed, changed, err := rotated.Reseal(sealed, ctxURL)
	require.NoError(t, err)
	require.True(t, changed)
	id, err := secret.KeyID(resealed)
	require.NoError(t, err)
	require.Equal(t, "k2", id)
	got, err = ring(t, k2).Open(resealed, ctxURL)
	require.NoError(t, err, "once resealed, the old key can leave the ring")
	require.Equal(t, slackURL, got)

	again, changed, err := rotated.Reseal(resealed, ctxURL)
	require.NoError(t, err)
	require.False(t, changed, "already under the primary")
	require.Equal(t, resealed, again)

	fresh, err := rotated.Seal(slackURL, ctxURL)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(fresh, "enc:v1:k2:"))

	_, _, err = rotated.Reseal(sealed, "contact_method:cm_02:url")
	require.ErrorIs(t, err, secret.ErrOpen)
	_, _, err = ring(t, k2).Reseal(sealed, ctxURL)
	require.ErrorIs(t, err, secret.ErrUnknownKey)
	_, _, err = rotated.Reseal(slackURL, ctxURL)
	require.ErrorIs(t, err, secret.ErrNotSealed)
}

func TestNewKeyringErrors(t *testing.T) {
	t.Parallel()
	short := "k3:" + base64.StdEncoding.EncodeToString([]byte("only sixteen byt"))
	tests := []struct {
		name string
		keys []string
		want string
	}{
		{"none", nil, "keyring: no keys"},
		{"no ID", []string{k1, base64.StdEncoding.EncodeToString(make([]byte, 32))}, `keyring: key 2: want "<id>:<base64 key>"`},
		{"empty ID", []string{":" + strings.TrimPrefix(k1, "k1:")}, `keyring: key 1: key ID "": want 1 to 32 letters`},
		{"bad ID", []string{"key one:" + strings.TrimPrefix(k1, "k1:")}, `keyring: key 1: key ID "key one": want 1 to 32 letters`},
		{"bad base64", []string{"k1:not*base64!"}, `keyring: key 1: key "k1" is not base64`},
		{"wrong length", []string{k1, short}, `keyring: key 2: key "k3" is 16 bytes, want 32`},
		{"duplicate ID", []string{k1, k2, k1Other}, `keyring: key 3: key ID "k1" is used twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := secret.NewKeyring(tt.keys)
			require.ErrorContains(t, err, tt.want)
			for _, k := range tt.keys {
				if _, material, ok := strings.Cut(k, ":"); ok && len(material) > 8 {
					require.NotContains(t, err.Error(), material, "errors never show key material")
				}
			}
		})
	}
}

func TestKeyFormsAccepted(t *testing.T) {
	t.Parallel()
	raw := []byte("0123456789abcdef0123456789abcd\xfe\xff") // encodes with '+' or '-' and '/' or '_'
	std := base64.StdEncoding.EncodeToString(raw)
	require.True(t, strings.ContainsAny(std, "+/"), std)
	forms := []string{
		"a:" + std,
		"a:" + base64.RawStdEncoding.EncodeToString(raw),
		"a:" + base64.URLEncoding.EncodeToString(raw),
		"a:" + base64.RawURLEncoding.EncodeToString(raw),
		"  a:" + std + "\n",
	}
	sealed, err := ring(t, forms[0]).Seal("x", "c")
	require.NoError(t, err)
	for _, f := range forms {
		got, err := ring(t, f).Open(sealed, "c")
		require.NoError(t, err, "%q", f)
		require.Equal(t, "x", got)
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	a, err := secret.GenerateKey("2026-01")
	require.NoError(t, err)
	b, err := secret.GenerateKey("2026-01")
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	k := ring(t, a)
	require.Equal(t, "2026-01", k.Primary())
	_, err = secret.GenerateKey("no:colons")
	require.Error(t, err)
}

func TestIsSealed(t *testing.T) {
	t.Parallel()
	sealed, err := ring(t, k1).Seal(slackURL, ctxURL)
	require.NoError(t, err)
	require.True(t, secret.IsSealed(sealed))
	for _, s := range []string{"", slackURL, "enc:", "enc:v1:", "enc:v1:k1:", "enc:v1:k1", "enc:v1:k 1:AAAA"} {
		require.False(t, secret.IsSealed(s), "%q", s)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{slackURL, "https://hooks.slack.com/…"},
		{"https://example.com/hook?token=SECRET", "https://example.com/…"},
		{"https://user:SECRET@example.com", "https://example.com/…"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"https://example.com#SECRET", "https://example.com/…"},
		{"hooks.slack.com/services/SECRET", "…"},
		{"enc:v1:k1:AAAA", "…"},
		{"", "…"},
		{"http://[::1", "…"},
	}
	for _, tt := range tests {
		got := secret.Redact(tt.in)
		require.Equal(t, tt.want, got, tt.in)
		require.NotContains(t, got, "SECRET")
	}
}

// The development key is made once, readable by its owner only, and is a
// keyring entry that seals and opens across restarts.
func TestDevKeyIsMadeOnceAndKept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	first, err := secret.DevKey(dir)
	require.NoError(t, err)
	again, err := secret.DevKey(dir)
	require.NoError(t, err)
	require.Equal(t, first, again, "the dev key is made once and kept")
	info, err := os.Stat(filepath.Join(dir, secret.DevKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	sealed, err := ring(t, first).Seal(slackURL, ctxURL)
	require.NoError(t, err)
	plain, err := ring(t, again).Open(sealed, ctxURL)
	require.NoError(t, err)
	require.Equal(t, slackURL, plain)
}
