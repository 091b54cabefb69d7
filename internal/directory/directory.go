// Package directory reads the on-call configuration (users and their
// notification rules, the escalation snapshot of each service, and who is
// on call in each schedule) through Redis, as the production guide's
// caching strategy describes: users are lazy-loaded and kept an hour;
// escalation snapshots are kept a day and refreshed ahead of expiry;
// on-call answers are kept until their shift ends, a day at most. Writers
// invalidate what they change. Redis is never the source of truth: when it
// is down or returns garbage, reads go to Postgres.
package directory

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/incident-server/incident-server/internal/cache"
	"github.com/incident-server/incident-server/internal/oncall"
	"github.com/incident-server/incident-server/internal/store"
)

// Default lifetimes: the guide's user_cache_ttl and config_cache_ttl.
const (
	DefaultUserTTL   = time.Hour
	DefaultPolicyTTL = 24 * time.Hour
)

// Directory is safe for concurrent use.
type Directory struct {
	store *store.Store
	cache *cache.Cache
	log   *slog.Logger
	// userTTL and policyTTL are the entries' lifetimes; a snapshot read in
	// the last quarter of its lifetime is reloaded (refresh-ahead), so hot
	// services never see a miss.
	userTTL, policyTTL time.Duration
}

// New returns a directory over st. c may be nil (no caching); zero TTLs take
// the defaults; log may be nil.
func New(st *store.Store, c *cache.Cache, userTTL, policyTTL time.Duration, log *slog.Logger) *Directory {
	if userTTL <= 0 {
		userTTL = DefaultUserTTL
	}
	if policyTTL <= 0 {
		policyTTL = DefaultPolicyTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Directory{store: st, cache: c, log: log, userTTL: userTTL, policyTTL: policyTTL}
}

// generationKey counts changes to users, policies and services. Every entry
// carries the generation in its key, so one increment retires every entry a
// change could affect without finding them, and a reader that loaded an old
// value just before a change can only store it under the old generation,
// which nobody reads any more.
const generationKey = "oncall:generation"

func userKey(gen int64, id string) string {
	return "user:" + strconv.FormatInt(gen, 10) + ":" + id
}

func escalationKey(gen int64, service string) string {
	return "escalation:" + strconv.FormatInt(gen, 10) + ":" + service
}

func rulesKey(gen int64, userID string) string {
	return "rules:" + strconv.FormatInt(gen, 10) + ":" + userID
}

// User returns a user with contact methods (lazy-loaded into the cache),
// webhook URLs in clear. The error is a fault.NotFound for an unknown user.
//
// The cache holds the user with its webhook URLs sealed, as Postgres does
// (store.SealContacts), so Redis never holds one in clear. An entry that
// does not open (its key was rotated out of the ring) is read again from
// Postgres.
func (d *Directory) User(ctx context.Context, id string) (oncall.User, error) {
	key := d.key(ctx, func(gen int64) string { return userKey(gen, id) })
	if key != "" {
		var u oncall.User
		ok, _, err := d.cache.GetJSON(ctx, key, &u)
		if err == nil && ok {
			u, err = d.store.OpenContacts(u)
			if err == nil {
				return u, nil
			}
		}
		if err != nil {
			d.log.WarnContext(ctx, "user cache read failed; reading postgres", "user_id", id, "error", err)
		}
	}
	u, err := d.store.GetUser(ctx, id)
	if err != nil {
		return oncall.User{}, err
	}
	if key != "" {
		sealed, err := d.store.SealContacts(u)
		if err != nil {
			d.log.WarnContext(ctx, "seal user for the cache; not cached", "user_id", id, "error", err)
			return u, nil
		}
		d.set(ctx, key, sealed, d.userTTL)
	}
	return u, nil
}

// NotificationRules returns a user's notification rules (lazy-loaded into
// the cache, kept as long as users). The error is a fault.NotFound for an
// unknown user.
func (d *Directory) NotificationRules(ctx context.Context, userID string) (oncall.NotificationRules, error) {
	key := d.key(ctx, func(gen int64) string { return rulesKey(gen, userID) })
	if key != "" {
		var r oncall.NotificationRules
		ok, _, err := d.cache.GetJSON(ctx, key, &r)
		if err != nil {
			d.log.WarnContext(ctx, "rules cache read failed; reading postgres", "user_id", userID, "error", err)
		} else if ok {
			return r, nil
		}
	}
	r, err := d.store.GetNotificationRules(ctx, userID)
	if err != nil {
		return oncall.NotificationRules{}, err
	}
	d.set(ctx, key, r, d.userTTL)
	return r, nil
}

// key names an entry under the current generation, or returns "" when
// there is no cache or Redis cannot be read.
func (d *Directory) key(ctx context.Context, name func(gen int64) string) string {
	if d.cache == nil {
		return ""
	}
	gen, err := d.cache.Counter(ctx, generationKey)
	if err != nil {
		d.log.WarnContext(ctx, "on-call cache unreachable; reading postgres", "error", err)
		return ""
	}
	return name(gen)
}

// Escalation returns the escalation snapshot of a service (empty when the
// service is unknown or has no policy).
func (d *Directory) Escalation(ctx context.Context, service string) (oncall.Snapshot, error) {
	key := d.key(ctx, func(gen int64) string { return escalationKey(gen, service) })
	if key != "" {
		var snap oncall.Snapshot
		ok, ttl, err := d.cache.GetJSON(ctx, key, &snap)
		switch {
		case err != nil:
			d.log.WarnContext(ctx, "policy cache read failed; reading postgres", "service", service, "error", err)
		case ok && ttl > d.policyTTL/4:
			return snap, nil
		}
	}
	snap, err := d.store.EscalationFor(ctx, service)
	if err != nil {
		return oncall.Snapshot{}, err
	}
	d.set(ctx, key, snap, d.policyTTL)
	return snap, nil
}

// Forget retires every cached entry after a user, policy or service
// changed, on-call answers included (deleting a user deletes their past
// overrides). When Redis cannot be reached the entries expire on their own
// (users within an hour, snapshots within a day).
func (d *Directory) Forget(ctx context.Context) {
	if d.cache == nil {
		return
	}
	if _, err := d.cache.Incr(ctx, generationKey); err != nil {
		d.log.WarnContext(ctx, "on-call cache invalidation failed; entries expire on their own", "error", err)
	}
	d.ForgetSchedules(ctx)
}

func (d *Directory) set(ctx context.Context, key string, v any, ttl time.Duration) {
	if key == "" {
		return
	}
	if err := d.cache.SetJSON(ctx, key, v, ttl); err != nil {
		d.log.WarnContext(ctx, "cache write failed", "key", key, "error", fmt.Sprint(err))
	}
}
