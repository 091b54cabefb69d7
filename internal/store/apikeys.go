package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
)

const apiKeyIDPrefix = "ak_"

var apiKeyFormat = keyFormat(apiKeyIDPrefix)

// APIKey is a credential automation calls the REST API with. Only its
// metadata is kept: the key itself,
//
//	ak_<26 characters>.<52 characters>
//
// is returned once by CreateAPIKey and cannot be read back.
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is viewer, responder or admin.
	Role      string    `json:"role"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is absent for a key that does not expire.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// RevokedAt is absent while the key is usable.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// LastUsedAt is absent until the key first authenticates, and then
	// within a minute of its latest use.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

const apiKeyColumns = `id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at`

// NewAPIKey is what an admin asks for: a name, a role (checked by the
// caller against the roles it knows) and an optional expiry.
type NewAPIKey struct {
	Name      string
	Role      string
	ExpiresAt *time.Time
	CreatedBy string
}

// CreateAPIKey stores a key and returns its metadata and, this one time,
// the key. Bad names and expiries in the past give fault.Invalid error.
func (s *Store) CreateAPIKey(ctx context.Context, in NewAPIKey) (APIKey, string, error) {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		return APIKey{}, "", fmt.Errorf("create api key: %w", fault.InvalidField("name", "is required"))
	case utf8.RuneCountInString(in.Name) > oncall.MaxNameLen:
		return APIKey{}, "", fmt.Errorf("create api key: %w",
			fault.InvalidField("name", fmt.Sprintf("is longer than %d characters", oncall.MaxNameLen)))
	case in.ExpiresAt != nil && !in.ExpiresAt.After(time.Now()):
		return APIKey{}, "", fmt.Errorf("create api key: %w", fault.InvalidField("expires_at", "must be in the future"))
	}
	secret, hash := newKeySecret()
	k := APIKey{ID: newID(apiKeyIDPrefix), Name: in.Name, Role: in.Role, CreatedBy: in.CreatedBy, ExpiresAt: in.ExpiresAt}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_keys (id, name, role, secret_hash, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING created_at`,
		k.ID, k.Name, k.Role, hash[:], k.CreatedBy, k.ExpiresAt,
	).Scan(&k.CreatedAt)
	if err != nil {
		return APIKey{}, "", fail("create api key", err)
	}
	return normalizeAPIKey(k), k.ID + "." + secret, nil
}

// ListAPIKeys returns up to MaxOncallList keys, revoked and expired ones
// included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	return queryAll(ctx, s, "list api keys", scanAPIKey,
		`SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id LIMIT $1`, MaxOncallList)
}

// RevokeAPIKey stops key id from authenticating. Revoking a revoked key
// succeeds and keeps the first revocation time; an unknown key is
// fault.NotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fail(fmt.Sprintf("revoke api key %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke api key %s: %w", id, fault.Missing("api key"))
	}
	return nil
}

// AuthenticateAPIKey returns the metadata of a valid key: known, with the
// right secret, not revoked and not expired. Any other key gives an error
// of code fault.Unauthorized that says nothing more; other errors are the
// database's.
func (s *Store) AuthenticateAPIKey(ctx context.Context, key string) (APIKey, error) {
	unauthorized := fault.New(fault.Unauthorized, "invalid API key: unknown, revoked or expired")
	m := apiKeyFormat.FindStringSubmatch(strings.TrimSpace(key))
	if m == nil {
		return APIKey{}, unauthorized
	}
	id, secret := m[1], m[2]
	var k APIKey
	var hash []byte
	var now time.Time
	err := s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+`, secret_hash, now() FROM api_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.Name, &k.Role, &k.CreatedBy, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt, &hash, &now)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, unauthorized
	}
	if err != nil {
		return APIKey{}, fail("authenticate api key", err)
	}
	if !secretMatches(secret, hash) || k.RevokedAt != nil || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
		return APIKey{}, unauthorized
	}
	if err := s.recordKeyUse(ctx, "api_keys", id, &k.LastUsedAt); err != nil {
		return APIKey{}, fail("authenticate api key", err)
	}
	return normalizeAPIKey(k), nil
}

func scanAPIKey(row pgx.CollectableRow) (APIKey, error) {
	var k APIKey
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.CreatedBy, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt); err != nil {
		return APIKey{}, err
	}
	return normalizeAPIKey(k), nil
}

func normalizeAPIKey(k APIKey) APIKey {
	k.CreatedAt = k.CreatedAt.UTC()
	utcTimes(&k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt)
	return k
}
