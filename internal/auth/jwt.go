package auth

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretBytes is the shortest JWT secret accepted: HS256 keys shorter
// than the hash output weaken it.
const MinSecretBytes = 32

// MaxSubjectLen bounds a token's sub, which becomes the actor in timelines.
const MaxSubjectLen = 200

// Errors Verify returns. Both answer 401; they differ only in the message.
var (
	ErrInvalidToken = errors.New("invalid token")
	ErrExpiredToken = errors.New("token expired")
)

// Claims are what a user token says: who, with which role, and when it
// stops (and may start) being valid. Times are Unix seconds; zero means
// absent.
type Claims struct {
	Subject   string
	Role      Role
	IssuedAt  int64
	NotBefore int64
	ExpiresAt int64
}

// tokenClaims is the token's JSON payload: the registered claims and our
// role.
type tokenClaims struct {
	Role Role `json:"role"`
	jwt.RegisteredClaims
}

// Tokens mints and verifies user tokens: JWTs signed with HS256 and one
// shared secret.
type Tokens struct {
	secret []byte
	// Leeway forgives clock skew between whoever minted a token and us,
	// for exp and nbf. Default 30 s.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// NewTokens returns Tokens for secret, which must hold at least
// MinSecretBytes bytes.
func NewTokens(secret []byte) (*Tokens, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("jwt secret is %d bytes; at least %d are required", len(secret), MinSecretBytes)
	}
	return &Tokens{secret: bytes.Clone(secret), Leeway: 30 * time.Second, Now: time.Now}, nil
}

// Mint returns a token for subject with role, valid from now for ttl.
func (t *Tokens) Mint(subject string, role Role, ttl time.Duration) (string, error) {
	subject = strings.TrimSpace(subject)
	switch {
	case subject == "" || utf8.RuneCountInString(subject) > MaxSubjectLen:
		return "", fmt.Errorf("user: must be 1 to %d characters", MaxSubjectLen)
	case !role.Valid():
		return "", fmt.Errorf("role %q: must be one of viewer, responder, admin", role)
	case ttl <= 0:
		return "", fmt.Errorf("ttl: must be positive")
	}
	now := t.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, tokenClaims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	signed, err := tok.SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed, nil
}

// maxTokenLen bounds what Verify will decode: the parser has no limit of
// its own.
const maxTokenLen = 4096

// Verify checks token's algorithm (HS256 only: "none" and every other
// algorithm are refused before any key is used), signature, expiry (exp is
// required), not-before and claims, and returns its claims. Every failure
// wraps ErrInvalidToken, except a correctly signed token past its expiry,
// which wraps ErrExpiredToken.
func (t *Tokens) Verify(token string) (Claims, error) {
	invalid := func(why string) (Claims, error) { return Claims{}, fmt.Errorf("%w: %s", ErrInvalidToken, why) }
	if len(token) > maxTokenLen {
		return invalid("too long")
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(t.Leeway),
		jwt.WithTimeFunc(t.Now),
	)
	var c tokenClaims
	_, err := parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w: %w", ErrExpiredToken, err)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	case strings.TrimSpace(c.Subject) == "" || utf8.RuneCountInString(c.Subject) > MaxSubjectLen:
		return invalid("bad sub claim")
	case !c.Role.Valid():
		return invalid("unknown role")
	}
	out := Claims{Subject: c.Subject, Role: c.Role, ExpiresAt: c.ExpiresAt.Unix()}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Unix()
	}
	if c.NotBefore != nil {
		out.NotBefore = c.NotBefore.Unix()
	}
	return out, nil
}

// LoadSecret returns the JWT secret: value when it is set, else the
// contents of file (surrounding whitespace trimmed, as mounted secrets
// often end in a newline). Both empty is an error naming the settings.
func LoadSecret(value, file string) ([]byte, error) {
	if value != "" {
		return []byte(value), nil
	}
	if file == "" {
		return nil, errors.New("no jwt secret: set auth.jwt_secret (INCIDENT_AUTH_JWT_SECRET) or auth.jwt_secret_file (INCIDENT_AUTH_JWT_SECRET_FILE)")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read jwt secret: %w", err)
	}
	return bytes.TrimSpace(b), nil
}

// DevSecret returns the secret kept in dir/jwt-secret, creating it with 32
// random bytes (hex) on first use, readable by its owner only. It lets the
// embedded stack issue tokens that survive its restarts without any setup.
func DevSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, "jwt-secret")
	if b, err := os.ReadFile(path); err == nil {
		return bytes.TrimSpace(b), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read dev jwt secret: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	secret := []byte(randomHex(32))
	// Written aside and linked into place, so a concurrent reader never
	// sees a half-written file and only one secret ever wins.
	tmp, err := os.CreateTemp(dir, ".jwt-secret-*")
	if err != nil {
		return nil, fmt.Errorf("create dev jwt secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(secret, '\n')); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write dev jwt secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write dev jwt secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return DevSecret(dir)
	} else if err != nil {
		return nil, fmt.Errorf("create dev jwt secret: %w", err)
	}
	return secret, nil
}
