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

const integrationKeyIDPrefix = "ik_"

var integrationKeyFormat = keyFormat(integrationKeyIDPrefix)

// IntegrationKey is a credential a monitoring system sends alerts for one
// service with. Only its metadata is kept: the key itself,
//
//	ik_<26 characters>.<52 characters>
//
// 82 characters in all, is returned once by CreateIntegrationKey and cannot
// be read back. PagerDuty routing keys are 32 characters; senders built for
// PagerDuty's Events API (Alertmanager, Grafana and the like) take the
// routing key as an opaque string of any length, so ours fit where theirs go.
type IntegrationKey struct {
	ID        string    `json:"id"`
	ServiceID string    `json:"service_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is absent while the key is usable.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// LastUsedAt is absent until the key first authenticates, and then
	// within a minute of the key's latest use: it is refreshed at most once
	// a minute.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

const integrationKeyColumns = `id, service_id, name, created_at, revoked_at, last_used_at`

// CreateIntegrationKey makes a key for service serviceID and returns its
// metadata and the key itself. The key is not stored, only a hash of its
// secret: whoever creates it must keep it. The name is trimmed; an empty or
// overlong name gives an fault.Invalid error, and a service that does
// not exist an error of code fault.NotFound.
func (s *Store) CreateIntegrationKey(ctx context.Context, serviceID, name string) (IntegrationKey, string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return IntegrationKey{}, "", fmt.Errorf("create integration key: %w", fault.InvalidField("name", "is required"))
	case utf8.RuneCountInString(name) > oncall.MaxNameLen:
		return IntegrationKey{}, "", fmt.Errorf("create integration key: %w",
			fault.InvalidField("name", fmt.Sprintf("is longer than %d characters", oncall.MaxNameLen)))
	}
	secret, hash := newKeySecret()
	k := IntegrationKey{ID: newID(integrationKeyIDPrefix), ServiceID: serviceID, Name: name}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO integration_keys (id, service_id, name, secret_hash) VALUES ($1, $2, $3, $4)
		RETURNING created_at`,
		k.ID, k.ServiceID, k.Name, hash[:],
	).Scan(&k.CreatedAt)
	if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgForeignKeyError {
		return IntegrationKey{}, "", fmt.Errorf("create integration key for %s: %w", serviceID, fault.Missing("service"))
	}
	if err != nil {
		return IntegrationKey{}, "", fail("create integration key", err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, k.ID + "." + secret, nil
}

// ListIntegrationKeys returns up to MaxOncallList keys of a service, revoked
// ones included, oldest first. The error is a fault.NotFound when the service
// does not exist.
func (s *Store) ListIntegrationKeys(ctx context.Context, serviceID string) ([]IntegrationKey, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+integrationKeyColumns+` FROM integration_keys
		WHERE service_id = $1 ORDER BY created_at, id LIMIT $2`, serviceID, MaxOncallList)
	if err != nil {
		return nil, fail(fmt.Sprintf("list integration keys of %s", serviceID), err)
	}
	keys, err := pgx.CollectRows(rows, scanIntegrationKey)
	if err != nil {
		return nil, fail(fmt.Sprintf("list integration keys of %s", serviceID), err)
	}
	if len(keys) > 0 {
		// The foreign key vouches for the service.
		return keys, nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM services WHERE id = $1)`, serviceID).Scan(&exists); err != nil {
		return nil, fail(fmt.Sprintf("list integration keys of %s", serviceID), err)
	}
	if !exists {
		return nil, fmt.Errorf("list integration keys of %s: %w", serviceID, fault.Missing("service"))
	}
	return keys, nil
}

// RevokeIntegrationKey stops key id of service serviceID from
// authenticating. Revoking a revoked key succeeds and keeps the first
// revocation time. The error is a fault.NotFound when the service has no such
// key, including when the key belongs to another service.
func (s *Store) RevokeIntegrationKey(ctx context.Context, serviceID, id string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE integration_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 AND service_id = $2`, id, serviceID)
	if err != nil {
		return fail(fmt.Sprintf("revoke integration key %s", id), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke integration key %s: %w", id, fault.Missing("integration key"))
	}
	return nil
}

// AuthenticateIntegrationKey returns the metadata of a valid, unrevoked key,
// whose ServiceID is the one service its sender may send alerts for. Any
// key that does not authenticate gives an error of code fault.Unauthorized and
// saying nothing more; other errors are the database's. Surrounding
// whitespace is ignored, since keys are often pasted into config files.
func (s *Store) AuthenticateIntegrationKey(ctx context.Context, key string) (IntegrationKey, error) {
	unauthorized := fault.New(fault.Unauthorized, "invalid integration key")
	m := integrationKeyFormat.FindStringSubmatch(strings.TrimSpace(key))
	if m == nil {
		return IntegrationKey{}, unauthorized
	}
	id, secret := m[1], m[2]
	var k IntegrationKey
	var hash []byte
	err := s.pool.QueryRow(ctx, `SELECT `+integrationKeyColumns+`, secret_hash FROM integration_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.ServiceID, &k.Name, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return IntegrationKey{}, unauthorized
	}
	if err != nil {
		return IntegrationKey{}, fail("authenticate integration key", err)
	}
	if !secretMatches(secret, hash) || k.RevokedAt != nil {
		return IntegrationKey{}, unauthorized
	}
	if err := s.recordKeyUse(ctx, "integration_keys", id, &k.LastUsedAt); err != nil {
		return IntegrationKey{}, fail("authenticate integration key", err)
	}
	return normalizeIntegrationKey(k), nil
}

func scanIntegrationKey(row pgx.CollectableRow) (IntegrationKey, error) {
	var k IntegrationKey
	if err := row.Scan(&k.ID, &k.ServiceID, &k.Name, &k.CreatedAt, &k.RevokedAt, &k.LastUsedAt); err != nil {
		return IntegrationKey{}, err
	}
	return normalizeIntegrationKey(k), nil
}

// normalizeIntegrationKey puts every timestamp in UTC, as the rest of the
// store returns them.
func normalizeIntegrationKey(k IntegrationKey) IntegrationKey {
	k.CreatedAt = k.CreatedAt.UTC()
	utcTimes(&k.RevokedAt, &k.LastUsedAt)
	return k
}
