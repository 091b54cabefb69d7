// Package cache is the Redis cache of incidents. Redis is never the source of
// truth: a miss or an error means "ask Postgres", and every entry expires.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/incident-server/incident-server/internal/incident"
)

// DefaultIncidentTTL is how long a cached incident lives when New is given
// no TTL: the production guide's incident_cache_ttl.
const DefaultIncidentTTL = 5 * time.Minute

// ClientOptions tunes the Redis connection pool. The zero value is valid:
// every zero field takes the default noted beside it, from the production
// guide's redis settings where it has one.
type ClientOptions struct {
	// PoolSize caps connections per node (max_active). Default 100.
	PoolSize int
	// MaxIdleConns caps idle connections kept per node (max_idle). Default 20.
	MaxIdleConns int
	// MinIdleConns keeps this many idle connections per node open. Default 0.
	MinIdleConns int
	// ConnMaxIdleTime closes connections idle this long (idle_timeout).
	// Default 240s.
	ConnMaxIdleTime time.Duration
	// DialTimeout bounds opening a connection. Default 5s.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for a reply. Default 3s.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending a command. Default ReadTimeout.
	WriteTimeout time.Duration
	// Cluster speaks the cluster protocol even to a single address (a
	// cluster's configuration endpoint). Several addresses always mean a
	// cluster. Default false.
	Cluster bool
	// ReadFromReplicas sends read-only commands to replicas (cluster only;
	// read_from_replicas). Default false.
	ReadFromReplicas bool
	// RouteByLatency sends read-only commands to the closest node (cluster
	// only; route_by_latency). Default false.
	RouteByLatency bool
}

// Client defaults; see ClientOptions.
const (
	DefaultPoolSize        = 100
	DefaultMaxIdleConns    = 20
	DefaultConnMaxIdleTime = 240 * time.Second
	DefaultDialTimeout     = 5 * time.Second
	DefaultReadTimeout     = 3 * time.Second
)

// NewClient builds a Redis client. addr is host:port, or a comma-separated
// list of cluster seed nodes; a list, or opts.Cluster, gives a cluster
// client, in which case db must be 0. Commands honour context deadlines.
func NewClient(addr, password string, db int, opts ClientOptions) redis.UniversalClient {
	var addrs []string
	for a := range strings.SplitSeq(addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	orDefault := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	poolSize := opts.PoolSize
	if poolSize <= 0 {
		poolSize = DefaultPoolSize
	}
	maxIdle := opts.MaxIdleConns
	if maxIdle <= 0 {
		maxIdle = DefaultMaxIdleConns
	}
	readTimeout := orDefault(opts.ReadTimeout, DefaultReadTimeout)
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 addrs,
		Password:              password,
		DB:                    db,
		PoolSize:              poolSize,
		MaxIdleConns:          maxIdle,
		MinIdleConns:          max(opts.MinIdleConns, 0),
		ConnMaxIdleTime:       orDefault(opts.ConnMaxIdleTime, DefaultConnMaxIdleTime),
		DialTimeout:           orDefault(opts.DialTimeout, DefaultDialTimeout),
		ReadTimeout:           readTimeout,
		WriteTimeout:          orDefault(opts.WriteTimeout, readTimeout),
		ContextTimeoutEnabled: true,
		IsClusterMode:         opts.Cluster,
		ReadOnly:              opts.ReadFromReplicas,
		RouteByLatency:        opts.RouteByLatency,
	})
}

// Cache stores incidents under <prefix>incident:<id>, each a hash with the
// incident's version in field v and its JSON in field json. It is safe for
// concurrent use.
type Cache struct {
	rdb         redis.UniversalClient
	prefix      string
	incidentTTL time.Duration
}

// New returns a cache on rdb whose keys start with prefix. Cached incidents
// expire incidentTTL after their last accepted write; zero or negative means
// DefaultIncidentTTL.
func New(rdb redis.UniversalClient, prefix string, incidentTTL time.Duration) *Cache {
	if incidentTTL <= 0 {
		incidentTTL = DefaultIncidentTTL
	}
	return &Cache{rdb: rdb, prefix: prefix, incidentTTL: incidentTTL}
}

