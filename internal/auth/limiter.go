package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limit is a token bucket: Rate requests a second on average, Burst at once.
type Limit struct {
	Rate  float64
	Burst int
}

// Enabled reports whether the limit limits anything.
func (l Limit) Enabled() bool { return l.Rate > 0 && l.Burst > 0 }

// gcra is l as redis_rate states a limit: one request per emission
// interval, Burst at once. A bucket that refills Rate tokens a second and
// holds Burst admits exactly the requests GCRA with interval 1/Rate admits.
func (l Limit) gcra() redis_rate.Limit {
	interval := max(time.Duration(float64(time.Second)/l.Rate), time.Nanosecond)
	return redis_rate.Limit{Rate: 1, Period: interval, Burst: l.Burst}
}

// Decision is the limiter's answer for one request.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until a request would be allowed; zero when
	// this one is.
	RetryAfter time.Duration
}

// Limiter counts requests per key in Redis, so every replica of the API
// shares each credential's budget. The state of a key is one string
// (redis_rate's GCRA: the time its bucket is full again), written by a
// script that reads the time from Redis, so replicas need no common clock;
// it expires once the bucket is full, so idle credentials cost nothing. One
// key per script call, so it works on Redis Cluster.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
}

// NewLimiter keeps its buckets under "rate:"+prefix+"ratelimit:": redis_rate
// puts its own "rate:" in front of every key.
func NewLimiter(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), prefix: prefix + "ratelimit:"}
}

// Allow takes one token from key's bucket under limit. An error means Redis
// could not say; the caller decides whether to let the request through.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	if !limit.Enabled() {
		return Decision{Allowed: true}, nil
	}
	res, err := l.rl.Allow(ctx, l.prefix+key, limit.gcra())
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if res.Allowed > 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: res.RetryAfter}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
