package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// keySecretBytes is the randomness in a key's secret: 256 bits, far beyond
// guessing, which is why a plain sha256 of it is a safe stored form.
const keySecretBytes = 32

// keyFormat matches a whole key of the given ID prefix: the row's ID
// (newID with the prefix), a dot, and the secret, lowercase base32 of
// keySecretBytes without padding. Neither part can hold a dot, so the
// split is unambiguous.
func keyFormat(prefix string) *regexp.Regexp {
	return regexp.MustCompile(`^(` + regexp.QuoteMeta(prefix) + `[a-z2-7]{26})\.([a-z2-7]{52})$`)
}

// newKeySecret returns a fresh secret and the hash to store for it.
func newKeySecret() (secret string, hash [32]byte) {
	var b [keySecretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	secret = idBase32.EncodeToString(b[:])
	return secret, sha256.Sum256([]byte(secret))
}

// secretMatches compares in constant time, so response times do not reveal
// how much of a guessed secret matched.
func secretMatches(secret string, stored []byte) bool {
	want := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(want[:], stored) == 1
}

// recordKeyUse refreshes the last_used_at of key id in table and, when it
// wrote, points *last at the new time. The condition keeps a caller
// sending many requests a second from rewriting the row on every one;
// concurrent requests that find it refreshed after waiting for the row
// lock write nothing, and the time they read stands.
func (s *Store) recordKeyUse(ctx context.Context, table, id string, last **time.Time) error {
	var used time.Time
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`UPDATE %s SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
		RETURNING last_used_at`, table), id).Scan(&used)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fail("record use", err)
	}
	*last = &used
	return nil
}

// utcTimes puts every non-nil timestamp in UTC, as the rest of the store
// returns them.
func utcTimes(ts ...**time.Time) {
	for _, t := range ts {
		if *t != nil {
			u := (**t).UTC()
			*t = &u
		}
	}
}
