// Package secret seals short secrets for storage: webhook URLs (Slack's
// carry their credential in the path) and provider tokens. A value is
// sealed with AES-256-GCM under the primary key of a keyring that comes
// from configuration, and stored in a self-describing text form:
//
//	enc:v1:<key id>:<base64url, unpadded, of nonce ‖ ciphertext ‖ tag>
//
// The nonce is 12 random bytes per seal, so sealing the same value twice
// gives two different texts; with random nonces one key may seal up to
// 2^32 values, far more than this server stores.
//
// Every seal is bound to a context string that the caller chooses and
// passes again to open it, such as "contact_method:<id>:url": the context
// is authenticated (GCM additional data) together with the form's header,
// so a sealed value copied to another row, or another column, does not
// open there. The context is not stored; the caller must be able to
// rebuild it from where the value is kept.
//
// Key rotation: put a new key first in the ring (it becomes the primary
// and seals from then on) and keep the old ones after it, so values sealed
// under them still open. Reseal moves a value to the primary; once every
// stored value carries the primary's ID, the old keys can be removed.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// prefix starts every sealed value: "enc", then the form's version.
const prefix = "enc:v1:"

// KeySize is the length of a key: AES-256.
const KeySize = 32

// maxKeyID bounds a key ID: it is stored in every sealed value.
const maxKeyID = 32

// Errors of Open and Reseal. None of them carries the value or a key.
var (
	// ErrNotSealed: the value is not in the sealed form.
	ErrNotSealed = errors.New("value is not sealed")
	// ErrUnknownKey: the value names a key ID that is not in the keyring.
	ErrUnknownKey = errors.New("sealed under a key that is not in the keyring")
	// ErrOpen: authentication failed. GCM cannot tell which of these it
	// was: another key under the same ID, another context, or an altered
	// value.
	ErrOpen = errors.New("sealed value does not open: wrong key, wrong context or altered")
)

// Keyring holds the keys that open sealed values; the first is the primary,
// which seals. It is safe for concurrent use.
type Keyring struct {
	primary string
	ids     []string
	aeads   map[string]cipher.AEAD
}

// NewKeyring parses keys, each "<id>:<base64 of 32 bytes>", the first being
// the primary. An ID is 1 to 32 letters, digits, '.', '_' or '-'; the key
// may be in the standard or URL-safe base64 alphabet, padded or not (e.g.
// the output of `openssl rand -base64 32`). Errors name a key by position
// and ID, never by its bytes.
func NewKeyring(keys []string) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no keys")
	}
	k := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, entry := range keys {
		id, aead, err := parseKey(entry)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", i+1, err)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("keyring: key %d: key ID %q is used twice", i+1, id)
		}
		k.aeads[id] = aead
		k.ids = append(k.ids, id)
	}
	k.primary = k.ids[0]
	return k, nil
}

func parseKey(entry string) (string, cipher.AEAD, error) {
	id, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
	if !ok {
		return "", nil, errors.New(`want "<id>:<base64 key>"`)
	}
	if !validID(id) {
		return "", nil, fmt.Errorf("key ID %q: want 1 to %d letters, digits, '.', '_' or '-'", id, maxKeyID)
	}
	raw, err := decodeKey(b64)
	if err != nil {
		return "", nil, fmt.Errorf("key %q is not base64", id)
	}
	if len(raw) != KeySize {
		return "", nil, fmt.Errorf("key %q is %d bytes, want %d", id, len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return "", nil, fmt.Errorf("key %q: %w", id, err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return "", nil, fmt.Errorf("key %q: %w", id, err)
	}
	return id, aead, nil
}

// decodeKey accepts the standard and URL-safe alphabets, padded or not.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func validID(id string) bool {
	if id == "" || len(id) > maxKeyID {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// GenerateKey returns a new random key for a keyring, "<id>:<base64>".
func GenerateKey(id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("key ID %q: want 1 to %d letters, digits, '.', '_' or '-'", id, maxKeyID)
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// Primary returns the ID of the key that seals.
func (k *Keyring) Primary() string { return k.primary }

// KeyIDs returns the IDs of the keys in the ring, the primary first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// MaxPlaintext bounds what Seal accepts: secrets are short.
const MaxPlaintext = 64 << 10

// Seal seals plaintext under the primary key, bound to context. It fails
// only for a plaintext longer than MaxPlaintext.
func (k *Keyring) Seal(plaintext, context string) (string, error) {
	if len(plaintext) > MaxPlaintext {
		return "", fmt.Errorf("seal: value is %d bytes, at most %d are sealed", len(plaintext), MaxPlaintext)
	}
	return k.seal(k.primary, plaintext, context), nil
}

func (k *Keyring) seal(id, plaintext, context string) string {
	out := k.aeads[id].Seal(nil, nil, []byte(plaintext), additionalData(id, context))
	return prefix + id + ":" + base64.RawURLEncoding.EncodeToString(out)
}

// additionalData authenticates the form's header (version and key ID) with
// the caller's context. A key ID holds no ':', so the two cannot run into
// each other.
func additionalData(id, context string) []byte {
	return []byte(prefix + id + ":" + context)
}

// Open returns the plaintext of a value sealed under any key of the ring
// with the same context. It fails with ErrNotSealed, ErrUnknownKey or
// ErrOpen.
func (k *Keyring) Open(sealed, context string) (string, error) {
	id, data, err := parse(sealed)
	if err != nil {
		return "", err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	plain, err := aead.Open(nil, nil, data, additionalData(id, context))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

// Reseal returns sealed re-sealed under the primary key, and true, when
// another key of the ring sealed it; a value already under the primary is
// returned as is, with false, without being opened. Errors are Open's.
// This is the step of a key rotation that rewrites stored values.
func (k *Keyring) Reseal(sealed, context string) (string, bool, error) {
	id, err := KeyID(sealed)
	if err != nil {
		return "", false, err
	}
	if id == k.primary {
		return sealed, false, nil
	}
	plain, err := k.Open(sealed, context)
	if err != nil {
		return "", false, err
	}
	return k.seal(k.primary, plain, context), true, nil
}

// IsSealed reports whether s has the sealed form. Stored values written
// before sealing was turned on do not, and no URL or token does.
func IsSealed(s string) bool {
	_, _, err := parse(s)
	return err == nil
}

// KeyID returns the ID of the key that sealed a value, or ErrNotSealed.
func KeyID(sealed string) (string, error) {
	id, _, err := parse(sealed)
	return id, err
}

// parse splits a sealed value into its key ID and its sealed bytes.
func parse(s string) (string, []byte, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return "", nil, ErrNotSealed
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok || !validID(id) {
		return "", nil, ErrNotSealed
	}
	data, err := base64.RawURLEncoding.DecodeString(b64)
	// The shortest sealed value holds a nonce and a tag around nothing.
	if err != nil || len(data) < 12+16 {
		return "", nil, ErrNotSealed
	}
	return id, data, nil
}