// Ping checks that Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

func (c *Cache) incidentKey(id string) string { return c.prefix + "incident:" + id }

// setIncident replaces the entry only when the new version (ARGV[1]) is
// newer than the stored one, and then restarts its TTL (ARGV[3], in ms).
// It returns 1 when it wrote and 0 when it ignored the write.
var setIncident = redis.NewScript(`
local stored = redis.call('HGET', KEYS[1], 'v')
if stored and tonumber(stored) >= tonumber(ARGV[1]) then
	return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'json', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// SetIncident writes inc through to the cache unless the cache already holds
// the same or a newer version of it, so writes arriving out of order never
// bring back an older state.
func (c *Cache) SetIncident(ctx context.Context, inc incident.Incident) error {
	body, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("cache incident %s: encode: %w", inc.ID, err)
	}
	err = setIncident.Run(ctx, c.rdb, []string{c.incidentKey(inc.ID)},
		strconv.FormatInt(inc.Version, 10), body, c.incidentTTL.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("cache incident %s: %w", inc.ID, err)
	}
	return nil
}

// GetIncident returns the cached incident; ok is false on a miss.
func (c *Cache) GetIncident(ctx context.Context, id string) (inc incident.Incident, ok bool, err error) {
	body, err := c.rdb.HGet(ctx, c.incidentKey(id), "json").Bytes()
	if errors.Is(err, redis.Nil) {
		return incident.Incident{}, false, nil
	}
	if err != nil {
		return incident.Incident{}, false, fmt.Errorf("get cached incident %s: %w", id, err)
	}
	if err := json.Unmarshal(body, &inc); err != nil {
		return incident.Incident{}, false, fmt.Errorf("get cached incident %s: decode: %w", id, err)
	}
	return inc, true, nil
}

// DeleteIncident drops the cached incident, and with it the version the
// cache would compare the next write against.
func (c *Cache) DeleteIncident(ctx context.Context, id string) error {
	if err := c.rdb.Del(ctx, c.incidentKey(id)).Err(); err != nil {
		return fmt.Errorf("delete cached incident %s: %w", id, err)
	}
	return nil
}

// Key returns the full key of name under the cache's prefix.
func (c *Cache) Key(name string) string { return c.prefix + name }

// GetJSON reads the JSON value at name into v. ok is false on a miss; ttl is
// the entry's remaining lifetime.
func (c *Cache) GetJSON(ctx context.Context, name string, v any) (ok bool, ttl time.Duration, err error) {
	key := c.Key(name)
	pipe := c.rdb.Pipeline()
	get := pipe.Get(ctx, key)
	pttl := pipe.PTTL(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, 0, fmt.Errorf("get cached %s: %w", name, err)
	}
	body, err := get.Bytes()
	if errors.Is(err, redis.Nil) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("get cached %s: %w", name, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return false, 0, fmt.Errorf("get cached %s: decode: %w", name, err)
	}
	return true, pttl.Val(), nil
}

// SetJSON stores v as JSON at name for ttl.
func (c *Cache) SetJSON(ctx context.Context, name string, v any, ttl time.Duration) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cache %s: encode: %w", name, err)
	}
	if err := c.rdb.Set(ctx, c.Key(name), body, ttl).Err(); err != nil {
		return fmt.Errorf("cache %s: %w", name, err)
	}
	return nil
}

// Incr increments the counter at name and returns its new value.
func (c *Cache) Incr(ctx context.Context, name string) (int64, error) {
	n, err := c.rdb.Incr(ctx, c.Key(name)).Result()
	if err != nil {
		return 0, fmt.Errorf("increment %s: %w", name, err)
	}
	return n, nil
}

// Counter reads the counter at name; a missing counter is zero.
func (c *Cache) Counter(ctx context.Context, name string) (int64, error) {
	n, err := c.rdb.Get(ctx, c.Key(name)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return n, nil
}
