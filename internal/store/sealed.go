package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/secret"
)

// Webhook URLs are credentials (Slack's and Teams' carry their secret in
// the path), so contact_methods.url holds them sealed under the keyring
// (secret.Keyring.Seal), bound to the row: the context is
// "contact_method:<id>:url", so a sealed URL copied to another row does not
// open there. The store seals on every write and opens on every read: its
// callers see plain URLs. A value that is not sealed (a row written before
// sealing, or imported from such an export) reads as it is, until
// RotateSecrets seals it. Push device tokens are stored in clear: a token
// only addresses a device through the push credentials Gorush holds, and
// Gorush needs it as it is.

// SetKeyring gives the store the keys that seal and open webhook URLs. Call
// it before the store is used. Without a keyring, writing a webhook URL and
// reading a sealed one fail with an internal error that says so.
func (s *Store) SetKeyring(k *secret.Keyring) { s.keys.Store(k) }

// Keyring returns the keyring set by SetKeyring, or nil.
func (s *Store) Keyring() *secret.Keyring { return s.keys.Load() }

// urlContext binds a sealed URL to its contact method.
func urlContext(contactID string) string { return "contact_method:" + contactID + ":url" }

// URLHash is what the unique index on a user's webhooks compares: the hex
// SHA-256 of the URL as stored (after oncall.ContactMethod.Normalize).
func URLHash(url string) string {
	h := sha256.Sum256([]byte(url))
	return hex.EncodeToString(h[:])
}

var errNoKeyring = errors.New("no keyring: set secrets.keys")

// keyringError is a failure to seal or open a stored secret: a
// configuration problem (no keyring, or a key missing from it) or altered
// data, which no retry fixes.
func keyringError(op string, err error) error {
	return &fault.Error{Code: fault.Internal, Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

// sealURL seals a webhook URL for contact method id.
func (s *Store) sealURL(id, url string) (string, error) {
	k := s.Keyring()
	if k == nil {
		return "", keyringError("seal url of contact method "+id, errNoKeyring)
	}
	sealed, err := k.Seal(url, urlContext(id))
	if err != nil {
		return "", keyringError("seal url of contact method "+id, err)
	}
	return sealed, nil
}

// openURL returns the plain URL of contact method id; a value that is not
// sealed is returned as it is.
func (s *Store) openURL(id, stored string) (string, error) {
	if !secret.IsSealed(stored) {
		return stored, nil
	}
	k := s.Keyring()
	if k == nil {
		return "", keyringError("open url of contact method "+id, errNoKeyring)
	}
	plain, err := k.Open(stored, urlContext(id))
	if err != nil {
		return "", keyringError("open url of contact method "+id, err)
	}
	return plain, nil
}

// SealContacts returns a copy of u whose webhook URLs are sealed, for a
// cache that must not hold them in clear; OpenContacts undoes it. URLs
// already sealed are kept as they are.
func (s *Store) SealContacts(u oncall.User) (oncall.User, error) {
	return s.mapURLs(u, func(c oncall.ContactMethod) (string, error) {
		if secret.IsSealed(c.URL) {
			return c.URL, nil
		}
		return s.sealURL(c.ID, c.URL)
	})
}

// OpenContacts returns a copy of u whose sealed webhook URLs are opened.
func (s *Store) OpenContacts(u oncall.User) (oncall.User, error) {
	return s.mapURLs(u, func(c oncall.ContactMethod) (string, error) { return s.openURL(c.ID, c.URL) })
}

func (s *Store) mapURLs(u oncall.User, f func(oncall.ContactMethod) (string, error)) (oncall.User, error) {
	cms := make([]oncall.ContactMethod, len(u.ContactMethods))
	for i, c := range u.ContactMethods {
		if c.Type == oncall.ContactWebhook && c.URL != "" {
			url, err := f(c)
			if err != nil {
				return oncall.User{}, err
			}
			c.URL = url
		}
		cms[i] = c
	}
	u.ContactMethods = cms
	return u, nil
}

// openUsers opens the webhook URLs of users read from Postgres, in place.
func (s *Store) openUsers(users []oncall.User) error {
	for i := range users {
		u, err := s.OpenContacts(users[i])
		if err != nil {
			return err
		}
		users[i] = u
	}
	return nil
}

// RotateResult counts what RotateSecrets did to the stored webhook URLs.
type RotateResult struct {
	// Resealed were sealed under another key of the ring and now are
	// under the primary.
	Resealed int
	// Sealed were stored in clear and now are sealed.
	Sealed int
	// Unchanged were already sealed under the primary.
	Unchanged int
	// Hashed had no url_hash (imported from an export made before
	// url_hash existed) and now have one.
	Hashed int
}

// RotateSecrets brings every stored webhook URL under the keyring's
// primary key: values sealed under an older key are resealed, values in
// clear are sealed, and missing url_hash values are filled in; values
// already under the primary are left as they are (not even opened, unless
// their hash is missing). It runs in one transaction, so a value that does
// not open (its key is not in the ring) fails the whole rotation and
// changes nothing. Running it again changes nothing more. Afterwards only
// the primary key is needed.
func (s *Store) RotateSecrets(ctx context.Context) (RotateResult, error) {
	var res RotateResult
	k := s.Keyring()
	if k == nil {
		return res, keyringError("rotate secrets", errNoKeyring)
	}
	type row struct {
		id, url string
		hash    *string
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, url, url_hash FROM contact_methods
			WHERE type = 'webhook' ORDER BY id FOR UPDATE`)
		if err != nil {
			return fail("read webhook urls", err)
		}
		var all []row
		var r row
		if _, err := pgx.ForEachRow(rows, []any{&r.id, &r.url, &r.hash}, func() error {
			c := r
			if r.hash != nil {
				h := *r.hash
				c.hash = &h
			}
			all = append(all, c)
			return nil
		}); err != nil {
			return fail("read webhook urls", err)
		}
		batch := &pgx.Batch{}
		for _, r := range all {
			newURL, newHash := r.url, r.hash
			switch id, err := secret.KeyID(r.url); {
			case errors.Is(err, secret.ErrNotSealed):
				sealed, err := s.sealURL(r.id, r.url)
				if err != nil {
					return err
				}
				newURL = sealed
				res.Sealed++
			case id != k.Primary():
				resealed, _, err := k.Reseal(r.url, urlContext(r.id))
				if err != nil {
					return keyringError("reseal url of contact method "+r.id, err)
				}
				newURL = resealed
				res.Resealed++
			default:
				res.Unchanged++
			}
			if r.hash == nil {
				plain, err := s.openURL(r.id, newURL)
				if err != nil {
					return err
				}
				h := URLHash(plain)
				newHash = &h
				res.Hashed++
			}
			if newURL != r.url || newHash != r.hash {
				batch.Queue(`UPDATE contact_methods SET url = $2, url_hash = $3 WHERE id = $1`, r.id, newURL, newHash)
			}
		}
		if batch.Len() == 0 {
			return nil
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			if pgErr, ok := pgErrorCode(err); ok && pgErr.Code == pgUniqueViolation {
				return fault.Conflictf("a user lists one webhook URL twice (rows imported without url_hash): remove one, then rotate again")
			}
			return fail("write webhook urls", err)
		}
		return nil
	})
	if err != nil {
		return RotateResult{}, fmt.Errorf("rotate secrets: %w", err)
	}
	return res, nil
}
