package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// tokenBucket refills KEYS[1] at ARGV[1] tokens a second up to ARGV[2],
// then takes one token if there is one. It answers {allowed (1 or 0),
// milliseconds until a token is available}. Time comes from Redis, so every
// API replica shares one clock; the key expires once a full bucket would
// have refilled, so idle credentials cost nothing.
var tokenBucket = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
`)

// Limit is a token bucket: Rate requests a second on average, Burst at once.
type Limit struct {
	Rate  float64
	Burst int
}

// Enabled reports whether the limit limits anything.
func (l Limit) Enabled() bool { return l.Rate > 0 && l.Burst > 0 }

// Decision is the limiter's answer for one request.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until a request would be allowed; zero when
	// this one is.
	RetryAfter time.Duration
}

// Limiter counts requests per key in Redis, so every replica of the API
// shares each credential's budget.
type Limiter struct {
	rdb    redis.Scripter
	prefix string
}

// NewLimiter keeps its buckets under prefix+"ratelimit:".
func NewLimiter(rdb redis.Scripter, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix + "ratelimit:"}
}

// Allow takes one token from key's bucket under limit. An error means Redis
// could not say; the caller decides whether to let the request through.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Decision, error) {
	if !limit.Enabled() {
		return Decision{Allowed: true}, nil
	}
	res, err := tokenBucket.Run(ctx, l.rdb, []string{l.prefix + key},
		strconv.FormatFloat(limit.Rate, 'f', -1, 64), limit.Burst).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("rate limit %s: unexpected reply %v", key, res)
	}
	if res[0] == 1 {
		return Decision{Allowed: true}, nil
	}
	return Decision{RetryAfter: time.Duration(res[1]) * time.Millisecond}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
